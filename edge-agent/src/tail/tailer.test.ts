import {
  appendFileSync,
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentErrorCode } from "../errors.js";
import { createTailer, type FilePosition, type TailEvent, type Tailer, type TailerOptions } from "./index.js";

// The tailer's clock only moves when it waits for new data (the injected `wait` advances it), so "idle for
// rotateWaitMs" happens after a fixed number of empty polls, never by sleeping.
interface Harness {
  tailer: Tailer;
  errors: { code: string; message: string }[];
  /** Events with `data` copied (the tailer reuses its buffer after the next `next()`). */
  events: TailEvent[];
  idleWaits: number;
  quiet: AbortController | null;
}

let dir: string;
let harnesses: Harness[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rla-tail-"));
  harnesses = [];
});

afterEach(async () => {
  for (const h of harnesses) await h.tailer.stop();
  rmSync(dir, { recursive: true, force: true });
});

const p = (name: string) => join(dir, name);

function start(options: Partial<TailerOptions> = {}): Harness {
  let clockMs = 0;
  const h: Harness = { tailer: undefined as unknown as Tailer, errors: [], events: [], idleWaits: 0, quiet: null };
  h.tailer = createTailer({
    globs: [p("*.log")],
    positions: [],
    now: () => clockMs,
    wait: async (ms) => {
      clockMs += ms;
      if (++h.idleWaits >= 3) h.quiet?.abort();
    },
    onError: (e) => h.errors.push({ code: (e as Error & { code: string }).code, message: e.message }),
    ...options,
  });
  harnesses.push(h);
  return h;
}

function copied(ev: TailEvent): TailEvent {
  return ev.kind === "lines" || ev.kind === "truncated" ? { ...ev, data: Buffer.from(ev.data) } : ev;
}

/** Events until the tailer has found nothing to read for three polls in a row. */
async function drain(h: Harness): Promise<TailEvent[]> {
  const out: TailEvent[] = [];
  h.quiet = new AbortController();
  h.idleWaits = 0;
  const deadline = AbortSignal.timeout(10_000);
  try {
    for (;;) {
      const ev = copied(await h.tailer.next(AbortSignal.any([h.quiet.signal, deadline])));
      h.idleWaits = 0;
      out.push(ev);
      h.events.push(ev);
    }
  } catch (error) {
    if (deadline.aborted || !h.quiet.signal.aborted) throw error;
  } finally {
    h.quiet = null;
  }
  return out;
}

/** Events until `until` holds for one (deadline-bounded). */
async function takeUntil(h: Harness, until: (ev: TailEvent) => boolean): Promise<TailEvent[]> {
  const out: TailEvent[] = [];
  const deadline = AbortSignal.timeout(10_000);
  for (;;) {
    const ev = copied(await h.tailer.next(deadline));
    out.push(ev);
    h.events.push(ev);
    if (until(ev)) return out;
  }
}

const linesOf = (events: TailEvent[]): string[] =>
  events.flatMap((ev) => (ev.kind === "lines" ? ev.data.toString("latin1").split("\n").slice(0, -1) : []));

/** What the agent would checkpoint after processing `events`. */
function positionsAfter(events: TailEvent[], from: FilePosition[] = []): FilePosition[] {
  const map = new Map(from.map((pos) => [pos.fileKey, pos]));
  for (const ev of events) {
    if (ev.kind === "closed") map.delete(ev.fileKey);
    else if (ev.kind === "lines" || ev.kind === "truncated")
      map.set(ev.fileKey, { fileKey: ev.fileKey, path: ev.path, offset: ev.startOffset + ev.data.length });
    else if (ev.kind === "oversize") map.set(ev.fileKey, { fileKey: ev.fileKey, path: ev.path, offset: ev.endOffset });
  }
  return [...map.values()];
}

/** Every key's data events start where its previous one ended (or at `start`). */
function expectContiguous(events: TailEvent[], start: Map<string, number> = new Map()): void {
  const end = new Map(start);
  for (const ev of events) {
    if (ev.kind !== "lines" && ev.kind !== "truncated" && ev.kind !== "oversize") continue;
    expect(ev.startOffset, `${ev.kind} of ${ev.fileKey}`).toBe(end.get(ev.fileKey) ?? 0);
    end.set(ev.fileKey, ev.kind === "oversize" ? ev.endOffset : ev.startOffset + ev.data.length);
  }
}

