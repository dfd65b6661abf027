/**
 * Evaluates our provisioned alert rules against a real InfluxDB the way Grafana's unified alerting does, so tests
 * can show each rule fires on its planted anomaly and stays quiet on clean data without a Grafana server.
 *
 * Mirrored semantics (Grafana 10–12):
 * - data queries run over [now − relativeTimeRange.from, now − relativeTimeRange.to] with the model's intervalMs;
 *   each InfluxQL series × value column becomes one series labelled with the series' tags;
 * - reduce (pkg/expr/mathexp/reduce.go): sum/mean/min/max/count/last per series; strict mode lets a null or NaN
 *   poison sum/mean/min/max into NaN, `last` returns the last value as is; dropNN drops null/NaN/±Inf first and
 *   turns a NaN result into "no value"; replaceNN substitutes a number for both;
 * - threshold (pkg/expr/threshold.go): 1 when the predicate holds, 0 when not (NaN compares false), no value → no value;
 * - states (ngalert/eval evaluateExecutionResult): a data query that returned nothing makes the whole rule NoData;
 *   a condition value of 0 is Normal, any other number (NaN too) Alerting, no value NoData; errors are Error.
 *   NoData and Error then become the rule's `noDataState` / `execErrState`.
 */
import { EXPRESSION_DATASOURCE_UID } from "./datasource.js";
import { GrafanaError, GrafanaErrorCode } from "./errors.js";
import { type InfluxConnection, type InfluxSeries, querySeries } from "./influxql.js";
import { expandInfluxQLMacros } from "./interpolate.js";
import {
  type AlertRuleConfig,
  type ExpressionModel,
  expressionModelSchema,
  influxQLModelSchema,
  loadProvisioning,
  type Provisioning,
  type REDUCERS,
  type THRESHOLD_TYPES,
} from "./provisioning.js";

export type Labels = Record<string, string>;
/** `null` is Go's nil pointer: "no value", distinct from NaN. */
export type MaybeNumber = number | null;

export interface LabelledSeries {
  labels: Labels;
  values: MaybeNumber[];
}
export interface LabelledNumber {
  labels: Labels;
  value: MaybeNumber;
}
/** What a query or expression yields: series (data queries), numbers (reduce, threshold), or no data at all. */
export type Result =
  | { kind: "series"; series: LabelledSeries[] }
  | { kind: "numbers"; numbers: LabelledNumber[] }
  | { kind: "noData" };

export type Reducer = (typeof REDUCERS)[number];
export type ReduceMode = "" | "strict" | "dropNN" | "replaceNN";

const isNonNumber = (v: MaybeNumber) => v === null || !Number.isFinite(v);

function reduceStrict(values: MaybeNumber[], reducer: Reducer): MaybeNumber {
  const poisoned = values.some((v) => v === null || Number.isNaN(v));
  switch (reducer) {
    case "sum":
      return poisoned ? Number.NaN : values.reduce<number>((a, v) => a + (v as number), 0);
    case "mean":
      return poisoned ? Number.NaN : values.reduce<number>((a, v) => a + (v as number), 0) / values.length;
    case "min":
      return poisoned || values.length === 0 ? Number.NaN : Math.min(...(values as number[]));
    case "max":
      return poisoned || values.length === 0 ? Number.NaN : Math.max(...(values as number[]));
    case "count":
      return values.length;
    case "last":
      return values.length === 0 ? Number.NaN : values[values.length - 1]!;
  }
}

/** Grafana's reduce of one series' values (Series.Reduce with the mode's mapper). */
export function reduceValues(
  values: MaybeNumber[],
  reducer: Reducer,
  mode: ReduceMode = "",
  replaceWith = 0,
): MaybeNumber {
  if (mode === "dropNN") {
    const result = reduceStrict(
      values.filter((v) => !isNonNumber(v)),
      reducer,
    );
    return result !== null && Number.isNaN(result) ? null : result;
  }
  if (mode === "replaceNN") {
    const result = reduceStrict(
      values.map((v) => (isNonNumber(v) ? replaceWith : v)),
      reducer,
    );
    return result !== null && Number.isNaN(result) ? replaceWith : result;
  }
  return reduceStrict(values, reducer);
}

export type ThresholdType = (typeof THRESHOLD_TYPES)[number];

