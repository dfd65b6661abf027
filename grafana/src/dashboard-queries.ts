/**
 * Runs every query of our dashboards against a real InfluxDB exactly as Grafana would send it for a given time range
 * and variable selection: variable options from the variables' own queries, `$__interval` from maxDataPoints and
 * the minimum interval, template variables with the InfluxDB data source's formatting, then the backend macros.
 * Integration and end-to-end tests use it to check each panel's numbers against the data they wrote.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type DashboardStructure, dashboardStructureSchema, flattenPanels } from "./dashboards/validate.js";
import { GrafanaError, GrafanaErrorCode } from "./errors.js";
import { type InfluxConnection, type InfluxSeries, querySeries } from "./influxql.js";
import { calculateInterval, expandInfluxQLMacros, interpolateVariables, type TemplateVariable } from "./interpolate.js";
import { DASHBOARDS_DIR } from "./paths.js";

export interface RunDashboardQueriesOptions extends InfluxConnection {
  /** Dashboard time range, epoch ms (Grafana resolves `now-1h` etc. to these before querying). */
  from: number;
  to: number;
  /** Selected variable values by name; a variable not listed keeps the value saved in the dashboard. */
  vars?: Record<string, string | string[]>;
  /** Dashboard JSON to run (default: the committed files in grafana/dashboards). */
  dashboards?: unknown[];
  /** The data source's `jsonData.timeInterval`, used when a panel sets no `interval`. */
  datasourceMinInterval?: string;
}

export interface PanelQueryResult {
  dashboardUid: string;
  panelId: number;
  panelTitle: string;
  refId: string;
  resultFormat: string;
  /** `$__interval` in ms for this panel. */
  intervalMs: number;
  /** The query as stored in the dashboard. */
  query: string;
  /** The query as InfluxDB received it. */
  executed: string;
  series: InfluxSeries[];
}

export interface DashboardQueryReport {
  dashboardUid: string;
  /** Each variable's options (from its query) and the value used. */
  variables: Array<{ name: string; options: string[]; current: string | string[] }>;
  results: PanelQueryResult[];
}

/** Reads the committed dashboard JSON files. */
export async function loadCommittedDashboards(dir: string = DASHBOARDS_DIR): Promise<unknown[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), "utf8")) as unknown));
}

/** Values of a variable query's answer: the `value` column (SHOW TAG VALUES), else the first non-time column. */
function optionValues(series: InfluxSeries[]): string[] {
  const values = new Set<string>();
  for (const s of series) {
    const column = s.columns.includes("value") ? s.columns.indexOf("value") : s.columns.findIndex((c) => c !== "time");
    for (const row of s.values) if (column >= 0 && row[column] !== null) values.add(String(row[column]));
  }
  return [...values];
}

function parseDashboard(json: unknown): DashboardStructure {
  const parsed = dashboardStructureSchema.safeParse(json);
  if (!parsed.success) {
    throw new GrafanaError(
      GrafanaErrorCode.BadDashboard,
      `not a dashboard Grafana can run: ${parsed.error.issues[0]?.message}`,
    );
  }
  return parsed.data;
}

export async function runDashboardQueries(options: RunDashboardQueriesOptions): Promise<DashboardQueryReport[]> {
  const conn: InfluxConnection = options;
  const dashboards = (options.dashboards ?? (await loadCommittedDashboards())).map(parseDashboard);
  const reports: DashboardQueryReport[] = [];
  for (const dashboard of dashboards) {
    // Variables resolve in order, each query seeing the ones before it (Grafana's dependency order for our case).
    const variables: TemplateVariable[] = [];
    const report: DashboardQueryReport = { dashboardUid: dashboard.uid, variables: [], results: [] };
    for (const v of dashboard.templating.list) {
      let choices: string[] = [];
      if (v.type === "query" && v.query) {
        const text = expandInfluxQLMacros(interpolateVariables(v.query, variables), {
          fromMs: options.from,
          toMs: options.to,
          intervalMs: 1,
        });
        choices = optionValues(await querySeries(conn, text));
      }
      const current = options.vars?.[v.name] ?? v.current?.value ?? choices[0] ?? "";
      variables.push({
        name: v.name,
        multi: v.multi,
        includeAll: v.includeAll,
        current,
        options: choices,
        ...(v.allValue === undefined ? {} : { allValue: v.allValue }),
      });
      report.variables.push({ name: v.name, options: choices, current });
    }

    for (const panel of flattenPanels(dashboard)) {
      const usesInterval = panel.targets.some((t) => /\$(__)?interval/.test(t.query));
      if (usesInterval && panel.maxDataPoints === undefined) {
        throw new GrafanaError(
          GrafanaErrorCode.BadDashboard,
          `panel ${panel.id} uses $__interval without maxDataPoints`,
        );
      }
      const { intervalMs } = calculateInterval(
        options.from,
        options.to,
        panel.maxDataPoints ?? 1,
        panel.interval ?? options.datasourceMinInterval,
      );
      for (const target of panel.targets) {
        if (target.hide) continue;
        const executed = expandInfluxQLMacros(interpolateVariables(target.query, variables), {
          fromMs: options.from,
          toMs: options.to,
          intervalMs,
        });
        report.results.push({
          dashboardUid: dashboard.uid,
          panelId: panel.id,
          panelTitle: panel.title,
          refId: target.refId,
          resultFormat: target.resultFormat,
          intervalMs,
          query: target.query,
          executed,
          series: await querySeries(conn, executed),
        });
      }
    }
    reports.push(report);
  }
  return reports;
}
