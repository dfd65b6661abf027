/**
 * The independent reference: recomputes, from raw log text, what InfluxDB must hold. It shares no
 * code with `@rla/protocol` on purpose — a plain regex parse and exact arithmetic — so a bug in the
 * fast path cannot hide by being repeated here.
 */

const COMBINED_RT =
  /^(\S+) \S+ \S+ \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\] "(?:[^"\\]|\\.)*" (\d{3}) (\d+|-) "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*" ([\d.]+|-)(?: .*)?$/;
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
}

export function parseReferenceLine(text: string): ReferenceLine | null {
  const m = COMBINED_RT.exec(text);
  if (!m) return null;
  const [, , dd, mon, yyyy, hh, mi, ss, sign, zh, zm, status, bytes, rt] = m;
  const month = MONTH[mon!];
  if (month === undefined) return null;
  const offsetMin = (sign === "-" ? -1 : 1) * (Number(zh) * 60 + Number(zm));
  const local = Date.UTC(Number(yyyy), month, Number(dd), Number(hh), Number(mi), Number(ss));
  return {
    timeMs: local - offsetMin * 60_000,
    status: Number(status),
    bytes: bytes === "-" ? 0 : Number(bytes),
    latencyUs: rt === "-" ? -1 : Math.round(Number(rt) * 1_000_000),
  };
}

export interface ReferenceWindow {
  requests: number;
  bytes: number;
  codes: Map<number, number>;
  classes: { "1xx": number; "2xx": number; "3xx": number; "4xx": number; "5xx": number };
  latenciesUs: number[];
  rejects: number;
}

function emptyWindow(): ReferenceWindow {
  return {
    requests: 0,
    bytes: 0,
    codes: new Map(),
    classes: { "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 },
    latenciesUs: [],
    rejects: 0,
  };
}

/** Aggregates per window start, for one host's lines or a whole fleet's. Unparseable lines count as rejects of no window. */
export function referenceWindows(
  lines: Iterable<string>,
  windowMs = 10_000,
): { windows: Map<number, ReferenceWindow>; rejects: number } {
  const windows = new Map<number, ReferenceWindow>();
  let rejects = 0;
  for (const text of lines) {
    const l = parseReferenceLine(text);
    if (!l) {
      rejects++;
      continue;
    }
    const start = Math.floor(l.timeMs / windowMs) * windowMs;
    let w = windows.get(start);
    if (!w) {
      w = emptyWindow();
      windows.set(start, w);
    }
    w.requests++;
    w.bytes += l.bytes;
    w.codes.set(l.status, (w.codes.get(l.status) ?? 0) + 1);
    const cls = `${Math.floor(l.status / 100)}xx` as keyof ReferenceWindow["classes"];
    if (cls in w.classes) w.classes[cls]++;
    if (l.latencyUs >= 0) w.latenciesUs.push(l.latencyUs);
  }
  for (const w of windows.values()) w.latenciesUs.sort((a, b) => a - b);
  return { windows, rejects };
}

/** Exact percentile by rank (the value at rank ceil(p/100·n)), in µs. */
export function exactPercentileUs(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/**
 * HDR with 3 significant digits keeps any value within 0.1% (one unit of its bucket) of the truth;
 * what it reports for a percentile is the bucket's highest equivalent value. So a reported value is
 * right when it lies in [exact, exact·(1 + 1/1000)] plus one µs of rounding.
 */
export function withinHdrPrecision(reportedUs: number, exactUs: number): boolean {
  return reportedUs >= exactUs - 1 && reportedUs <= exactUs * 1.001 + 1;
}
