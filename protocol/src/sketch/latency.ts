import type { Int32Histogram as Int32HistogramClass } from "hdr-histogram-js";
import Int32HistogramModule from "hdr-histogram-js/dist/Int32Histogram.js";
import { VarintReader, VarintWriter } from "./varint.js";

/**
 * HDR latency histogram in microseconds, backed by hdr-histogram-js: 1 µs .. 1 h, 3 significant
 * digits (values kept to within 0.1 %); larger values are clamped to 1 h, negative ones to 0.
 *
 * Build choice, measured (record 10 k values / merge / library compressed encode, 2-core machine under
 * load, see the partial module comment): JS packed 1.5 µs/value, 24 ms, 17 ms; JS 32-bit
 * 0.3–0.5 µs/value, 0.3–0.6 ms, 1.6–2.2 ms; WASM 32-bit 34–50 ns/value, 0.1 ms, 0.6–1.3 ms; WASM
 * packed 0.4–0.6 µs/value. The library's `recordValue` spends its time computing the bucket index
 * with floating-point log2/pow, so we use the JS 32-bit histogram (counts in a Uint32Array of 23 552
 * buckets, 94 KB; no WASM memory to destroy) and compute the index with `Math.clz32` — valid because
 * every value fits in 32 bits — then update it through the library's own counting methods. A unit
 * test checks the index against the library's `countsArrayIndex`.
 *
 * Wire form ("raw counts", chosen over the library's compressed encoding: deflate output is not
 * guaranteed byte-stable across zlib builds, which golden fixtures need, and its header lets a sender
 * choose the decoder's allocation): occupied buckets in index order, each as one token byte
 * `gap << 4 | count` when the gap to the previous occupied bucket is < 16 and the count is 1..15,
 * else a 0 byte followed by two unsigned LEB128 varints (gap, count ≥ 1). The configuration above is
 * part of wire format v1. Summary statistics are computed from bucket values only, so they are
 * identical after an encode/decode round trip and after any merge order.
 */
// The class's own CommonJS module, not the package index: the index also loads the WebAssembly
// build, the log readers/writers and pako, ~30 ms of every agent start. Its class is `exports.default`
// of a module marked __esModule: Node's import makes `default` the whole exports object, esbuild's
// bundle (the agent package) the class itself, so take whichever is the class.
const Int32Histogram = ((Int32HistogramModule as { default?: unknown }).default ??
  Int32HistogramModule) as typeof Int32HistogramClass;
type Int32Histogram = Int32HistogramClass;

export const LATENCY_MAX_US = 3_600_000_000;
const SIGNIFICANT_DIGITS = 3;

export class LatencyHistogram {
  /** Allocated on the first value: an empty histogram (an identity partial, a rejects-only one) costs nothing. */
  private h: Int32Histogram | null = null;
  /**
   * A decoded histogram is kept as its occupied buckets (ascending indexes, counts as the library's
   * 32-bit counts would hold them) until something records or merges into it: central decodes every
   * partial and mostly only reads it or merges it elsewhere, which then costs the occupied buckets,
   * not the 23 552-bucket array (94 KB) and a walk over it.
   */
  private sparseIndexes: Int32Array | null = null;
  private sparseCounts: Uint32Array | null = null;
  private sparseTotal = 0;

  get count(): number {
    return this.h?.totalCount ?? this.sparseTotal;
  }

  /** Bucket index of `us` (an integer in 0..LATENCY_MAX_US): the library's countsArrayIndex, without floats. */
  indexOf(us: number): number {
    let bucket = 31 - Math.clz32(us) - HALF_MAGNITUDE;
    if (bucket < 0) bucket = 0;
    return (bucket << HALF_MAGNITUDE) + (us >>> bucket);
  }

  record(us: number): void {
    const v = us >= LATENCY_MAX_US ? LATENCY_MAX_US : us > 0 ? Math.floor(us) : 0;
    const h = this.h ?? this.allocate();
    h.incrementCountAtIndex(this.indexOf(v));
    h.updateMinAndMax(v);
    h.incrementTotalCount();
  }

