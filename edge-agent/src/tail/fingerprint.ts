/**
 * Stream identity: `fileKey = "<dev>:<ino>:<fnv1a64 hex>-<length>"`, the hash covering the file's first `length`
 * bytes. `length` is fixed when the stream is first fingerprinted (see `fingerprintLength`) and never changes, so
 * the key of a content stream is the same on every poll and after every restart: bytes already written to a log are
 * never rewritten, only appended to or truncated away.
 */

const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;
const FNV_PRIME_LOW_BITS = 0x1b3; // FNV-1a 64 prime = 2^40 + 0x1b3
const TWO_32 = 0x1_0000_0000;

/**
 * FNV-1a 64 of `bytes`, as 16 hex digits. The 64-bit product is done on two 32-bit halves with plain doubles
 * (every intermediate stays below 2^53), which is several times faster than BigInt for the 1 KiB we hash per read.
 */
export function fnv1a64Hex(bytes: Uint8Array): string {
  let hi = FNV_OFFSET_HI;
  let lo = FNV_OFFSET_LO;
  for (let i = 0; i < bytes.length; i++) {
    lo ^= bytes[i]!;
    lo >>>= 0;
    const loProduct = lo * FNV_PRIME_LOW_BITS;
    const carry = Math.floor(loProduct / TWO_32);
    // (hi·2^32 + lo)·(2^40 + 0x1b3) mod 2^64: the 2^40 term only reaches the high word, as lo << 8.
    hi = (hi * FNV_PRIME_LOW_BITS + carry + ((lo << 8) >>> 0)) % TWO_32;
    lo = loProduct % TWO_32;
  }
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

/**
 * How many leading bytes a stream's fingerprint covers, given the first `head.length` bytes of the file (as many as
 * it has, at most `fingerprintBytes`):
 * - the file has `fingerprintBytes` bytes → all of them;
 * - it is shorter → up to and including its last "\n" (its complete lines; never fewer than the first line);
 * - it is shorter and has no "\n" → `null`: not yet identifiable. Such a file holds no complete line, so nothing
 *   of it could have been emitted yet; the tailer waits until it has a line (or is closed, see `provisional`).
 */
export function fingerprintLength(head: Uint8Array, fingerprintBytes: number): number | null {
  if (head.length >= fingerprintBytes) return fingerprintBytes;
  const lastNewline = head.lastIndexOf(10);
  return lastNewline < 0 ? null : lastNewline + 1;
}

export interface Fingerprint {
  hex: string;
  length: number;
}

export interface ParsedFileKey {
  dev: bigint;
  ino: bigint;
  fingerprint: Fingerprint;
}

export function formatFileKey(dev: bigint, ino: bigint, fingerprint: Fingerprint): string {
  return `${dev}:${ino}:${fingerprint.hex}-${fingerprint.length}`;
}

const FILE_KEY = /^(\d+):(\d+):([0-9a-f]{16})-(\d+)$/;

/** Parses a key made by `formatFileKey`; `null` when it is not one (a corrupt or foreign checkpoint entry). */
export function parseFileKey(key: string): ParsedFileKey | null {
  const m = FILE_KEY.exec(key);
  if (!m) return null;
  const length = Number(m[4]);
  if (!Number.isSafeInteger(length)) return null;
  return { dev: BigInt(m[1]!), ino: BigInt(m[2]!), fingerprint: { hex: m[3]!, length } };
}
