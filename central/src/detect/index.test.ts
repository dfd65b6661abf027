import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AnomalyOptions, createDetector, type WindowFacts } from "./index.js";

const W = 10_000;
const LATENESS = 120_000;
const T = 1_700_000_400_000; // aligned; the window under test
const anomalies: AnomalyOptions = {
  maxAnomaliesPerType: 3,
  baselineHistoryMs: 300_000,
  ipSpike: { enabled: true, minRequests: 500, baselineFactor: 5 },
  errorSurge: { enabled: true, minShare: 0.05, minErrors: 20, baselineFactor: 3 },
  urlScan: { enabled: true, minDistinctUrls: 100, minNotFound: 50 },
};

function facts(startMs: number, over: Partial<WindowFacts> = {}): WindowFacts {
  return {
    service: "web",
    windowStartMs: startMs,
    rows: [
      { host: "all", requests: 3000, errors5xx: 3 },
      { host: "web-1", requests: 1000, errors5xx: 1 },
      { host: "web-2", requests: 1000, errors5xx: 1 },
      { host: "web-3", requests: 1000, errors5xx: 1 },
    ],
    topIps: [
      { ip: "198.51.100.1", requests: 90 },
      { ip: "198.51.100.2", requests: 60 },
    ],
    scanCandidates: [{ ip: "198.51.100.1", distinctUrls: 8, notFound: 0 }],
    ...over,
  };
}

/** A detector that has observed `n` ordinary windows right before the baseline range of T ends. */
function withHistory(n: number, over: (start: number) => Partial<WindowFacts> = () => ({})) {
  const d = createDetector({ windowMs: W, allowedLatenessMs: LATENESS, anomalies });
  for (let i = 0; i < n; i++) {
    const start = T - LATENESS - i * W;
    d.observe(facts(start, over(start)));
  }
  return d;
}

