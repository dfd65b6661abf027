import fc from "fast-check";
import { Int32Histogram } from "hdr-histogram-js";
import { describe, expect, it } from "vitest";
import { CountMinSketch } from "./count-min.js";
import { DistinctCounter } from "./distinct.js";
import { hashString } from "./hash.js";
import { HeavyKeys } from "./heavy-keys.js";
import { LATENCY_MAX_US, LatencyHistogram } from "./latency.js";

/** Reference murmur3_32 (seed 0) over bytes, written straight from the specification. */
function murmur3Bytes(bytes: Uint8Array): number {
  let h = 0;
  const blocks = bytes.length >> 2;
  for (let b = 0; b < blocks; b++) {
    let k = bytes[4 * b]! | (bytes[4 * b + 1]! << 8) | (bytes[4 * b + 2]! << 16) | (bytes[4 * b + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = blocks * 4;
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k = 0;
    for (let i = rest - 1; i >= 0; i--) k = (k << 8) | bytes[tail + i]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

describe("hashString", () => {
  it("is murmur3_32 of the UTF-16LE bytes", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 100 }), (s) => {
        expect(hashString(s)).toBe(murmur3Bytes(Buffer.from(s, "utf16le")));
      }),
    );
  }, 60_000);

  it("is pinned (sketches from different agents and versions must agree)", () => {
    expect([hashString(""), hashString("10.0.0.1"), hashString("/index.html"), hashString("2001:db8::1")]).toEqual([
      0, 0xbddddc52, 0xd2bb866a, 0x3de6e223,
    ]);
    // The reference itself against published murmur3_32 (seed 0) vectors.
    expect(murmur3Bytes(Buffer.from("test", "latin1"))).toBe(0xba6bd213);
    expect(murmur3Bytes(Buffer.from("Hello, world!", "latin1"))).toBe(0xc0363e43);
    expect(murmur3Bytes(Buffer.from("The quick brown fox jumps over the lazy dog", "latin1"))).toBe(0x2e4ff723);
  });
});

describe("LatencyHistogram", () => {
  it("computes the same bucket index as hdr-histogram-js", () => {
    const reference = new Int32Histogram(1, LATENCY_MAX_US, 3);
    const h = new LatencyHistogram();
    const edges = [0, 1, 2047, 2048, 2049, 4095, 4096, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1 - 694_967_295, LATENCY_MAX_US];
    for (const v of edges) expect(h.indexOf(v), String(v)).toBe(reference.countsArrayIndex(v));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: LATENCY_MAX_US }), (v) => {
        expect(h.indexOf(v)).toBe(reference.countsArrayIndex(v));
      }),
      { numRuns: 2000 },
    );
  }, 60_000);

  it("records like the library, clamps above 1 h and round-trips its encoding", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 2 * LATENCY_MAX_US }), { maxLength: 200 }), (values) => {
        const h = new LatencyHistogram();
        const reference = new Int32Histogram(1, LATENCY_MAX_US, 3);
        for (const v of values) {
          h.record(v);
          reference.recordValue(Math.min(Math.max(v, 0), LATENCY_MAX_US));
        }
        const qs = [0, 1, 50, 90, 95, 99, 99.9, 100];
        expect(h.percentiles(qs)).toEqual(qs.map((q) => reference.getValueAtPercentile(q)));
        expect(h.mean()).toBe(reference.mean);
        if (values.length > 0) expect(h.max()).toBe(reference.highestEquivalentValue(reference.maxValue));
        expect(h.count).toBe(values.length);
        const back = LatencyHistogram.decode(h.encode());
        expect(back?.buckets()).toEqual(h.buckets());
        expect(back?.max()).toBe(h.max());
        expect(back?.mean()).toBe(h.mean());
      }),
      { numRuns: 50 },
    );
  }, 60_000);

  it("merges a decoded histogram, and into one, exactly like the original", () => {
    const values = fc.array(fc.integer({ min: -5, max: 2 * LATENCY_MAX_US }), { maxLength: 200 });
    fc.assert(
      fc.property(values, values, (a, b) => {
        const build = (vs: number[]) => {
          const h = new LatencyHistogram();
          for (const v of vs) h.record(v);
          return h;
        };
        const summary = (h: LatencyHistogram) => [h.buckets(), h.count, h.max(), h.mean(), h.percentiles([50, 99])];
        const expected = build(a);
        expected.merge(build(b));
        // Decoded (kept sparse) on the right, then on the left (made full when merged into).
        const intoPlain = build(a);
        intoPlain.merge(LatencyHistogram.decode(build(b).encode())!);
        expect(summary(intoPlain)).toEqual(summary(expected));
        const intoDecoded = LatencyHistogram.decode(build(a).encode())!;
        intoDecoded.merge(build(b));
        expect(summary(intoDecoded)).toEqual(summary(expected));
        intoDecoded.record(7);
        expected.record(7);
        expect(summary(intoDecoded)).toEqual(summary(expected));
      }),
      { numRuns: 50 },
    );
  }, 60_000);

  it("rejects invalid encodings", () => {
    expect(LatencyHistogram.decode(new Uint8Array([0x10]))).toBeNull(); // count nibble 0
    expect(LatencyHistogram.decode(new Uint8Array([0, 1]))).toBeNull(); // truncated escape
    expect(LatencyHistogram.decode(new Uint8Array([0, 0xff, 0xff, 0x7f, 1]))).toBeNull(); // index out of range
    expect(LatencyHistogram.decode(new Uint8Array([]))?.count).toBe(0);
  });
});

