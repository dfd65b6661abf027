/**
 * JSON-lines access logs, as nginx writes with `log_format … escape=json '{"remote_addr":"$remote_addr",…}'`:
 * one object per line whose keys are nginx variable names without `$`. Values may be strings or
 * numbers (`"status":"200"` and `"status":200` are the same); `null` and `""` mean absent; unknown keys and
 * nested values are skipped. The object is scanned over its bytes, not handed to JSON.parse, so a
 * line costs no allocation beyond the strings the record keeps.
 */
import type { LogRecord, RejectReason } from "../model.js";
import { Field, FieldDecoder, Role, roleOf } from "./fields.js";
import { hasControlBytes, isBlank, isControl, type LineParser, lineEnd, resetRecord } from "./line.js";
import { Escapes } from "./text.js";

/** Known keys; on a tie in rank, the earlier key in this list wins ($request_uri over $uri). */
const KEYS: readonly (readonly [string, Field])[] = [
  ["remote_addr", Field.RemoteAddr],
  ["msec", Field.Msec],
  ["time_iso8601", Field.TimeIso8601],
  ["time_local", Field.TimeLocal],
  ["request", Field.Request],
  ["request_method", Field.Method],
  ["request_uri", Field.Uri],
  ["uri", Field.Uri],
  ["status", Field.Status],
  ["body_bytes_sent", Field.BodyBytes],
  ["bytes_sent", Field.BytesSent],
  ["request_time", Field.LatencySeconds],
];
const KEY_BYTES = KEYS.map(([name]) => Buffer.from(name, "latin1"));
const KEY_ROLES = KEYS.map(([, field]) => roleOf(field));
const ROLE_COUNT = 9;

const TAB = 0x09;
const SPACE = 0x20;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NOT_FOUND = -1;
const CONTROL_BYTE = -2;

function skipSpace(buf: Buffer, i: number, end: number): number {
  while (i < end && (buf[i] === SPACE || buf[i] === TAB)) i++;
  return i;
}

/** Index of the quote closing a string whose contents start at `i`. */
function stringEnd(buf: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === QUOTE) return i;
    if (c === BACKSLASH) i++;
    else if (isControl(c)) return CONTROL_BYTE;
  }
  return NOT_FOUND;
}

/** End (exclusive) of a non-string value starting at `i`: a bare token, or a whole nested object/array. */
function bareValueEnd(buf: Buffer, i: number, end: number): number {
  const c = buf[i];
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (; i < end; i++) {
      const b = buf[i]!;
      if (b === QUOTE) {
        i = stringEnd(buf, i + 1, end);
        if (i < 0) return i;
      } else if (b === 0x7b || b === 0x5b) {
        depth++;
      } else if (b === 0x7d || b === 0x5d) {
        if (--depth === 0) return i + 1;
      }
    }
    return NOT_FOUND;
  }
  // Numbers, true, false: up to the next delimiter.
  const start = i;
  for (; i < end; i++) {
    const b = buf[i]!;
    if (b === 0x2c || b === 0x7d || b === 0x5d || b === SPACE || b === TAB) break;
  }
  const first = buf[start]!;
  const isNumber = first === 0x2d || (first >= 0x30 && first <= 0x39);
  return i > start && (isNumber || first === 0x74 || first === 0x66) ? i : NOT_FOUND;
}

function knownKey(buf: Buffer, start: number, end: number): number {
  const length = end - start;
  for (let k = 0; k < KEY_BYTES.length; k++) {
    const key = KEY_BYTES[k]!;
    if (key.length !== length) continue;
    let same = true;
    for (let i = 0; i < length; i++) {
      if (buf[start + i] !== key[i]) {
        same = false;
        break;
      }
    }
    if (same) return k;
  }
  return -1;
}

