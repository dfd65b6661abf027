/**
 * Turning byte ranges of a log line into the few strings a record keeps (ip, method, path).
 *
 * Making a string from Buffer bytes through Buffer's C++ decoder costs a call and an allocation
 * (~60-80 ns here); for the short strings a record mostly holds (client addresses),
 * String.fromCharCode stays in JS and costs about a third of that. A byte-keyed string cache for
 * addresses and paths was measured too and was slower than making the string (random table access
 * plus the verifying compare cost more than the allocation), so only method names are interned.
 */

const BACKSLASH = 0x5c;

/** The hash StringCache expects; callers fold it into the loop that already checks the bytes. */
export function hashStep(hash: number, byte: number): number {
  return (Math.imul(hash, 31) + byte) | 0;
}

/**
 * Direct-mapped cache from a byte range (ASCII/latin1) to the string it spells, for interning a
 * small vocabulary (method names). A hit is checked by comparing the bytes with the cached string's
 * characters. Bounded: a fixed number of slots, strings up to `maxLength`.
 */
export class StringCache {
  private readonly mask: number;
  private readonly hashes: Int32Array;
  private readonly strings: string[];

  /** `slots` must be a power of two; strings longer than `maxLength` are not cached. */
  constructor(
    slots: number,
    private readonly maxLength: number,
  ) {
    this.mask = slots - 1;
    this.hashes = new Int32Array(slots);
    this.strings = new Array<string>(slots).fill("");
  }

  /** The string for `buf[start, end)` whose hashStep-hash is `hash`; the bytes must need no decoding. */
  get(buf: Buffer, start: number, end: number, hash: number): string {
    const length = end - start;
    if (length > this.maxLength) return latin1Slice(buf, start, end);
    const slot = (hash ^ (hash >>> 12)) & this.mask;
    const cached = this.strings[slot]!;
    if (this.hashes[slot] === hash && cached.length === length) {
      let i = 0;
      while (i < length && cached.charCodeAt(i) === buf[start + i]) i++;
      if (i === length) return cached;
    }
    const text = latin1String(buf, start, end);
    this.hashes[slot] = hash;
    this.strings[slot] = text;
    return text;
  }
}

/** The latin1 string of `buf[start, end)` (bytes that need no decoding). */
export function latin1String(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  return length <= 15 ? shortLatin1(buf, start, length) : latin1Slice(buf, start, end);
}

/** String.fromCharCode with one argument per byte, for 1..15 bytes (other lengths use latin1Slice). */
function shortLatin1(b: Buffer, s: number, length: number): string {
  const c = String.fromCharCode;
  switch (length) {
    case 1:
      return c(b[s]!);
    case 2:
      return c(b[s]!, b[s + 1]!);
    case 3:
      return c(b[s]!, b[s + 1]!, b[s + 2]!);
    case 4:
      return c(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!);
    case 5:
      return c(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!);
    case 6:
      return c(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
    case 7:
      return c(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!);
    case 8:
      return c(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!);
    case 9:
      return c(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!);
    case 10:
      return c(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
      );
    case 11:
      return c(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
      );
    case 12:
      return c(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
        b[s + 11]!,
      );
    case 13:
      return c(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
        b[s + 11]!,
        b[s + 12]!,
      );
    case 14:
      return c(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
        b[s + 11]!,
        b[s + 12]!,
        b[s + 13]!,
      );
    case 15:
      return c(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
        b[s + 8]!,
        b[s + 9]!,
        b[s + 10]!,
        b[s + 11]!,
        b[s + 12]!,
        b[s + 13]!,
        b[s + 14]!,
      );
    default:
      return latin1Slice(b, s, s + length);
  }
}

/** Node's latin1 decoder without `toString`'s encoding dispatch (on Buffer.prototype since early Node, untyped). */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
function latin1Slice(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as Latin1Slicer).latin1Slice(start, end);
}

/** How a format escapes bytes inside a field. */
export const Escapes = {
  /** nginx default (`\xHH` for `"`, `\` and bytes outside 0x20..0x7e) and Apache (`\"`, `\\`, `\xhh`, `\n`…). */
  Log: 0,
  /** JSON string escapes (`\"`, `\\`, `\/`, `\n`…, `\uXXXX`), as nginx `escape=json` writes. */
  Json: 1,
} as const;
export type Escapes = (typeof Escapes)[keyof typeof Escapes];

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Decodes a field that holds escapes or non-ASCII bytes: the log's escapes for printable bytes are
 * undone and the result is read as UTF-8 (invalid sequences become U+FFFD), so the same request gives
 * the same path whichever format logged it. Escapes that stand for control bytes stay as written, so
 * a kept string never carries a control character.
 */
export class EscapeDecoder {
  private scratch = Buffer.allocUnsafe(1024);

  decode(buf: Buffer, start: number, end: number, escapes: Escapes): string {
    // Decoding never grows the text: every escape is at least as long as what it stands for.
    if (this.scratch.length < end - start) this.scratch = Buffer.allocUnsafe(end - start);
    const out = this.scratch;
    let n = 0;
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c !== BACKSLASH || i + 1 >= end) {
        out[n++] = c;
        continue;
      }
      const next = buf[i + 1]!;
      if (next === 0x22 || next === BACKSLASH || (next === 0x2f && escapes === Escapes.Json)) {
        out[n++] = next;
        i++;
      } else if (next === 0x78 && escapes === Escapes.Log && i + 3 < end) {
        const value = (hexValue(buf[i + 2]!) << 4) | hexValue(buf[i + 3]!);
        if (value >= 0x20 && value !== 0x7f) {
          out[n++] = value;
          i += 3;
        } else {
          out[n++] = c;
        }
      } else if (next === 0x75 && escapes === Escapes.Json && i + 5 < end) {
        const unit = jsonUnicodeEscape(buf, i, end);
        if (unit.code < 0) {
          out[n++] = c;
        } else {
          n += out.write(String.fromCodePoint(unit.code), n, "utf8");
          i += unit.length - 1;
        }
      } else {
        out[n++] = c;
      }
    }
    return out.toString("utf8", 0, n);
  }
}

const unicodeEscape = { code: 0, length: 0 };

/**
 * Reads `\uXXXX` at `i` (and a following low-surrogate escape). `code` is -1 when the escape is
 * malformed or stands for a control character; lone surrogates become U+FFFD.
 */
function jsonUnicodeEscape(buf: Buffer, i: number, end: number): { code: number; length: number } {
  let code = hex4(buf, i + 2);
  let length = 6;
  if (code >= 0xd800 && code <= 0xdbff) {
    const low = i + 11 < end && buf[i + 6] === BACKSLASH && buf[i + 7] === 0x75 ? hex4(buf, i + 8) : -1;
    if (low >= 0xdc00 && low <= 0xdfff) {
      code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
      length = 12;
    } else {
      code = 0xfffd;
    }
  } else if (code >= 0xdc00 && code <= 0xdfff) {
    code = 0xfffd;
  } else if (code < 0x20 || code === 0x7f) {
    code = -1;
  }
  unicodeEscape.code = code;
  unicodeEscape.length = length;
  return unicodeEscape;
}

function hex4(buf: Buffer, at: number): number {
  const a = hexValue(buf[at]!);
  const b = hexValue(buf[at + 1]!);
  const c = hexValue(buf[at + 2]!);
  const d = hexValue(buf[at + 3]!);
  if ((a | b | c | d) < 0) return -1;
  return (a << 12) | (b << 8) | (c << 4) | d;
}
