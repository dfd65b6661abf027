/**
 * Exactly-once across crashes, on the pure pipeline (merge → emit → store) with an in-memory InfluxDB: a run that
 * crashes at arbitrary points (after writing part of a batch, before committing it) and restarts from the committed
 * offset + metadata, hydrating history from the store, must leave exactly the store of a run without crashes.
 *
 * RESTART_RUNS=n runs more cases; RESTART_SEED / RESTART_PATH replay a reported counterexample.
 */
import type { WindowPartial } from "@rla/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../test/support/fleet-gen.js";
import type { AnomalyOptions } from "./detect/index.js";
import { createEmitter, type Emitter } from "./emit/index.js";
import { createMergeEngine, type MergeEngine, type MergeOptions } from "./merge/index.js";
import { MemoryInflux, partialOf } from "./testkit.js";

const W = 10_000;
const T0 = 1_700_000_000_000;
const merge: MergeOptions = {
  windowMs: W,
  allowedLatenessMs: 60_000,
  agentLivenessMs: 30_000,
  incompleteFireAfterMs: 15_000,
  // Off here: the scenarios' clock jumps would start outage holds, which make a restarted run accept more than an
  // uninterrupted one (never less); merge/index.test.ts proves the hold across a restart.
  outageHoldMaxMs: 0,
};
const anomalies: AnomalyOptions = {
  maxAnomaliesPerType: 2,
  baselineHistoryMs: 60_000,
  ipSpike: { enabled: true, minRequests: 15, baselineFactor: 3 },
  errorSurge: { enabled: true, minShare: 0.2, minErrors: 5, baselineFactor: 2 },
  urlScan: { enabled: true, minDistinctUrls: 12, minNotFound: 8 },
};
const emitOptions = { windowMs: W, allowedLatenessMs: merge.allowedLatenessMs, topK: 3, anomalies };
const HISTORY_SPAN = merge.allowedLatenessMs + anomalies.baselineHistoryMs + merge.agentLivenessMs + 2 * W;

interface Delivery {
  atMs: number;
  /** A factory, so each run gets its own copy (merging mutates partials). */
  make: () => WindowPartial | null;
}

/** Three hosts (one also serving "api"), with traffic, planted anomalies, gaps, supplements, duplicates, poison. */
function scenario(seed: number): Delivery[] {
  const r = seededRandom(seed);
  const windows = 18;
  const out: Delivery[] = [];
  const hosts = ["web-1", "web-2", "web-3"];
  for (let i = 0; i < windows; i++) {
    const start = T0 + i * W;
    for (const [h, host] of hosts.entries()) {
      if (r() < 0.08) continue; // a host misses a window now and then
      const records: Parameters<typeof partialOf>[1] = [];
      const n = Math.floor(r() * 12);
      const surge = r() < 0.1;
      for (let k = 0; k < n; k++) {
        records.push({
          ip: `10.0.${h}.${Math.floor(r() * 6)}`,
          path: `/p/${Math.floor(r() * 5)}`,
          status: surge && r() < 0.7 ? 503 : r() < 0.1 ? 404 : 200,
          latencyUs: r() < 0.9 ? Math.floor(r() * 200_000) : -1,
          bytes: Math.floor(r() * 5000),
        });
      }
      if (r() < 0.1) for (let k = 0; k < 25; k++) records.push({ ip: "203.0.113.66", path: "/" }); // ip_spike
      if (r() < 0.08) for (let k = 0; k < 14; k++) records.push({ ip: "198.51.100.7", path: `/x/${k}`, status: 404 }); // url_scan
      const seed0 = records;
      const arrive = start + W + 500 + Math.floor(r() * 3000);
      out.push({ atMs: arrive, make: () => partialOf({ host, windowStartMs: start }, seed0) });
      if (host === "web-2")
        out.push({
          atMs: arrive,
          make: () => partialOf({ host, service: "api", windowStartMs: start }, seed0.slice(0, 3)),
        });
      if (r() < 0.25) {
        // a supplement for late lines: usually within the lateness, sometimes beyond it
        const late = [{ ip: `10.0.${h}.9`, status: r() < 0.5 ? 500 : 200, latencyUs: 1000 }];
        const delay = Math.floor(r() * 9) * W;
        out.push({ atMs: arrive + delay, make: () => partialOf({ host, windowStartMs: start, seq: 1 }, late) });
      }
    }
  }
  out.sort((a, b) => a.atMs - b.atMs);
  // Redeliveries (exact duplicates) and poison records at random places.
  const extra: Delivery[] = [];
  for (const d of out) {
    if (r() < 0.06) extra.push({ atMs: d.atMs + Math.floor(r() * 40_000), make: d.make });
    if (r() < 0.03) extra.push({ atMs: d.atMs, make: () => null });
  }
  const all = [...out, ...extra].sort((a, b) => a.atMs - b.atMs);
  // A last window far ahead turns every earlier window final (so agents_expected settles in both runs).
  const end = T0 + (windows + 10) * W;
  all.push({ atMs: end + W, make: () => partialOf({ host: "web-1", windowStartMs: end }) });
  return all;
}

interface Committed {
  offset: number;
  metadata: string;
}

interface Process {
  engine: MergeEngine;
  emitter: Emitter;
}

