/**
 * Field decoders shared by every format: each reads one value's byte range into the LogRecord or
 * names why it cannot. Only ip, method and path become strings (ip and path only on demand when the
 * record is a LineRecord, see record.ts); numbers and times are read from the bytes directly.
 */
import type { LogRecord, RejectReason } from "../model.js";
import { setIpBytes, setPathBytes } from "./record.js";
import { EscapeDecoder, type Escapes, hashStep, StringCache } from "./text.js";
import { decodeEpochSeconds, TIME_LOCAL_WIDTH, TimeDecoder } from "./time.js";

/** What a value means to the record. Several variables can mean the same; see `Role`. */
export const Field = {
  /** Read past and ignored ($remote_user, $http_user_agent, unknown variables, …). */
  Skip: 0,
  RemoteAddr: 1,
  TimeLocal: 2,
  TimeIso8601: 3,
  Msec: 4,
  /** The request line `METHOD URI PROTO` ($request, %r): gives method and path. */
  Request: 5,
  Method: 6,
  /** A URI whose path (query cut) is the record's path ($request_uri, $uri, %U). */
  Uri: 7,
  Status: 8,
  BodyBytes: 9,
  BytesSent: 10,
  /** Seconds with a fraction ($request_time, %T, %{s}T). */
  LatencySeconds: 11,
  /** Whole milliseconds (%{ms}T). */
  LatencyMillis: 12,
  /** Whole microseconds (%D, %{us}T). */
  LatencyMicros: 13,
} as const;
export type Field = (typeof Field)[keyof typeof Field];

/** The record slot a field fills. When a format holds several fields for one slot, the best-ranked one wins. */
export const Role = {
  None: 0,
  Ip: 1,
  Time: 2,
  Request: 3,
  Path: 4,
  Method: 5,
  Status: 6,
  Bytes: 7,
  Latency: 8,
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Lower rank wins: $msec beats $time_iso8601 beats $time_local (precision), $body_bytes_sent beats $bytes_sent, … */
export function roleOf(field: Field): { role: Role; rank: number } {
  switch (field) {
    case Field.RemoteAddr:
      return { role: Role.Ip, rank: 0 };
    case Field.Msec:
      return { role: Role.Time, rank: 0 };
    case Field.TimeIso8601:
      return { role: Role.Time, rank: 1 };
    case Field.TimeLocal:
      return { role: Role.Time, rank: 2 };
    case Field.Request:
      return { role: Role.Request, rank: 0 };
    case Field.Uri:
      return { role: Role.Path, rank: 0 };
    case Field.Method:
      return { role: Role.Method, rank: 0 };
    case Field.Status:
      return { role: Role.Status, rank: 0 };
    case Field.BodyBytes:
      return { role: Role.Bytes, rank: 0 };
    case Field.BytesSent:
      return { role: Role.Bytes, rank: 1 };
    case Field.LatencyMicros:
      return { role: Role.Latency, rank: 0 };
    case Field.LatencyMillis:
      return { role: Role.Latency, rank: 1 };
    case Field.LatencySeconds:
      return { role: Role.Latency, rank: 2 };
    default:
      return { role: Role.None, rank: 0 };
  }
}

const SPACE = 0x20;
const DASH = 0x2d;
const DOT = 0x2e;
const QUESTION = 0x3f;
const BACKSLASH = 0x5c;

/** Largest digit count read as an exact integer (15 digits stay below 2^53). */
const MAX_INT_DIGITS = 15;
/** Longest method token and client address accepted. */
const MAX_METHOD = 24;
const MAX_ADDRESS = 255;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function byteClass(test: (c: number) => boolean): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = test(c) ? 1 : 0;
  return table;
}

/** Upper-case method token bytes: `A-Z 0-9 - _`. */
const METHOD_BYTES = byteClass((c) => (c >= 0x41 && c <= 0x5a) || isDigit(c) || c === DASH || c === 0x5f);

/** Bytes a client address may hold: IPv4/IPv6 text, an IPv6 zone (`%eth0`), a host name (Apache %h with lookups). */
const ADDRESS_BYTES = byteClass(
  (c) =>
    (c >= 0x30 && c <= 0x3a) ||
    ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) ||
    c === DOT ||
    c === DASH ||
    c === 0x5f ||
    c === 0x25,
);

/** Bytes of `$time_iso8601` / `$msec`: digits, `-`, `:`, `+`, `.`, `T`, `Z`. */
const TIME_BYTES = byteClass(
  (c) => (c >= 0x30 && c <= 0x3a) || c === DASH || c === 0x2b || c === DOT || c === 0x54 || c === 0x5a,
);

/** Path bytes by what they ask for: nothing, the end of the path (`?`), decoding, or a `binary` reject. */
const PATH_PLAIN = 0;
const PATH_END = 1;
const PATH_DECODE = 2;
const PATH_CONTROL = 4;
const PATH_BYTES = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  if (c === QUESTION) PATH_BYTES[c] = PATH_END;
  else if (c < SPACE && c !== 0x09) PATH_BYTES[c] = PATH_CONTROL;
  else if (c < SPACE || c === BACKSLASH || c >= 0x7f) PATH_BYTES[c] = PATH_DECODE;
}

