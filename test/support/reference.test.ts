import { describe, expect, it } from "vitest";
import { formatTimeLocal, generateFleet, standardScenario } from "./fleet-gen.js";
import {
  exactPercentileUs,
  parseReferenceLine,
  referenceWindows,
  windowMaxLatencyUs,
  windowPercentileUs,
  withinHdrPrecision,
} from "./reference.js";

describe("fleet generator", () => {
  it("is deterministic for a seed and labels every planted anomaly", () => {
    const start = Date.UTC(2026, 0, 1, 12, 0, 0);
    const a = generateFleet(standardScenario(start, 7));
    const b = generateFleet(standardScenario(start, 7));
    expect([...a.values()].flat().map((l) => l.text)).toEqual([...b.values()].flat().map((l) => l.text));
    const labels = new Set([...a.values()].flat().map((l) => l.label));
    expect(labels).toEqual(new Set(["normal", "ip_spike", "error_surge", "url_scan"]));
    // The scan is spread over all three hosts.
    for (const host of ["web1", "web2", "web3"]) expect(a.get(host)!.some((l) => l.label === "url_scan")).toBe(true);
  });

  it("writes zone-shifted timestamps that the reference maps back to the same instant", () => {
    const t = Date.UTC(2026, 5, 30, 23, 59, 58);
    expect(formatTimeLocal(t, 7 * 60)).toBe("01/Jul/2026:06:59:58 +0700");
    expect(formatTimeLocal(t, -210)).toBe("30/Jun/2026:20:29:58 -0330");
    const start = Date.UTC(2026, 0, 1, 12, 0, 0);
    for (const lines of generateFleet({ ...standardScenario(start), durationMs: 20_000 }).values()) {
      for (const l of lines) expect(parseReferenceLine(l.text)?.timeMs).toBe(Math.floor(l.timeMs / 1000) * 1000);
    }
  });
});

describe("reference aggregation", () => {
  it("counts requests, bytes, codes and rejects exactly", () => {
    const lines = [
      '1.1.1.1 - - [01/Jan/2026:00:00:01 +0000] "GET / HTTP/1.1" 200 10 "-" "ua" 0.010 0.010',
      '1.1.1.2 - - [01/Jan/2026:00:00:09 +0000] "GET /x HTTP/1.1" 404 - "-" "ua" 0.002 -',
      '1.1.1.3 - - [01/Jan/2026:00:00:10 +0000] "GARBAGE" 400 5 "-" "-" 0.000 -',
      "not a log line",
    ];
    const { windows, rejects } = referenceWindows(lines);
    const t0 = Date.UTC(2026, 0, 1);
    expect(rejects).toBe(1);
    expect(windows.get(t0)).toMatchObject({ requests: 2, bytes: 10, classes: { "2xx": 1, "4xx": 1 } });
    expect([...windows.get(t0)!.latencyCounts.entries()].sort()).toEqual([
      [10000, 1],
      [2000, 1],
    ]);
    expect(windowPercentileUs(windows.get(t0)!, 50)).toBe(2000);
    expect(windowPercentileUs(windows.get(t0)!, 51)).toBe(10000);
    expect(windowMaxLatencyUs(windows.get(t0)!)).toBe(10000);
    expect(windows.get(t0 + 10_000)).toMatchObject({ requests: 1, bytes: 5 });
  });

  it("takes percentiles by rank and accepts only HDR-sized error", () => {
    const sorted = [1, 2, 3, 4, 100];
    expect(exactPercentileUs(sorted, 50)).toBe(3);
    expect(exactPercentileUs(sorted, 99)).toBe(100);
    expect(withinHdrPrecision(100_099, 100_000)).toBe(true);
    expect(withinHdrPrecision(100_200, 100_000)).toBe(false);
    expect(withinHdrPrecision(99_000, 100_000)).toBe(false);
  });

  it("rejects control bytes (outside referer/user agent) and over-long lines; keeps invalid UTF-8 and CRLF lines", () => {
    const good = '1.1.1.1 - - [01/Jan/2026:00:00:01 +0000] "GET / HTTP/1.1" 200 10 "-" "ua" 0.010 0.010';
    const highBytes = good.replace('"ua"', `"${Buffer.from([0xc3, 0x28, 0xff]).toString("latin1")}"`);
    const nulInRequest = good.replace("GET /", "GET /\u0000");
    const nulInAgent = good.replace('"ua"', '"u\u0000a"'); // skipped unread by the parsers: still a request
    const crlf = `${good}\r`;
    const tooLong = good.replace('"ua"', `"${"u".repeat(10)}"`);
    const lines = [good, highBytes, nulInRequest, nulInAgent, crlf, tooLong, good];
    const { windows, rejects } = referenceWindows(lines, 10_000, good.length + 5);
    expect(rejects).toBe(2);
    expect(windows.get(Date.UTC(2026, 0, 1))?.requests).toBe(5);
  });

  it("takes window percentiles by rank from exact value counts", () => {
    const line = (ms: number) =>
      `1.1.1.1 - - [01/Jan/2026:00:00:01 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" ${(ms / 1000).toFixed(3)} -`;
    const values = [5, 1, 3, 2, 4, 4, 100];
    const w = referenceWindows(values.map(line)).windows.get(Date.UTC(2026, 0, 1))!;
    const sorted = values.map((ms) => ms * 1000).sort((a, b) => a - b);
    for (const p of [1, 50, 90, 95, 99, 100]) expect(windowPercentileUs(w, p)).toBe(exactPercentileUs(sorted, p));
    expect(w.latencySumUs).toBe(119_000);
  });
});
