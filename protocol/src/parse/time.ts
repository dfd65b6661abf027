/**
 * Timestamp decoding for `$time_local` (`10/Oct/2000:13:55:36 -0700`, also Apache `%t` inside its
 * brackets), `$time_iso8601` (`2000-10-10T13:55:36-07:00`) and `$msec` (`971211336.123`).
 *
 * A log holds thousands of lines per second with the same date and minute, so each decoder keeps the
 * minute prefix it saw last and its UTC value: the calendar math and month-name lookup run once per
 * minute of log, and a hit costs one comparison of the prefix bytes. Seconds and the zone offset are
 * read from every line. Every decoder writes the record's `timeMs` (NaN when the text is not a valid
 * timestamp) and returns whether it is valid: epoch milliseconds are not small integers, so a returned
 * value would be boxed into a new heap number on every line.
 */
import type { LogRecord } from "../model.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `dd/Mon/yyyy:HH:MM` — the cached minute prefix of `$time_local`. */
const LOCAL_PREFIX = 17;
/** `dd/Mon/yyyy:HH:MM:SS +zzzz` */
export const TIME_LOCAL_WIDTH = 26;
/** `yyyy-mm-ddTHH:MM` — the cached minute prefix of `$time_iso8601`. */
const ISO_PREFIX = 16;

function digit(buf: Buffer, at: number): number {
  const d = buf[at]! - 0x30;
  return d >= 0 && d <= 9 ? d : Number.NaN;
}

function twoDigits(buf: Buffer, at: number): number {
  return digit(buf, at) * 10 + digit(buf, at + 1);
}

/** UTC ms of a calendar minute, or NaN when a part is out of range (Feb 30, hour 24, …). */
function minuteUtc(year: number, month: number, day: number, hour: number, minute: number): number {
  if (!(month >= 0 && month <= 11 && day >= 1 && hour <= 23 && minute <= 59 && year >= 1970)) return Number.NaN;
  const ms = Date.UTC(year, month, day, hour, minute);
  // Date.UTC rolls Feb 30 over into March; a rolled-over day means the date does not exist.
  return new Date(ms).getUTCDate() === day ? ms : Number.NaN;
}

export class TimeDecoder {
  private readonly localKey = new Uint8Array(LOCAL_PREFIX);
  private localMinuteMs = Number.NaN;
  private readonly isoKey = new Uint8Array(ISO_PREFIX);
  private isoMinuteMs = Number.NaN;

  /** The cached `$time_local` prefix as four little-endian words (bytes 0..15) plus `localKey[16]`. */
  private readonly localWords = new Int32Array(4);
  /** A view of the last buffer seen, to compare the prefix a word at a time. */
  private view: DataView | null = null;
  private viewBuf: Buffer | null = null;

