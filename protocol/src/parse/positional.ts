/**
 * Runs a compiled nginx / Apache format over a line: match the literal prefix, then for each
 * variable find where its value ends (by the step's scan mode), decode it, and skip the literal that
 * follows. Scanning is over the Buffer's bytes; no string is made except the ones the record keeps.
 */
import type { LogRecord, RejectReason } from "../model.js";
import { Field, FieldDecoder } from "./fields.js";
import { type Program, Scan, type Step } from "./format.js";
import { hasControlBytes, isBlank, isControl, type LineParser, lineEnd, resetRecord } from "./line.js";
import { Escapes } from "./text.js";

const TAB = 0x09;
const SPACE = 0x20;
const BACKSLASH = 0x5c;
const NOT_FOUND = -1;
const CONTROL_BYTE = -2;

function matchesAt(buf: Buffer, at: number, end: number, literal: Uint8Array): boolean {
  const length = literal.length;
  if (at + length > end) return false;
  for (let i = 0; i < length; i++) if (buf[at + i] !== literal[i]) return false;
  return true;
}

/** ` : ` and `, ` inside `$upstream_response_time` lists, seen from one of their spaces at `i`. */
function isListSeparator(buf: Buffer, i: number, from: number, end: number): boolean {
  if (i > from && buf[i - 1] === 0x2c) return true;
  if (i + 2 < end && buf[i + 1] === 0x3a && buf[i + 2] === SPACE) return true;
  return i >= from + 2 && buf[i - 1] === 0x3a && buf[i - 2] === SPACE;
}

/** True when the byte at `i` is escaped: preceded (after `from`) by an odd run of backslashes. */
function isEscaped(buf: Buffer, from: number, i: number): boolean {
  let run = 0;
  while (i - run > from && buf[i - run - 1] === BACKSLASH) run++;
  return (run & 1) === 1;
}

/**
 * Where `term` next starts in `buf[from, end)`, by a byte loop. A backslash escapes the byte after
 * it (nginx writes `\x22`, Apache `\"`), so an escaped quote never ends a quoted value. Returns
 * NOT_FOUND, or CONTROL_BYTE on the first control byte met on the way.
 */
function scanUntil(buf: Buffer, from: number, end: number, term: Uint8Array, list: boolean): number {
  const first = term[0]!;
  for (let i = from; i < end; i++) {
    const c = buf[i]!;
    if (c === first) {
      if (matchesAt(buf, i, end, term) && !(list && isListSeparator(buf, i, from, end))) return i;
    } else if (c === BACKSLASH) {
      i++;
      if (i < end && isControl(buf[i]!)) return CONTROL_BYTE;
    } else if (c < 0x20 && c !== TAB) {
      return CONTROL_BYTE;
    }
  }
  return NOT_FOUND;
}

/** Where the last value ends: `term` must close the line. */
function lastValueEnd(buf: Buffer, pos: number, end: number, term: Uint8Array): number {
  const valueEnd = end - term.length;
  return valueEnd >= pos && matchesAt(buf, valueEnd, end, term) ? valueEnd : NOT_FOUND;
}

// Module-local copies: the hot loop compares against locals, not imported bindings.
const SCAN_TOKEN = Scan.Token;
const SCAN_QUOTED = Scan.Quoted;
const SCAN_FIXED = Scan.Fixed;
const SCAN_TO_END = Scan.ToEnd;
const SCAN_LIST = Scan.List;
const FIELD_SKIP = Field.Skip;

export class PositionalParser implements LineParser {
  private readonly prefix: Uint8Array;
  private readonly steps: readonly Step[];
  private readonly fields = new FieldDecoder(Escapes.Log);
  /**
   * Values are found with Buffer#indexOf (memchr: ~20 ns a call against ~2 ns a byte for a JS loop),
   * which cannot stop at the line end. When a search runs past the line end, `reach` remembers how
   * far it went in `reachBuf`; lines before that point are scanned with the bounded loop instead, so
   * no byte of a buffer is ever searched natively twice and a buffer of garbage lines costs linear
   * time. This memo only picks the method, never the answer, so it is safe if the caller refills
   * the buffer.
   */
  private reachBuf: Buffer | null = null;
  private reach = 0;
  private lastStart = 0;