describe("anomaly detection", () => {
  it("stays quiet on ordinary traffic", () => {
    expect(withHistory(20).detect(facts(T))).toEqual([]);
  });

  it("flags one client IP far above the threshold and its baseline (ip_spike)", () => {
    const d = withHistory(20);
    const found = d.detect(facts(T, { topIps: [{ ip: "203.0.113.9", requests: 2400 }, ...facts(T).topIps] }));
    expect(found).toEqual([
      expect.objectContaining({
        type: "ip_spike",
        host: "all",
        service: "web",
        rank: 1,
        key: "203.0.113.9",
        value: 2400,
        threshold: 500,
        baseline: 0,
      }),
    ]);
    expect(found[0]?.message).toContain("203.0.113.9 sent 2400 requests in 10 s");
  });

  it("does not flag a heavy client that is always that heavy", () => {
    const steady = (_: number) => ({ topIps: [{ ip: "203.0.113.9", requests: 2000 }] });
    const d = withHistory(20, steady);
    expect(d.detect(facts(T, { topIps: [{ ip: "203.0.113.9", requests: 2400 }] }))).toEqual([]);
    const burst = d.detect(facts(T, { topIps: [{ ip: "203.0.113.9", requests: 10_001 }] }));
    expect(burst).toMatchObject([{ type: "ip_spike", threshold: 10_000, baseline: 2000 }]);
  });

  it("flags a 5xx surge fleet-wide and on the host that has it (error_surge)", () => {
    const d = withHistory(20);
    const found = d.detect(
      facts(T, {
        rows: [
          { host: "all", requests: 3000, errors5xx: 302 },
          { host: "web-1", requests: 1000, errors5xx: 300 },
          { host: "web-2", requests: 1000, errors5xx: 1 },
          { host: "web-3", requests: 1000, errors5xx: 1 },
        ],
      }),
    );
    expect(found.map((a) => [a.type, a.host, a.key, a.rank])).toEqual([
      ["error_surge", "all", "all", 1],
      ["error_surge", "web-1", "web-1", 1],
    ]);
    expect(found[1]).toMatchObject({ value: 0.3, threshold: 0.05 });
    expect(found[1]?.baseline).toBeCloseTo(0.001, 6);
  });

  it("needs minErrors and k × the baseline share, not the share alone", () => {
    const few = withHistory(20).detect(facts(T, { rows: [{ host: "web-1", requests: 100, errors5xx: 19 }] }));
    expect(few).toEqual([]);
    const alwaysBad = (_: number) => ({ rows: [{ host: "web-1", requests: 1000, errors5xx: 100 }] });
    const d = withHistory(20, alwaysBad);
    expect(d.detect(facts(T, { rows: [{ host: "web-1", requests: 1000, errors5xx: 250 }] }))).toEqual([]);
    expect(d.detect(facts(T, { rows: [{ host: "web-1", requests: 1000, errors5xx: 310 }] }))).toMatchObject([
      { type: "error_surge", value: 0.31 },
    ]);
  });

  it("flags a client requesting many distinct URLs or collecting many 404s (url_scan)", () => {
    const found = withHistory(5).detect(
      facts(T, {
        scanCandidates: [
          { ip: "192.0.2.77", distinctUrls: 180, notFound: 170 },
          { ip: "192.0.2.78", distinctUrls: 3, notFound: 64 },
          { ip: "192.0.2.79", distinctUrls: 99, notFound: 49 },
        ],
      }),
    );
    expect(found.map((a) => [a.type, a.key, a.value, a.threshold, a.rank])).toEqual([
      ["url_scan", "192.0.2.77", 180, 100, 1],
      ["url_scan", "192.0.2.78", 64, 50, 2],
    ]);
  });

  it("ranks several anomalies of one type by value and keeps at most maxAnomaliesPerType", () => {
    const topIps = [600, 900, 700, 800, 650].map((requests, i) => ({ ip: `203.0.113.${i}`, requests }));
    const found = withHistory(1).detect(facts(T, { topIps }));
    expect(found.map((a) => [a.rank, a.key, a.value])).toEqual([
      [1, "203.0.113.1", 900],
      [2, "203.0.113.3", 800],
      [3, "203.0.113.2", 700],
    ]);
  });

  it("uses only windows at least allowedLatenessMs old, within baselineHistoryMs", () => {
    const d = createDetector({ windowMs: W, allowedLatenessMs: LATENESS, anomalies });
    const bad = { rows: [{ host: "web-1", requests: 1000, errors5xx: 300 }] };
    // Too recent (could still change) and too old: neither counts.
    d.observe(facts(T - LATENESS + W, bad));
    d.observe(facts(T - LATENESS - anomalies.baselineHistoryMs - W, bad));
    expect(d.detect(facts(T, bad))).toMatchObject([{ baseline: 0 }]);
    d.observe(facts(T - LATENESS, bad));
    expect(d.detect(facts(T, bad))).toEqual([]);
  });

  it("hydrated history fills in windows but never overrides what was observed here", () => {
    const d = createDetector({ windowMs: W, allowedLatenessMs: LATENESS, anomalies });
    const start = T - LATENESS;
    d.hydrate([{ kind: "stats", service: "web", host: "web-1", windowStartMs: start, requests: 1000, errors5xx: 100 }]);
    const surge = { rows: [{ host: "web-1", requests: 1000, errors5xx: 250 }] };
    expect(d.detect(facts(T, surge))).toEqual([]); // baseline 10 % → threshold 30 %
    d.observe(facts(start, { rows: [{ host: "web-1", requests: 1000, errors5xx: 0 }] }));
    d.hydrate([{ kind: "stats", service: "web", host: "web-1", windowStartMs: start, requests: 1000, errors5xx: 100 }]);
    expect(d.detect(facts(T, surge))).toMatchObject([{ type: "error_surge", baseline: 0 }]);

    d.hydrate([
      { kind: "stats", service: "web", host: "all", windowStartMs: start - W, requests: 5000, errors5xx: 0 },
      { kind: "top_ip", service: "web", windowStartMs: start - W, ip: "203.0.113.9", requests: 1000 },
    ]);
    // Two baseline windows with a fleet row (one observed, one hydrated): mean 500 → threshold 2500.
    expect(d.detect(facts(T, { topIps: [{ ip: "203.0.113.9", requests: 2400 }] }))).toEqual([]);
  });

  it("never flags traffic under every absolute threshold (property)", () => {
    const row = fc.record({
      requests: fc.integer({ min: 0, max: 5000 }),
      share: fc.double({ min: 0, max: 0.049, noNaN: true }),
    });
    fc.assert(
      fc.property(
        fc.array(row, { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 499 }), { maxLength: 20 }),
        fc.array(fc.record({ d: fc.integer({ min: 0, max: 99 }), nf: fc.integer({ min: 0, max: 49 }) }), {
          maxLength: 20,
        }),
        (rows, ips, scans) => {
          const d = createDetector({ windowMs: W, allowedLatenessMs: LATENESS, anomalies });
          const f = facts(T, {
            rows: rows.map((r, i) => ({
              host: `h${i}`,
              requests: r.requests,
              errors5xx: Math.floor(r.requests * r.share),
            })),
            topIps: ips.map((requests, i) => ({ ip: `10.1.0.${i}`, requests })),
            scanCandidates: scans.map((s, i) => ({ ip: `10.2.0.${i}`, distinctUrls: s.d, notFound: s.nf })),
          });
          expect(d.detect(f)).toEqual([]);
        },
      ),
    );
  });
});
