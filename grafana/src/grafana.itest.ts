/**
 * The dashboards and alert rules against the real InfluxDB of the local stack: each test database is filled with
 * points in exactly the shape central writes (written here with @influxdata/influxdb-client; the end-to-end test
 * fills one through the real pipeline and reuses runDashboardQueries/evaluateAlertRules), then every panel query
 * is run as Grafana would send it and every alert rule is evaluated as Grafana's alerting would.
 */
import { randomBytes } from "node:crypto";
import { InfluxDB, Point } from "@influxdata/influxdb-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluateAlertRules, type RuleEvaluation } from "./alert-rules.js";
import { type DashboardQueryReport, type PanelQueryResult, runDashboardQueries } from "./dashboard-queries.js";
import { fleetOverviewDashboard } from "./dashboards/fleet-overview.js";
import { dashboardStructureSchema, flattenPanels } from "./dashboards/validate.js";
import { INFLUX_DATASOURCE_UID } from "./datasource.js";
import { type InfluxConnection, type InfluxSeries, queryInfluxQL } from "./influxql.js";
import { loadProvisioning, type Provisioning, resolveInfluxDatasource } from "./provisioning.js";

const WINDOW_MS = 10_000;
const RETENTION_POLICY = "rla_30d";
const influxUrl = (process.env.RLA_INFLUX_URL || "http://127.0.0.1:18086").replace(/\/+$/, "");

// ------------------------------------------------------------------------------------------------------------------
// Fixture: points shaped like central's writes (time = window start, ms precision; counts as integers).

interface HostWindow {
  host: string;
  startMs: number;
  /** Requests by status class; `requests` is their sum. */
  status: [s1xx: number, s2xx: number, s3xx: number, s4xx: number, s5xx: number];
  bytes: number;
  latencyMs: { p50: number; p90: number; p95: number; p99: number; max: number; mean: number };
  parseRejects: number;
}

const requestsOf = (w: HostWindow) => w.status.reduce((a, b) => a + b, 0);

function httpStatsPoint(w: HostWindow, agents: { reported: number; expected: number }): Point {
  const requests = requestsOf(w);
  const [s1, s2, s3, s4, s5] = w.status;
  return new Point("http_stats")
    .tag("host", w.host)
    .tag("service", "web")
    .intField("requests", requests)
    .floatField("rps", requests / (WINDOW_MS / 1000))
    .intField("status_1xx", s1)
    .intField("status_2xx", s2)
    .intField("status_3xx", s3)
    .intField("status_4xx", s4)
    .intField("status_5xx", s5)
    .intField("bytes", w.bytes)
    .floatField("latency_p50_ms", w.latencyMs.p50)
    .floatField("latency_p90_ms", w.latencyMs.p90)
    .floatField("latency_p95_ms", w.latencyMs.p95)
    .floatField("latency_p99_ms", w.latencyMs.p99)
    .floatField("latency_max_ms", w.latencyMs.max)
    .floatField("latency_mean_ms", w.latencyMs.mean)
    .floatField("error_rate", requests ? s5 / requests : 0)
    .floatField("client_error_rate", requests ? s4 / requests : 0)
    .intField("agents_reported", agents.reported)
    .intField("agents_expected", agents.expected)
    .intField("parse_rejects", w.parseRejects)
    .timestamp(w.startMs);
}

/** The fleet row central writes beside the hosts': counts summed, percentiles from the merged histogram. */
function fleetWindow(hosts: HostWindow[], latencyMs: HostWindow["latencyMs"]): HostWindow {
  const sum = (pick: (w: HostWindow) => number) => hosts.reduce((a, w) => a + pick(w), 0);
  return {
    host: "all",
    startMs: hosts[0]!.startMs,
    status: [0, 1, 2, 3, 4].map((i) => sum((w) => w.status[i]!)) as HostWindow["status"],
    bytes: sum((w) => w.bytes),
    latencyMs,
    parseRejects: sum((w) => w.parseRejects),
  };
}

interface Anomaly {
  type: "ip_spike" | "error_surge" | "url_scan";
  host: string;
  startMs: number;
  key: string;
  value: number;
  threshold: number;
}

