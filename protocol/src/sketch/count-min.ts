import { fmix32 } from "./hash.js";

/**
 * Count-min sketch with plain (not conservative) updates.
 *
 * Plain updates keep the sketch a linear function of the key-frequency vector: the sketch of a union
 * is the element-wise sum of the sketches, whatever the order or grouping of merges, and a sketch can
 * be rebuilt from exact counts (see HeavyKeys, which only materialises one when its exact table
 * overflows). Conservative update would tighten estimates a little but lose both properties.
 *
 * Error bound (Cormode & Muthukrishnan): with N the total count added, every estimate satisfies
 * `true <= estimate`, and `estimate <= true + (e / width) * N` with probability >= 1 - e^-depth.
 * The defaults (4096 x 4) give ε = e/4096 ≈ 0.066 % of the window's traffic at 1 - δ ≈ 98.2 %.
 */
export const CMS_DEFAULT_WIDTH = 4096;
export const CMS_DEFAULT_DEPTH = 4;
/** Largest dimensions the wire decoder accepts (memory and size bound for untrusted input). */
export const CMS_MAX_WIDTH = 1 << 16;
export const CMS_MAX_DEPTH = 8;

export class CountMinSketch {
  readonly width: number;
  readonly depth: number;
  /** Row-major counters, `depth` rows of `width`. */
  readonly counts: Uint32Array;
  private readonly mask: number;

  constructor(width = CMS_DEFAULT_WIDTH, depth = CMS_DEFAULT_DEPTH, counts?: Uint32Array) {
    if (!Number.isInteger(width) || width < 1 || width > CMS_MAX_WIDTH || (width & (width - 1)) !== 0) {
      throw new RangeError(`count-min width must be a power of two in 1..${CMS_MAX_WIDTH}, got ${width}`);
    }
    if (!Number.isInteger(depth) || depth < 1 || depth > CMS_MAX_DEPTH) {
      throw new RangeError(`count-min depth must be an integer in 1..${CMS_MAX_DEPTH}, got ${depth}`);
    }
    if (counts !== undefined && counts.length !== width * depth) {
      throw new RangeError(`count-min counters: expected ${width * depth}, got ${counts.length}`);
    }
    this.width = width;
    this.depth = depth;
    this.mask = width - 1;
    this.counts = counts ?? new Uint32Array(width * depth);
  }

  /** Adds `n` to the key with hash `hash` and returns the key's new estimate. */
  add(hash: number, n: number): number {
    const step = fmix32(hash ^ 0x9e3779b9) | 1;
    let est = Number.POSITIVE_INFINITY;
    for (let row = 0, base = 0; row < this.depth; row++, base += this.width) {
      const i = base + ((hash + Math.imul(row, step)) & this.mask);
      const c = this.counts[i]! + n;
      this.counts[i] = c;
      if (c < est) est = c;
    }
    return est;
  }

  estimate(hash: number): number {
    const step = fmix32(hash ^ 0x9e3779b9) | 1;
    let est = Number.POSITIVE_INFINITY;
    for (let row = 0, base = 0; row < this.depth; row++, base += this.width) {
      const c = this.counts[base + ((hash + Math.imul(row, step)) & this.mask)]!;
      if (c < est) est = c;
    }
    return est;
  }

  /** Element-wise sum; both sketches must have the same dimensions. */
  merge(other: CountMinSketch): void {
    if (other.width !== this.width || other.depth !== this.depth) {
      throw new RangeError(`cannot merge count-min ${other.width}x${other.depth} into ${this.width}x${this.depth}`);
    }
    const a = this.counts;
    const b = other.counts;
    for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]!;
  }

  clone(): CountMinSketch {
    return new CountMinSketch(this.width, this.depth, this.counts.slice());
  }
}
