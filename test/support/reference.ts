/**
 * The independent reference: recomputes, from raw log text, what InfluxDB must hold. It shares no
 * code with `@rla/protocol` on purpose — a plain regex parse and exact arithmetic — so a bug in the
 * fast path cannot hide by being repeated here.
 *
 * Text is handled as latin1 (one char per byte), so a line's length is its byte length and invalid
 * UTF-8 survives unchanged. Where the regex cannot see the parsers' documented contract
 * (protocol/src/parse/index.ts, line.ts), it is written out here: one trailing `\r` is ignored (CRLF
 * files); a control byte (other than tab) makes a line a reject, except inside the referer and user
 * agent of an otherwise well-formed line, which parsers skip unread; a line longer than
 * `maxLineBytes` is `too_long`. Anything the regex does not match is some other reject. Latencies
 * are kept as exact value counts, so a window of a million lines costs a few hundred map entries.
 */

const COMBINED_RT =
  /^(\S+) \S+ \S+ \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\] "(?:[^"\\]|\\.)*" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" ([\d.]+|-)(?: .*)?$/d;
/** Groups of the referer and user agent: the fields a parser skips without looking at their bytes. */
const SKIPPED_GROUPS = [13, 14];
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control bytes is the point
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const MONTH: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

export interface ReferenceLine {
  timeMs: number;
  status: number;
  bytes: number;
  /** µs, or -1 */
  latencyUs: number;
  ip: string;
}

export function parseReferenceLine(line: string): ReferenceLine | null {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  const m = COMBINED_RT.exec(text);
  if (!m) return null;
  if (CONTROL.test(text)) {
    let rest = "";
    let from = 0;
    for (const g of SKIPPED_GROUPS) {
      const [start, end] = m.indices![g]!;
      rest += text.slice(from, start);
      from = end;
    }
    if (CONTROL.test(rest + text.slice(from))) return null;
  }
  const [, ip, dd, mon, yyyy, hh, mi, ss, sign, zh, zm, status, bytes, , , rt] = m;
  const month = MONTH[mon!];
  if (month === undefined) return null;
  const offsetMin = (sign === "-" ? -1 : 1) * (Number(zh) * 60 + Number(zm));
  const local = Date.UTC(Number(yyyy), month, Number(dd), Number(hh), Number(mi), Number(ss));
  return {
    timeMs: local - offsetMin * 60_000,
    status: Number(status),
    bytes: bytes === "-" ? 0 : Number(bytes),
    latencyUs: rt === "-" ? -1 : Math.round(Number(rt) * 1_000_000),
    ip: ip!,
  };
}

export interface ReferenceWindow {
  requests: number;
  bytes: number;
  codes: Map<number, number>;
  classes: { "1xx": number; "2xx": number; "3xx": number; "4xx": number; "5xx": number };
  /** Exact latency values (µs) → how many requests had that value. */
  latencyCounts: Map<number, number>;
  /** Requests with a latency. */
  latencyN: number;
  latencySumUs: number;
}

export function emptyReferenceWindow(): ReferenceWindow {
  return {
    requests: 0,
    bytes: 0,
    codes: new Map(),
    classes: { "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 },
    latencyCounts: new Map(),
    latencyN: 0,
    latencySumUs: 0,
  };
}

/** Incremental form of `referenceWindows`, for streams too long to hold (the reliability suite). */
export class ReferenceAccumulator {
  readonly windows = new Map<number, ReferenceWindow>();
  /** Lines not counted as requests (any reason). */
  rejects = 0;
  lines = 0;

  constructor(
    readonly windowMs = 10_000,
    /** Longer lines (bytes, newline excluded) are rejects whatever they hold. */
    readonly maxLineBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Counts one line (without its newline); returns the parsed line, or null for a reject. */
  add(text: string): ReferenceLine | null {
    const l = text.length > this.maxLineBytes ? null : parseReferenceLine(text);
    this.count(l);
    return l;
  }

  /** Counts a line parsed already (by `add` of another accumulator); null is a reject. */
  count(l: ReferenceLine | null): void {
    this.lines++;
    if (!l) {
      this.rejects++;
      return;
    }
    const start = Math.floor(l.timeMs / this.windowMs) * this.windowMs;
    let w = this.windows.get(start);
    if (!w) {
      w = emptyReferenceWindow();
      this.windows.set(start, w);
    }
    w.requests++;
    w.bytes += l.bytes;
    w.codes.set(l.status, (w.codes.get(l.status) ?? 0) + 1);
    const cls = `${Math.floor(l.status / 100)}xx` as keyof ReferenceWindow["classes"];
    if (cls in w.classes) w.classes[cls]++;
    if (l.latencyUs >= 0) {
      w.latencyCounts.set(l.latencyUs, (w.latencyCounts.get(l.latencyUs) ?? 0) + 1);
      w.latencyN++;
      w.latencySumUs += l.latencyUs;
    }
  }

  get requests(): number {
    let n = 0;
    for (const w of this.windows.values()) n += w.requests;
    return n;
  }
}

/** Aggregates per window start, for one host's lines or a whole fleet's. Unparseable lines count as rejects of no window. */
export function referenceWindows(
  lines: Iterable<string>,
  windowMs = 10_000,
  maxLineBytes = Number.POSITIVE_INFINITY,
): { windows: Map<number, ReferenceWindow>; rejects: number } {
  const acc = new ReferenceAccumulator(windowMs, maxLineBytes);
  for (const text of lines) acc.add(text);
  return { windows: acc.windows, rejects: acc.rejects };
}

/** Exact percentile by rank (the value at rank ceil(p/100·n)), in µs. */
export function exactPercentileUs(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** `exactPercentileUs` over a window's latency counts; NaN when it has none. */
export function windowPercentileUs(w: ReferenceWindow, p: number): number {
  if (w.latencyN === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * w.latencyN));
  let seen = 0;
  for (const value of [...w.latencyCounts.keys()].sort((a, b) => a - b)) {
    seen += w.latencyCounts.get(value)!;
    if (seen >= rank) return value;
  }
  return Number.NaN;
}

export function windowMaxLatencyUs(w: ReferenceWindow): number {
  let max = Number.NaN;
  for (const value of w.latencyCounts.keys()) if (!(value <= max)) max = value;
  return max;
}

/**
 * HDR with 3 significant digits keeps any value within 0.1% (one unit of its bucket) of the truth;
 * what it reports for a percentile is the bucket's highest equivalent value. So a reported value is
 * right when it lies in [exact, exact·(1 + 1/1000)] plus one µs of rounding.
 */
export function withinHdrPrecision(reportedUs: number, exactUs: number): boolean {
  return reportedUs >= exactUs - 1 && reportedUs <= exactUs * 1.001 + 1;
}

/** A mean of bucket midpoints is within half a bucket (0.05%) of the exact mean; 0.1% leaves room for rounding. */
export function withinHdrMean(reportedUs: number, exactUs: number): boolean {
  return Math.abs(reportedUs - exactUs) <= exactUs * 0.001 + 1;
}