const numbered = (from: number, to: number, prefix = "line") => {
  let s = "";
  for (let i = from; i <= to; i++) s += `${prefix} ${i}\n`;
  return s;
};
const range = (from: number, to: number, prefix = "line") => numbered(from, to, prefix).split("\n").slice(0, -1);
const keysOf = (events: TailEvent[], kind: TailEvent["kind"]) => [
  ...new Set(events.filter((e) => e.kind === kind).map((e) => e.fileKey)),
];

describe("reading", () => {
  it("emits whole lines only, carries a partial line over, and reports eof once per catching up", async () => {
    writeFileSync(p("a.log"), "alpha\nbeta\ngam");
    const h = start();
    const first = await drain(h);
    expect(linesOf(first)).toEqual(["alpha", "beta"]);
    expect(first.filter((e) => e.kind === "eof")).toEqual([expect.objectContaining({ offset: 11 })]);

    appendFileSync(p("a.log"), "ma\ndelta\n");
    const second = await drain(h);
    expect(linesOf(second)).toEqual(["gamma", "delta"]);
    expect(second.find((e) => e.kind === "lines")).toMatchObject({ startOffset: 11 });
    expect(second.filter((e) => e.kind === "eof")).toHaveLength(1);
    expectContiguous(h.events);
  });

  it("does not key a file before it has a complete line, and keeps its key as it grows", async () => {
    writeFileSync(p("a.log"), "no newline yet");
    const h = start({ fingerprintBytes: 64 });
    expect(await drain(h)).toEqual([]);

    appendFileSync(p("a.log"), "\n");
    const first = await drain(h);
    const key = first[0]!.fileKey;
    expect(key).toMatch(/^\d+:\d+:[0-9a-f]{16}-15$/);

    appendFileSync(p("a.log"), numbered(1, 20));
    const second = await drain(h);
    expect(linesOf(second)).toEqual(range(1, 20));
    expect(new Set(second.map((e) => e.fileKey))).toEqual(new Set([key]));
  });

  it("reports a 1 MB line as oversize without buffering it, and passes binary garbage through as lines", async () => {
    const garbage = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256));
    const huge = Buffer.alloc(1_000_000, "x");
    const content = Buffer.concat([
      Buffer.from("ok 1\n"),
      huge,
      Buffer.from("\nok 2\n"),
      garbage,
      Buffer.from("\nok 3\n"),
      Buffer.alloc(100_000, "y"), // oversize, but within one read chunk
      Buffer.from("\nok 4\n"),
    ]);
    writeFileSync(p("a.log"), content);
    for (const readChunkBytes of [256 * 1024, 1024 * 1024]) {
      const h = start({ readChunkBytes, globs: [p("a.log")] });
      const events = await drain(h);
      expectContiguous(events);
      const oversize = events.filter((e) => e.kind === "oversize");
      expect(oversize).toEqual([
        expect.objectContaining({ startOffset: 5, endOffset: 1_000_006 }),
        expect.objectContaining({ startOffset: 1_000_017 + garbage.length, endOffset: 1_100_018 + garbage.length }),
      ]);
      // Data events and oversize ranges tile the file exactly; no lines event holds more than one read.
      const rebuilt = Buffer.concat(
        events.flatMap((e) =>
          e.kind === "lines" ? [e.data] : e.kind === "oversize" ? [content.subarray(e.startOffset, e.endOffset)] : [],
        ),
      );
      expect(rebuilt.equals(content)).toBe(true);
      for (const e of events) if (e.kind === "lines") expect(e.data.length).toBeLessThanOrEqual(readChunkBytes);
      await h.tailer.stop();
    }
  });

  it("is exact for any content, chunk size, line limit and append pattern", async () => {
    const lineArb = fc.oneof(
      fc.string({ maxLength: 12 }).map((s) => s.replaceAll("\n", "")),
      fc.integer({ min: 13, max: 60 }).map((n) => "z".repeat(n)),
    );
    const scenario = fc.record({
      lines: fc.array(lineArb, { minLength: 1, maxLength: 40 }),
      trailing: fc.boolean(),
      cuts: fc.array(fc.nat(), { maxLength: 6 }),
      readChunkBytes: fc.integer({ min: 1, max: 64 }),
      maxLineBytes: fc.integer({ min: 1, max: 30 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        const content = Buffer.from(sc.lines.join("\n") + (sc.trailing ? "\n" : ""));
        const cuts = [...new Set(sc.cuts.map((c) => c % (content.length + 1)))].sort((a, b) => a - b);
        const name = `prop-${Math.random().toString(36).slice(2)}.log`;
        writeFileSync(p(name), "");
        const h = start({ globs: [p(name)], readChunkBytes: sc.readChunkBytes, maxLineBytes: sc.maxLineBytes });
        let written = 0;
        for (const cut of [...cuts, content.length]) {
          appendFileSync(p(name), content.subarray(written, cut));
          written = cut;
          await drain(h);
        }
        await h.tailer.stop();
        expectContiguous(h.events);
        const complete = sc.trailing ? sc.lines : sc.lines.slice(0, -1);
        const short = complete.filter((l) => Buffer.byteLength(l) <= sc.maxLineBytes);
        expect(linesOf(h.events)).toEqual(short);
        expect(h.events.filter((e) => e.kind === "oversize")).toHaveLength(complete.length - short.length);
      }),
      { numRuns: 25 },
    );
  }, 60_000);

  it("serves several files round-robin, one chunk each", async () => {
    writeFileSync(p("a.log"), numbered(1, 20_000, "a"));
    writeFileSync(p("b.log"), numbered(1, 20_000, "b"));
    const h = start({ readChunkBytes: 16 * 1024 });
    const events = await takeUntil(h, () => h.events.filter((e) => e.kind === "lines").length >= 12);
    const order = events.filter((e) => e.kind === "lines").map((e) => e.path);
    for (let i = 1; i < order.length; i++) expect(order[i]).not.toBe(order[i - 1]);
    const all = [...events, ...(await drain(h))];
    expect(linesOf(all).filter((l) => l.startsWith("a"))).toEqual(range(1, 20_000, "a"));
    expect(linesOf(all).filter((l) => l.startsWith("b"))).toEqual(range(1, 20_000, "b"));
  });

  it("picks up files matching the globs whenever they appear, and only those", async () => {
    writeFileSync(p("a.log"), numbered(1, 2, "a"));
    const h = start();
    expect(linesOf(await drain(h))).toEqual(range(1, 2, "a"));
    writeFileSync(p("b.log"), numbered(1, 3, "b"));
    writeFileSync(p("c.txt"), numbered(1, 3, "c"));
    const later = await drain(h);
    expect(linesOf(later)).toEqual(range(1, 3, "b"));
    expect(later[0]).toMatchObject({ path: p("b.log"), startOffset: 0 });
  });

  it('startAt "end" skips what files hold at start (from their last complete line), not files that come later', async () => {
    writeFileSync(p("a.log"), "old 1\nold 2\npart");
    const h = start({ startAt: "end" });
    expect(linesOf(await drain(h))).toEqual([]);
    appendFileSync(p("a.log"), "ial\nnew 1\n");
    writeFileSync(p("b.log"), "b 1\n");
    expect(linesOf(await drain(h)).sort()).toEqual(["b 1", "new 1", "partial"]);
  });

  it("reports an I/O error other than ENOENT to onError once, and carries on", async () => {
    writeFileSync(p("a.log"), "x\n");
    const eio = Object.assign(new Error("EIO: i/o error, scandir"), { code: "EIO" });
    const h = start({
      rotatedSiblingPattern: () => {
        throw eio;
      },
    });
    await drain(h);
    renameSync(p("a.log"), p("a.log.1")); // looking for its new name fails
    appendFileSync(p("a.log.1"), "y\n");
    expect(linesOf(await drain(h))).toEqual(["y"]);
    expect(h.errors).toEqual([{ code: AgentErrorCode.TailIo, message: `${p("a.log")}: EIO: i/o error, scandir` }]);
  });

  it("stop() closes every fd and ends a pending next(); an aborted next() rejects with the signal's reason", async () => {
    const fds = () => readdirSync("/proc/self/fd").length;
    const before = fds();
    writeFileSync(p("a.log"), "a\n");
    writeFileSync(p("b.log"), "b\n");
    const h = start({
      wait: (_ms, signal) => new Promise((resolve) => signal.addEventListener("abort", () => resolve())),
    });
    await takeUntil(h, (e) => e.kind === "eof" && h.events.filter((x) => x.kind === "eof").length === 2);
    expect(fds()).toBe(before + 2);

    const aborted = new AbortController();
    const pendingAbort = h.tailer.next(aborted.signal);
    aborted.abort(new Error("consumer gone"));
    await expect(pendingAbort).rejects.toThrow("consumer gone");

    const pending = h.tailer.next();
    await h.tailer.stop();
    await expect(pending).rejects.toMatchObject({ code: AgentErrorCode.TailStopped });
    expect(fds()).toBe(before);
  });
});