/** Grafana's threshold predicate: 1 or 0, or no value for no value. */
export function applyThreshold(value: MaybeNumber, type: ThresholdType, params: number[]): MaybeNumber {
  if (value === null) return null;
  const [a = Number.NaN, b = Number.NaN] = params;
  const holds: Record<ThresholdType, boolean> = {
    gt: value > a,
    lt: value < a,
    eq: value === a,
    ne: value !== a,
    gte: value >= a,
    lte: value <= a,
    within_range: value > a && value < b,
    outside_range: value < a || value > b,
    within_range_included: value >= a && value <= b,
    outside_range_included: value <= a || value >= b,
  };
  return holds[type] ? 1 : 0;
}

/** One server-side expression over already computed inputs. */
export function evaluateExpression(model: ExpressionModel, inputs: ReadonlyMap<string, Result>): Result {
  if (model.type === "math") {
    throw new GrafanaError(
      GrafanaErrorCode.UnsupportedExpression,
      `expression ${model.refId}: math is not implemented`,
    );
  }
  const input = inputs.get(model.expression);
  if (!input)
    throw new GrafanaError(
      GrafanaErrorCode.UnsupportedExpression,
      `expression ${model.refId}: input ${model.expression} missing`,
    );
  if (input.kind === "noData") return input;
  if (model.type === "reduce") {
    if (input.kind === "numbers") return input;
    const mode = model.settings?.mode ?? "";
    return {
      kind: "numbers",
      numbers: input.series.map((s) => ({
        labels: s.labels,
        value: reduceValues(s.values, model.reducer, mode, model.settings?.replaceWithValue),
      })),
    };
  }
  const { evaluator } = model.conditions[0]!;
  const apply = (v: MaybeNumber) => applyThreshold(v, evaluator.type, evaluator.params);
  return input.kind === "numbers"
    ? { kind: "numbers", numbers: input.numbers.map((n) => ({ labels: n.labels, value: apply(n.value) })) }
    : { kind: "series", series: input.series.map((s) => ({ labels: s.labels, values: s.values.map(apply) })) };
}

/** InfluxQL series → one labelled series per value column, as Grafana's InfluxQL backend frames them. */
export function seriesFromInflux(series: InfluxSeries[]): LabelledSeries[] {
  return series.flatMap((s) =>
    s.columns.slice(1).map((column, i) => ({
      labels: { ...s.tags },
      values: s.values.map((row) => {
        const v = row[i + 1];
        if (v === null || v === undefined) return null;
        if (typeof v !== "number") {
          throw new GrafanaError(
            GrafanaErrorCode.UnsupportedExpression,
            `column ${column} of ${s.name} is not numeric: cannot alert on it`,
          );
        }
        return v;
      }),
    })),
  );
}

export type EvalState = "Normal" | "Alerting" | "NoData" | "Error";

export interface RuleEvaluation {
  uid: string;
  title: string;
  /** Each data query as InfluxDB received it. */
  queries: Array<{ refId: string; executed: string }>;
  /** Grafana's raw evaluation results (before noDataState/execErrState). */
  results: Array<{ labels: Labels; value: MaybeNumber; state: EvalState; error?: string }>;
  /** Alert instances after the rule's noDataState/execErrState mapping. */
  instances: Array<{ labels: Labels; state: EvalState }>;
  /** True when any instance is Alerting. */
  firing: boolean;
}

