/**
 * Cheap, non-cryptographic 32-bit string hash for the aggregation hot path: murmur3_32 (seed 0) over
 * the string's UTF-16 code units taken two at a time as little-endian 32-bit words, so the dependency
 * chain costs one multiply per two characters. murmur3's finaliser makes every output bit depend on
 * every input bit (count-min rows and HyperLogLog registers use different bit ranges of one hash).
 *
 * Stable across processes and versions: sketches built by different agents must agree, so changing
 * it is a wire-format change.
 */
export function hashString(s: string): number {
  return hashStringInt32(s) >>> 0;
}

/**
 * `hashString` as a signed 32-bit integer (the same bits). The tables and sketches use only the bits,
 * and V8 keeps an int32 unboxed where an unsigned value above 2^31 becomes a new heap number each
 * time it crosses a call, so the hot path passes hashes in this form.
 */
export function hashStringInt32(s: string): number {
  const n = s.length;
  let h = 0;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = s.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  return fmix32(h ^ (n * 2)) | 0;
}

/**
 * `hashStringInt32` of the latin1 text of `buf[start, end)`, computed from the bytes: a latin1
 * character's UTF-16 code unit is its byte, so the words are the same. Lets aggregation hash a key
 * without making its string.
 */
export function hashLatin1Int32(buf: Uint8Array, start: number, end: number): number {
  let h = 0;
  let i = start;
  for (; i + 1 < end; i += 2) {
    let k = buf[i]! | (buf[i + 1]! << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < end) {
    let k = buf[i]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  return fmix32(h ^ ((end - start) * 2)) | 0;
}

/** murmur3's 32-bit finaliser; returns an unsigned 32-bit integer. */
export function fmix32(x: number): number {
  let h = x ^ (x >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