function anomalyPoint(a: Anomaly): Point {
  return new Point("anomaly")
    .tag("type", a.type)
    .tag("host", a.host)
    .tag("service", "web")
    .tag("rank", "1")
    .stringField("key", a.key)
    .floatField("value", a.value)
    .floatField("threshold", a.threshold)
    .floatField("baseline", a.threshold / 4)
    .stringField("message", `${a.type} ${a.key}`)
    .timestamp(a.startMs);
}

function topPoints(
  measurement: "top_ip" | "top_url",
  field: "ip" | "url",
  host: string,
  startMs: number,
  entries: Array<[string, number]>,
) {
  return entries.map(([name, requests], i) =>
    new Point(measurement)
      .tag("host", host)
      .tag("service", "web")
      .tag("rank", String(i + 1))
      .stringField(field, name)
      .intField("requests", requests)
      .timestamp(startMs),
  );
}

function pipelinePoint(
  startMs: number,
  counts: { partials: number; late: number; dropped: number; duplicates: number; decodeErrors: number },
) {
  return new Point("pipeline")
    .tag("instance", "central-1")
    .intField("partials", counts.partials)
    .intField("late_partials", counts.late)
    .intField("dropped_late", counts.dropped)
    .intField("duplicates", counts.duplicates)
    .intField("decode_errors", counts.decodeErrors)
    .timestamp(startMs);
}

// ------------------------------------------------------------------------------------------------------------------
// Database lifecycle: one uniquely named database per scenario, dropped afterwards.

const created: string[] = [];

async function createDatabase(scenario: string): Promise<InfluxConnection> {
  const database = `rla_grafana_${scenario}_${randomBytes(4).toString("hex")}`;
  await queryInfluxQL(
    { influxUrl, database: "" },
    `CREATE DATABASE "${database}" WITH DURATION 30d REPLICATION 1 NAME "${RETENTION_POLICY}"`,
    { method: "POST" },
  );
  created.push(database);
  return { influxUrl, database };
}

async function writePoints(conn: InfluxConnection, points: Point[]): Promise<void> {
  // InfluxDB 1.8's /api/v2/write compatibility endpoint: bucket "<db>/<rp>", empty token when auth is off.
  const writeApi = new InfluxDB({ url: influxUrl, token: "" }).getWriteApi(
    "",
    `${conn.database}/${RETENTION_POLICY}`,
    "ms",
  );
  writeApi.writePoints(points);
  await writeApi.close();
}

afterAll(async () => {
  for (const database of created) {
    await queryInfluxQL({ influxUrl, database: "" }, `DROP DATABASE "${database}"`, { method: "POST" });
  }
});

// Windows a few minutes in the past (within the 30 d retention), aligned like central's.
const base = Math.floor((Date.now() - 30 * 60_000) / WINDOW_MS) * WINDOW_MS;
const latency = (p99: number) => ({ p50: p99 / 4, p90: p99 / 2, p95: (p99 * 3) / 4, p99, max: p99 * 2, mean: p99 / 3 });

function byPanel(report: DashboardQueryReport, title: string, refId = "A"): PanelQueryResult {
  const result = report.results.find((r) => r.panelTitle === title && r.refId === refId);
  if (!result) throw new Error(`no result for panel "${title}" ${refId}`);
  return result;
}

/** Non-null rows of a series' column, keyed by time. */
function column(series: InfluxSeries | undefined, name: string): Map<number, number | string | boolean> {
  const out = new Map<number, number | string | boolean>();
  if (!series) return out;
  const index = series.columns.indexOf(name);
  for (const row of series.values)
    if (row[index] !== null && row[index] !== undefined) out.set(row[0] as number, row[index]!);
  return out;
}

