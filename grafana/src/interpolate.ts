/**
 * What Grafana does to an InfluxQL query text before InfluxDB sees it, reimplemented so tests can run the committed
 * dashboards and alert rules against a real InfluxDB without a Grafana server. Each function names the Grafana code
 * it mirrors; behaviour is copied, including quirks, because the point is to predict what Grafana sends.
 *
 * Order of operations for a dashboard panel (InfluxDB data source in backend mode, Grafana 10+):
 *   1. frontend: `interval`/`intervalMs` from the time range and maxDataPoints (`calculateInterval`);
 *   2. frontend: template variables replaced with the data source's `interpolateQueryExpr` (`interpolateVariables`);
 *      `$__interval`, `$__interval_ms` and `$timeFilter` are left for the backend;
 *   3. backend: `$timeFilter`, `$interval`, `$__interval_ms`, `$__interval` replaced (`expandInfluxQLMacros`).
 * Alert rules skip 1–2: the rule's model carries `intervalMs` and the range comes from `relativeTimeRange`.
 */
import { GrafanaError, GrafanaErrorCode } from "./errors.js";

/** `rangeUtil.roundInterval` (packages/grafana-data/src/datetime/rangeutil.ts): snaps a raw interval to a nice one. */
export function roundInterval(intervalMs: number): number {
  const steps: ReadonlyArray<readonly [below: number, rounded: number]> = [
    [10, 1],
    [15, 10],
    [35, 20],
    [75, 50],
    [150, 100],
    [350, 200],
    [750, 500],
    [1_500, 1_000],
    [3_500, 2_000],
    [7_500, 5_000],
    [12_500, 10_000],
    [17_500, 15_000],
    [25_000, 20_000],
    [45_000, 30_000],
    [90_000, 60_000],
    [210_000, 120_000],
    [450_000, 300_000],
    [750_000, 600_000],
    [1_050_000, 900_000],
    [1_500_000, 1_200_000],
    [2_700_000, 1_800_000],
    [5_400_000, 3_600_000],
    [9_000_000, 7_200_000],
    [16_200_000, 10_800_000],
    [32_400_000, 21_600_000],
    [86_400_000, 43_200_000],
    [604_800_000, 86_400_000],
    [1_814_400_000, 604_800_000],
    [3_628_800_000, 2_592_000_000],
  ];
  for (const [below, rounded] of steps) if (intervalMs < below) return rounded;
  return 31_536_000_000;
}

/** `rangeUtil.secondsToHms`: the frontend's text for an interval (largest whole unit only). */
export function secondsToHms(seconds: number): string {
  const units: ReadonlyArray<readonly [suffix: string, seconds: number]> = [
    ["y", 31_536_000],
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ];
  let rest = seconds;
  for (const [suffix, size] of units) {
    const count = Math.floor(rest / size);
    if (count) return `${count}${suffix}`;
    rest %= size;
  }
  const ms = Math.floor(seconds * 1000);
  return ms ? `${ms}ms` : "less than a millisecond";
}

const INTERVAL_UNIT_SECONDS: Readonly<Record<string, number>> = {
  y: 31_536_000,
  M: 2_592_000,
  w: 604_800,
  d: 86_400,
  h: 3_600,
  m: 60,
  s: 1,
  ms: 0.001,
};

/** `rangeUtil.intervalToMs`: "10s", "500ms", "1m", "2h", "1d", "1w", "1M", "1y", or a bare number of seconds. */
export function intervalToMs(text: string): number {
  if (Number(text)) return Number.parseInt(text, 10) * 1000;
  const match = /^(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])/.exec(text);
  const unitSeconds = match ? INTERVAL_UNIT_SECONDS[match[2]!] : undefined;
  if (!match || unitSeconds === undefined) {
    throw new GrafanaError(
      GrafanaErrorCode.BadTemplate,
      `interval "${text}" is not an interval: expected a number followed by ms, s, m, h, d, w, M or y (e.g. "10s")`,
    );
  }
  return unitSeconds * 1000 * Number.parseInt(match[1]!, 10);
}