describe("CountMinSketch", () => {
  it("never underestimates, stays within εN for most keys, and merges by addition", () => {
    const a = new CountMinSketch();
    const b = new CountMinSketch();
    const truth = new Map<number, number>();
    let n = 0;
    for (let i = 0; i < 100_000; i++) {
      const key = i % 7 === 0 ? 1 : (i * 2654435761) % 30_000;
      const h = hashString(`k${key}`);
      (i % 2 ? a : b).add(h, 1);
      truth.set(h, (truth.get(h) ?? 0) + 1);
      n++;
    }
    a.merge(b);
    const bound = (Math.E / a.width) * n;
    let over = 0;
    for (const [h, t] of truth) {
      const e = a.estimate(h);
      expect(e).toBeGreaterThanOrEqual(t);
      if (e > t + bound) over++;
    }
    expect(over / truth.size).toBeLessThan(Math.exp(-a.depth));
    expect(() => a.merge(new CountMinSketch(1024, 4))).toThrow(RangeError);
    expect(() => new CountMinSketch(1000, 4)).toThrow(RangeError);
  });
});

describe("DistinctCounter", () => {
  it("estimates within 4 standard errors (6.5 %) and counts each value once", () => {
    for (const n of [1, 10, 100, 1_000, 10_000, 100_000]) {
      const d = new DistinctCounter();
      for (let rep = 0; rep < 2; rep++) for (let i = 0; i < n; i++) d.add(hashString(`/u/${i}`));
      expect(Math.abs(d.estimate() - n)).toBeLessThanOrEqual(Math.max(1, 4 * 0.065 * n));
    }
  });

  it("merges as the union: associative, commutative, idempotent", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer(), { maxLength: 200 }), { minLength: 1, maxLength: 5 }), (sets) => {
        const union = new DistinctCounter();
        for (const s of sets) for (const v of s) union.add(hashString(String(v)));
        const merged = new DistinctCounter();
        for (const s of [...sets].reverse()) {
          const d = new DistinctCounter();
          for (const v of s) d.add(hashString(String(v)));
          merged.merge(d);
          merged.merge(d);
        }
        expect(merged.registers ?? null).toEqual(union.registers ?? null);
      }),
    );
  }, 60_000);
});

