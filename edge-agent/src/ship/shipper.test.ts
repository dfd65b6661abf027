import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AgentError, AgentErrorCode } from "../errors.js";
import type { CheckpointDelta } from "../window/state.js";
import type { PartialMessage, PartialSink } from "./kafka.js";
import { Outbox } from "./outbox.js";
import { Shipper } from "./shipper.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const DELTA: CheckpointDelta = {
  eventClockMs: 1,
  nextToCloseMs: 1,
  floorMs: null,
  nextSeq: [],
  shippedUpTo: [],
  files: {},
};

function openOutbox(): Outbox {
  const d = mkdtempSync(join(tmpdir(), "rla-shipper-"));
  dirs.push(d);
  return Outbox.open(d, { segmentBytes: 1 << 20 }, { segment: 0, offset: 0 }).outbox;
}

/** A sink that fails with the queued errors first, then records what it was sent. */
function fakeSink(failures: Error[]): PartialSink & { sent: PartialMessage[][] } {
  const sent: PartialMessage[][] = [];
  return {
    sent,
    async send(messages) {
      const failure = failures.shift();
      if (failure) throw failure;
      sent.push(messages);
    },
    async close() {},
  };
}

const noSleep = { maxRetryDelayMs: 1 };

describe("Shipper", () => {
  it("sends records in order keyed by window start, waits out retriable errors, then acknowledges", async () => {
    const outbox = openOutbox();
    outbox.append([10_000, 20_000], [Buffer.from("a"), Buffer.from("b")], DELTA);
    const unavailable = new AgentError(AgentErrorCode.KafkaUnavailable, "down");
    const sink = fakeSink([unavailable, unavailable]);
    const retries: number[] = [];
    const shipper = new Shipper(outbox, sink, { ...noSleep, onRetry: (_e, attempt) => retries.push(attempt) });
    const stop = new AbortController();
    const running = shipper.run(stop.signal);
    await shipper.waitDrained(new AbortController().signal);
    expect(sink.sent).toEqual([
      [
        { key: "10000", value: Buffer.from("a") },
        { key: "20000", value: Buffer.from("b") },
      ],
    ]);
    expect(retries).toEqual([1, 2]);
    expect(shipper.unreachableSince).toBeNull();
    expect(outbox.unackedRecords).toBe(0);
    outbox.append([30_000], [Buffer.from("c")], DELTA);
    await shipper.waitDrained(new AbortController().signal);
    expect(sink.sent.at(-1)).toEqual([{ key: "30000", value: Buffer.from("c") }]);
    stop.abort();
    await running;
    outbox.close();
  });

  it("stops on a non-retriable error and leaves the record unacknowledged for the next start", async () => {
    const outbox = openOutbox();
    outbox.append([10_000], [Buffer.from("a")], DELTA);
    const sink = fakeSink([new AgentError(AgentErrorCode.KafkaRequest, "not authorised")]);
    const shipper = new Shipper(outbox, sink, noSleep);
    await expect(shipper.run(new AbortController().signal)).rejects.toThrow("not authorised");
    expect(outbox.unackedRecords).toBe(1);
    outbox.close();
  });
});
