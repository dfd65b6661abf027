import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emptyLogRecord, type LogRecord, REJECT_REASONS, type RejectReason } from "../model.js";
import { CMS_DEFAULT_WIDTH } from "../sketch/count-min.js";
import {
  addRecord,
  addReject,
  createPartial,
  estimateIpRequests,
  IP_CAPACITY,
  MAX_METHODS,
  mergePartial,
  partialIdentity,
  summarizePartial,
  type WindowPartial,
} from "./index.js";

const WINDOW = 1_767_268_800_000;
const key = (host: string, seq = 0) => ({ host, service: "web", windowStartMs: WINDOW, windowMs: 10_000, seq });

const recordArb: fc.Arbitrary<LogRecord> = fc.record({
  timeMs: fc.integer({ min: WINDOW, max: WINDOW + 9_999 }),
  status: fc.constantFrom(200, 200, 201, 204, 301, 304, 400, 404, 404, 499, 500, 503, 0, 99, 600, 999),
  bytes: fc.integer({ min: 0, max: 5_000_000 }),
  latencyUs: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 5_000_000 }), fc.integer({ min: 0, max: 2 ** 32 })),
  ip: fc.constantFrom("10.0.0.1", "10.0.0.2", "192.168.1.77", "2001:db8::1", "203.0.113.9", ""),
  method: fc.constantFrom("GET", "GET", "POST", "HEAD", "PUT", ""),
  path: fc.constantFrom("/", "/index.html", "/api/v1/items", "/wp-login.php", "/static/app.js", ""),
});
type Event = { rec: LogRecord } | { reject: RejectReason };
const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 9, arbitrary: recordArb.map((rec) => ({ rec })) },
  { weight: 1, arbitrary: fc.constantFrom(...REJECT_REASONS).map((reject) => ({ reject })) },
);

function fold(p: WindowPartial, events: Event[]): WindowPartial {
  for (const e of events) {
    if ("rec" in e) addRecord(p, e.rec);
    else addReject(p, e.reject);
  }
  return p;
}

/** Everything a partial knows, in comparable form (exact parts exactly, sketches by content). */
function snapshot(p: WindowPartial) {
  const table = (t: WindowPartial["ips"]) =>
    Array.from({ length: t.size }, (_, i) => ({
      key: t.keyOf(i),
      count: t.counts[i],
      notFound: t.notFound?.[i],
      registers: t.trackScan ? Array.from(t.distinctOf(i).registers!) : null,
    }))
      .filter((e) => e.count !== 0)
      .sort((a, b) => (a.key! < b.key! ? -1 : 1));
  const methods = Object.fromEntries(p.methods.map((m, i) => [m, p.methodCounts[i]]));
  const { topIps, topUrls, scanCandidates, ...summary } = summarizePartial(p, { topK: 1000 });
  return {
    summary,
    methods,
    latency: p.latency.buckets(),
    latencyMissing: p.latencyMissing,
    ips: table(p.ips),
    urls: table(p.urls),
    exact: [p.ips.exact, p.urls.exact],
    topIps,
    topUrls,
    scanCandidates,
  };
}

/** Merges the partials in the order and grouping given by `plan` (pairs of positions to merge). */
function mergeByPlan(parts: WindowPartial[], plan: number[]): WindowPartial {
  const pool = [...parts];
  let step = 0;
  while (pool.length > 1) {
    const i = plan[step++ % plan.length]! % pool.length;
    let j = plan[step++ % plan.length]! % (pool.length - 1);
    if (j >= i) j++;
    mergePartial(pool[i]!, pool[j]!);
    pool.splice(j, 1);
  }
  return pool[0]!;
}

function exactPercentile(sorted: number[], percentile: number): number {
  const rank = Math.max(1, Math.ceil((percentile / 100) * sorted.length));
  return sorted[rank - 1]!;
}

