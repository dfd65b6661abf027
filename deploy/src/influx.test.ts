import { describe, expect, it } from "vitest";
import { influxRows, quoteIdent } from "./influx.js";

describe("influxRows", () => {
  it("flattens every series of a statement into rows carrying the series tags", () => {
    const response = {
      results: [
        {
          statement_id: 0,
          series: [
            { name: "http_stats", tags: { host: "a" }, columns: ["time", "sum"], values: [[0, 3]] },
            {
              name: "http_stats",
              tags: { host: "b" },
              columns: ["time", "sum"],
              values: [
                [0, 4],
                [10, 5],
              ],
            },
          ],
        },
        { statement_id: 1 },
      ],
    };
    expect(influxRows(response)).toEqual([
      { host: "a", time: 0, sum: 3 },
      { host: "b", time: 0, sum: 4 },
      { host: "b", time: 10, sum: 5 },
    ]);
    expect(influxRows(response, 1)).toEqual([]);
  });
});

describe("quoteIdent", () => {
  it("escapes quotes and backslashes so a name cannot end the identifier", () => {
    expect(quoteIdent("rla")).toBe('"rla"');
    expect(quoteIdent('a"b\\c')).toBe('"a\\"b\\\\c"');
  });
});