describe("dashboard queries against InfluxDB", () => {
  const HOSTS = ["web-1.example.com", "web-2.example.com"];
  // Four windows per host with distinct, hand-checkable numbers.
  const hostWindows: HostWindow[] = [0, 1, 2, 3].flatMap((i) =>
    HOSTS.map((host, h) => ({
      host,
      startMs: base + i * WINDOW_MS,
      status: [h, 100 + 10 * i + h, 5 + i, 7 + h, 2 * i + h] as HostWindow["status"],
      bytes: 50_000 + 1_000 * i + 100 * h,
      latencyMs: latency(100 + 20 * i + 50 * h),
      parseRejects: i + h,
    })),
  );
  const fleetWindows = [0, 1, 2, 3].map((i) =>
    fleetWindow(
      hostWindows.filter((w) => w.startMs === base + i * WINDOW_MS),
      latency(140 + 20 * i),
    ),
  );
  const from = base - 5 * 60_000;
  const to = base + 10 * 60_000;
  let conn: InfluxConnection;
  let provisioning: Provisioning;
  let fleet: DashboardQueryReport;

  beforeAll(async () => {
    conn = await createDatabase("dash");
    provisioning = await loadProvisioning();
    const points = [
      ...hostWindows.map((w) => httpStatsPoint(w, { reported: 1, expected: 1 })),
      ...fleetWindows.map((w, i) => httpStatsPoint(w, { reported: i === 2 ? 1 : 2, expected: 2 })),
      // Older window with five ranks, newest with three: the table shows the newest entry per rank.
      ...topPoints("top_ip", "ip", "all", base, [
        ["198.51.100.9", 40],
        ["198.51.100.8", 30],
        ["198.51.100.7", 20],
        ["198.51.100.6", 10],
        ["198.51.100.5", 5],
      ]),
      ...topPoints("top_ip", "ip", "all", base + 3 * WINDOW_MS, [
        ["203.0.113.1", 90],
        ["203.0.113.2", 60],
        ["203.0.113.3", 25],
      ]),
      ...topPoints("top_url", "url", "all", base + 3 * WINDOW_MS, [
        ["/", 120],
        ["/login", 44],
      ]),
      anomalyPoint({
        type: "ip_spike",
        host: "all",
        startMs: base + WINDOW_MS,
        key: "203.0.113.1",
        value: 900,
        threshold: 200,
      }),
      anomalyPoint({
        type: "error_surge",
        host: "web-2.example.com",
        startMs: base + 2 * WINDOW_MS,
        key: "5xx",
        value: 0.4,
        threshold: 0.1,
      }),
      pipelinePoint(base, { partials: 2, late: 1, dropped: 0, duplicates: 0, decodeErrors: 0 }),
      pipelinePoint(base + 2 * WINDOW_MS, { partials: 2, late: 0, dropped: 3, duplicates: 1, decodeErrors: 2 }),
    ];
    await writePoints(conn, points);
    // Connect the way Grafana does: from the provisioned data source with its env vars set.
    const datasource = resolveInfluxDatasource(provisioning, INFLUX_DATASOURCE_UID, {
      RLA_INFLUX_URL: influxUrl,
      RLA_INFLUX_DB: conn.database,
    });
    const [report] = await runDashboardQueries({
      ...datasource,
      from,
      to,
      vars: { host: "all" },
      datasourceMinInterval: datasource.minInterval,
    });
    if (report === undefined) throw new Error("runDashboardQueries returned no report");
    fleet = report;
  });

  it("every panel query runs, at a 10 s interval for a 15 min range", () => {
    const targets = flattenPanels(dashboardStructureSchema.parse(fleetOverviewDashboard())).flatMap((p) => p.targets);
    expect(fleet.results.map((r) => r.query)).toEqual(targets.map((t) => t.query));
    for (const r of fleet.results.filter((r) => r.query.includes("$__interval")))
      expect(r.intervalMs, r.panelTitle).toBe(10_000);
    const empty = fleet.results.filter((r) => r.series.length === 0).map((r) => r.panelTitle);
    expect(empty).toEqual([]);
  });

  it("the host variable offers the fleet row and every host", () => {
    expect(fleet.variables).toEqual([
      { name: "host", options: expect.arrayContaining(["all", ...HOSTS]), current: "all" },
    ]);
    expect(fleet.variables[0]!.options).toHaveLength(3);
  });

  it("RPS equals requests / 10 of each fleet window", () => {
    const rps = column(byPanel(fleet, "Requests per second").series[0], "requests/s");
    expect([...rps]).toEqual(fleetWindows.map((w) => [w.startMs, requestsOf(w) / 10]));
  });

  it("the status-class stack sums to the window's requests, class by class", () => {
    const [series] = byPanel(fleet, "Requests by status class").series;
    const classes = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"].map((c) => column(series, c));
    for (const w of fleetWindows) {
      const stack = classes.map((c) => c.get(w.startMs) as number);
      expect(stack).toEqual([...w.status, 0]);
      expect(stack.reduce((a, b) => a + b, 0)).toBe(requestsOf(w));
    }
  });

  it("4xx % and 5xx % are the classes' share of requests", () => {
    const [series] = byPanel(fleet, "4xx % and 5xx %").series;
    for (const w of fleetWindows) {
      expect(column(series, "4xx %").get(w.startMs)).toBeCloseTo((100 * w.status[3]) / requestsOf(w), 9);
      expect(column(series, "5xx %").get(w.startMs)).toBeCloseTo((100 * w.status[4]) / requestsOf(w), 9);
    }
  });

  it("latency percentiles and bytes/s are the fleet row's values", () => {
    const [lat] = byPanel(fleet, "Latency p50 / p90 / p99").series;
    const [bytes] = byPanel(fleet, "Bytes per second").series;
    for (const w of fleetWindows) {
      expect([column(lat, "p50"), column(lat, "p90"), column(lat, "p99")].map((c) => c.get(w.startMs))).toEqual([
        w.latencyMs.p50,
        w.latencyMs.p90,
        w.latencyMs.p99,
      ]);
      expect(column(bytes, "bytes/s").get(w.startMs)).toBe(w.bytes / 10);
    }
  });

  it("per-host panels have one series per host and none for the fleet row", () => {
    const byHost = byPanel(fleet, "Requests per second by host").series;
    expect(byHost.map((s) => s.tags.host).sort()).toEqual(HOSTS);
    for (const s of byHost) {
      const expected = hostWindows.filter((w) => w.host === s.tags.host).map((w) => [w.startMs, requestsOf(w) / 10]);
      expect([...column(s, s.columns[1]!)]).toEqual(expected);
    }
    expect(byPanel(fleet, "5xx % by host").series).toHaveLength(2);
    expect(byPanel(fleet, "p99 latency by host").series).toHaveLength(2);
  });

  it("stat panels show the newest window", () => {
    const newest = fleetWindows.at(-1)!;
    // A lone selector (last) reports the selected point's time: the newest window's start.
    expect(byPanel(fleet, "Requests/s (latest window)").series[0]!.values).toEqual([
      [newest.startMs, requestsOf(newest) / 10],
    ]);
    const [fiveXx] = byPanel(fleet, "5xx % (latest window)").series[0]!.values;
    expect(fiveXx![1]).toBeCloseTo((100 * newest.status[4]) / requestsOf(newest), 9);
    expect(byPanel(fleet, "p99 latency (latest window)").series[0]!.values).toEqual([
      [newest.startMs, newest.latencyMs.p99],
    ]);
    expect(byPanel(fleet, "Agents reported / expected").series[0]!.values).toEqual([[from, 2, 2]]);
  });

  it("top IPs show the newest window per rank; top URLs the newest window", () => {
    const rows = byPanel(fleet, "Top client IPs").series.map((s) => [s.tags.rank, ...s.values[0]!.slice(1)]);
    expect(rows.sort()).toEqual([
      ["1", "203.0.113.1", 90],
      ["2", "203.0.113.2", 60],
      ["3", "203.0.113.3", 25],
      ["4", "198.51.100.6", 10],
      ["5", "198.51.100.5", 5],
    ]);
    const urls = byPanel(fleet, "Top URLs").series.map((s) => s.values[0]!.slice(1));
    expect(urls.sort()).toEqual([
      ["/", 120],
      ["/login", 44],
    ]);
  });

  it("the anomalies table lists time, type, key, value, threshold and host, newest first", () => {
    const [table] = byPanel(fleet, "Anomalies").series;
    expect(table!.columns.slice(0, 7)).toEqual(["time", "type", "key", "value", "threshold", "host", "service"]);
    expect(table!.values.map((r) => r.slice(0, 6))).toEqual([
      [base + 2 * WINDOW_MS, "error_surge", "5xx", 0.4, 0.1, "web-2.example.com"],
      [base + WINDOW_MS, "ip_spike", "203.0.113.1", 900, 200, "all"],
    ]);
  });

  it("pipeline health shows agents reported vs expected, late/dropped partials, decode errors and parse rejects", () => {
    const [agents] = byPanel(fleet, "Agents reported vs expected").series;
    expect([...column(agents, "reported").values()]).toEqual([2, 2, 1, 2]);
    expect([...column(agents, "expected").values()]).toEqual([2, 2, 2, 2]);
    const [late] = byPanel(fleet, "Late, dropped and duplicate partials").series;
    expect([...column(late, "late partials")]).toEqual([
      [base, 1],
      [base + 2 * WINDOW_MS, 0],
    ]);
    expect(column(late, "dropped late").get(base + 2 * WINDOW_MS)).toBe(3);
    expect(column(late, "duplicates").get(base + 2 * WINDOW_MS)).toBe(1);
    expect(
      column(byPanel(fleet, "Decode errors and parse rejects", "A").series[0], "decode errors").get(
        base + 2 * WINDOW_MS,
      ),
    ).toBe(2);
    const rejects = column(byPanel(fleet, "Decode errors and parse rejects", "B").series[0], "parse rejects");
    expect([...rejects.values()]).toEqual(fleetWindows.map((w) => w.parseRejects));
  });

  it("selecting one host (a dotted name, regex-escaped by Grafana) shows only that host", async () => {
    const host = HOSTS[1]!;
    const [report] = await runDashboardQueries({ ...conn, from, to, vars: { host }, datasourceMinInterval: "10s" });
    const rps = byPanel(report!, "Requests per second");
    expect(rps.executed).toContain(`"host" =~ /^web-2\\.example\\.com$/`);
    expect([...column(rps.series[0], "requests/s")]).toEqual(
      hostWindows.filter((w) => w.host === host).map((w) => [w.startMs, requestsOf(w) / 10]),
    );
  });

  it("over a 6 h range buckets are 30 s and RPS averages the bucket's requests over 30 s", async () => {
    const wideFrom = to - 6 * 3_600_000;
    const [report] = await runDashboardQueries({ ...conn, from: wideFrom, to, datasourceMinInterval: "10s" });
    const rps = byPanel(report!, "Requests per second");
    expect(rps.intervalMs).toBe(30_000);
    expect(rps.executed).toContain("GROUP BY time(30s)");
    const buckets = new Map<number, number>();
    for (const w of fleetWindows) {
      const bucket = Math.floor(w.startMs / 30_000) * 30_000;
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + requestsOf(w));
    }
    expect([...column(rps.series[0], "requests/s")]).toEqual([...buckets].map(([t, n]) => [t, n / 30]));
  });
});