function startProcess(store: MemoryInflux, committed: Committed | null, nowMs: number): Process {
  const engine = createMergeEngine(merge);
  const emitter = createEmitter(emitOptions);
  const { restoredWatermarkMs } = engine.assign(
    0,
    { offset: committed?.offset ?? null, metadata: committed?.metadata ?? null },
    nowMs,
  );
  // What central does on assignment: history and liveness from InfluxDB, from before the restored watermark.
  const base = Number.isFinite(restoredWatermarkMs) ? Math.min(nowMs, restoredWatermarkMs) : nowMs;
  const rows = store.readHistory(base - HISTORY_SPAN);
  emitter.detector.hydrate(rows);
  engine.hydrateLiveness(rows.filter((x) => x.kind === "stats" && x.host !== "all") as never);
  return { engine, emitter };
}

/**
 * Feeds deliveries from `from` in random batches; after each batch flushes, writes to the store and commits.
 * With `crashAtBatch`, that batch's write is cut after a random prefix of its operations and nothing is committed.
 */
function run(
  deliveries: Delivery[],
  store: MemoryInflux,
  committed: Committed | null,
  r: () => number,
  crash: { atBatch: number; keep: number } | null,
  clockFloorMs: number,
): { committed: Committed | null; crashedAtMs: number | null } {
  const start = committed?.offset ?? 0;
  const p = startProcess(store, committed, Math.max(clockFloorMs, deliveries[start]?.atMs ?? 0));
  let i = start;
  let batch = 0;
  let now = clockFloorMs;
  while (i < deliveries.length) {
    const size = 1 + Math.floor(r() * 6);
    for (const end = Math.min(deliveries.length, i + size); i < end; i++) {
      const d = deliveries[i]!;
      now = Math.max(now, d.atMs);
      p.engine.ingest(0, i, d.make(), now);
    }
    // Sometimes the ticker runs before the next batch arrives (fires windows on timeout).
    if (r() < 0.3) now += Math.floor(r() * 20_000);
    const result = p.engine.flush(now);
    const write = p.emitter.render(result.emissions);
    if (crash !== null && batch === crash.atBatch) {
      const ops = write.deletes.length + write.points.length;
      const keep = Math.floor(crash.keep * (ops + 1));
      store.apply({
        deletes: write.deletes.slice(0, keep),
        points: write.points.slice(0, Math.max(0, keep - write.deletes.length)),
      });
      return { committed, crashedAtMs: now };
    }
    store.apply(write);
    const [intent] = result.commits;
    if (intent !== undefined) committed = { offset: intent.offset, metadata: intent.metadata };
    batch++;
  }
  return { committed, crashedAtMs: null };
}

describe("restart from commit + metadata", () => {
  it("reproduces the writes of an uninterrupted run, whatever the crash points (property)", {
    timeout: 300_000,
  }, () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.integer(),
        fc.array(fc.record({ atBatch: fc.nat({ max: 60 }), keep: fc.double({ min: 0, max: 1, noNaN: true }) }), {
          minLength: 1,
          maxLength: 3,
        }),
        (scenarioSeed, runSeed, crashes) => {
          const deliveries = scenario(scenarioSeed);
          const reference = new MemoryInflux();
          run(deliveries, reference, null, seededRandom(runSeed), null, 0);

          const store = new MemoryInflux();
          const r = seededRandom(runSeed ^ 0x5bd1e995);
          let committed: Committed | null = null;
          let clock = 0;
          for (const crash of [...crashes, null]) {
            const outcome = run(deliveries, store, committed, r, crash, clock);
            committed = outcome.committed;
            if (outcome.crashedAtMs === null) break;
            clock = outcome.crashedAtMs + 5_000; // the restart happens a little later
          }
          expect(store.snapshot()).toEqual(reference.snapshot());
        },
      ),
      {
        numRuns: Number(process.env.RESTART_RUNS ?? 40),
        endOnFailure: true,
        ...(process.env.RESTART_SEED ? { seed: Number(process.env.RESTART_SEED), path: process.env.RESTART_PATH } : {}),
      },
    );
  });

  it("the scenarios exercise what they claim: rewrites, late drops, duplicates, poison and anomalies", () => {
    const outcomes = new Set<string>();
    const kinds = new Set<string>();
    const types = new Set<string>();
    for (const seed of [1, 2, 3, 4, 5]) {
      const store = new MemoryInflux();
      const engine = createMergeEngine(merge);
      const emitter = createEmitter(emitOptions);
      engine.assign(0, { offset: null, metadata: null }, 0);
      scenario(seed).forEach((d, i) => {
        outcomes.add(engine.ingest(0, i, d.make(), d.atMs));
        const write = emitter.render(engine.flush(d.atMs).emissions);
        for (const f of write.fired) kinds.add(f.kind);
        store.apply(write);
      });
      for (const p of store.points.values()) if (p.measurement === "anomaly") types.add(p.tags.type!);
    }
    expect([...outcomes].sort()).toEqual(["accepted", "dropped_late", "duplicate", "late", "poison"]);
    // ("watermark" and "settle" firings need a replay or a late liveness change; merge/index.test.ts covers them.)
    expect([...kinds].sort()).toEqual(expect.arrayContaining(["early", "rewrite", "timeout"]));
    expect([...types].sort()).toEqual(["error_surge", "ip_spike", "url_scan"]);
  });
});
