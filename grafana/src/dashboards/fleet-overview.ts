/**
 * The fleet overview dashboard: what an SRE opens first. Every query reads the schema central writes (see the team
 * context): `http_stats` (host = agent id, or `all` for the fleet row), `top_ip`, `top_url`, `anomaly`, `pipeline`;
 * time = window start, one point per 10 s window per (host, service).
 *
 * Query conventions:
 * - `"host" =~ /^$host$/` selects the fleet row (`all`, the default) or one host; `$host` is single-valued, so
 *   Grafana regex-escapes it once and the anchored regex matches exactly that host.
 * - Counts are summed per `$__interval` bucket, across services; rates divide by the bucket length
 *   (`$__interval_ms / 1000`), so at a 10 s interval the RPS panel equals `requests / 10` of each window.
 * - Percentiles cannot be merged across windows; over a bucket of several windows the panels show the worst one.
 */
import {
  type Dashboard,
  DashboardCursorSync,
  defaultDashboard,
  VariableHide,
  type VariableModel,
  VariableRefresh,
  VariableSort,
} from "@grafana/schema";
import { INFLUX_DATASOURCE } from "../datasource.js";
import { DashboardLayout, influxql, statPanel, tablePanel, timeSeriesPanel } from "./panels.js";

export const FLEET_OVERVIEW_UID = "rla-fleet-overview";

const HOST = `"host" =~ /^$host$/`;
const PER_SECOND = "($__interval_ms / 1000)";
const BY_INTERVAL = "GROUP BY time($__interval)";

const hostVariable: VariableModel = {
  type: "query",
  name: "host",
  label: "Host",
  description: "`all` is the fleet row central writes; any other value is one agent's host id.",
  datasource: { ...INFLUX_DATASOURCE },
  query: `SHOW TAG VALUES FROM "http_stats" WITH KEY = "host"`,
  current: { text: "all", value: "all" },
  options: [],
  multi: false,
  includeAll: false,
  refresh: VariableRefresh.onTimeRangeChanged,
  sort: VariableSort.alphabeticalAsc,
  hide: VariableHide.dontHide,
  skipUrlSync: false,
};