describe("partial aggregation", () => {
  it("matches an independent recomputation from the raw records", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 300 }), (events) => {
        const p = fold(createPartial(key("h1")), events);
        const records = events.flatMap((e) => ("rec" in e ? [e.rec] : []));
        const s = summarizePartial(p, { topK: 100 });
        expect(s.lines).toBe(events.length);
        expect(s.requests).toBe(records.length);
        expect(s.bytes).toBe(records.reduce((a, r) => a + r.bytes, 0));
        const codes: Record<string, number> = {};
        for (const r of records) codes[String(r.status)] = (codes[String(r.status)] ?? 0) + 1;
        expect(s.statusCodes).toEqual(codes);
        const classes = { "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, other: 0 };
        for (const r of records) {
          const c = Math.floor(r.status / 100);
          if (c >= 1 && c <= 5) classes[`${c}xx` as keyof typeof classes]++;
          else classes.other++;
        }
        expect(s.statusClasses).toEqual(classes);
        for (const reason of REJECT_REASONS) {
          expect(s.rejects[reason]).toBe(events.filter((e) => "reject" in e && e.reject === reason).length);
        }
        const ips = new Map<string, number>();
        for (const r of records) if (r.ip !== "") ips.set(r.ip, (ips.get(r.ip) ?? 0) + 1);
        expect(Object.fromEntries(s.topIps.map((e) => [e.ip, e.requests]))).toEqual(Object.fromEntries(ips));
        for (const [ip, n] of ips) expect(estimateIpRequests(p, ip)).toBe(n);
        expect(estimateIpRequests(p, "198.51.100.200")).toBe(0);
        const urls = new Map<string, number>();
        for (const r of records) if (r.path !== "") urls.set(r.path, (urls.get(r.path) ?? 0) + 1);
        expect(Object.fromEntries(s.topUrls.map((e) => [e.url, e.requests]))).toEqual(Object.fromEntries(urls));
        // Scan data per IP: 404s exact, distinct paths exact at these small counts (linear counting).
        for (const c of s.scanCandidates) {
          const mine = records.filter((r) => r.ip === c.ip);
          expect(c.notFound).toBe(mine.filter((r) => r.status === 404).length);
          expect(c.distinctUrls).toBe(new Set(mine.filter((r) => r.path !== "").map((r) => r.path)).size);
        }
        const times = records.map((r) => r.timeMs);
        expect(s.firstEventMs).toBe(times.length ? Math.min(...times) : null);
        expect(s.lastEventMs).toBe(times.length ? Math.max(...times) : null);
        const lat = records
          .filter((r) => r.latencyUs >= 0)
          .map((r) => Math.min(r.latencyUs, 3_600_000_000))
          .sort((a, b) => a - b);
        if (lat.length === 0) expect(s.latencyMs).toBeNull();
        else {
          // HDR with 3 significant digits: the reported value is the top of the exact value's bucket.
          for (const [q, got] of [
            [50, s.latencyMs!.p50],
            [90, s.latencyMs!.p90],
            [99, s.latencyMs!.p99],
            [100, s.latencyMs!.max],
          ] as const) {
            const exact = exactPercentile(lat, q);
            const us = Math.round(got * 1000); // the summary is in ms; undo the division's rounding
            expect(us).toBeGreaterThanOrEqual(exact);
            expect(us).toBeLessThanOrEqual(exact * 1.001 + 1);
          }
        }
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it("clamps latencies above one hour and counts requests without latency separately", () => {
    const p = createPartial(key("h1"));
    const rec = { ...emptyLogRecord(), ip: "10.0.0.1", path: "/", method: "GET", status: 200, timeMs: WINDOW };
    addRecord(p, { ...rec, latencyUs: 10 * 3_600_000_000 });
    addRecord(p, { ...rec, latencyUs: -1 });
    expect(p.latency.count).toBe(1);
    expect(p.latencyMissing).toBe(1);
    expect(summarizePartial(p, { topK: 1 }).latencyMs!.max).toBeCloseTo(3_600_000, -4);
  });

  it("keeps at most 16 method names and counts the rest as OTHER", () => {
    const p = createPartial(key("h1"));
    const rec = { ...emptyLogRecord(), ip: "10.0.0.1", path: "/", status: 200, timeMs: WINDOW };
    for (let i = 0; i < 40; i++) addRecord(p, { ...rec, method: `M${i}` });
    addRecord(p, { ...rec, method: "X".repeat(100) });
    expect(p.methods.length).toBe(MAX_METHODS + 1);
    expect(p.methodCounts[p.methods.indexOf("OTHER")]).toBe(40 - MAX_METHODS + 1);
    expect(p.methodCounts.reduce((a, b) => a + b, 0)).toBe(41);
  });

  it("has a stable identity string", () => {
    expect(partialIdentity(createPartial(key("web-1", 2)))).toBe(`web-1|web|${WINDOW}|2`);
  });
});

describe("merge laws", () => {
  it("merging host partials in any order and grouping equals aggregating all records at once", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(eventArb, fc.nat(5)), { maxLength: 250 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 12 }),
        fc.nat(3),
        (events, plan, empties) => {
          const all = fold(
            createPartial(key("all")),
            events.map(([e]) => e),
          );
          const hosts = Array.from({ length: 6 }, (_, h) =>
            fold(
              createPartial(key(`h${h}`)),
              events.filter(([, host]) => host === h).map(([e]) => e),
            ),
          );
          // createPartial is the identity: sprinkle empty partials in.
          for (let i = 0; i < empties; i++) hosts.push(createPartial(key(`empty${i}`)));
          const merged = mergeByPlan(hosts, plan);
          expect(snapshot(merged)).toEqual(snapshot(all));
        },
      ),
      { numRuns: 100 },
    );
  }, 60_000);

  it("is commutative and associative on exact tables, with the identity on either side", () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 80 }),
        fc.array(eventArb, { maxLength: 80 }),
        fc.array(eventArb, { maxLength: 80 }),
        (a, b, c) => {
          const build = (events: Event[]) => fold(createPartial(key("x")), events);
          const ab = build(a);
          mergePartial(ab, build(b));
          const ba = build(b);
          mergePartial(ba, build(a));
          expect(snapshot(ab)).toEqual(snapshot(ba));

          const left = build(a); // (a + b) + c
          mergePartial(left, build(b));
          mergePartial(left, build(c));
          const bc = build(b); // a + (b + c)
          mergePartial(bc, build(c));
          const right = build(a);
          mergePartial(right, bc);
          expect(snapshot(left)).toEqual(snapshot(right));

          const withIdentity = createPartial(key("x"));
          mergePartial(withIdentity, build(a));
          mergePartial(withIdentity, createPartial(key("y")));
          expect(snapshot(withIdentity)).toEqual(snapshot(build(a)));
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);

  it("does not change the partial merged from", () => {
    const from = createPartial(key("h1"));
    const rec = {
      ...emptyLogRecord(),
      ip: "10.0.0.1",
      path: "/a",
      method: "GET",
      status: 404,
      timeMs: WINDOW,
      latencyUs: 5,
    };
    addRecord(from, rec);
    const before = snapshot(from);
    const into = createPartial(key("all"));
    addRecord(into, { ...rec, path: "/b" });
    mergePartial(into, from);
    mergePartial(into, from);
    expect(snapshot(from)).toEqual(before);
    expect(summarizePartial(into, { topK: 1 }).scanCandidates).toEqual([
      { ip: "10.0.0.1", distinctUrls: 2, notFound: 3 },
    ]);
  });
});

