import type { Dashboard } from "@grafana/schema";
import { describe, expect, expectTypeOf, it } from "vitest";
import { renderDashboardFiles } from "../generate.js";
import { loadProvisioning } from "../provisioning.js";
import { DASHBOARDS, fleetOverviewDashboard } from "./index.js";
import { type DashboardStructure, dashboardStructureSchema, flattenPanels, validateDashboard } from "./validate.js";

/** The InfluxDB schema central writes (team context, "InfluxDB schema written by central"). */
const SCHEMA: Record<string, { tags: string[]; fields: string[] }> = {
  http_stats: {
    tags: ["host", "service"],
    fields: [
      "requests",
      "rps",
      "status_1xx",
      "status_2xx",
      "status_3xx",
      "status_4xx",
      "status_5xx",
      "bytes",
      "latency_p50_ms",
      "latency_p90_ms",
      "latency_p95_ms",
      "latency_p99_ms",
      "latency_max_ms",
      "latency_mean_ms",
      "error_rate",
      "client_error_rate",
      "agents_reported",
      "agents_expected",
      "parse_rejects",
    ],
  },
  http_status: { tags: ["host", "service", "code"], fields: ["count"] },
  top_ip: { tags: ["host", "service", "rank"], fields: ["ip", "requests"] },
  top_url: { tags: ["host", "service", "rank"], fields: ["url", "requests"] },
  anomaly: { tags: ["type", "host", "service", "rank"], fields: ["key", "value", "threshold", "baseline", "message"] },
  pipeline: {
    tags: ["instance"],
    fields: ["partials", "late_partials", "dropped_late", "duplicates", "decode_errors"],
  },
};

/** Every double-quoted identifier of an InfluxQL query that is not an alias (`AS "…"`) or the measurement. */
function identifiers(query: string): { measurement: string; names: string[] } {
  const measurement = /FROM "(\w+)"/.exec(query)?.[1] ?? "";
  const names = [...query.matchAll(/(AS\s+)?"([^"]+)"/g)].filter((m) => !m[1]).map((m) => m[2]!);
  return { measurement, names: names.filter((n) => n !== measurement) };
}

const files = [...renderDashboardFiles()].map(([file, text]) => ({ file, json: JSON.parse(text) as unknown }));
const provisionedUid = async () => {
  const [datasource] = (await loadProvisioning()).datasources;
  return datasource!.uid;
};

describe("dashboards", () => {
  it("are typed as @grafana/schema dashboards (checked by tsc; this guards the declaration)", () => {
    expectTypeOf(fleetOverviewDashboard).returns.toEqualTypeOf<Dashboard>();
    expect(DASHBOARDS.length).toBeGreaterThan(0);
  });

  it.each(files)(
    "$file has the structure Grafana needs and uses only the provisioned data source",
    async ({ json }) => {
      expect(validateDashboard(json, { datasourceUid: await provisionedUid() })).toEqual([]);
    },
  );

  it.each(files)("$file queries name only measurements, fields and tags central writes", ({ json }) => {
    const dashboard = dashboardStructureSchema.parse(json);
    const queries = [...flattenPanels(dashboard).flatMap((p) => p.targets.map((t) => t.query))];
    queries.push(...dashboard.templating.list.map((v) => v.query ?? "").filter(Boolean));
    for (const query of queries) {
      const { measurement, names } = identifiers(query);
      const schema = SCHEMA[measurement];
      expect(schema, `measurement of: ${query}`).toBeDefined();
      for (const name of names) expect([...schema!.tags, ...schema!.fields], `"${name}" in: ${query}`).toContain(name);
    }
  });

  it("the fleet overview has the panels the runbook refers to", () => {
    const dashboard = dashboardStructureSchema.parse(fleetOverviewDashboard());
    const titles = flattenPanels(dashboard).map((p) => `${p.type}:${p.title}`);
    expect(titles).toEqual(
      expect.arrayContaining([
        "timeseries:Requests per second",
        "timeseries:Requests by status class",
        "timeseries:4xx % and 5xx %",
        "timeseries:Latency p50 / p90 / p99",
        "timeseries:Bytes per second",
        "timeseries:Requests per second by host",
        "table:Top client IPs",
        "table:Top URLs",
        "table:Anomalies",
        "timeseries:Agents reported vs expected",
        "timeseries:Late, dropped and duplicate partials",
        "timeseries:Decode errors and parse rejects",
      ]),
    );
    const stacked = fleetOverviewDashboard().panels?.find((p) => p.title === "Requests by status class");
    expect(stacked && "fieldConfig" in stacked ? stacked.fieldConfig?.defaults.custom?.stacking : undefined).toEqual({
      mode: "normal",
      group: "A",
    });
  });

  it("the host variable lists http_stats hosts (the fleet row `all` among them) and defaults to the fleet", () => {
    const [host] = dashboardStructureSchema.parse(fleetOverviewDashboard()).templating.list;
    expect(host).toMatchObject({
      name: "host",
      type: "query",
      query: 'SHOW TAG VALUES FROM "http_stats" WITH KEY = "host"',
      multi: false,
      includeAll: false,
      current: { value: "all" },
    });
  });
});

describe("validateDashboard", () => {
  const valid = () =>
    structuredClone(fleetOverviewDashboard()) as unknown as DashboardStructure & Record<string, unknown>;
  const uid = { datasourceUid: "rla-influxdb" };
  const firstTimeSeries = (d: DashboardStructure) => flattenPanels(d).find((p) => p.type === "timeseries")!;

  it("accepts the generated dashboard", () => {
    expect(validateDashboard(valid(), uid)).toEqual([]);
  });

  it("reports a missing uid, title or schemaVersion", () => {
    for (const key of ["uid", "title", "schemaVersion"]) {
      const d = valid();
      delete d[key];
      expect(validateDashboard(d, uid).join("\n")).toContain(key);
    }
  });

  it("reports duplicate panel ids and overlapping panels", () => {
    const d = valid();
    d.panels[1]!.id = d.panels[0]!.id;
    d.panels[1]!.gridPos = { ...d.panels[0]!.gridPos };
    const problems = validateDashboard(d, uid);
    expect(problems).toContain(`panel id ${d.panels[0]!.id} is used twice`);
    expect(problems.some((p) => p.includes("overlap"))).toBe(true);
  });

  it("reports a panel wider than the grid", () => {
    const d = valid();
    d.panels[0]!.gridPos = { x: 20, y: 0, w: 6, h: 4 };
    expect(validateDashboard(d, uid).join("\n")).toContain("x + w must be <= 24");
  });

  it("reports a panel or target on another data source", () => {
    const d = valid();
    const panel = firstTimeSeries(d);
    panel.datasource = { type: "influxdb", uid: "other" };
    panel.targets[0]!.datasource = { type: "influxdb", uid: "other" };
    const problems = validateDashboard(d, uid).join("\n");
    expect(problems).toContain("data source is other");
    expect(problems).toContain("target data source is other");
  });

  it("reports an empty query, an unknown variable and $__interval without maxDataPoints", () => {
    const d = valid();
    const panels = flattenPanels(d);
    panels[0]!.targets[0]!.query = " ";
    expect(validateDashboard(d, uid).join("\n")).toContain("every target needs a query");

    const d2 = valid();
    const panel = firstTimeSeries(d2);
    panel.targets[0]!.query = panel.targets[0]!.query.replace("$host", "$hots");
    delete panel.maxDataPoints;
    const problems = validateDashboard(d2, uid).join("\n");
    expect(problems).toContain("unknown variable $hots");
    expect(problems).toContain("sets no maxDataPoints");
  });
});