  /** `$time_local`: exactly `dd/Mon/yyyy:HH:MM:SS ±hhmm`. */
  local(buf: Buffer, start: number, end: number, out: LogRecord): boolean {
    if (end - start !== TIME_LOCAL_WIDTH) return invalid(out);
    if (buf !== this.viewBuf) {
      this.viewBuf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const view = this.view!;
    const words = this.localWords;
    // Minute digits first: they are what changes between cache misses.
    if (
      view.getInt32(start + 12, true) !== words[3] ||
      buf[start + 16] !== this.localKey[16] ||
      view.getInt32(start + 8, true) !== words[2] ||
      view.getInt32(start + 4, true) !== words[1] ||
      view.getInt32(start, true) !== words[0]
    ) {
      if (Number.isNaN(this.localMinute(buf, start))) return invalid(out);
      for (let i = 0; i < 4; i++) words[i] = view.getInt32(start + 4 * i, true);
    }
    // Read from the field after the miss branch, not merged with the call's (boxed) result, so the
    // optimised code keeps it an unboxed double instead of allocating a heap number per line.
    const minuteMs = this.localMinuteMs;
    if (buf[start + 17] !== 0x3a || buf[start + 20] !== 0x20) return invalid(out);
    const second = twoDigits(buf, start + 18);
    const offsetMs = zoneOffsetMs(buf, start + 21, false);
    if (!(second <= 60)) return invalid(out);
    const timeMs = minuteMs + second * 1000 - offsetMs;
    out.timeMs = timeMs;
    return !Number.isNaN(timeMs);
  }

  /** On a bad prefix the cache is left as it was: key and value only ever change together. */
  private localMinute(buf: Buffer, start: number): number {
    if (buf[start + 2] !== 0x2f || buf[start + 6] !== 0x2f || buf[start + 11] !== 0x3a || buf[start + 14] !== 0x3a) {
      return Number.NaN;
    }
    const name = String.fromCharCode(buf[start + 3]!, buf[start + 4]!, buf[start + 5]!);
    const month = MONTHS.indexOf(name);
    const year = twoDigits(buf, start + 7) * 100 + twoDigits(buf, start + 9);
    const ms = minuteUtc(year, month, twoDigits(buf, start), twoDigits(buf, start + 12), twoDigits(buf, start + 15));
    if (Number.isNaN(ms)) return ms;
    for (let i = 0; i < LOCAL_PREFIX; i++) this.localKey[i] = buf[start + i]!;
    this.localMinuteMs = ms;
    return ms;
  }

  /** `$time_iso8601`: `yyyy-mm-ddTHH:MM:SS` + optional fraction + `Z`, `±hh:mm` or `±hhmm`. */
  iso8601(buf: Buffer, start: number, end: number, out: LogRecord): boolean {
    if (end - start < 20) return invalid(out);
    const key = this.isoKey;
    for (let i = ISO_PREFIX - 1; i >= 0; i--) {
      if (buf[start + i] !== key[i]) {
        if (Number.isNaN(this.isoMinute(buf, start))) return invalid(out);
        break;
      }
    }
    // After the miss branch, like `local`.
    const minuteMs = this.isoMinuteMs;
    if (buf[start + 16] !== 0x3a) return invalid(out);
    const second = twoDigits(buf, start + 17);
    if (!(second <= 60)) return invalid(out);
    let at = start + 19;
    let fractionMs = 0;
    if (buf[at] === 0x2e) {
      let scale = 100;
      at++;
      const digitsStart = at;
      while (at < end && buf[at]! >= 0x30 && buf[at]! <= 0x39) {
        fractionMs += (buf[at]! - 0x30) * scale;
        scale /= 10;
        at++;
      }
      if (at === digitsStart) return invalid(out);
      fractionMs = Math.floor(fractionMs);
    }
    let offsetMs: number;
    if (buf[at] === 0x5a && at + 1 === end) {
      offsetMs = 0;
    } else if (at + 6 === end && buf[at + 3] === 0x3a) {
      offsetMs = zoneOffsetMs(buf, at, true);
    } else if (at + 5 === end) {
      offsetMs = zoneOffsetMs(buf, at, false);
    } else {
      return invalid(out);
    }
    const timeMs = minuteMs + second * 1000 + fractionMs - offsetMs;
    out.timeMs = timeMs;
    return !Number.isNaN(timeMs);
  }

  private isoMinute(buf: Buffer, start: number): number {
    if (buf[start + 4] !== 0x2d || buf[start + 7] !== 0x2d || buf[start + 10] !== 0x54 || buf[start + 13] !== 0x3a) {
      return Number.NaN;
    }
    const ms = minuteUtc(
      twoDigits(buf, start) * 100 + twoDigits(buf, start + 2),
      twoDigits(buf, start + 5) - 1,
      twoDigits(buf, start + 8),
      twoDigits(buf, start + 11),
      twoDigits(buf, start + 14),
    );
    if (Number.isNaN(ms)) return ms;
    for (let i = 0; i < ISO_PREFIX; i++) this.isoKey[i] = buf[start + i]!;
    this.isoMinuteMs = ms;
    return ms;
  }
}

function invalid(out: LogRecord): false {
  out.timeMs = Number.NaN;
  return false;
}

/** `±hhmm`, or `±hh:mm` when `colon`; NaN unless hours ≤ 23 and minutes ≤ 59. */
function zoneOffsetMs(buf: Buffer, at: number, colon: boolean): number {
  const sign = buf[at] === 0x2b ? 1 : buf[at] === 0x2d ? -1 : Number.NaN;
  const hours = twoDigits(buf, at + 1);
  const minutes = twoDigits(buf, colon ? at + 4 : at + 3);
  if (!(hours <= 23 && minutes <= 59)) return Number.NaN;
  return sign * (hours * 60 + minutes) * 60_000;
}

/** `$msec`: seconds since the epoch with an optional fraction (`1700000000.123`). */
export function decodeEpochSeconds(buf: Buffer, start: number, end: number, out: LogRecord): boolean {
  let at = start;
  let seconds = 0;
  while (at < end && at - start < 12) {
    const d = buf[at]! - 0x30;
    if (d < 0 || d > 9) break;
    seconds = seconds * 10 + d;
    at++;
  }
  if (at === start) return invalid(out);
  let ms = seconds * 1000;
  if (at < end && buf[at] === 0x2e) {
    at++;
    let scale = 100;
    const digitsStart = at;
    while (at < end) {
      const d = buf[at]! - 0x30;
      if (d < 0 || d > 9) return invalid(out);
      ms += d * scale;
      scale /= 10;
      at++;
    }
    if (at === digitsStart) return invalid(out);
  }
  if (at !== end) return invalid(out);
  out.timeMs = Math.floor(ms);
  return true;
}