describe("rotation while running", () => {
  it("rename: drains the renamed file, including what the writer appends before reopening, then closes it", async () => {
    writeFileSync(p("access.log"), numbered(1, 3));
    const h = start({ globs: [p("access.log")] });
    const first = await drain(h);
    const oldKey = first[0]!.fileKey;

    renameSync(p("access.log"), p("access.log.1"));
    appendFileSync(p("access.log.1"), numbered(4, 5)); // the writer has not reopened yet
    writeFileSync(p("access.log"), numbered(6, 7));
    const second = await drain(h);
    appendFileSync(p("access.log.1"), numbered(8, 8)); // a straggler before the writer reopens
    const third = await takeUntil(h, (e) => e.kind === "closed");

    const all = [...first, ...second, ...third];
    expect(linesOf(all).sort()).toEqual(range(1, 8).sort());
    const old = all.filter((e) => e.fileKey === oldKey && e.kind === "lines");
    expect(linesOf(old)).toEqual([...range(1, 5), "line 8"]);
    expect(old.at(-1)?.path).toBe(p("access.log.1"));
    expect(third.at(-1)).toEqual({
      kind: "closed",
      fileKey: oldKey,
      path: p("access.log.1"),
      offset: statSync(p("access.log.1")).size,
    });
    expect(keysOf(all, "lines")).toHaveLength(2);
    expectContiguous(all);
    expect(h.errors).toEqual([]);
  });

  it("copytruncate: drains the copy from our offset under the old key, then reads the truncated file as new", async () => {
    writeFileSync(p("access.log"), numbered(1, 3));
    const h = start({ globs: [p("access.log")] });
    const first = await drain(h);
    const oldKey = first[0]!.fileKey;

    appendFileSync(p("access.log"), numbered(4, 5)); // written, not yet read
    copyFileSync(p("access.log"), p("access.log.1"));
    truncateSync(p("access.log"), 0);
    appendFileSync(p("access.log"), numbered(6, 500)); // refilled beyond our old offset before we look
    const rest = await takeUntil(h, (e) => e.kind === "closed");
    const all = [...first, ...rest, ...(await drain(h))];

    expect(linesOf(all).sort()).toEqual(range(1, 500).sort());
    expect(linesOf(all.filter((e) => e.fileKey === oldKey))).toEqual(range(1, 5));
    expect(all.filter((e) => e.kind === "closed")).toEqual([
      { kind: "closed", fileKey: oldKey, path: p("access.log.1"), offset: numbered(1, 5).length },
    ]);
    const newKey = keysOf(all, "lines").find((k) => k !== oldKey)!;
    expect(newKey.split(":").slice(0, 2)).toEqual(oldKey.split(":").slice(0, 2)); // same inode, new content
    expectContiguous(all);
    expect(h.errors).toEqual([]);
  });

  it("copytruncate refilled to exactly the size we had read is still noticed", async () => {
    writeFileSync(p("access.log"), numbered(10, 19));
    const h = start({ globs: [p("access.log")] });
    const first = await drain(h);
    copyFileSync(p("access.log"), p("access.log.1"));
    truncateSync(p("access.log"), 0);
    appendFileSync(p("access.log"), numbered(20, 29)); // same length as before
    expect(statSync(p("access.log")).size).toBe(numbered(10, 19).length);
    const rest = await takeUntil(h, (e) => e.kind === "closed");
    const all = [...first, ...rest, ...(await drain(h))];
    expect(linesOf(all).sort()).toEqual(range(10, 29).sort());
    expect(rest.find((e) => e.kind === "closed")).toMatchObject({
      fileKey: first[0]!.fileKey,
      path: p("access.log.1"),
    });
  });

  it("truncation without a copy: reports the lost partial line and the loss, and reads the new content", async () => {
    writeFileSync(p("access.log"), "line 1\nline 2\nhalf a li");
    const h = start({ globs: [p("access.log")] });
    const first = await drain(h);
    truncateSync(p("access.log"), 0);
    appendFileSync(p("access.log"), "fresh 1\n");
    const second = await drain(h);
    const oldKey = first[0]!.fileKey;
    expect(second.filter((e) => e.fileKey === oldKey)).toEqual([
      { kind: "truncated", fileKey: oldKey, path: p("access.log"), startOffset: 14, data: Buffer.from("half a li") },
      { kind: "closed", fileKey: oldKey, path: p("access.log"), offset: 23 },
    ]);
    expect(linesOf(second)).toEqual(["fresh 1"]);
    expect(h.errors.map((e) => e.code)).toEqual([AgentErrorCode.TailStreamLost]);
  });

  it("a shrink that keeps the fingerprinted bytes goes on at the new end under the same key", async () => {
    writeFileSync(p("a.log"), numbered(1, 10));
    const h = start({ fingerprintBytes: 16 });
    const first = await drain(h);
    truncateSync(p("a.log"), numbered(1, 5).length);
    expect(await drain(h)).toEqual([
      { kind: "eof", fileKey: first[0]!.fileKey, path: p("a.log"), offset: numbered(1, 5).length },
    ]);
    appendFileSync(p("a.log"), numbered(11, 12));
    const second = await drain(h);
    expect(linesOf(second)).toEqual(range(11, 12));
    expect(second.find((e) => e.kind === "lines")).toMatchObject({
      fileKey: first[0]!.fileKey,
      startOffset: numbered(1, 5).length,
    });
    expect(h.errors.map((e) => e.code)).toEqual([AgentErrorCode.TailShrunk]);
  });

  it("a closed file that comes back to a glob match resumes where it was closed, under its key", async () => {
    writeFileSync(p("a.log"), numbered(1, 3));
    const h = start();
    const first = await drain(h);
    renameSync(p("a.log"), p("a.log.1"));
    const closed = await takeUntil(h, (e) => e.kind === "closed");
    renameSync(p("a.log.1"), p("a.log"));
    appendFileSync(p("a.log"), numbered(4, 5));
    const again = await drain(h);
    expect(linesOf([...first, ...closed, ...again])).toEqual(range(1, 5));
    expect(again.find((e) => e.kind === "lines")).toMatchObject({
      fileKey: first[0]!.fileKey,
      startOffset: numbered(1, 3).length,
    });
  });

  it("a deleted file is drained through its fd, its unterminated last line reported, then closed", async () => {
    writeFileSync(p("a.log"), "one\ntwo\n");
    const h = start();
    const first = await drain(h);
    appendFileSync(p("a.log"), "three\nunfinish");
    unlinkSync(p("a.log"));
    const rest = await takeUntil(h, (e) => e.kind === "closed");
    const key = first[0]!.fileKey;
    expect(linesOf([...first, ...rest])).toEqual(["one", "two", "three"]);
    expect(rest.slice(-2)).toEqual([
      { kind: "truncated", fileKey: key, path: p("a.log"), startOffset: 14, data: Buffer.from("unfinish") },
      { kind: "closed", fileKey: key, path: p("a.log"), offset: 22 },
    ]);
  });

  it("a deleted file that never got a complete line is keyed over what it has and reported as truncated", async () => {
    writeFileSync(p("a.log"), "lonely");
    const h = start();
    expect(await drain(h)).toEqual([]);
    unlinkSync(p("a.log"));
    const events = await takeUntil(h, (e) => e.kind === "closed");
    expect(events.map((e) => e.kind)).toEqual(["truncated", "closed"]);
    expect(events[0]).toMatchObject({ startOffset: 0, data: Buffer.from("lonely") });
    expect(events[0]!.fileKey).toMatch(/-6$/);
  });
});