describe("alert rules against InfluxDB", () => {
  const now = base + 20 * 60_000;
  const recentWindows = (count: number, lastStartMs: number) =>
    Array.from({ length: count }, (_, i) => lastStartMs - (count - 1 - i) * WINDOW_MS).flatMap((startMs) => [
      httpStatsPoint(
        { host: "web-1", startMs, status: [0, 95, 0, 4, 1], bytes: 10_000, latencyMs: latency(80), parseRejects: 0 },
        { reported: 1, expected: 1 },
      ),
      httpStatsPoint(
        { host: "all", startMs, status: [0, 95, 0, 4, 1], bytes: 10_000, latencyMs: latency(80), parseRejects: 0 },
        { reported: 1, expected: 1 },
      ),
    ]);
  const state = (evaluations: RuleEvaluation[], title: string) => evaluations.find((e) => e.title === title)!;

  it("each anomaly rule fires on its planted anomaly, labelled with the host; pipeline_stalled stays quiet", async () => {
    const conn = await createDatabase("anomalous");
    await writePoints(conn, [
      ...recentWindows(12, now - 20_000),
      anomalyPoint({
        type: "ip_spike",
        host: "all",
        startMs: now - 90_000,
        key: "203.0.113.66",
        value: 1500,
        threshold: 300,
      }),
      anomalyPoint({
        type: "error_surge",
        host: "web-1",
        startMs: now - 60_000,
        key: "5xx",
        value: 0.35,
        threshold: 0.05,
      }),
      anomalyPoint({
        type: "url_scan",
        host: "all",
        startMs: now - 200_000,
        key: "198.51.100.23",
        value: 240,
        threshold: 50,
      }),
    ]);
    const evaluations = await evaluateAlertRules({ ...conn, now });
    expect(evaluations.map((e) => [e.title, e.firing])).toEqual([
      ["ip_spike", true],
      ["error_surge", true],
      ["url_scan", true],
      ["pipeline_stalled", false],
    ]);
    expect(state(evaluations, "ip_spike").results).toEqual([
      { labels: { host: "all", service: "web" }, value: 1, state: "Alerting" },
    ]);
    expect(state(evaluations, "error_surge").instances).toEqual([
      { labels: { host: "web-1", service: "web" }, state: "Alerting" },
    ]);
    expect(state(evaluations, "url_scan").instances).toEqual([
      { labels: { host: "all", service: "web" }, state: "Alerting" },
    ]);
    expect(state(evaluations, "pipeline_stalled").instances).toEqual([{ labels: {}, state: "Normal" }]);
    expect(state(evaluations, "ip_spike").queries[0]!.executed).toBe(
      `SELECT max("value") AS "requests" FROM "anomaly" WHERE "type" = 'ip_spike' AND time >= ${now - 300_000}ms and time <= ${now}ms GROUP BY "host", "service"`,
    );
  });

  it("on clean data no rule fires: anomaly rules have no data (→ OK), the fleet windows keep pipeline_stalled Normal", async () => {
    const conn = await createDatabase("clean");
    await writePoints(conn, [
      ...recentWindows(12, now - 20_000),
      // An anomaly older than the rules' 5-minute range is history, not an alert.
      anomalyPoint({
        type: "ip_spike",
        host: "all",
        startMs: now - 400_000,
        key: "203.0.113.66",
        value: 1500,
        threshold: 300,
      }),
    ]);
    const evaluations = await evaluateAlertRules({ ...conn, now });
    expect(evaluations.filter((e) => e.firing).map((e) => e.title)).toEqual([]);
    for (const title of ["ip_spike", "error_surge", "url_scan"]) {
      expect(state(evaluations, title).results.map((r) => r.state)).toEqual(["NoData"]);
      expect(state(evaluations, title).instances.map((i) => i.state)).toEqual(["Normal"]);
    }
    expect(state(evaluations, "pipeline_stalled").results).toEqual([{ labels: {}, value: 0, state: "Normal" }]);
  });

  it("pipeline_stalled fires when no fleet window was written in the last minute, and only the fleet row counts", async () => {
    const conn = await createDatabase("stalled");
    // Fleet windows stop 70 s before `now`; a host row keeps arriving, which must not hide the stall.
    await writePoints(conn, [
      ...recentWindows(6, now - 70_000),
      httpStatsPoint(
        {
          host: "web-1",
          startMs: now - 10_000,
          status: [0, 1, 0, 0, 0],
          bytes: 1,
          latencyMs: latency(1),
          parseRejects: 0,
        },
        { reported: 1, expected: 1 },
      ),
    ]);
    const stalled = state(await evaluateAlertRules({ ...conn, now }), "pipeline_stalled");
    expect(stalled.results).toEqual([
      { labels: { datasource_uid: INFLUX_DATASOURCE_UID, ref_id: "A" }, value: null, state: "NoData" },
    ]);
    expect(stalled.instances.map((i) => i.state)).toEqual(["Alerting"]);
    expect(stalled.firing).toBe(true);

    // The same data evaluated while the last fleet window was still recent: quiet.
    expect(state(await evaluateAlertRules({ ...conn, now: now - 30_000 }), "pipeline_stalled").firing).toBe(false);
  });
});