  /** Adds `other`'s counts; walks only up to other's largest bucket (the library's add walks all 23 552). */
  merge(other: LatencyHistogram): void {
    if (other.count === 0) return;
    const h = this.h ?? this.allocate();
    const indexes = other.sparseIndexes;
    if (indexes !== null) {
      // Like the walk below, only up to the summaries' last bucket.
      addSparse(h, indexes, other.sparseCounts!, other.sparseTotal, other.lastIndex());
      return;
    }
    const o = other.h!;
    other.forEachBucket((i, c) => h.addToCountAtIndex(i, c));
    h.setTotalCount(h.totalCount + o.totalCount);
    h.updateMinAndMax(o.maxValue);
    if (o.minNonZeroValue !== Number.MAX_SAFE_INTEGER) h.updateMinAndMax(o.minNonZeroValue);
  }

  /**
   * Values at the given percentiles (0..100, ascending), with the library's getValueAtPercentile
   * semantics (the highest value equivalent to the bucket holding that rank), in one pass over the
   * occupied buckets instead of one pass per percentile. Zeros when empty.
   */
  percentiles(percentiles: readonly number[]): number[] {
    const total = this.count;
    const out = percentiles.map(() => 0);
    if (total === 0) return out;
    const targets = percentiles.map((p) => {
      const fp = (Math.min(p, 100) / 100) * total;
      return Math.max(Math.ceil(fp - ulp(fp)), 1);
    });
    let next = 0;
    let seen = 0;
    this.forEachBucket((i, c) => {
      seen += c;
      while (next < targets.length && seen >= targets[next]!) {
        out[next] = percentiles[next] === 0 ? lowestOfIndex(i) : lowestOfIndex(i) + rangeOfIndex(i) - 1;
        next++;
      }
    });
    return out;
  }

  percentile(percentile: number): number {
    return this.percentiles([percentile])[0]!;
  }

  /** Highest value equivalent to the largest occupied bucket; 0 when empty. */
  max(): number {
    if (this.count === 0) return 0;
    const i = this.lastIndex();
    return lowestOfIndex(i) + rangeOfIndex(i) - 1;
  }

  /** Mean of the buckets' median-equivalent values, summed in bucket order like the library's `mean`; 0 when empty. */
  mean(): number {
    const total = this.count;
    if (total === 0) return 0;
    let sum = 0;
    this.forEachBucket((i, c) => {
      sum += (lowestOfIndex(i) + Math.floor(rangeOfIndex(i) / 2)) * c;
    });
    return sum / total;
  }

  /** Occupied buckets as [index, count] pairs, ascending (for tests and equality checks). */
  buckets(): [number, number][] {
    const out: [number, number][] = [];
    this.forEachBucket((i, c) => out.push([i, c]));
    return out;
  }

  encode(): Uint8Array {
    const out = new VarintWriter(64);
    let previous = -1;
    this.forEachBucket((i, c) => {
      const gap = i - previous - 1;
      if (gap < 16 && c < 16) out.writeByte((gap << 4) | c);
      else {
        out.writeByte(0);
        out.write(gap);
        out.write(c);
      }
      previous = i;
    });
    return out.bytes();
  }

  /** Returns null when the bytes are not a valid encoding (the caller raises the coded error). */
  static decode(bytes: Uint8Array): LatencyHistogram | null {
    const result = new LatencyHistogram();
    return result.restore(bytes) ? result : null;
  }

  /**
   * Sets this empty histogram to the encoded one, kept sparse (see `sparseIndexes`); false when the
   * bytes are not a valid encoding (then this histogram is unchanged).
   */
  restore(bytes: Uint8Array): boolean {
    if (this.count !== 0 || this.h !== null) throw new RangeError("restore: the histogram is not empty");
    if (bytes.length === 0) return true;
    // Every bucket takes at least one byte.
    const indexes = new Int32Array(bytes.length);
    const counts = new Uint32Array(bytes.length);
    const limit = countsArrayLength();
    const reader = new VarintReader(bytes);
    let index = -1;
    let n = 0;
    let total = 0;
    while (!reader.done) {
      const token = reader.nextByte();
      let gap = token >> 4;
      let count = token & 0x0f;
      if (token === 0) {
        gap = reader.next();
        count = reader.next();
      }
      if (gap < 0 || count < 1) return false;
      index += gap + 1;
      if (index >= limit) return false;
      indexes[n] = index;
      counts[n] = count; // wraps as the library's 32-bit counts do
      n++;
      total += count;
    }
    this.sparseIndexes = indexes.subarray(0, n);
    this.sparseCounts = counts.subarray(0, n);
    this.sparseTotal = total;
    return true;
  }