export function fleetOverviewDashboard(): Dashboard {
  const layout = new DashboardLayout();

  layout
    .add(
      statPanel({
        title: "Requests/s (latest window)",
        description: "Requests per second of the newest window written for $host, per service.",
        unit: "reqps",
        targets: [
          influxql("A", `SELECT last("rps") FROM "http_stats" WHERE ${HOST} AND $timeFilter GROUP BY "service"`, {
            alias: "$tag_service",
          }),
        ],
      }),
      { w: 6, h: 4 },
    )
    .add(
      statPanel({
        title: "5xx % (latest window)",
        description: "Share of requests answered 5xx in the newest window for $host, per service.",
        unit: "percent",
        decimals: 2,
        thresholds: [
          { color: "orange", value: 1 },
          { color: "red", value: 5 },
        ],
        targets: [
          influxql(
            "A",
            `SELECT last("status_5xx") / last("requests") * 100 FROM "http_stats" WHERE ${HOST} AND $timeFilter GROUP BY "service"`,
            { alias: "$tag_service" },
          ),
        ],
      }),
      { w: 6, h: 4 },
    )
    .add(
      statPanel({
        title: "p99 latency (latest window)",
        description: "99th percentile request time of the newest window for $host, per service.",
        unit: "ms",
        targets: [
          influxql(
            "A",
            `SELECT last("latency_p99_ms") FROM "http_stats" WHERE ${HOST} AND $timeFilter GROUP BY "service"`,
            { alias: "$tag_service" },
          ),
        ],
      }),
      { w: 6, h: 4 },
    )
    .add(
      statPanel({
        title: "Agents reported / expected",
        description: "Agents whose partial made it into the newest fleet window, and agents central considers live.",
        unit: "none",
        decimals: 0,
        targets: [
          influxql(
            "A",
            `SELECT last("agents_reported") AS "reported", last("agents_expected") AS "expected" FROM "http_stats" WHERE "host" = 'all' AND $timeFilter`,
          ),
        ],
      }),
      { w: 6, h: 4 },
    );

  layout
    .row("Traffic ($host)")
    .add(
      timeSeriesPanel({
        title: "Requests per second",
        description: "Requests per second, averaged over each interval (at a 10 s interval: exactly each window).",
        unit: "reqps",
        min: 0,
        targets: [
          influxql(
            "A",
            `SELECT sum("requests") / ${PER_SECOND} AS "requests/s" FROM "http_stats" WHERE ${HOST} AND $timeFilter ${BY_INTERVAL}`,
          ),
        ],
      }),
      { w: 12, h: 8 },
    )
    .add(
      timeSeriesPanel({
        title: "Requests by status class",
        description:
          "Requests per interval by status class, stacked: the stack's height is the interval's request count. `other` counts statuses outside 100–599.",
        unit: "short",
        min: 0,
        stacked: true,
        targets: [
          influxql(
            "A",
            `SELECT sum("status_1xx") AS "1xx", sum("status_2xx") AS "2xx", sum("status_3xx") AS "3xx", sum("status_4xx") AS "4xx", sum("status_5xx") AS "5xx", sum("requests") - sum("status_1xx") - sum("status_2xx") - sum("status_3xx") - sum("status_4xx") - sum("status_5xx") AS "other" FROM "http_stats" WHERE ${HOST} AND $timeFilter ${BY_INTERVAL}`,
          ),
        ],
      }),
      { w: 12, h: 8 },
    )
    .add(
      timeSeriesPanel({
        title: "4xx % and 5xx %",
        description: "Client-error and server-error share of all requests in each interval.",
        unit: "percent",
        min: 0,
        targets: [
          influxql(
            "A",
            `SELECT sum("status_4xx") / sum("requests") * 100 AS "4xx %", sum("status_5xx") / sum("requests") * 100 AS "5xx %" FROM "http_stats" WHERE ${HOST} AND $timeFilter ${BY_INTERVAL}`,
          ),
        ],
      }),
      { w: 12, h: 8 },
    )
    .add(
      timeSeriesPanel({
        title: "Latency p50 / p90 / p99",
        description:
          "Request-time percentiles per window (HDR histogram, merged across hosts by central). Over an interval of several windows: the worst window.",
        unit: "ms",
        min: 0,
        targets: [
          influxql(
            "A",
            `SELECT max("latency_p50_ms") AS "p50", max("latency_p90_ms") AS "p90", max("latency_p99_ms") AS "p99" FROM "http_stats" WHERE ${HOST} AND $timeFilter ${BY_INTERVAL}`,
          ),
        ],
      }),
      { w: 12, h: 8 },
    )
    .add(
      timeSeriesPanel({
        title: "Bytes per second",
        description: "Response bytes sent per second, averaged over each interval.",
        unit: "Bps",
        min: 0,
        targets: [
          influxql(
            "A",
            `SELECT sum("bytes") / ${PER_SECOND} AS "bytes/s" FROM "http_stats" WHERE ${HOST} AND $timeFilter ${BY_INTERVAL}`,
          ),
        ],
      }),
      { w: 24, h: 8 },
    );

  layout
    .row("Per host")
    .add(
      timeSeriesPanel({
        title: "Requests per second by host",
        description: "One line per agent host (the fleet row excluded).",
        unit: "reqps",
        min: 0,
        targets: [
          influxql(
            "A",
            `SELECT sum("requests") / ${PER_SECOND} FROM "http_stats" WHERE "host" != 'all' AND $timeFilter ${BY_INTERVAL}, "host"`,
            { alias: "$tag_host" },
          ),
        ],
      }),
      { w: 8, h: 8 },
    )
    .add(
      timeSeriesPanel({
        title: "5xx % by host",
        description: "Server-error share per agent host.",
        unit: "percent",
        min: 0,
        targets: [
          influxql(
            "A",
            `SELECT sum("status_5xx") / sum("requests") * 100 FROM "http_stats" WHERE "host" != 'all' AND $timeFilter ${BY_INTERVAL}, "host"`,
            { alias: "$tag_host" },
          ),
        ],
      }),
      { w: 8, h: 8 },
    )
    .add(
      timeSeriesPanel({
        title: "p99 latency by host",
        description: "Worst per-window p99 per agent host.",
        unit: "ms",
        min: 0,
        targets: [
          influxql(
            "A",
            `SELECT max("latency_p99_ms") FROM "http_stats" WHERE "host" != 'all' AND $timeFilter ${BY_INTERVAL}, "host"`,
            { alias: "$tag_host" },
          ),
        ],
      }),
      { w: 8, h: 8 },
    );

  layout
    .row("Top talkers — latest window ($host)")
    .add(
      tablePanel({
        title: "Top client IPs",
        description:
          "Central's top-K clients by requests, newest window per rank. A rank missing from the newest window shows its older entry; the time column says which window each row is from.",
        sortBy: [{ displayName: "requests", desc: true }],
        columnUnits: { requests: "short" },
        targets: [
          influxql(
            "A",
            `SELECT "ip", "requests" FROM "top_ip" WHERE ${HOST} AND $timeFilter GROUP BY "service", "rank" ORDER BY time DESC LIMIT 1`,
            { resultFormat: "table" },
          ),
        ],
      }),
      { w: 12, h: 9 },
    )
    .add(
      tablePanel({
        title: "Top URLs",
        description: "Central's top-K URL paths by requests, newest window per rank.",
        sortBy: [{ displayName: "requests", desc: true }],
        columnUnits: { requests: "short" },
        targets: [
          influxql(
            "A",
            `SELECT "url", "requests" FROM "top_url" WHERE ${HOST} AND $timeFilter GROUP BY "service", "rank" ORDER BY time DESC LIMIT 1`,
            { resultFormat: "table" },
          ),
        ],
      }),
      { w: 12, h: 9 },
    );

  layout.row("Anomalies").add(
    tablePanel({
      title: "Anomalies",
      description:
        "Anomalies central detected (ip_spike, error_surge, url_scan), newest first, all hosts. Time is the window start.",
      targets: [
        influxql(
          "A",
          `SELECT "type", "key", "value", "threshold", "host", "service", "baseline", "message" FROM "anomaly" WHERE $timeFilter ORDER BY time DESC LIMIT 200`,
          { resultFormat: "table" },
        ),
      ],
    }),
    { w: 24, h: 9 },
  );

  layout
    .row("Pipeline health")
    .add(
      timeSeriesPanel({
        title: "Agents reported vs expected",
        description:
          "Per fleet window: agents whose partial arrived (lowest in the interval) and agents central expects (highest).",
        unit: "none",
        min: 0,
        decimals: 0,
        targets: [
          influxql(
            "A",
            `SELECT min("agents_reported") AS "reported", max("agents_expected") AS "expected" FROM "http_stats" WHERE "host" = 'all' AND $timeFilter ${BY_INTERVAL}`,
          ),
        ],
      }),
      { w: 8, h: 8 },
    )
    .add(
      timeSeriesPanel({
        title: "Late, dropped and duplicate partials",
        description:
          "Partials that rewrote a window before the watermark, arrived after it (dropped), or were delivered twice; summed over central instances.",
        unit: "short",
        min: 0,
        targets: [
          influxql(
            "A",
            `SELECT sum("late_partials") AS "late partials", sum("dropped_late") AS "dropped late", sum("duplicates") AS "duplicates" FROM "pipeline" WHERE $timeFilter ${BY_INTERVAL}`,
          ),
        ],
      }),
      { w: 8, h: 8 },
    )
    .add(
      timeSeriesPanel({
        title: "Decode errors and parse rejects",
        description: "Kafka records central could not decode, and log lines agents rejected (fleet row).",
        unit: "short",
        min: 0,
        targets: [
          influxql(
            "A",
            `SELECT sum("decode_errors") AS "decode errors" FROM "pipeline" WHERE $timeFilter ${BY_INTERVAL}`,
          ),
          influxql(
            "B",
            `SELECT sum("parse_rejects") AS "parse rejects" FROM "http_stats" WHERE "host" = 'all' AND $timeFilter ${BY_INTERVAL}`,
          ),
        ],
      }),
      { w: 8, h: 8 },
    );

  return {
    uid: FLEET_OVERVIEW_UID,
    title: "RLA / Fleet overview",
    description: "Realtime log analytics: traffic, errors, latency, top talkers, anomalies and pipeline health.",
    tags: ["rla", "web-logs"],
    editable: true,
    graphTooltip: DashboardCursorSync.Crosshair,
    timezone: "browser",
    time: { from: "now-1h", to: "now" },
    timepicker: { refresh_intervals: ["10s", "30s", "1m", "5m", "15m"] },
    refresh: "10s",
    fiscalYearStartMonth: 0,
    liveNow: false,
    // Pinned to the schema version of the @grafana/schema release the types come from.
    schemaVersion: defaultDashboard.schemaVersion,
    version: 1,
    links: [],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: "grafana", uid: "-- Grafana --" },
          enable: true,
          hide: true,
          iconColor: "rgba(0, 211, 255, 1)",
          name: "Annotations & Alerts",
          type: "dashboard",
        },
      ],
    },
    templating: { list: [hostVariable] },
    panels: layout.panels,
  };
}
