/**
 * The demo's live terminal view: what an SRE would glance at — per 10 s fleet window the RPS, status
 * mix, p99, agents reporting and top client, plus the anomalies found so far. It reads only InfluxDB,
 * exactly what Grafana would read, so what it shows proves the whole pipeline.
 */
import { influxQuery, influxRows } from "../influx.js";

export interface WindowRow {
  time: number;
  requests: number;
  rps: number;
  status: [number, number, number, number, number];
  p99Ms: number | null;
  agentsReported: number;
  agentsExpected: number;
  topIp: string | null;
  topIpRequests: number | null;
}

export interface AnomalyRow {
  time: number;
  type: string;
  host: string;
  key: string;
  value: number;
  threshold: number;
}

export interface Snapshot {
  windows: WindowRow[];
  anomalies: AnomalyRow[];
}

const num = (v: unknown): number => (typeof v === "number" ? v : 0);

/** Reads the newest `windows` fleet windows and the anomalies since `sinceMs`. */
export async function readSnapshot(
  influxUrl: string,
  database: string,
  sinceMs: number,
  windows = 8,
): Promise<Snapshot> {
  const since = `time >= ${Math.floor(sinceMs)}ms`;
  const [stats, tops, anomalies] = await Promise.all([
    influxQuery(
      influxUrl,
      database,
      `SELECT * FROM http_stats WHERE "host" = 'all' AND ${since} ORDER BY time DESC LIMIT ${windows}`,
    ),
    influxQuery(
      influxUrl,
      database,
      `SELECT "ip", "requests" FROM top_ip WHERE "host" = 'all' AND "rank" = '1' AND ${since} ORDER BY time DESC LIMIT ${windows}`,
    ),
    influxQuery(influxUrl, database, `SELECT * FROM anomaly WHERE ${since} ORDER BY time DESC LIMIT 20`),
  ]);
  const topByTime = new Map(influxRows(tops).map((r) => [num(r.time), r]));
  return {
    windows: influxRows(stats).map((r) => {
      const top = topByTime.get(num(r.time));
      return {
        time: num(r.time),
        requests: num(r.requests),
        rps: num(r.rps),
        status: [num(r.status_1xx), num(r.status_2xx), num(r.status_3xx), num(r.status_4xx), num(r.status_5xx)],
        p99Ms: typeof r.latency_p99_ms === "number" ? r.latency_p99_ms : null,
        agentsReported: num(r.agents_reported),
        agentsExpected: num(r.agents_expected),
        topIp: typeof top?.ip === "string" ? top.ip : null,
        topIpRequests: top ? num(top.requests) : null,
      };
    }),
    anomalies: influxRows(anomalies).map((r) => ({
      time: num(r.time),
      type: String(r.type ?? ""),
      host: String(r.host ?? ""),
      key: String(r.key ?? ""),
      value: num(r.value),
      threshold: num(r.threshold),
    })),
  };
}

const hhmmss = (t: number) => new Date(t).toISOString().slice(11, 19);
const pct = (n: number, total: number) => (total > 0 ? `${((100 * n) / total).toFixed(1)}%` : "-");

export const WINDOW_HEADER = "window    rps     2xx     3xx     4xx     5xx    p99 ms  agents  top client (requests)";

export function renderWindowLine(w: WindowRow): string {
  const total = w.requests;
  return [
    hhmmss(w.time).padEnd(9),
    w.rps.toFixed(1).padStart(6),
    pct(w.status[1], total).padStart(7),
    pct(w.status[2], total).padStart(7),
    pct(w.status[3], total).padStart(7),
    pct(w.status[4], total).padStart(7),
    (w.p99Ms === null ? "-" : w.p99Ms.toFixed(1)).padStart(9),
    `${w.agentsReported}/${w.agentsExpected}`.padStart(7),
    ` ${w.topIp ?? "-"} (${w.topIpRequests ?? 0})`,
  ].join(" ");
}

export function renderAnomalyLine(a: AnomalyRow): string {
  const value = Number.isInteger(a.value) ? String(a.value) : a.value.toFixed(3);
  return `${hhmmss(a.time)}  ${a.type.padEnd(11)} host=${a.host.padEnd(5)} ${a.key}  value=${value} threshold=${a.threshold}`;
}

/** Renders a snapshot as plain text lines (no colours, so it is also readable in CI logs). */
export function renderSnapshot(s: Snapshot, header: string): string[] {
  const lines = [header, "", WINDOW_HEADER, ...s.windows.map(renderWindowLine)];
  if (s.windows.length === 0) lines.push("(waiting for the first fleet window…)");
  lines.push("", "anomalies");
  if (s.anomalies.length === 0) lines.push("  (none yet)");
  for (const a of s.anomalies) lines.push(`  ${renderAnomalyLine(a)}`);
  return lines;
}