describe("HeavyKeys", () => {
  it("keeps its probe table, heap and counts consistent through heavy eviction churn", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 3000 }), (stream) => {
        const t = new HeavyKeys({ capacity: 16, trackScan: true, cmsWidth: 64, cmsDepth: 3 });
        const truth = new Map<string, number>();
        for (const k of stream) {
          const key = `ip${k}`;
          t.add(key, hashString(key));
          truth.set(key, (truth.get(key) ?? 0) + 1);
        }
        expect(t.size).toBe(Math.min(16, truth.size));
        for (let id = 0; id < t.size; id++) {
          const key = t.keyOf(id);
          expect(t.find(key, hashString(key))).toBe(id);
          // Held counts are upper bounds of the truth, never below it.
          expect(t.counts[id]).toBeGreaterThanOrEqual(truth.get(key)!);
        }
        for (const [key, n] of truth) expect(t.estimate(key, hashString(key))).toBeGreaterThanOrEqual(n);
        // ... and at most the complete sketch's estimate (held counts start at the estimate on promotion).
        const sketch = t.exact ? null : t.countMinSketch();
        for (let id = 0; id < t.size; id++) {
          if (sketch !== null) expect(t.counts[id]).toBeLessThanOrEqual(sketch.estimate(t.hashes[id]!));
        }
        const top = t.top(16).map((e) => e.count);
        expect(top).toEqual([...top].sort((a, b) => b - a));
        if (truth.size <= 16) for (const [key, n] of truth) expect(t.estimate(key, hashString(key))).toBe(n);
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it("merges sketch-mode tables commutatively", () => {
    const build = (seed: number) => {
      const t = new HeavyKeys({ capacity: 8, trackScan: false, cmsWidth: 64, cmsDepth: 3 });
      for (let i = 0; i < 500; i++) {
        const key = `k${(i * seed) % 37}`;
        t.add(key, hashString(key));
      }
      return t;
    };
    const ab = build(3);
    ab.merge(build(5));
    const ba = build(5);
    ba.merge(build(3));
    expect(ab.top(8)).toEqual(ba.top(8));
    expect(Array.from(ab.countMinSketch().counts)).toEqual(Array.from(ba.countMinSketch().counts));
  });

  it("merges an exact table into a sketch-mode one in place, as the full rebuild would", () => {
    type Rebuild = { mergeSketched(f: HeavyKeys): void };
    let inPlaceMerges = 0;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 40, maxLength: 400 }),
        fc.array(fc.integer({ min: 0, max: 14 }), { maxLength: 40 }),
        fc.boolean(),
        (noise, small, exactInto) => {
          // Keys 0..9 are heavy, so held; the noise overflows capacity 16 (sketch mode), so the table is
          // full. `small` is exact, with held and new keys: new ones evict the last, often among ties.
          // With `exactInto` the table is exact (12 keys) and the union overflows: the switch to sketch mode.
          const big = [
            ...(exactInto ? noise.map((k) => k % 12) : noise),
            ...Array.from({ length: 300 }, (_, i) => i % 10),
          ];
          if (exactInto) small.push(20, 21, 22, 23, 24);
          const build = (stream: number[]) => {
            const t = new HeavyKeys({ capacity: 16, trackScan: true, cmsWidth: 16, cmsDepth: 2 });
            for (const k of stream) {
              const key = `ip${k}`;
              const id = t.add(key, hashString(key));
              if (id >= 0) t.addDistinct(id, hashString(`/p${k * 7 + stream.length}`));
            }
            return t;
          };
          const state = (t: HeavyKeys) =>
            Array.from({ length: t.size }, (_, id) => ({
              key: t.keyOf(id),
              count: t.counts[id],
              notFound: t.notFound![id],
              registers: Array.from(t.distinctOf(id).registers!),
            })).sort((x, y) => (x.key < y.key ? -1 : 1));
          const inPlace = build(big);
          const from = build(small);
          const rebuild = inPlace as unknown as Rebuild;
          let rebuilt = false;
          const original = rebuild.mergeSketched.bind(inPlace);
          rebuild.mergeSketched = (f) => {
            rebuilt = true;
            original(f);
          };
          inPlace.merge(from);
          if (!rebuilt) inPlaceMerges++;
          const reference = build(big);
          (reference as unknown as Rebuild).mergeSketched(from);
          expect(state(inPlace)).toEqual(state(reference));
          expect(Array.from(inPlace.countMinSketch().counts)).toEqual(Array.from(reference.countMinSketch().counts));
          expect(inPlace.top(16)).toEqual(reference.top(16));
        },
      ),
      { numRuns: 150 },
    );
    expect(inPlaceMerges).toBeGreaterThan(30);
  }, 60_000);
});

describe("HeavyKeys summaries without copies", () => {
  it("distinctEstimateOf equals the estimate of the unpacked registers, and rankedIds(k) the sorted prefix", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 5_000 })), {
          minLength: 1,
          maxLength: 3_000,
        }),
        fc.integer({ min: 0, max: 40 }),
        (events, k) => {
          const t = new HeavyKeys({ capacity: 128, trackScan: true });
          for (const [ip, url] of events) {
            const key = `10.0.${ip >> 8}.${ip & 255}`;
            const id = t.add(key, hashString(key));
            if (id >= 0) t.addDistinct(id, hashString(`/u${url}`));
          }
          for (let id = 0; id < t.size; id++) expect(t.distinctEstimateOf(id)).toBe(t.distinctOf(id).estimate());
          const sorted = Array.from({ length: t.size }, (_, id) => id).sort(
            (a, b) => t.counts[b]! - t.counts[a]! || (t.keyOf(a) < t.keyOf(b) ? -1 : 1),
          );
          expect(t.rankedIds(k)).toEqual(sorted.slice(0, k));
        },
      ),
      { numRuns: 100 },
    );
    // The raw HyperLogLog range (beyond 2.5 × 256 distinct values) too.
    const t = new HeavyKeys({ capacity: 4, trackScan: true });
    const id = t.add("10.0.0.1", hashString("10.0.0.1"));
    for (let u = 0; u < 50_000; u++) t.addDistinct(id, hashString(`/u${u}`));
    expect(t.distinctEstimateOf(id)).toBe(t.distinctOf(id).estimate());
    expect(Math.abs(t.distinctEstimateOf(id) - 50_000) / 50_000).toBeLessThan(0.3);
  });
});
