import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { partialOf } from "../testkit.js";
import {
  createMergeEngine,
  decodeCommitMetadata,
  encodeCommitMetadata,
  type MergeEngine,
  type MergeOptions,
} from "./index.js";

const W = 10_000;
const T0 = 1_700_000_000_000; // aligned to W
const options: MergeOptions = {
  windowMs: W,
  allowedLatenessMs: 120_000,
  agentLivenessMs: 60_000,
  incompleteFireAfterMs: 15_000,
  outageHoldMaxMs: 900_000,
};

const win = (i: number) => T0 + i * W;
const req = (n: number, status = 200) => Array.from({ length: n }, (_, i) => ({ status, ip: `10.0.0.${i % 7}` }));

function engineWithPartition(o: MergeOptions = options) {
  const engine = createMergeEngine(o);
  engine.assign(0, { offset: null, metadata: null }, win(0));
  return engine;
}

describe("merge engine", () => {
  it("drops an exact redelivery by identity and counts it once", () => {
    const e = engineWithPartition();
    const p = partialOf({ host: "web-1", windowStartMs: win(0) }, req(5));
    expect(e.ingest(0, 0, p, win(1))).toBe("accepted");
    expect(e.ingest(0, 1, partialOf({ host: "web-1", windowStartMs: win(0) }, req(5)), win(1))).toBe("duplicate");
    const [emission] = e.flush(win(1)).emissions;
    expect(emission?.fleet.requests).toBe(5);
    expect(emission?.agentsReported).toBe(1);
  });

  it("skips offsets it has already ingested (redelivery after a rebalance that kept the partition)", () => {
    const e = engineWithPartition();
    expect(e.ingest(0, 7, partialOf({ host: "web-1", windowStartMs: win(0) }, req(1)), win(1))).toBe("accepted");
    expect(e.ingest(0, 7, partialOf({ host: "web-2", windowStartMs: win(0) }, req(1)), win(1))).toBe(
      "already_processed",
    );
    expect(e.ingest(0, 8, null, win(1))).toBe("poison");
  });

  it("fires a window early once every live agent reported it", () => {
    const e = engineWithPartition();
    let offset = 0;
    for (const host of ["web-1", "web-2", "web-3"])
      e.ingest(0, offset++, partialOf({ host, windowStartMs: win(0) }), win(1));
    expect(e.flush(win(1)).emissions.map((x) => [x.windowStartMs, x.kind])).toEqual([[win(0), "early"]]);

    e.ingest(0, offset++, partialOf({ host: "web-1", windowStartMs: win(1) }, req(3)), win(2));
    e.ingest(0, offset++, partialOf({ host: "web-2", windowStartMs: win(1) }, req(4)), win(2));
    expect(e.flush(win(2) + 1_000).emissions).toEqual([]);
    e.ingest(0, offset++, partialOf({ host: "web-3", windowStartMs: win(1) }, req(5)), win(2));
    const [fired] = e.flush(win(2) + 1_500).emissions;
    expect(fired).toMatchObject({ windowStartMs: win(1), kind: "early", agentsReported: 3, agentsExpected: 3 });
    expect(fired?.fleet.requests).toBe(12);
    expect(fired?.hosts.map(([h, p]) => [h, p.requests])).toEqual([
      ["web-1", 3],
      ["web-2", 4],
      ["web-3", 5],
    ]);
  });

  it("fires an incomplete window incompleteFireAfterMs after its end, recording reported < expected", () => {
    const e = engineWithPartition();
    let offset = 0;
    for (const host of ["web-1", "web-2", "web-3"])
      e.ingest(0, offset++, partialOf({ host, windowStartMs: win(0) }), win(1));
    e.flush(win(1));
    e.ingest(0, offset++, partialOf({ host: "web-1", windowStartMs: win(1) }, req(2)), win(2));
    e.ingest(0, offset++, partialOf({ host: "web-2", windowStartMs: win(1) }, req(2)), win(2));
    expect(e.flush(win(2) + 14_999).emissions).toEqual([]);
    const [fired] = e.flush(win(2) + 15_000).emissions;
    expect(fired).toMatchObject({ kind: "timeout", agentsReported: 2, agentsExpected: 3, final: false });
  });

  it("counts an agent as live only if it reported within agentLivenessMs before the window", () => {
    const e = engineWithPartition();
    e.ingest(0, 0, partialOf({ host: "gone", windowStartMs: win(0) }), win(1));
    e.ingest(0, 1, partialOf({ host: "web-1", windowStartMs: win(0) }), win(1));
    e.flush(win(1));
    // 7 windows later "gone" is past the 60 s liveness: web-1 alone completes the window.
    e.ingest(0, 2, partialOf({ host: "web-1", windowStartMs: win(7) }), win(8));
    expect(e.flush(win(8)).emissions[0]).toMatchObject({ kind: "early", agentsExpected: 1 });
    // …but for win(6) it reported win(0), exactly 60 s before: still live, so win(6) waits for it until the timeout.
    e.ingest(0, 3, partialOf({ host: "web-1", windowStartMs: win(6) }), win(8));
    expect(e.flush(win(8)).emissions).toEqual([]);
    expect(e.flush(win(7) + 15_000).emissions[0]).toMatchObject({
      windowStartMs: win(6),
      agentsExpected: 2,
      kind: "timeout",
    });
  });

  it("rewrites a window when a partial arrives after it was written, before the watermark", () => {
    const e = engineWithPartition();
    e.ingest(0, 0, partialOf({ host: "web-1", windowStartMs: win(0) }, req(4)), win(1));
    e.flush(win(1));
    const supplement = partialOf({ host: "web-1", windowStartMs: win(0), seq: 1 }, req(2, 503));
    expect(e.ingest(0, 1, supplement, win(3))).toBe("late");
    const [rewrite] = e.flush(win(3)).emissions;
    expect(rewrite).toMatchObject({ kind: "rewrite", agentsReported: 1 });
    expect(rewrite?.fleet.requests).toBe(6);
    expect(rewrite?.hosts[0]?.[1].statusCounts[503]).toBe(2);
    expect(e.flush(win(3)).emissions).toEqual([]);
  });

  it("finalises a window behind the watermark, forgets it, and drops later partials as late", () => {
    const e = engineWithPartition();
    e.ingest(0, 0, partialOf({ host: "web-1", windowStartMs: win(0) }, req(1)), win(1));
    e.flush(win(1));
    // win(12) ends at win(13) = win(1) + 120 s: the watermark reaches win(0)'s end. (The wall clock moves in
    // small steps: a gap without records would start an outage hold, tested below.)
    e.ingest(0, 1, partialOf({ host: "web-1", windowStartMs: win(11) }), win(1) + 2_000);
    expect(e.flush(win(1) + 2_000).finalized).toBe(0);
    e.ingest(0, 2, partialOf({ host: "web-1", windowStartMs: win(12) }), win(1) + 4_000);
    const result = e.flush(win(1) + 4_000);
    expect(result.finalized).toBe(1);
    expect(e.snapshot()).toEqual([{ partition: 0, watermarkMs: win(1), openWindows: 2 }]);
    expect(e.ingest(0, 3, partialOf({ host: "web-2", windowStartMs: win(0) }), win(1) + 5_000)).toBe("dropped_late");
    expect(e.ingest(0, 4, partialOf({ host: "web-2", windowStartMs: win(1) }), win(1) + 5_000)).toBe("accepted");
  });

  it("writes a never-fired window when it turns final, and settles agents_expected at finality", () => {
    const e = createMergeEngine({ ...options, incompleteFireAfterMs: 10_000_000 });
    e.assign(0, { offset: null, metadata: null }, win(0));
    e.ingest(0, 0, partialOf({ host: "web-1", windowStartMs: win(0) }), win(1));
    e.ingest(0, 1, partialOf({ host: "web-2", windowStartMs: win(0) }), win(1));
    e.flush(win(1));
    e.ingest(0, 2, partialOf({ host: "web-1", windowStartMs: win(1) }), win(2));
    expect(e.flush(win(2)).emissions).toEqual([]); // web-2 is live and missing
    // web-3 shows up late with a report for win(0), which makes it live (and missing) for win(1) too.
    e.ingest(0, 3, partialOf({ host: "web-3", windowStartMs: win(0) }), win(2));
    e.ingest(0, 4, partialOf({ host: "web-1", windowStartMs: win(13) }), win(2) + 1_000);
    const kinds = e.flush(win(2) + 1_000).emissions.map((x) => [x.windowStartMs, x.kind, x.agentsExpected, x.final]);
    expect(kinds).toEqual([
      [win(0), "rewrite", 3, true],
      [win(1), "watermark", 3, true],
      [win(13), "early", 1, false],
    ]);
  });

  it("restores the watermark from commit metadata: replays of final windows are skipped, others rebuilt", () => {
    const e = createMergeEngine(options);
    const restored = { watermarkMs: win(5), lastIngestAtMs: win(20) - 1_000, hold: null };
    const metadata = encodeCommitMetadata(restored);
    expect(decodeCommitMetadata(metadata)).toEqual(restored);
    expect(e.assign(3, { offset: 42, metadata }, win(20))).toEqual({
      restoredWatermarkMs: win(5),
      metadataReadable: true,
    });
    expect(e.ingest(3, 42, partialOf({ host: "web-1", windowStartMs: win(4) }), win(20))).toBe("replayed_final");
    const rebuilt = partialOf({ host: "web-1", windowStartMs: win(5) }, req(2));
    expect(e.ingest(3, 43, rebuilt, win(20))).toBe("accepted");
    const [emission] = e.flush(win(20)).emissions;
    expect(emission).toMatchObject({ windowStartMs: win(5), mayHaveBeenWritten: true });
    e.ingest(3, 44, partialOf({ host: "web-1", windowStartMs: win(30) }), win(31));
    e.flush(win(31));
    expect(e.ingest(3, 45, partialOf({ host: "web-2", windowStartMs: win(6) }), win(31))).toBe("dropped_late");
  });

  it("reads back only its own metadata format", () => {
    const nothingFinal = { watermarkMs: Number.NEGATIVE_INFINITY, lastIngestAtMs: null, hold: null };
    expect(decodeCommitMetadata(null)).toEqual(nothingFinal);
    expect(decodeCommitMetadata("")).toEqual(nothingFinal);
    const held = { watermarkMs: win(2), lastIngestAtMs: win(3), hold: { extraMs: 40_000, releaseEndMs: win(20) } };
    expect(decodeCommitMetadata(encodeCommitMetadata(held))).toEqual(held);
    expect(decodeCommitMetadata(encodeCommitMetadata(nothingFinal))).toEqual(nothingFinal);
    expect(decodeCommitMetadata(JSON.stringify({ v: 1, watermarkMs: win(2) }))).toEqual({
      ...nothingFinal,
      watermarkMs: win(2),
    });
    for (const unreadable of [
      "spark-checkpoint-7",
      "null",
      JSON.stringify({ v: 2, watermarkMs: win(2) }),
      JSON.stringify({ v: 2, watermarkMs: win(2), lastIngestAtMs: null, hold: { extraMs: "1" } }),
      JSON.stringify({ v: 3, watermarkMs: win(2), lastIngestAtMs: 1, hold: null }),
    ]) {
      expect(decodeCommitMetadata(unreadable), unreadable).toBeNull();
    }
    const e = createMergeEngine(options);
    expect(e.assign(1, { offset: 10, metadata: "{oops" }, win(0)).metadataReadable).toBe(false);
  });

  it("commits the next offset when nothing is open, and a new epoch after re-assignment", () => {
    const e = engineWithPartition();
    e.ingest(0, 0, null, win(0));
    expect(e.flush(win(0)).commits).toEqual([
      {
        partition: 0,
        epoch: 1,
        offset: 1,
        metadata: encodeCommitMetadata({ watermarkMs: Number.NEGATIVE_INFINITY, lastIngestAtMs: win(0), hold: null }),
      },
    ]);
    e.revoke(0);
    expect(e.isAssigned(0)).toBe(false);
    e.assign(0, { offset: 1, metadata: null }, win(0));
    expect(e.epochOf(0)).toBe(2);
    expect(e.flush(win(0)).commits).toEqual([]);
  });

  it("never commits past a partial of a window that is not final (property)", () => {
    const record = fc.record({
      window: fc.integer({ min: 0, max: 40 }),
      host: fc.constantFrom("a", "b", "c"),
      seq: fc.integer({ min: 0, max: 2 }),
      poison: fc.boolean(),
      flush: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 120 }), (records) => {
        const e = engineWithPartition({ ...options, allowedLatenessMs: 40_000 });
        const accepted: { offset: number; endMs: number }[] = [];
        let newestEnd = Number.NEGATIVE_INFINITY;
        let committed = 0;
        records.forEach((r, offset) => {
          const partial = r.poison
            ? null
            : partialOf({ host: r.host, windowStartMs: win(r.window), seq: r.seq }, req(1));
          const outcome = e.ingest(0, offset, partial, win(50));
          if (outcome === "accepted" || outcome === "late") {
            accepted.push({ offset, endMs: win(r.window) + W });
            newestEnd = Math.max(newestEnd, win(r.window) + W);
          }
          if (!r.flush && offset < records.length - 1) return;
          const [intent] = e.flush(win(50)).commits;
          const watermark = newestEnd - 40_000;
          const openOffsets = accepted.filter((a) => a.endMs > watermark).map((a) => a.offset);
          const bound = openOffsets.length > 0 ? Math.min(...openOffsets) : offset + 1;
          expect(intent?.offset).toBe(bound);
          expect(intent!.offset).toBeGreaterThanOrEqual(committed);
          committed = intent!.offset;
        });
      }),
      { numRuns: 200 },
    );
  });
});

