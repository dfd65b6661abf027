import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeCheckpoint } from "../checkpoint/index.js";
import { type CheckpointDelta, emptyState } from "../window/state.js";
import { Outbox } from "./outbox.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "rla-outbox-"));
  dirs.push(d);
  return d;
}

function delta(clock: number): CheckpointDelta {
  return {
    eventClockMs: clock,
    nextToCloseMs: clock,
    floorMs: null,
    nextSeq: [[clock, 1]],
    shippedUpTo: [["k", clock, 10]],
    files: {},
  };
}

const START = { segment: 0, offset: 0 };

describe("Outbox", () => {
  it("returns appended records in order, with their partials, window starts and deltas", () => {
    const dir = stateDir();
    const { outbox } = Outbox.open(dir, { segmentBytes: 1 << 20 }, START);
    outbox.append([1000, 2000], [Buffer.from("a"), Buffer.from("bc")], delta(1));
    outbox.append([3000], [Buffer.from("def")], delta(2));
    const records = outbox.read(outbox.acked, 1 << 20);
    expect(records.map((r) => [r.windowStarts, r.partials.map(String), r.delta.eventClockMs])).toEqual([
      [[1000, 2000], ["a", "bc"], 1],
      [[3000], ["def"], 2],
    ]);
    expect(outbox.unackedRecords).toBe(2);
    outbox.ack(records.slice(0, 1));
    expect(outbox.unackedRecords).toBe(1);
    expect(outbox.read(outbox.acked, 1 << 20).map((r) => r.delta.eventClockMs)).toEqual([2]);
    outbox.close();
  });

  it("after a restart, replays the deltas after the checkpoint and resends only unacknowledged records", () => {
    const dir = stateDir();
    const first = Outbox.open(dir, { segmentBytes: 1 << 20 }, START).outbox;
    for (let i = 1; i <= 4; i++) first.append([i], [Buffer.from([i])], delta(i));
    first.ack(first.read(first.acked, 1 << 20).slice(0, 3));
    const applied = first.read(START, 1 << 20)[2]!.position; // checkpoint covers records 1, 2
    first.close();

    const { outbox, deltas } = Outbox.open(dir, { segmentBytes: 1 << 20 }, applied);
    expect(deltas.map((d) => d.eventClockMs)).toEqual([3, 4]);
    expect(outbox.read(outbox.acked, 1 << 20).map((r) => r.delta.eventClockMs)).toEqual([4]);
    expect(outbox.unackedRecords).toBe(1);
    outbox.close();
  });

  it("cuts a torn record at the tail (crash mid-write) and appends after it", () => {
    const dir = stateDir();
    const first = Outbox.open(dir, { segmentBytes: 1 << 20 }, START).outbox;
    first.append([1], [Buffer.from("x")], delta(1));
    first.close();
    const segment = join(dir, "outbox", readdirSync(join(dir, "outbox")).find((n) => n.endsWith(".seg"))!);
    const goodSize = statSync(segment).size;
    appendFileSync(segment, Buffer.from([0, 0, 0, 50, 1, 2, 3])); // a frame header promising more than is there

    const { outbox, deltas } = Outbox.open(dir, { segmentBytes: 1 << 20 }, START);
    expect(deltas).toHaveLength(1);
    expect(statSync(segment).size).toBe(goodSize);
    outbox.append([2], [Buffer.from("y")], delta(2));
    expect(outbox.read(START, 1 << 20).map((r) => r.delta.eventClockMs)).toEqual([1, 2]);
    outbox.close();
  });

  it("rolls segments and deletes one only once it is both acknowledged and covered by a checkpoint", () => {
    const dir = stateDir();
    const { outbox } = Outbox.open(dir, { segmentBytes: 200 }, START);
    const payload = Buffer.alloc(150, 7);
    for (let i = 0; i < 4; i++) outbox.append([i], [payload], delta(i));
    const segments = () => readdirSync(join(dir, "outbox")).filter((n) => n.endsWith(".seg"));
    expect(segments()).toHaveLength(4);
    outbox.ack(outbox.read(outbox.acked, 1 << 20));
    expect(segments()).toHaveLength(4); // acknowledged, but its deltas are not in a checkpoint yet
    writeCheckpoint(dir, { version: 1, state: emptyState(), appliedThrough: outbox.end });
    outbox.checkpointedThrough(outbox.end);
    expect(segments()).toHaveLength(1); // the write segment always stays
    expect(outbox.unackedBytes).toBe(0);
    expect(existsSync(join(dir, "checkpoint.json"))).toBe(true);
    outbox.close();
  });

  it("wakes a waiting reader on append", async () => {
    const dir = stateDir();
    const { outbox } = Outbox.open(dir, { segmentBytes: 1 << 20 }, START);
    const woke = outbox.waitForAppend(new AbortController().signal);
    outbox.append([1], [Buffer.from("x")], delta(1));
    await woke;
    expect(outbox.read(START, 1 << 20)).toHaveLength(1);
    outbox.close();
  });
});
