/**
 * `LineRecord`: the LogRecord the agent and the benchmarks parse into, so that aggregation can skip
 * making the ip and path strings of most lines.
 *
 * A parser that fills a LineRecord leaves an ip or path that needs no decoding (plain ASCII, the
 * common case) as a byte range of the parsed buffer instead of a string. `addRecord` hashes those
 * bytes and compares them with the keys its tables hold, and makes a string only for a key it
 * stores (a new key, or one promoted to a heavy-hitter candidate); a line whose key is already held,
 * or that only updates a count-min sketch, makes none. Reading `ip` or `path` makes the string on
 * first access, so the record stays a complete LogRecord for every other reader and the results are
 * the same as with a plain record (a test compares the encoded partials byte for byte).
 *
 * Contract: the ranges point into the buffer last given to `parse`; read `ip` / `path` (or call
 * `addRecord`) before that buffer's bytes change. The agent and the benchmark fold each line into
 * its partial before they read the next chunk, so they never hold a record across a refill. `ip`
 * and `path` are accessors, so spreading or JSON-serialising the record does not copy them: copy
 * the fields by name.
 */
import type { LogRecord } from "../model.js";
import { latin1String } from "./text.js";

const NO_BYTES = Buffer.alloc(0);

export class LineRecord implements LogRecord {
  timeMs = 0;
  status = 0;
  bytes = 0;
  latencyUs = -1;
  method = "";
  /** The buffer the ranges below point into. */
  buf: Buffer = NO_BYTES;
  /** `ip` as `buf[ipStart, ipEnd)` (latin1, no decoding needed); ipEnd is -1 when `ip` is held as a string. */
  ipStart = 0;
  ipEnd = -1;
  /** `path` as `buf[pathStart, pathEnd)`, like the ip range. */
  pathStart = 0;
  pathEnd = -1;
  private ipText = "";
  private pathText = "";

  get ip(): string {
    if (this.ipEnd >= 0) {
      this.ipText = latin1String(this.buf, this.ipStart, this.ipEnd);
      this.ipEnd = -1;
    }
    return this.ipText;
  }

  set ip(value: string) {
    this.ipText = value;
    this.ipEnd = -1;
  }

  get path(): string {
    if (this.pathEnd >= 0) {
      this.pathText = latin1String(this.buf, this.pathStart, this.pathEnd);
      this.pathEnd = -1;
    }
    return this.pathText;
  }

  set path(value: string) {
    this.pathText = value;
    this.pathEnd = -1;
  }
}

/** A LineRecord to parse into (one per parse loop; the parser overwrites every field). */
export function createLineRecord(): LineRecord {
  return new LineRecord();
}

/** Sets the record's ip to the latin1 text of `buf[start, end)`: a range for a LineRecord, else a string. */
export function setIpBytes(out: LogRecord, buf: Buffer, start: number, end: number): void {
  if (out instanceof LineRecord) {
    out.buf = buf;
    out.ipStart = start;
    out.ipEnd = end;
  } else {
    out.ip = latin1String(buf, start, end);
  }
}

/** Sets the record's path to the latin1 text of `buf[start, end)`, like setIpBytes. */
export function setPathBytes(out: LogRecord, buf: Buffer, start: number, end: number): void {
  if (out instanceof LineRecord) {
    out.buf = buf;
    out.pathStart = start;
    out.pathEnd = end;
  } else {
    out.path = latin1String(buf, start, end);
  }
}
