/** The parser contract and the line-level checks every format shares. */
import type { LogRecord, RejectReason } from "../model.js";

export interface LineParser {
  /**
   * Parses `buf[start, end)` (one line, newline excluded; a trailing `\r` is ignored) into `out`,
   * overwriting every field. Returns null when the line is a request, else why it is not. Never
   * throws on any input bytes, and runs in time linear in the line length.
   */
  parse(buf: Buffer, start: number, end: number, out: LogRecord): RejectReason | null;
}

const TAB = 0x09;
const SPACE = 0x20;

/** A byte no access log writes raw: NUL and the other C0 controls except tab, and DEL. */
export function isControl(c: number): boolean {
  return (c < 0x20 && c !== TAB) || c === 0x7f;
}

export function hasControlBytes(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (isControl(buf[i]!)) return true;
  return false;
}

/** Clamps the range to the buffer and drops a trailing `\r`; returns the new end (≤ start: empty). */
export function lineEnd(buf: Buffer, start: number, end: number): number {
  let e = Math.min(end, buf.length);
  if (e > start && buf[e - 1] === 0x0d) e--;
  return e;
}

/** True when the line holds only spaces and tabs. */
export function isBlank(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c !== SPACE && c !== TAB) return false;
  }
  return true;
}

export function resetRecord(out: LogRecord): void {
  out.timeMs = 0;
  out.status = 0;
  out.bytes = 0;
  out.latencyUs = -1;
  out.ip = "";
  out.method = "";
  out.path = "";
}