/** Exactly three digits, or -1. */
export function decodeStatus(buf: Buffer, start: number, end: number): number {
  if (end - start !== 3) return -1;
  const a = buf[start]! - 0x30;
  const b = buf[start + 1]! - 0x30;
  const c = buf[start + 2]! - 0x30;
  if (a < 0 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9) return -1;
  return a * 100 + b * 10 + c;
}

/** A non-negative integer, `-` meaning `dash`, or -1 when malformed. */
export function decodeCount(buf: Buffer, start: number, end: number, dash: number): number {
  const length = end - start;
  if (length === 1 && buf[start] === DASH) return dash;
  if (length === 0 || length > MAX_INT_DIGITS) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/**
 * Seconds with an optional fraction (`0.123`, `12`) to whole microseconds, exactly (digits past the
 * sixth decimal are dropped). `-` gives `dash`; malformed text gives -2.
 */
export function decodeSecondsAsMicros(buf: Buffer, start: number, end: number, dash: number): number {
  if (end - start === 1 && buf[start] === DASH) return dash;
  const at = secondsEnd(buf, start, end);
  return at === end ? secondsMicros : -2;
}

let secondsMicros = 0;
/** Reads `digits[.digits]` from `start` into `secondsMicros`; returns where it stopped, or -1 when no digits. */
function secondsEnd(buf: Buffer, start: number, end: number): number {
  let at = start;
  let seconds = 0;
  while (at < end && at - start < 9) {
    const d = buf[at]! - 0x30;
    if (d < 0 || d > 9) break;
    seconds = seconds * 10 + d;
    at++;
  }
  if (at === start) return -1;
  let micros = 0;
  if (at < end && buf[at] === DOT) {
    at++;
    let scale = 100_000;
    while (at < end) {
      const d = buf[at]! - 0x30;
      if (d < 0 || d > 9) break;
      micros += d * scale;
      scale = (scale / 10) | 0;
      at++;
    }
  }
  secondsMicros = seconds * 1_000_000 + micros;
  return at;
}

/** Decodes field values into a record. One per parser: it owns the parser's caches. */
export class FieldDecoder {
  private readonly time = new TimeDecoder();
  private readonly methods = new StringCache(64, MAX_METHOD);
  private readonly escapes = new EscapeDecoder();

  constructor(private readonly dialect: Escapes) {}

  /**
   * Reads a self-delimiting value (address, number, timestamp) starting at `pos` into the record and
   * returns where it ends, or -1 when no such value starts there. The caller checks that the format's
   * next literal follows, and on any doubt decodes the value's full extent with `apply` for the reason.
   */
  readToken(field: Field, buf: Buffer, pos: number, end: number, out: LogRecord): number {
    switch (field) {
      case Field.RemoteAddr: {
        let at = pos;
        while (at < end && ADDRESS_BYTES[buf[at]!] === 1) at++;
        if (at === pos || at - pos > MAX_ADDRESS) return -1;
        setIpBytes(out, buf, pos, at);
        return at;
      }
      case Field.TimeLocal:
        if (pos + TIME_LOCAL_WIDTH > end) return -1;
        return this.time.local(buf, pos, pos + TIME_LOCAL_WIDTH, out) ? pos + TIME_LOCAL_WIDTH : -1;
      case Field.TimeIso8601:
      case Field.Msec: {
        let at = pos;
        while (at < end && TIME_BYTES[buf[at]!] === 1) at++;
        return this.apply(field, buf, pos, at, out) === null ? at : -1;
      }
      case Field.Status:
        if (pos + 3 > end) return -1;
        out.status = decodeStatus(buf, pos, pos + 3);
        return out.status < 0 ? -1 : pos + 3;
      case Field.BodyBytes:
      case Field.BytesSent: {
        if (buf[pos] === DASH) {
          out.bytes = 0;
          return pos + 1;
        }
        let at = pos;
        let value = 0;
        for (; at < end && at - pos <= MAX_INT_DIGITS; at++) {
          const d = buf[at]! - 0x30;
          if (d < 0 || d > 9) break;
          value = value * 10 + d;
        }
        out.bytes = value;
        return at === pos || at - pos > MAX_INT_DIGITS ? -1 : at;
      }
      case Field.LatencySeconds: {
        if (buf[pos] === DASH) {
          out.latencyUs = -1;
          return pos + 1;
        }
        const at = secondsEnd(buf, pos, end);
        out.latencyUs = secondsMicros;
        return at;
      }
      default: {
        // Whole milliseconds or microseconds.
        if (buf[pos] === DASH) {
          out.latencyUs = -1;
          return pos + 1;
        }
        let at = pos;
        while (at < end && at - pos <= MAX_INT_DIGITS && isDigit(buf[at]!)) at++;
        return this.apply(field, buf, pos, at, out) === null ? at : -1;
      }
    }
  }

  /** Fills the record slot `field` stands for from `buf[start, end)`; returns why it cannot, or null. */
  apply(field: Field, buf: Buffer, start: number, end: number, out: LogRecord): RejectReason | null {
    switch (field) {
      case Field.Skip:
        return null;
      case Field.RemoteAddr: {
        if (end === start || end - start > MAX_ADDRESS) return "syntax";
        for (let i = start; i < end; i++) if (ADDRESS_BYTES[buf[i]!] === 0) return "syntax";
        setIpBytes(out, buf, start, end);
        return null;
      }
      case Field.TimeLocal:
        return this.time.local(buf, start, end, out) ? null : "bad_time";
      case Field.TimeIso8601:
        return this.time.iso8601(buf, start, end, out) ? null : "bad_time";
      case Field.Msec:
        return decodeEpochSeconds(buf, start, end, out) ? null : "bad_time";
      case Field.Request:
        return this.requestLine(buf, start, end, out);
      case Field.Method:
        out.method = this.method(buf, start, end);
        return null;
      case Field.Uri:
        return this.path(buf, start, end, out);
      case Field.Status:
        out.status = decodeStatus(buf, start, end);
        return out.status < 0 ? "bad_status" : null;
      case Field.BodyBytes:
      case Field.BytesSent:
        out.bytes = decodeCount(buf, start, end, 0);
        return out.bytes < 0 ? "bad_number" : null;
      case Field.LatencySeconds:
        out.latencyUs = decodeSecondsAsMicros(buf, start, end, -1);
        return out.latencyUs < -1 ? "bad_number" : null;
      case Field.LatencyMillis:
      case Field.LatencyMicros: {
        const value = decodeCount(buf, start, end, -2);
        if (value === -1) return "bad_number";
        out.latencyUs = value === -2 ? -1 : field === Field.LatencyMillis ? value * 1000 : value;
        return null;
      }
      default:
        return null;
    }
  }

  /**
   * The request line as logged. A line of the form `METHOD URI` or `METHOD URI HTTP/x` (METHOD an
   * upper-case token) gives the method and the path: the URI up to its `?`, keeping any spaces inside
   * it (`GET /a b c HTTP/1.1` has path `/a b c`). Anything else (`-`, `GARBAGE`, `hello world`) still
   * counts as a request with method "" and path "".
   */
  private requestLine(buf: Buffer, start: number, end: number, out: LogRecord): RejectReason | null {
    let space = start;
    while (space < end && space - start <= MAX_METHOD && METHOD_BYTES[buf[space]!] === 1) space++;
    if (space === start || space === end || buf[space] !== SPACE) return null;
    out.method = this.method(buf, start, space);
    let uriEnd = end;
    // A trailing ` HTTP/…` is the protocol; whatever precedes it after the method is the URI.
    for (let i = end - 1; i > space; i--) {
      if (buf[i] === SPACE) {
        if (
          i + 5 < end &&
          buf[i + 1] === 0x48 &&
          buf[i + 2] === 0x54 &&
          buf[i + 3] === 0x54 &&
          buf[i + 4] === 0x50 &&
          buf[i + 5] === 0x2f
        ) {
          uriEnd = i;
        }
        break;
      }
    }
    return this.path(buf, space + 1, uriEnd, out);
  }

  /** An upper-case method token as an interned string, or "" when the text is not one. */
  private method(buf: Buffer, start: number, end: number): string {
    const length = end - start;
    const first = buf[start];
    if (length === 3 && first === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return "GET";
    if (
      length === 4 &&
      first === 0x50 &&
      buf[start + 1] === 0x4f &&
      buf[start + 2] === 0x53 &&
      buf[start + 3] === 0x54
    ) {
      return "POST";
    }
    if (length === 0 || length > MAX_METHOD) return "";
    let hash = 0;
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (METHOD_BYTES[c] === 0) return "";
      hash = hashStep(hash, c);
    }
    return this.methods.get(buf, start, end, hash);
  }

  /**
   * The URI's path: up to the first `?`, log escapes undone, "" when empty or `-`. A raw control byte
   * in it makes the line `binary` (kept strings never carry one).
   */
  private path(buf: Buffer, start: number, end: number, out: LogRecord): RejectReason | null {
    let seen = 0;
    let at = start;
    for (; at < end; at++) {
      const kind = PATH_BYTES[buf[at]!]!;
      if (kind !== PATH_PLAIN) {
        if (kind === PATH_END) break;
        seen |= kind;
      }
    }
    if ((seen & PATH_CONTROL) !== 0) return "binary";
    if (at === start || (at - start === 1 && buf[start] === DASH)) out.path = "";
    else if (seen === 0) setPathBytes(out, buf, start, at);
    else out.path = this.escapes.decode(buf, start, at, this.dialect);
    return null;
  }
}