describe("outage hold", () => {
  // Agents a and b report windows 0..2 about a second after each ends; then Kafka is down for 150 s (longer than
  // the 120 s lateness). At the recovery `a` drains its spool (windows 3..17) at once; `b` only 20 s later.
  const recoveredAt = win(18) + 1_000;
  let offset = 0;

  function beforeOutage(o: MergeOptions = options) {
    offset = 0;
    const e = createMergeEngine(o);
    e.assign(0, { offset: null, metadata: null }, win(0));
    for (let i = 0; i <= 2; i++) {
      for (const host of ["a", "b"])
        e.ingest(0, offset++, partialOf({ host, windowStartMs: win(i) }), win(i + 1) + 1_000);
      e.flush(win(i + 1) + 1_000);
    }
    return e;
  }
  const drain = (e: MergeEngine, host: string, atMs: number) =>
    Array.from({ length: 15 }, (_, k) =>
      e.ingest(0, offset++, partialOf({ host, windowStartMs: win(3 + k) }, req(2)), atMs),
    );

  it("gives agents draining spools after a fleet-wide Kafka outage allowedLatenessMs from the recovery", () => {
    const e = beforeOutage();
    expect(drain(e, "a", recoveredAt).every((x) => x === "accepted")).toBe(true);
    expect(e.outageHoldMs()).toBe(150_000);
    e.flush(recoveredAt);
    const outcomes = drain(e, "b", recoveredAt + 20_000);
    expect(outcomes.filter((x) => x === "dropped_late")).toEqual([]);
    const fleet = e.flush(recoveredAt + 20_000).emissions.filter((x) => x.windowStartMs === win(3));
    expect(fleet.map((x) => [x.fleet.requests, x.agentsReported])).toEqual([[4, 2]]);
  });

  it("would drop the slower agent's oldest windows without it (the scenario is the one that loses data)", () => {
    const e = beforeOutage({ ...options, outageHoldMaxMs: 0 });
    drain(e, "a", recoveredAt);
    e.flush(recoveredAt);
    const outcomes = drain(e, "b", recoveredAt + 20_000);
    expect(outcomes.slice(0, 3)).toEqual(["dropped_late", "dropped_late", "dropped_late"]);
    expect(e.outageHoldMs()).toBe(0);
  });

  it("ends once the newest window ends allowedLatenessMs after the recovery, and is capped at outageHoldMaxMs", () => {
    const e = beforeOutage({ ...options, outageHoldMaxMs: 100_000 });
    drain(e, "a", recoveredAt);
    expect(e.outageHoldMs()).toBe(100_000);
    // win(29) ends at win(30) < recoveredAt + 120 s: still held (watermark = win(30) - 220 s).
    e.ingest(0, offset++, partialOf({ host: "a", windowStartMs: win(29) }), recoveredAt + 5_000);
    expect(e.snapshot()[0]?.watermarkMs).toBe(win(30) - 220_000);
    e.ingest(0, offset++, partialOf({ host: "a", windowStartMs: win(30) }), recoveredAt + 6_000);
    expect(e.outageHoldMs()).toBe(0);
    expect(e.snapshot()[0]?.watermarkMs).toBe(win(31) - 120_000);
  });

  it("survives a restart: the commit metadata carries the hold, and a long downtime starts one", () => {
    const e = beforeOutage();
    drain(e, "a", recoveredAt);
    const [commit] = e.flush(recoveredAt).commits;
    const restored = decodeCommitMetadata(commit!.metadata);
    expect(restored?.hold).toEqual({ extraMs: 150_000, releaseEndMs: recoveredAt + 120_000 });

    // Central restarts 2 s later (no gap of its own) and replays from the committed offset.
    const replay = (metadata: string) => {
      const r = createMergeEngine(options);
      r.assign(0, { offset: commit!.offset, metadata }, recoveredAt + 2_000);
      offset = commit!.offset;
      drain(r, "a", recoveredAt + 2_000);
      return drain(r, "b", recoveredAt + 20_000).filter((x) => x === "dropped_late").length;
    };
    expect(replay(commit!.metadata)).toBe(0);
    expect(replay(encodeCommitMetadata({ ...restored!, hold: null }))).toBe(3);

    // Central itself was down for the 150 s: the time since the last ingest it recorded starts the hold.
    const down = createMergeEngine(options);
    const before = encodeCommitMetadata({ watermarkMs: win(2) - 120_000, lastIngestAtMs: win(3) + 1_000, hold: null });
    down.assign(0, { offset: 6, metadata: before }, recoveredAt);
    expect(down.outageHoldMs()).toBe(150_000);
  });
});