describe("restart", () => {
  it("resumes a file renamed while stopped, drains it, and reads the new file from 0: every line once", async () => {
    writeFileSync(p("access.log"), numbered(1, 1000));
    const options = { globs: [p("access.log")], readChunkBytes: 4096 };
    const h1 = start(options);
    const firstRun = await takeUntil(h1, () => linesOf(h1.events).length >= 300);
    await h1.tailer.stop();
    const saved = positionsAfter(firstRun);
    expect(saved).toHaveLength(1);

    renameSync(p("access.log"), p("access.log.1"));
    appendFileSync(p("access.log.1"), numbered(1001, 1100));
    writeFileSync(p("access.log"), numbered(1101, 1200));
    const h2 = start({ ...options, positions: saved });
    const secondRun = [...(await drain(h2)), ...(await takeUntil(h2, (e) => e.kind === "closed"))];

    expect([...linesOf(firstRun), ...linesOf(secondRun)].sort()).toEqual(range(1, 1200).sort());
    expectContiguous(secondRun, new Map(saved.map((s) => [s.fileKey, s.offset])));
    expect(secondRun.find((e) => e.fileKey === saved[0]!.fileKey)).toMatchObject({ path: p("access.log.1") });
    expect(h2.errors).toEqual([]);
  });

  it("resumes from the copy after a copytruncate while stopped", async () => {
    writeFileSync(p("access.log"), numbered(1, 1000));
    const options = { globs: [p("access.log")], readChunkBytes: 4096 };
    const h1 = start(options);
    const firstRun = await takeUntil(h1, () => linesOf(h1.events).length >= 300);
    await h1.tailer.stop();
    const saved = positionsAfter(firstRun);

    appendFileSync(p("access.log"), numbered(1001, 1100));
    copyFileSync(p("access.log"), p("access.log-20260101"));
    truncateSync(p("access.log"), 0);
    appendFileSync(p("access.log"), numbered(1101, 1200));
    const h2 = start({ ...options, positions: saved });
    const secondRun = [...(await drain(h2)), ...(await takeUntil(h2, (e) => e.kind === "closed"))];

    expect([...linesOf(firstRun), ...linesOf(secondRun)].sort()).toEqual(range(1, 1200).sort());
    expect(secondRun.at(-1)).toMatchObject({ kind: "closed", fileKey: saved[0]!.fileKey });
    expectContiguous(secondRun, new Map(saved.map((s) => [s.fileKey, s.offset])));
    expect(h2.errors).toEqual([]);
  });

  it("reads nothing again when nothing changed, even with a different fingerprintBytes", async () => {
    writeFileSync(p("a.log"), numbered(1, 100));
    const h1 = start();
    const saved = positionsAfter(await drain(h1));
    await h1.tailer.stop();
    const h2 = start({ positions: saved, fingerprintBytes: 16 });
    const events = await drain(h2);
    expect(events).toEqual([{ kind: "eof", fileKey: saved[0]!.fileKey, path: p("a.log"), offset: saved[0]!.offset }]);
  });

  it("a stream gone while stopped is closed and reported, and a new file at its path is read from 0", async () => {
    writeFileSync(p("a.log"), numbered(1, 10));
    const h1 = start();
    const saved = positionsAfter(await drain(h1));
    await h1.tailer.stop();
    unlinkSync(p("a.log"));
    writeFileSync(p("a.log"), numbered(1, 3, "new"));

    const h2 = start({ positions: saved, startAt: "end" });
    const events = await drain(h2);
    expect(events[0]).toEqual({ kind: "closed", ...saved[0] });
    expect(linesOf(events)).toEqual(range(1, 3, "new"));
    expect(h2.errors.map((e) => e.code)).toEqual([AgentErrorCode.TailStreamLost]);
  });

  it("a malformed position is reported and closed, never guessed at", async () => {
    writeFileSync(p("a.log"), "x\n");
    const bad = { fileKey: "not-a-key", path: p("a.log"), offset: 1 };
    const h = start({ positions: [bad] });
    const events = await drain(h);
    expect(events[0]).toEqual({ kind: "closed", ...bad });
    expect(linesOf(events)).toEqual(["x"]);
    expect(h.errors.map((e) => e.code)).toEqual([AgentErrorCode.TailBadPosition]);
  });

  it("keeps the original key of a short file across growth and restart", async () => {
    writeFileSync(p("a.log"), "first\n");
    const h1 = start();
    const saved = positionsAfter(await drain(h1));
    await h1.tailer.stop();
    appendFileSync(p("a.log"), numbered(1, 200));
    const h2 = start({ positions: saved });
    const events = await drain(h2);
    expect(linesOf(events)).toEqual(range(1, 200));
    expect(new Set(events.map((e) => e.fileKey))).toEqual(new Set([saved[0]!.fileKey]));
    expect(readFileSync(p("a.log")).length).toBe(positionsAfter(events, saved)[0]!.offset);
  });
});