export class JsonLineParser implements LineParser {
  private readonly fields = new FieldDecoder(Escapes.Json);
  /** Per role: the key index chosen on this line (-1 none) and its value's byte range. */
  private readonly chosen = new Int32Array(ROLE_COUNT);
  private readonly valueStart = new Int32Array(ROLE_COUNT);
  private readonly valueEnd = new Int32Array(ROLE_COUNT);

  parse(buf: Buffer, start: number, end: number, out: LogRecord): RejectReason | null {
    const from = Math.max(start, 0);
    const to = lineEnd(buf, from, end);
    resetRecord(out);
    if (to <= from || ((buf[from] === SPACE || buf[from] === TAB) && isBlank(buf, from, to))) return "empty";
    const reason = this.run(buf, from, to, out);
    if (reason === null || reason === "binary") return reason;
    return hasControlBytes(buf, from, to) ? "binary" : reason;
  }

  private run(buf: Buffer, start: number, end: number, out: LogRecord): RejectReason | null {
    const chosen = this.chosen;
    chosen.fill(-1);
    let i = skipSpace(buf, start, end);
    if (buf[i] !== 0x7b) return "syntax";
    i = skipSpace(buf, i + 1, end);
    if (buf[i] === 0x7d) i++;
    else {
      for (;;) {
        if (buf[i] !== QUOTE) return "syntax";
        const keyStart = i + 1;
        const keyEnd = stringEnd(buf, keyStart, end);
        if (keyEnd < 0) return keyEnd === CONTROL_BYTE ? "binary" : "syntax";
        i = skipSpace(buf, keyEnd + 1, end);
        if (buf[i] !== 0x3a) return "syntax";
        i = skipSpace(buf, i + 1, end);
        let valueStart = i;
        let valueEnd: number;
        let next: number;
        let present = true;
        if (buf[i] === QUOTE) {
          valueStart = i + 1;
          valueEnd = stringEnd(buf, valueStart, end);
          if (valueEnd < 0) return valueEnd === CONTROL_BYTE ? "binary" : "syntax";
          next = valueEnd + 1;
          // escape=json writes an unset variable as "": absent, like null.
          present = valueEnd > valueStart;
        } else if (buf[i] === 0x6e && buf[i + 1] === 0x75 && buf[i + 2] === 0x6c && buf[i + 3] === 0x6c) {
          valueEnd = next = i + 4;
          present = false;
        } else {
          valueEnd = next = bareValueEnd(buf, i, end);
          if (next < 0) return next === CONTROL_BYTE ? "binary" : "syntax";
        }
        const key = present ? knownKey(buf, keyStart, keyEnd) : -1;
        if (key >= 0) {
          const { role, rank } = KEY_ROLES[key]!;
          const current = chosen[role]!;
          // Lower rank wins, then the earlier key in KEYS; a repeated key replaces itself (as JSON.parse does).
          if (current < 0 || rank < KEY_ROLES[current]!.rank || (rank === KEY_ROLES[current]!.rank && key <= current)) {
            chosen[role] = key;
            this.valueStart[role] = valueStart;
            this.valueEnd[role] = valueEnd;
          }
        }
        i = skipSpace(buf, next, end);
        if (buf[i] === 0x2c) {
          i = skipSpace(buf, i + 1, end);
          continue;
        }
        if (buf[i] !== 0x7d) return "syntax";
        i++;
        break;
      }
    }
    if (skipSpace(buf, i, end) !== end) return "syntax";
    if (chosen[Role.Time]! < 0) return "bad_time";
    if (chosen[Role.Status]! < 0) return "bad_status";
    if (chosen[Role.Request]! >= 0) {
      chosen[Role.Path] = -1;
      chosen[Role.Method] = -1;
    }
    for (let role = 1; role < ROLE_COUNT; role++) {
      const key = chosen[role]!;
      if (key < 0) continue;
      const reason = this.fields.apply(KEYS[key]![1], buf, this.valueStart[role]!, this.valueEnd[role]!, out);
      if (reason !== null) return reason;
    }
    return null;
  }
}