/** A deterministic stream: `heavy` IPs with the given shares of `total`, the rest spread over `background` IPs. */
function skewedTraffic(total: number, heavy: number[], background: number, seed: number): LogRecord[] {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const out: LogRecord[] = [];
  for (let i = 0; i < total; i++) {
    const x = rnd();
    let acc = 0;
    let ip = "";
    for (let h = 0; h < heavy.length && ip === ""; h++) {
      acc += heavy[h]!;
      if (x < acc) ip = `198.51.100.${h}`;
    }
    if (ip === "") {
      const b = Math.floor(rnd() * background);
      ip = `10.${(b >> 16) & 255}.${(b >> 8) & 255}.${b & 255}`;
    }
    out.push({
      ...emptyLogRecord(),
      timeMs: WINDOW + (i % 10_000),
      status: 200,
      ip,
      path: `/p/${i % 5000}`,
      method: "GET",
    });
  }
  return out;
}

describe("heavy hitters beyond the exact cap", () => {
  it.each([1, 2, 3])(
    "finds every IP with at least 1 percent of traffic within the count-min bound (seed %i)",
    (seed) => {
      const shares = [0.05, 0.02, 0.015, 0.01, 0.01];
      const records = skewedTraffic(120_000, shares, 40_000, seed);
      const hosts = Array.from({ length: 4 }, (_, h) => createPartial(key(`h${h}`)));
      records.forEach((r, i) => {
        addRecord(hosts[(i * 7 + seed) % 4]!, r);
      });
      expect(hosts.every((p) => !p.ips.exact)).toBe(true);
      const fleet = createPartial(key("all"));
      for (const p of hosts) mergePartial(fleet, p);

      const truth = new Map<string, number>();
      for (const r of records) truth.set(r.ip, (truth.get(r.ip) ?? 0) + 1);
      const bound = (Math.E / CMS_DEFAULT_WIDTH) * records.length;
      const top = summarizePartial(fleet, { topK: 10 }).topIps;
      for (let h = 0; h < shares.length; h++) {
        const ip = `198.51.100.${h}`;
        const found = top.find((e) => e.ip === ip);
        expect(found, ip).toBeDefined();
        expect(found!.requests).toBeGreaterThanOrEqual(truth.get(ip)!);
        expect(found!.requests).toBeLessThanOrEqual(truth.get(ip)! + bound);
        expect(estimateIpRequests(fleet, ip)).toBeLessThanOrEqual(truth.get(ip)! + bound);
      }
      // Estimates never undercount, also for IPs only in the sketch.
      for (const ip of ["10.0.0.1", "10.0.1.2", "10.0.100.3"]) {
        expect(estimateIpRequests(fleet, ip)).toBeGreaterThanOrEqual(truth.get(ip) ?? 0);
      }
    },
  );

  it("stays exact up to the cap, also when a merge reaches it exactly", () => {
    const a = createPartial(key("a"));
    const b = createPartial(key("b"));
    const rec = { ...emptyLogRecord(), timeMs: WINDOW, status: 200, method: "GET", path: "/" };
    for (let i = 0; i < IP_CAPACITY; i++) addRecord(i % 2 ? a : b, { ...rec, ip: `10.1.${i >> 8}.${i & 255}` });
    mergePartial(a, b);
    expect(a.ips.exact).toBe(true);
    expect(a.ips.size).toBe(IP_CAPACITY);
    addRecord(a, { ...rec, ip: "10.2.0.0" });
    expect(a.ips.exact).toBe(false);
    expect(a.ips.size).toBe(IP_CAPACITY);
  });
});