export interface IntervalValues {
  intervalMs: number;
  /** The frontend's text (`secondsToHms`). */
  interval: string;
}

/**
 * `rangeUtil.calculateInterval`: the interval a panel query gets. `maxDataPoints` is the panel's option (Grafana
 * falls back to the panel's pixel width, which is why our dashboards always set it); `minInterval` is the panel's
 * `interval` option, else the data source's `jsonData.timeInterval`.
 */
export function calculateInterval(fromMs: number, toMs: number, maxDataPoints: number, minInterval?: string) {
  const lowLimitMs = minInterval ? intervalToMs(minInterval) : 1;
  const intervalMs = Math.max(roundInterval((toMs - fromMs) / maxDataPoints), lowLimitMs);
  return { intervalMs, interval: secondsToHms(intervalMs / 1000) } satisfies IntervalValues;
}

/** `gtime.FormatInterval` (grafana-plugin-sdk-go): how the backend writes `$__interval`, truncating to one unit. */
export function formatIntervalBackend(intervalMs: number): string {
  const units: ReadonlyArray<readonly [suffix: string, ms: number]> = [
    ["y", 365 * 86_400_000],
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
    ["ms", 1],
  ];
  for (const [suffix, size] of units) if (intervalMs >= size) return `${Math.floor(intervalMs / size)}${suffix}`;
  return "1ms";
}

export interface MacroContext {
  fromMs: number;
  toMs: number;
  intervalMs: number;
}

/**
 * The InfluxQL backend's macro pass (pkg/tsdb/influxdb/models/query.go, `Query.Build` for raw queries):
 * `$timeFilter` → `time >= <from>ms and time <= <to>ms`, then `$interval`, `$__interval_ms`, `$__interval`.
 * The interval is at least 1 ms (models/model_parser.go).
 */
export function expandInfluxQLMacros(query: string, ctx: MacroContext): string {
  const intervalMs = Math.max(Math.trunc(ctx.intervalMs), 1);
  const intervalText = formatIntervalBackend(intervalMs);
  const timeFilter = `time >= ${Math.trunc(ctx.fromMs)}ms and time <= ${Math.trunc(ctx.toMs)}ms`;
  return query
    .replaceAll("$timeFilter", timeFilter)
    .replaceAll("$interval", intervalText)
    .replaceAll("$__interval_ms", String(intervalMs))
    .replaceAll("$__interval", intervalText);
}

/** A dashboard variable as far as interpolation cares. */
export interface TemplateVariable {
  name: string;
  multi?: boolean;
  includeAll?: boolean;
  /** Custom "All" value; when set it replaces the variable verbatim (Grafana skips formatting it). */
  allValue?: string;
  /** Selected value(s); `"$__all"` selects every option. */
  current: string | string[];
  /** Option values (from the variable's query), needed to expand `$__all` without a custom all value. */
  options?: string[];
}

const ALL_VALUE = "$__all";

/** `escapeRegex` from @grafana/data (packages/grafana-data/src/text/string.ts). */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, "\\$&");
}

/** `influxRegularEscape` (InfluxDB datasource.ts): single values; numbers are left alone. */
function influxRegularEscape(value: string | string[]): string | string[] {
  return typeof value === "string" && Number.isNaN(Number.parseFloat(value)) ? escapeRegex(value) : value;
}