  constructor(program: Program) {
    this.prefix = program.prefix;
    this.steps = program.steps;
  }

  parse(buf: Buffer, start: number, end: number, out: LogRecord): RejectReason | null {
    const from = Math.max(start, 0);
    const to = lineEnd(buf, from, end);
    resetRecord(out);
    if (buf !== this.reachBuf || from < this.lastStart) {
      this.reachBuf = buf;
      this.reach = 0;
    }
    this.lastStart = from;
    if (to <= from || ((buf[from] === SPACE || buf[from] === TAB) && isBlank(buf, from, to))) return "empty";
    const reason = this.run(buf, from, to, out);
    if (reason === null || reason === "binary") return reason;
    return hasControlBytes(buf, from, to) ? "binary" : reason;
  }

  private run(buf: Buffer, start: number, end: number, out: LogRecord): RejectReason | null {
    const prefix = this.prefix;
    if (!matchesAt(buf, start, end, prefix)) return "syntax";
    let pos = start + prefix.length;
    const steps = this.steps;
    const fields = this.fields;
    for (let k = 0; k < steps.length; k++) {
      const step = steps[k]!;
      const term = step.term;
      let valueEnd: number;
      switch (step.scan) {
        case SCAN_TOKEN:
          valueEnd = fields.readToken(step.field, buf, pos, end, out);
          if (valueEnd >= 0 && matchesAt(buf, valueEnd, end, term) && (!step.last || valueEnd + term.length === end)) {
            break;
          }
          // Not a clean value: find its full extent the generic way and let the decoder name the problem.
          valueEnd = step.last ? lastValueEnd(buf, pos, end, term) : scanUntil(buf, pos, end, term, false);
          if (valueEnd < 0) return valueEnd === CONTROL_BYTE ? "binary" : "syntax";
          {
            const reason = fields.apply(step.field, buf, pos, valueEnd, out);
            if (reason !== null) return reason;
          }
          break;
        case SCAN_QUOTED:
          valueEnd = pos >= this.reach ? this.find(buf, pos, end, term) : scanUntil(buf, pos, end, term, false);
          if (valueEnd < 0) return valueEnd === CONTROL_BYTE ? "binary" : "syntax";
          if (step.field !== FIELD_SKIP) {
            const reason = fields.apply(step.field, buf, pos, valueEnd, out);
            if (reason !== null) return reason;
          }
          break;
        case SCAN_FIXED:
          valueEnd = pos + step.width;
          if (!matchesAt(buf, valueEnd, end, term)) return "syntax";
          if (hasControlBytes(buf, pos, valueEnd)) return "binary";
          break;
        case SCAN_TO_END:
          valueEnd = lastValueEnd(buf, pos, end, term);
          if (valueEnd < 0) return "syntax";
          if (step.field !== FIELD_SKIP) {
            const reason = fields.apply(step.field, buf, pos, valueEnd, out);
            if (reason !== null) return reason;
          }
          break;
        default:
          valueEnd = scanUntil(buf, pos, end, term, step.scan === SCAN_LIST);
          if (valueEnd < 0) return valueEnd === CONTROL_BYTE ? "binary" : "syntax";
          if (step.field !== FIELD_SKIP) {
            const reason = fields.apply(step.field, buf, pos, valueEnd, out);
            if (reason !== null) return reason;
          }
      }
      pos = valueEnd + term.length;
    }
    return pos === end ? null : "syntax";
  }

  /** scanUntil by Buffer#indexOf; see `reach`. Control bytes are not looked for here. */
  private find(buf: Buffer, from: number, end: number, term: Uint8Array): number {
    const first = term[0]!;
    for (let i = from; ; i++) {
      i = buf.indexOf(first, i);
      if (i < 0 || i >= end) {
        this.reach = i < 0 ? buf.length : i;
        return NOT_FOUND;
      }
      if (matchesAt(buf, i, end, term) && !isEscaped(buf, from, i)) return i;
    }
  }
}
