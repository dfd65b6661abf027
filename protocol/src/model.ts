/**
 * The shared data model: what a parser yields for one access-log line, and the identity of a
 * partial (the per-host, per-service, per-window pre-aggregate that agents ship and central merges).
 *
 * Contracts other packages rely on:
 * - Parsers never throw on input; they fill a caller-owned LogRecord or return a RejectReason.
 * - A partial is identified by (host, service, windowStartMs, seq). seq 0 is the window's primary
 *   partial; seq 1, 2, … are supplementary partials for lines that arrived after the window closed
 *   on the agent. The agent reproduces the same identity for the same log range after a crash, so
 *   central can drop a duplicate delivery by identity alone.
 */

/** One parsed access-log line. Parsers overwrite a caller-owned object so the hot path allocates little. */
export interface LogRecord {
  /** Event time, milliseconds since the Unix epoch (UTC), from the line's own timestamp. */
  timeMs: number;
  /** HTTP status as written (three digits, 0..999). */
  status: number;
  /** Response bytes ($body_bytes_sent / %b; falls back to $bytes_sent); 0 when written as "-". */
  bytes: number;
  /** Request duration in whole microseconds, or -1 when the format carries none. */
  latencyUs: number;
  /** Client address as written (IPv4 or IPv6 text). */
  ip: string;
  /** Request method, or "" when the request line is not `METHOD URI PROTO` (it still counts as a request). */
  method: string;
  /** URI path without the query string, or "" when the request line has none. */
  path: string;
}

export function emptyLogRecord(): LogRecord {
  return { timeMs: 0, status: 0, bytes: 0, latencyUs: -1, ip: "", method: "", path: "" };
}

/**
 * Why a line was not counted as a request. Every reason is a counter in the partial, so
 * `requests + sum(rejects)` equals the number of lines read.
 */
export const REJECT_REASONS = [
  "empty", // blank line
  "too_long", // longer than the configured maximum line length (the line is skipped whole)
  "binary", // contains NUL or other control bytes that no access log writes
  "syntax", // does not match the configured format
  "bad_time", // timestamp missing or unparseable
  "bad_status", // status is not three digits
  "bad_number", // bytes or latency field is not a number or "-"
  "truncated", // the file ended (or was truncated) in the middle of a line
  "too_old", // the line's window is older than the agent's retained horizon (see edge-agent windowHorizonMs)
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** The identity of a partial; see the module comment. */
export interface PartialKey {
  host: string;
  service: string;
  windowStartMs: number;
  windowMs: number;
  seq: number;
}

/** Status classes as written to InfluxDB (`status_1xx` … `status_5xx`); codes outside 100..599 count as "other". */
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** Start of the event-time window that holds `timeMs` (windows are aligned to the epoch). */
export function windowStartOf(timeMs: number, windowMs: number): number {
  return timeMs - (((timeMs % windowMs) + windowMs) % windowMs);
}