async function evaluateResults(
  rule: AlertRuleConfig,
  conn: InfluxConnection,
  now: number,
  queries: RuleEvaluation["queries"],
): Promise<RuleEvaluation["results"]> {
  const computed = new Map<string, Result>();
  const noData: Array<{ refId: string; datasourceUid: string }> = [];
  for (const q of rule.data.filter((d) => d.datasourceUid !== EXPRESSION_DATASOURCE_UID)) {
    const model = influxQLModelSchema.parse(q.model);
    const executed = expandInfluxQLMacros(model.query, {
      fromMs: now - q.relativeTimeRange.from * 1000,
      toMs: now - q.relativeTimeRange.to * 1000,
      intervalMs: model.intervalMs ?? 1000,
    });
    queries.push({ refId: q.refId, executed });
    const series = await querySeries(conn, executed);
    if (series.length === 0) noData.push({ refId: q.refId, datasourceUid: q.datasourceUid });
    computed.set(
      q.refId,
      series.length === 0 ? { kind: "noData" } : { kind: "series", series: seriesFromInflux(series) },
    );
  }
  // Expressions may only reference earlier-computed results; evaluate in dependency order.
  const pending = rule.data
    .filter((d) => d.datasourceUid === EXPRESSION_DATASOURCE_UID)
    .map((d) => expressionModelSchema.parse(d.model));
  while (pending.length > 0) {
    const ready = pending.findIndex((m) => m.type === "math" || computed.has(m.expression));
    if (ready < 0)
      throw new GrafanaError(GrafanaErrorCode.UnsupportedExpression, `rule ${rule.uid}: expressions form a cycle`);
    const [model] = pending.splice(ready, 1);
    computed.set(model!.refId, evaluateExpression(model!, computed));
  }

  // One NoData result per data source, labelled like Grafana's (datasource_uid, ref_id).
  if (noData.length > 0) {
    const datasources = [...new Set(noData.map((q) => q.datasourceUid))];
    return datasources.map((datasourceUid) => ({
      labels: {
        datasource_uid: datasourceUid,
        ref_id: noData
          .filter((q) => q.datasourceUid === datasourceUid)
          .map((q) => q.refId)
          .join(","),
      },
      value: null,
      state: "NoData" as const,
    }));
  }
  const condition = computed.get(rule.condition);
  if (!condition || condition.kind === "noData") return [{ labels: {}, value: null, state: "NoData" }];
  if (condition.kind === "series") {
    return [
      {
        labels: {},
        value: null,
        state: "Error",
        error: "looks like time series data, only reduced data can be alerted on",
      },
    ];
  }
  if (condition.numbers.length === 0) return [{ labels: {}, value: null, state: "NoData" }];
  return condition.numbers.map((n) => ({
    labels: n.labels,
    value: n.value,
    state: n.value === null ? "NoData" : n.value === 0 ? "Normal" : "Alerting",
  }));
}

/** Evaluates one rule at `now` (epoch ms). */
export async function evaluateAlertRule(
  rule: AlertRuleConfig,
  conn: InfluxConnection,
  now: number,
): Promise<RuleEvaluation> {
  const queries: RuleEvaluation["queries"] = [];
  let results: RuleEvaluation["results"];
  try {
    results = await evaluateResults(rule, conn, now, queries);
  } catch (error) {
    if (!(error instanceof GrafanaError) || error.retriable) throw error;
    results = [{ labels: {}, value: null, state: "Error", error: error.message }];
  }
  // KeepLast needs the previous evaluation; a single evaluation has none, so it keeps the raw state.
  const noData: Record<string, EvalState> = {
    NoData: "NoData",
    Alerting: "Alerting",
    OK: "Normal",
    KeepLast: "NoData",
  };
  const execErr: Record<string, EvalState> = { Error: "Error", Alerting: "Alerting", OK: "Normal", KeepLast: "Error" };
  const instances = results.map((r) => ({
    labels: r.labels,
    state:
      r.state === "NoData"
        ? noData[rule.noDataState ?? "NoData"]!
        : r.state === "Error"
          ? execErr[rule.execErrState ?? "Alerting"]!
          : r.state,
  }));
  return {
    uid: rule.uid,
    title: rule.title,
    queries,
    results,
    instances,
    firing: instances.some((i) => i.state === "Alerting"),
  };
}

export interface EvaluateAlertRulesOptions extends InfluxConnection {
  /** Evaluation time, epoch ms. */
  now: number;
  /** Rules to evaluate (default: every rule in grafana/provisioning/alerting). */
  provisioning?: Provisioning;
}

/** Evaluates every provisioned rule once at `now`; data source queries go to the given InfluxDB/database. */
export async function evaluateAlertRules(options: EvaluateAlertRulesOptions): Promise<RuleEvaluation[]> {
  const provisioning = options.provisioning ?? (await loadProvisioning());
  const evaluations: RuleEvaluation[] = [];
  for (const group of provisioning.ruleGroups) {
    for (const rule of group.rules) evaluations.push(await evaluateAlertRule(rule, options, options.now));
  }
  return evaluations;
}
