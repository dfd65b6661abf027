/**
 * InfluxDB points central writes (pure). Schema (time = window start, ms precision; see central/README.md):
 *
 * - `http_stats` tags host (agent id or "all"), service; fields requests, rps, status_1xx…status_5xx, bytes,
 *   latency_p50_ms…latency_max_ms, latency_mean_ms (only when a latency was recorded), error_rate,
 *   client_error_rate (fractions 0..1), agents_reported, agents_expected, parse_rejects.
 * - `http_status` tags host, service, code; field count.
 * - `top_ip` / `top_url` tags host, service, rank (1..K); fields ip / url, requests.
 * - `anomaly` tags type, host, service, rank; fields key, value, threshold, baseline, message.
 * - `pipeline` tags instance; fields partials, late_partials, dropped_late, duplicates, decode_errors.
 *
 * Counts are integer fields, ratios and latencies float fields. Client IPs and URLs are only ever field values:
 * as tags they would give InfluxDB one series per client.
 */
import type { PartialSummary } from "@rla/protocol";
import { type Anomaly, FLEET_HOST } from "../detect/index.js";

export type FieldValue = { int: number } | { float: number } | { str: string };

export interface InfluxPoint {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  timeMs: number;
}

/** Removes the points of one time stamp matching every given tag (InfluxQL `DELETE`). */
export interface SeriesDelete {
  measurement: string;
  tags: Record<string, string>;
  timeMs: number;
}

export const int = (n: number): FieldValue => ({ int: Math.round(n) });
export const float = (n: number): FieldValue => ({ float: n });
export const str = (s: string): FieldValue => ({ str: s });

export interface WindowPointsInput {
  windowMs: number;
  service: string;
  windowStartMs: number;
  topK: number;
  fleet: { summary: PartialSummary; agentsReported: number; agentsExpected: number };
  hosts: { host: string; summary: PartialSummary }[];
  anomalies: Anomaly[];
}

function statsFields(s: PartialSummary, windowMs: number, reported: number, expected: number) {
  const fields: Record<string, FieldValue> = {
    requests: int(s.requests),
    rps: float(s.requests / (windowMs / 1000)),
    status_1xx: int(s.statusClasses["1xx"]),
    status_2xx: int(s.statusClasses["2xx"]),
    status_3xx: int(s.statusClasses["3xx"]),
    status_4xx: int(s.statusClasses["4xx"]),
    status_5xx: int(s.statusClasses["5xx"]),
    bytes: int(s.bytes),
    error_rate: float(s.requests === 0 ? 0 : s.statusClasses["5xx"] / s.requests),
    client_error_rate: float(s.requests === 0 ? 0 : s.statusClasses["4xx"] / s.requests),
    agents_reported: int(reported),
    agents_expected: int(expected),
    parse_rejects: int(s.lines - s.requests),
  };
  const l = s.latencyMs;
  if (l !== null) {
    fields.latency_p50_ms = float(l.p50);
    fields.latency_p90_ms = float(l.p90);
    fields.latency_p95_ms = float(l.p95);
    fields.latency_p99_ms = float(l.p99);
    fields.latency_max_ms = float(l.max);
    fields.latency_mean_ms = float(l.mean);
  }
  return fields;
}

function rowPoints(
  out: InfluxPoint[],
  input: WindowPointsInput,
  host: string,
  s: PartialSummary,
  reported: number,
  expected: number,
): void {
  const timeMs = input.windowStartMs;
  const tags = { host, service: input.service };
  out.push({ measurement: "http_stats", tags, fields: statsFields(s, input.windowMs, reported, expected), timeMs });
  for (const [code, n] of Object.entries(s.statusCodes)) {
    out.push({ measurement: "http_status", tags: { ...tags, code }, fields: { count: int(n) }, timeMs });
  }
  s.topIps.slice(0, input.topK).forEach(({ ip, requests }, i) => {
    out.push({
      measurement: "top_ip",
      tags: { ...tags, rank: String(i + 1) },
      fields: { ip: str(ip), requests: int(requests) },
      timeMs,
    });
  });
  s.topUrls.slice(0, input.topK).forEach(({ url, requests }, i) => {
    out.push({
      measurement: "top_url",
      tags: { ...tags, rank: String(i + 1) },
      fields: { url: str(url), requests: int(requests) },
      timeMs,
    });
  });
}

/** Every point of one window of one service: per host rows, the fleet row, and the window's anomalies. */
export function buildWindowPoints(input: WindowPointsInput): InfluxPoint[] {
  const out: InfluxPoint[] = [];
  const f = input.fleet;
  rowPoints(out, input, FLEET_HOST, f.summary, f.agentsReported, f.agentsExpected);
  for (const { host, summary } of input.hosts) rowPoints(out, input, host, summary, 1, 1);
  for (const a of input.anomalies) {
    out.push({
      measurement: "anomaly",
      tags: { type: a.type, host: a.host, service: a.service, rank: String(a.rank) },
      fields: {
        key: str(a.key),
        value: float(a.value),
        threshold: float(a.threshold),
        baseline: float(a.baseline),
        message: str(a.message),
      },
      timeMs: a.windowStartMs,
    });
  }
  return out;
}

export interface PipelineCounts {
  partials: number;
  latePartials: number;
  droppedLate: number;
  duplicates: number;
  decodeErrors: number;
}

/** One instance's pipeline counters for one wall-clock interval (time = interval start). */
export function buildPipelinePoint(instance: string, intervalStartMs: number, c: PipelineCounts): InfluxPoint {
  return {
    measurement: "pipeline",
    tags: { instance },
    fields: {
      partials: int(c.partials),
      late_partials: int(c.latePartials),
      dropped_late: int(c.droppedLate),
      duplicates: int(c.duplicates),
      decode_errors: int(c.decodeErrors),
    },
    timeMs: intervalStartMs,
  };
}

/** Identity of a point's series at its time: measurement, sorted tags, time (what InfluxDB overwrites by). */
export function pointKey(p: { measurement: string; tags: Record<string, string>; timeMs: number }): string {
  const tags = Object.keys(p.tags)
    .sort()
    .map((k) => `${k}=${p.tags[k]}`)
    .join(",");
  return `${p.measurement},${tags}@${p.timeMs}`;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function quoteString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** The InfluxQL statement for one delete (time compared exactly, in ns). */
export function deleteStatement(d: SeriesDelete): string {
  const conditions = [`time = ${BigInt(d.timeMs) * 1_000_000n}`];
  for (const k of Object.keys(d.tags).sort()) conditions.push(`${quoteIdent(k)} = ${quoteString(d.tags[k]!)}`);
  return `DELETE FROM ${quoteIdent(d.measurement)} WHERE ${conditions.join(" AND ")}`;
}

export { quoteIdent, quoteString };