describe("scan candidates", () => {
  it("are the best by (distinct URLs desc, 404s desc, ip asc) among IPs with enough distinct URLs", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            ip: fc.integer({ min: 0, max: 60 }),
            url: fc.integer({ min: 0, max: 40 }),
            notFound: fc.boolean(),
          }),
          { maxLength: 1_500 },
        ),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 0, max: 6 }),
        (events, limit, minDistinctUrls) => {
          const p = createPartial(key("web-1"));
          for (const e of events) {
            addRecord(p, {
              ...emptyLogRecord(),
              timeMs: WINDOW,
              status: e.notFound ? 404 : 200,
              ip: `10.1.0.${e.ip}`,
              path: `/p${e.url}`,
            });
          }
          const reference = Array.from({ length: p.ips.size }, (_, id) => ({
            ip: p.ips.keyOf(id),
            distinctUrls: p.ips.distinctOf(id).estimate(),
            notFound: p.ips.notFound![id]!,
          }))
            .filter((c) => c.distinctUrls >= minDistinctUrls)
            .sort((a, b) => b.distinctUrls - a.distinctUrls || b.notFound - a.notFound || (a.ip < b.ip ? -1 : 1))
            .slice(0, limit);
          const { scanCandidates } = summarizePartial(p, { topK: 3, scanLimit: limit, minDistinctUrls });
          expect(scanCandidates).toEqual(reference);
        },
      ),
      { numRuns: 150 },
    );
  });
});
