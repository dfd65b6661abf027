/**
 * Mergeable distinct-count estimate of 32-bit hashes (used for "distinct URLs per client IP"): a
 * HyperLogLog with p = 8, i.e. 256 registers, standard error 1.04/√256 ≈ 6.5 %; below ~2.5·256
 * distinct values the linear-counting estimator applies, which is nearly exact for small counts
 * (the typical error at 20 distinct values is below 1).
 *
 * Registers hold min(rank, 15) so they pack into 4 bits on the wire; saturation only matters beyond
 * ~10^6 distinct values per key, far above any scan threshold. A standalone counter allocates its
 * registers on first use; the IP table keeps its entries' registers packed two to a byte instead
 * (see heavy-keys.ts) and hands out unpacked copies.
 *
 * Merge = register-wise max: associative, commutative and idempotent, so the same URL seen on two
 * hosts (or a partial delivered twice) is counted once.
 */
export const HLL_PRECISION = 8;
export const HLL_REGISTERS = 1 << HLL_PRECISION;
export const HLL_MAX_RANK = 15;
/** 2^-rank for every register value, so an estimate costs no Math.pow. */
const INVERSE_POWERS = Float64Array.from({ length: HLL_MAX_RANK + 1 }, (_, r) => 2 ** -r);

/** The register a hash updates: its top HLL_PRECISION bits. */
export function registerIndex(hash: number): number {
  return hash >>> (32 - HLL_PRECISION);
}

/** The value a hash offers its register: 1 + leading zeros of the remaining bits, at most HLL_MAX_RANK. */
export function registerRank(hash: number): number {
  return Math.min(Math.clz32(hash << HLL_PRECISION) + 1, HLL_MAX_RANK);
}

export class DistinctCounter {
  /**
   * Null until the first value (an empty counter costs no register memory), unless the owner
   * passes its own zeroed registers (HeavyKeys keeps all of a table's in one array; see there).
   * All-zero registers and null mean the same: no value.
   */
  registers: Uint8Array | null;

  constructor(registers: Uint8Array | null = null) {
    this.registers = registers;
  }

  add(hash: number): void {
    const regs = this.registers ?? this.allocate();
    const index = registerIndex(hash);
    const rank = registerRank(hash);
    if (rank > regs[index]!) regs[index] = rank;
  }

  merge(other: DistinctCounter): void {
    const b = other.registers;
    if (b === null) return;
    const a = this.registers ?? this.allocate();
    for (let i = 0; i < HLL_REGISTERS; i++) if (b[i]! > a[i]!) a[i] = b[i]!;
  }

  estimate(): number {
    const regs = this.registers;
    if (regs === null) return 0;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < HLL_REGISTERS; i++) {
      const r = regs[i]!;
      sum += INVERSE_POWERS[r]!;
      if (r === 0) zeros++;
    }
    return estimateFrom(sum, zeros);
  }

  private allocate(): Uint8Array {
    this.registers = new Uint8Array(HLL_REGISTERS);
    return this.registers;
  }
}

/** The estimate from Σ 2^-register and the number of zero registers. */
function estimateFrom(sum: number, zeros: number): number {
  const m = HLL_REGISTERS;
  const raw = ((0.7213 / (1 + 1.079 / m)) * m * m) / sum;
  // Linear counting is the better estimator in the small range (Flajolet et al. 2007).
  if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
  return Math.round(raw);
}

/** Per packed byte (two 4-bit registers): Σ 2^-register, and how many of the two are zero. */
const PACKED_SUMS = Float64Array.from({ length: 256 }, (_, b) => INVERSE_POWERS[b >> 4]! + INVERSE_POWERS[b & 0x0f]!);
const PACKED_ZEROS = Uint8Array.from({ length: 256 }, (_, b) => (b >> 4 === 0 ? 1 : 0) + ((b & 0x0f) === 0 ? 1 : 0));

/**
 * `estimate()` of the registers packed two to a byte in `packed[at, at + HLL_REGISTERS / 2)`, without unpacking
 * them. The same number as unpacking first: every term is a power of two ≥ 2^-15 and there are 256 of them, so
 * the sum is exact in any order.
 */
export function estimatePacked(packed: Uint8Array, at: number): number {
  let sum = 0;
  let zeros = 0;
  for (let i = at, end = at + HLL_REGISTERS / 2; i < end; i++) {
    const b = packed[i]!;
    sum += PACKED_SUMS[b]!;
    zeros += PACKED_ZEROS[b]!;
  }
  return estimateFrom(sum, zeros);
}
