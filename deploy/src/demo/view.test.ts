import { describe, expect, it } from "vitest";
import { scenarioPhases } from "./traffic.js";
import { renderAnomalyLine, renderSnapshot, renderWindowLine, type WindowRow } from "./view.js";

const row: WindowRow = {
  time: Date.UTC(2026, 0, 1, 12, 0, 10),
  requests: 200,
  rps: 20,
  status: [0, 150, 10, 30, 10],
  p99Ms: 123.456,
  agentsReported: 2,
  agentsExpected: 3,
  topIp: "203.0.113.7",
  topIpRequests: 90,
};

describe("demo view", () => {
  it("shows rps, the status mix as shares, p99, agents and the top client of a window", () => {
    expect(renderWindowLine(row)).toBe(
      "12:00:10    20.0   75.0%    5.0%   15.0%    5.0%     123.5     2/3  203.0.113.7 (90)",
    );
  });

  it("says when there is nothing yet instead of printing an empty table", () => {
    const lines = renderSnapshot({ windows: [], anomalies: [] }, "demo");
    expect(lines).toContain("(waiting for the first fleet window…)");
    expect(lines).toContain("  (none yet)");
  });

  it("prints shares with three decimals and counts as integers", () => {
    const base = { time: row.time, host: "web3", threshold: 0.05 };
    expect(renderAnomalyLine({ ...base, type: "error_surge", key: "web3", value: 0.17354 })).toContain("value=0.174");
    expect(renderAnomalyLine({ ...base, type: "ip_spike", key: "203.0.113.7", value: 1371 })).toContain("value=1371");
  });
});

describe("demo scenario", () => {
  it("starts each anomaly one second into its own window, after the warm-up, three windows apart", () => {
    const start = Date.UTC(2026, 0, 1, 12, 0, 3);
    const phases = scenarioPhases(start, 10_000, 4);
    expect(phases.map((p) => p.name)).toEqual(["ip_spike", "error_surge", "url_scan"]);
    expect(phases.map((p) => (p.at - Date.UTC(2026, 0, 1, 12, 0, 0)) / 1000)).toEqual([51, 81, 111]);
    for (const p of phases) expect(Math.floor(p.at / 10_000)).toBe(Math.floor((p.at + p.durationMs) / 10_000));
  });
});