  /** Index of the largest bucket the summaries read: that of the max value, capped at LATENCY_MAX_US. */
  private lastIndex(): number {
    const h = this.h;
    const indexes = this.sparseIndexes;
    const maxValue = h !== null ? h.maxValue : lowestOfIndex(indexes![indexes!.length - 1]!);
    return this.indexOf(Math.min(maxValue, LATENCY_MAX_US));
  }

  private forEachBucket(fn: (index: number, count: number) => void): void {
    if (this.count === 0) return;
    const last = this.lastIndex();
    const indexes = this.sparseIndexes;
    if (indexes !== null) {
      const counts = this.sparseCounts!;
      for (let k = 0; k < indexes.length && indexes[k]! <= last; k++) if (counts[k] !== 0) fn(indexes[k]!, counts[k]!);
      return;
    }
    const h = this.h!;
    for (let i = 0; i <= last; i++) {
      const c = h.getCountAtIndex(i);
      if (c !== 0) fn(i, c);
    }
  }

  /** The full histogram, made from the sparse buckets when decoded (as the library would hold them). */
  private allocate(): Int32Histogram {
    const h = new Int32Histogram(1, LATENCY_MAX_US, SIGNIFICANT_DIGITS);
    if (h.subBucketHalfCountMagnitude !== HALF_MAGNITUDE || h.unitMagnitude !== 0) {
      throw new Error("hdr-histogram-js bucket layout changed; LatencyHistogram's index math needs review");
    }
    const indexes = this.sparseIndexes;
    if (indexes !== null) {
      addSparse(h, indexes, this.sparseCounts!, this.sparseTotal, Number.MAX_SAFE_INTEGER);
      this.sparseIndexes = null;
      this.sparseCounts = null;
      this.sparseTotal = 0;
    }
    this.h = h;
    return h;
  }
}

/**
 * Adds decoded buckets (those up to index `last`) to `h`, with the total, min and max the decoded
 * histogram would have had in full form.
 */
function addSparse(h: Int32Histogram, indexes: Int32Array, counts: Uint32Array, total: number, last: number): void {
  for (let k = 0; k < indexes.length && indexes[k]! <= last; k++) h.addToCountAtIndex(indexes[k]!, counts[k]!);
  h.setTotalCount(h.totalCount + total);
  h.updateMinAndMax(lowestOfIndex(indexes[0]!));
  h.updateMinAndMax(lowestOfIndex(indexes[indexes.length - 1]!));
}

let arrayLength = 0;
/** The library's bucket count for this configuration (decode's bound on indexes). */
function countsArrayLength(): number {
  if (arrayLength === 0) arrayLength = new Int32Histogram(1, LATENCY_MAX_US, SIGNIFICANT_DIGITS).countsArrayLength;
  return arrayLength;
}

/** log2 of half the sub-bucket count for 3 significant digits (2048 sub-buckets). */
const HALF_MAGNITUDE = 10;
const HALF_COUNT = 1 << HALF_MAGNITUDE;

/** 2^i, exact, for the bucket arithmetic below (a table lookup instead of Math.pow in per-bucket loops). */
const POWERS_OF_TWO = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);

/** The library's valueFromIndex (lowest value of bucket `index`), in integer steps. */
function lowestOfIndex(index: number): number {
  if (index < 2 * HALF_COUNT) return index;
  const bucket = (index >> HALF_MAGNITUDE) - 1;
  return ((index & (HALF_COUNT - 1)) + HALF_COUNT) * POWERS_OF_TWO[bucket]!;
}

/** The library's sizeOfEquivalentValueRange for bucket `index`. */
function rangeOfIndex(index: number): number {
  return index < 2 * HALF_COUNT ? 1 : POWERS_OF_TWO[(index >> HALF_MAGNITUDE) - 1]!;
}

/** Unit in the last place of a positive double, as the library's percentile rounding computes it. */
function ulp(x: number): number {
  return 2 ** (Math.floor(Math.log2(x)) - 52);
}