/** `influxSpecialRegexEscape` (InfluxDB datasource.ts): multi-value/All values, escaped twice over as Grafana does. */
function influxSpecialRegexEscape(value: string): string {
  return value.replace(/\\/g, "\\\\\\\\").replace(/[$^*{}[\]'+?.()|]/g, "\\\\$&");
}

/** The InfluxDB data source's `interpolateQueryExpr`: the default format for variables in InfluxQL. */
function influxQueryExpr(value: string | string[], variable: TemplateVariable): string {
  if (!variable.multi && !variable.includeAll) {
    const escaped = influxRegularEscape(value);
    return Array.isArray(escaped) ? escaped.join(",") : escaped;
  }
  if (typeof value === "string") return influxSpecialRegexEscape(value);
  const escaped = value.map(influxSpecialRegexEscape);
  return escaped.length === 1 ? escaped[0]! : escaped.join("|");
}

/** The explicit `${var:format}` formats from Grafana's format registry that our queries may use. */
function explicitFormat(value: string | string[], format: string, variable: TemplateVariable): string {
  const values = Array.isArray(value) ? value : [value];
  switch (format) {
    case "raw":
      return values.join(",");
    case "csv":
      return values.join(",");
    case "pipe":
      return values.join("|");
    case "regex": {
      const escaped = values.map(escapeRegex);
      return escaped.length === 1 ? escaped[0]! : `(${escaped.join("|")})`;
    }
    default:
      throw new GrafanaError(
        GrafanaErrorCode.BadTemplate,
        `variable "${variable.name}" uses format "${format}": expected one of raw, csv, pipe, regex`,
      );
  }
}

/** Grafana's `variableRegex` (public/app/features/variables/utils.ts): `$var`, `[[var]]`, `[[var:fmt]]`, `${var}`, `${var:fmt}`. */
const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^}]+))?(?::([^}]+))?}/g;

/**
 * `templateSrv.replace(query, scopedVars, datasource.interpolateQueryExpr)`: replaces every known variable; unknown
 * names (`$timeFilter`, `$__interval`, …) are left for the backend exactly as Grafana leaves them.
 */
export function interpolateVariables(query: string, variables: readonly TemplateVariable[]): string {
  const byName = new Map(variables.map((v) => [v.name, v]));
  return query.replace(
    VARIABLE_REGEX,
    (match, var1?: string, var2?: string, fmt2?: string, var3?: string, fieldPath?: string, fmt3?: string) => {
      const variable = byName.get(var1 ?? var2 ?? var3 ?? "");
      if (!variable) return match;
      if (fieldPath) {
        throw new GrafanaError(
          GrafanaErrorCode.BadTemplate,
          `variable "${variable.name}" has a field path: unsupported`,
        );
      }
      let value: string | string[] = variable.current;
      const isAll = value === ALL_VALUE || (Array.isArray(value) && value[0] === ALL_VALUE);
      if (isAll) {
        // A custom all value is inserted as-is, without the data source's escaping (template_srv.ts).
        if (variable.allValue !== undefined) return variable.allValue;
        value = (variable.options ?? []).filter((option) => option !== ALL_VALUE);
      }
      const format = fmt2 ?? fmt3;
      return format ? explicitFormat(value, format, variable) : influxQueryExpr(value, variable);
    },
  );
}

/** Names of the variables a query refers to (known or not), for checks that every reference resolves. */
export function referencedVariables(query: string): string[] {
  const names = new Set<string>();
  for (const m of query.matchAll(VARIABLE_REGEX)) names.add((m[1] ?? m[2] ?? m[4])!);
  return [...names];
}

/** Macros the InfluxQL backend expands itself (see `expandInfluxQLMacros`). */
export const INFLUXQL_BACKEND_MACROS: ReadonlySet<string> = new Set([
  "timeFilter",
  "interval",
  "__interval",
  "__interval_ms",
]);

/**
 * Go's `os.ExpandEnv` as Grafana applies it to provisioning values (pkg/services/provisioning/values): `$VAR` and
 * `${VAR}` become the variable's value or "", and `$$` is a literal `$`.
 */
export function expandEnv(value: string, env: Readonly<Record<string, string | undefined>>): string {
  return value
    .split("$$")
    .map((part) =>
      part.replace(
        /\$\{([^}]*)\}|\$([A-Za-z0-9_]+)/g,
        (_m, braced?: string, bare?: string) => env[braced ?? bare ?? ""] ?? "",
      ),
    )
    .join("$");
}
