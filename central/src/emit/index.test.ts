import { describe, expect, it } from "vitest";
import type { AnomalyOptions } from "../detect/index.js";
import { float } from "../influx/points.js";
import { createMergeEngine } from "../merge/index.js";
import { MemoryInflux, partialOf } from "../testkit.js";
import { createEmitter } from "./index.js";

const W = 10_000;
const T = 1_700_000_000_000;
const anomalies: AnomalyOptions = {
  maxAnomaliesPerType: 5,
  baselineHistoryMs: 300_000,
  ipSpike: { enabled: true, minRequests: 500, baselineFactor: 5 },
  errorSurge: { enabled: true, minShare: 0.05, minErrors: 20, baselineFactor: 3 },
  urlScan: { enabled: true, minDistinctUrls: 100, minNotFound: 50 },
};
const options = { windowMs: W, allowedLatenessMs: 120_000, topK: 5, anomalies };
const mergeOptions = {
  windowMs: W,
  allowedLatenessMs: 120_000,
  agentLivenessMs: 60_000,
  incompleteFireAfterMs: 15_000,
  outageHoldMaxMs: 900_000,
};

const ok = (n: number, host: string) => Array.from({ length: n }, (_, i) => ({ ip: `10.${host.length}.0.${i % 50}` }));

describe("emitter", () => {
  it("finds a URL scan spread over hosts (distinct URLs merged across hosts) and writes it as an anomaly", () => {
    const engine = createMergeEngine(mergeOptions);
    engine.assign(0, { offset: null, metadata: null }, T);
    const scan = (from: number) =>
      Array.from({ length: 80 }, (_, i) => ({ ip: "192.0.2.66", path: `/admin/${from + i}.php`, status: 404 }));
    engine.ingest(0, 0, partialOf({ host: "web-1", windowStartMs: T }, [...ok(30, "web-1"), ...scan(0)]), T + W);
    engine.ingest(0, 1, partialOf({ host: "web-2", windowStartMs: T }, [...ok(30, "web-2"), ...scan(40)]), T + W);
    const write = createEmitter(options).render(engine.flush(T + W).emissions);
    const store = new MemoryInflux();
    store.apply(write);
    const scans = [...store.points.values()].filter((p) => p.measurement === "anomaly");
    expect(scans.map((p) => [p.tags, p.fields.key])).toEqual([
      [{ type: "url_scan", host: "all", service: "web", rank: "1" }, { str: "192.0.2.66" }],
    ]);
    // 120 distinct paths across the two hosts: the merged HyperLogLog says ~120, neither host alone reaches 100.
    const value = scans[0]?.fields.value;
    expect(value && "float" in value ? value.float : 0).toBeGreaterThan(105);
    expect(write.fired).toEqual([{ kind: "early", windowEndMs: T + W, anomalies: 1 }]);
    expect(write.deletes).toEqual([]);
  });

  it("deletes an anomaly a rewrite no longer produces, before writing the new points", () => {
    const engine = createMergeEngine({ ...mergeOptions, incompleteFireAfterMs: 0 });
    engine.assign(0, { offset: null, metadata: null }, T);
    const emitter = createEmitter(options);
    const store = new MemoryInflux();
    engine.ingest(0, 0, partialOf({ host: "web-1", windowStartMs: T - W }), T);
    engine.ingest(0, 1, partialOf({ host: "web-2", windowStartMs: T - W }), T);
    store.apply(emitter.render(engine.flush(T).emissions));

    const failing = Array.from({ length: 40 }, () => ({ status: 502 }));
    engine.ingest(0, 2, partialOf({ host: "web-1", windowStartMs: T }, [...ok(60, "web-1"), ...failing]), T + W);
    const first = emitter.render(engine.flush(T + 2 * W).emissions); // web-2 missing: timeout
    store.apply(first);
    const surge = (s: MemoryInflux) =>
      [...s.points.values()].filter((p) => p.measurement === "anomaly").map((p) => `${p.tags.host}#${p.tags.rank}`);
    expect(surge(store).sort()).toEqual(["all#1", "web-1#1"]);

    engine.ingest(0, 3, partialOf({ host: "web-2", windowStartMs: T }, ok(2000, "web-2")), T + 2 * W);
    const rewrite = emitter.render(engine.flush(T + 2 * W).emissions);
    expect(rewrite.fired.map((f) => f.kind)).toEqual(["rewrite"]);
    expect(rewrite.deletes).toEqual([
      { measurement: "anomaly", tags: { type: "error_surge", host: "all", service: "web", rank: "1" }, timeMs: T },
    ]);
    store.apply(rewrite);
    expect(surge(store)).toEqual(["web-1#1"]);
    const stats = [...store.points.values()].find(
      (p) => p.measurement === "http_stats" && p.tags.host === "all" && p.timeMs === T,
    );
    expect(stats?.fields.error_rate).toEqual(float(40 / 2100));
  });

  it("clears a window's anomalies before its first write when an earlier owner may have written it", () => {
    const engine = createMergeEngine(mergeOptions);
    engine.assign(4, { offset: 10, metadata: null }, T + 5 * W);
    engine.ingest(4, 10, partialOf({ host: "web-1", windowStartMs: T }), T + 5 * W);
    const write = createEmitter(options).render(engine.flush(T + 5 * W).emissions);
    expect(write.deletes).toEqual([{ measurement: "anomaly", tags: { service: "web" }, timeMs: T }]);
  });
});
