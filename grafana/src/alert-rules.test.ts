import { describe, expect, it } from "vitest";
import { applyThreshold, evaluateExpression, type Result, reduceValues, seriesFromInflux } from "./alert-rules.js";
import { GrafanaErrorCode } from "./errors.js";
import { expressionModelSchema, loadProvisioning, REDUCERS } from "./provisioning.js";

const NaN_ = Number.NaN;

describe("reduce (Grafana's Series.Reduce)", () => {
  it("computes each reducer on clean values", () => {
    const values = [3, 1, 4, 1, 5];
    expect(Object.fromEntries(REDUCERS.map((r) => [r, reduceValues(values, r)]))).toEqual({
      sum: 14,
      mean: 2.8,
      min: 1,
      max: 5,
      count: 5,
      last: 5,
    });
  });

  it("strict mode: a null or NaN poisons sum/mean/min/max into NaN; last returns the last value as is", () => {
    for (const reducer of ["sum", "mean", "min", "max"] as const) {
      expect(reduceValues([1, null, 3], reducer)).toBeNaN();
      expect(reduceValues([1, NaN_, 3], reducer)).toBeNaN();
    }
    expect(reduceValues([1, 2, null], "last")).toBeNull();
    expect(reduceValues([null, 2], "last")).toBe(2);
    expect(reduceValues([1, null], "count")).toBe(2);
    expect(reduceValues([], "max")).toBeNaN();
    expect(reduceValues([], "mean")).toBeNaN();
  });

  it("dropNN drops null/NaN/Inf first and turns a NaN result into no value", () => {
    expect(reduceValues([1, null, NaN_, Number.POSITIVE_INFINITY, 3], "mean", "dropNN")).toBe(2);
    expect(reduceValues([1, 2, null], "last", "dropNN")).toBe(2);
    expect(reduceValues([null, NaN_], "max", "dropNN")).toBeNull();
    expect(reduceValues([], "last", "dropNN")).toBeNull();
  });

  it("replaceNN substitutes the value for non-numbers and for a NaN result", () => {
    expect(reduceValues([1, null, 5], "max", "replaceNN", 9)).toBe(9);
    expect(reduceValues([1, null, 5], "min", "replaceNN", -1)).toBe(-1);
    expect(reduceValues([], "last", "replaceNN", 7)).toBe(7);
  });
});

describe("threshold (Grafana's ThresholdCommand)", () => {
  it("yields 1 when the predicate holds and 0 when not", () => {
    expect(applyThreshold(5, "gt", [0])).toBe(1);
    expect(applyThreshold(0, "gt", [0])).toBe(0);
    expect(applyThreshold(0, "lt", [1])).toBe(1);
    expect(applyThreshold(1, "lt", [1])).toBe(0);
    expect(applyThreshold(5, "within_range", [1, 10])).toBe(1);
    expect(applyThreshold(10, "within_range", [1, 10])).toBe(0);
    expect(applyThreshold(10, "within_range_included", [1, 10])).toBe(1);
    expect(applyThreshold(0, "outside_range", [1, 10])).toBe(1);
  });

  it("compares NaN as false and keeps no value as no value", () => {
    expect(applyThreshold(NaN_, "gt", [0])).toBe(0);
    expect(applyThreshold(NaN_, "lt", [1])).toBe(0);
    expect(applyThreshold(null, "gt", [0])).toBeNull();
  });
});

describe("expression chains", () => {
  const reduce = expressionModelSchema.parse({
    refId: "B",
    datasource: { type: "__expr__", uid: "__expr__" },
    type: "reduce",
    expression: "A",
    reducer: "max",
    settings: { mode: "dropNN" },
  });
  const threshold = expressionModelSchema.parse({
    refId: "C",
    datasource: { type: "__expr__", uid: "__expr__" },
    type: "threshold",
    expression: "B",
    conditions: [{ evaluator: { type: "gt", params: [100] } }],
  });

  it("reduces each labelled series to a number, then thresholds it, keeping labels", () => {
    const a: Result = {
      kind: "series",
      series: [
        { labels: { host: "web-1" }, values: [10, 150, null] },
        { labels: { host: "web-2" }, values: [20, 30] },
      ],
    };
    const b = evaluateExpression(reduce, new Map([["A", a]]));
    expect(b).toEqual({
      kind: "numbers",
      numbers: [
        { labels: { host: "web-1" }, value: 150 },
        { labels: { host: "web-2" }, value: 30 },
      ],
    });
    expect(evaluateExpression(threshold, new Map([["B", b]]))).toEqual({
      kind: "numbers",
      numbers: [
        { labels: { host: "web-1" }, value: 1 },
        { labels: { host: "web-2" }, value: 0 },
      ],
    });
  });

  it("passes no data through", () => {
    expect(evaluateExpression(reduce, new Map<string, Result>([["A", { kind: "noData" }]]))).toEqual({
      kind: "noData",
    });
  });

  it("refuses math expressions and non-numeric columns with coded errors", () => {
    const math = expressionModelSchema.parse({
      refId: "D",
      datasource: { type: "__expr__", uid: "__expr__" },
      type: "math",
      expression: "$A",
    });
    expect(() => evaluateExpression(math, new Map())).toThrow(
      expect.objectContaining({ code: GrafanaErrorCode.UnsupportedExpression }),
    );
    expect(() =>
      seriesFromInflux([{ name: "anomaly", tags: {}, columns: ["time", "key"], values: [[1, "1.2.3.4"]] }]),
    ).toThrow(/not numeric/);
  });

  it("turns each InfluxQL value column into one series labelled with the series tags", () => {
    expect(
      seriesFromInflux([
        {
          name: "m",
          tags: { host: "a" },
          columns: ["time", "x", "y"],
          values: [
            [1, 1, null],
            [2, 2, 3],
          ],
        },
      ]),
    ).toEqual([
      { labels: { host: "a" }, values: [1, 2] },
      { labels: { host: "a" }, values: [null, 3] },
    ]);
  });

  it("every provisioned rule uses only expressions this evaluator implements", async () => {
    for (const group of (await loadProvisioning()).ruleGroups) {
      for (const rule of group.rules) {
        for (const q of rule.data.filter((d) => d.datasourceUid === "__expr__")) {
          expect(["reduce", "threshold"]).toContain(expressionModelSchema.parse(q.model).type);
        }
      }
    }
  });
});
