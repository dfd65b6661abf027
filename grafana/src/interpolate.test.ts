// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Grafana's ${VAR} placeholders are what these tests are about
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  calculateInterval,
  expandEnv,
  expandInfluxQLMacros,
  formatIntervalBackend,
  interpolateVariables,
  intervalToMs,
  referencedVariables,
  roundInterval,
  secondsToHms,
  type TemplateVariable,
} from "./interpolate.js";

describe("intervals (Grafana's rangeutil / gtime)", () => {
  it("roundInterval snaps to Grafana's steps at their boundaries", () => {
    const cases: Array<[number, number]> = [
      [0, 1],
      [9.99, 1],
      [10, 10],
      [7_499, 5_000],
      [7_500, 10_000],
      [12_499, 10_000],
      [12_500, 15_000],
      [17_500, 20_000],
      [25_000, 30_000],
      [45_000, 60_000],
      [90_000, 120_000],
      [210_000, 300_000],
      [86_399_999, 43_200_000],
      [3_628_800_000, 31_536_000_000],
    ];
    for (const [raw, rounded] of cases) expect(roundInterval(raw), String(raw)).toBe(rounded);
  });

  it("calculateInterval divides the range by maxDataPoints, rounds, then applies the floor", () => {
    const hour = 3_600_000;
    expect(calculateInterval(0, hour, 500)).toEqual({ intervalMs: 5_000, interval: "5s" });
    expect(calculateInterval(0, hour, 500, "10s")).toEqual({ intervalMs: 10_000, interval: "10s" });
    expect(calculateInterval(0, 6 * hour, 500, "10s")).toEqual({ intervalMs: 30_000, interval: "30s" });
    expect(calculateInterval(0, 24 * hour, 500, "10s")).toEqual({ intervalMs: 120_000, interval: "2m" });
  });

  it("formats intervals like the frontend (secondsToHms) and the backend (FormatInterval)", () => {
    expect(secondsToHms(10)).toBe("10s");
    expect(secondsToHms(120)).toBe("2m");
    expect(secondsToHms(90)).toBe("1m");
    expect(secondsToHms(0.5)).toBe("500ms");
    expect(secondsToHms(86_400 * 2)).toBe("2d");
    expect(formatIntervalBackend(10_000)).toBe("10s");
    expect(formatIntervalBackend(120_000)).toBe("2m");
    expect(formatIntervalBackend(1_500)).toBe("1s");
    expect(formatIntervalBackend(0)).toBe("1ms");
  });

  it("parses interval strings and rejects garbage naming the value", () => {
    expect(intervalToMs("10s")).toBe(10_000);
    expect(intervalToMs("500ms")).toBe(500);
    expect(intervalToMs("2m")).toBe(120_000);
    expect(intervalToMs("30")).toBe(30_000);
    expect(() => intervalToMs("ten seconds")).toThrow(/"ten seconds" is not an interval/);
  });
});

describe("expandInfluxQLMacros (InfluxQL backend)", () => {
  it("expands $timeFilter to an inclusive ms range and the interval macros", () => {
    const q =
      'SELECT sum("requests") / ($__interval_ms / 1000) FROM "http_stats" WHERE $timeFilter GROUP BY time($__interval), time($interval)';
    expect(expandInfluxQLMacros(q, { fromMs: 1_700_000_000_000, toMs: 1_700_003_600_000, intervalMs: 10_000 })).toBe(
      'SELECT sum("requests") / (10000 / 1000) FROM "http_stats" WHERE time >= 1700000000000ms and time <= 1700003600000ms GROUP BY time(10s), time(10s)',
    );
  });

  it("never goes below a 1 ms interval", () => {
    expect(expandInfluxQLMacros("$__interval_ms $__interval", { fromMs: 0, toMs: 1, intervalMs: 0 })).toBe("1 1ms");
  });
});

describe("interpolateVariables (templateSrv + InfluxDB interpolateQueryExpr)", () => {
  const single = (current: string): TemplateVariable => ({ name: "host", current });

  it("regex-escapes a single value once, including '/', and leaves numbers alone", () => {
    expect(interpolateVariables('"host" =~ /^$host$/', [single("web-1.example.com")])).toBe(
      '"host" =~ /^web-1\\.example\\.com$/',
    );
    expect(interpolateVariables("/^$host$/", [single("a/b")])).toBe("/^a\\/b$/");
    expect(interpolateVariables("/^$host$/", [single("10.0.0.1")])).toBe("/^10.0.0.1$/");
  });

  it("supports $var, ${var} and [[var]] and leaves unknown names and backend macros untouched", () => {
    const q = "$host ${host} [[host]] $timeFilter $__interval $other";
    expect(interpolateVariables(q, [single("all")])).toBe("all all all $timeFilter $__interval $other");
    expect(referencedVariables(q).sort()).toEqual(["__interval", "host", "other", "timeFilter"]);
  });

  it("joins multi-value selections with '|' and escapes them the InfluxDB data source's (double) way", () => {
    const multi: TemplateVariable = { name: "host", multi: true, current: ["web-1", "web.2"] };
    expect(interpolateVariables("/^($host)$/", [multi])).toBe("/^(web-1|web\\\\.2)$/");
    expect(interpolateVariables("/^$host$/", [{ ...multi, current: ["web-1"] }])).toBe("/^web-1$/");
  });

  it("expands All to every option, or to the custom all value verbatim", () => {
    const all: TemplateVariable = { name: "host", includeAll: true, current: "$__all", options: ["a", "b", "$__all"] };
    expect(interpolateVariables("/^($host)$/", [all])).toBe("/^(a|b)$/");
    expect(interpolateVariables("/^$host$/", [{ ...all, allValue: ".*" }])).toBe("/^.*$/");
  });

  it("applies explicit formats and rejects unknown ones", () => {
    const multi: TemplateVariable = { name: "host", multi: true, current: ["a.b", "c"] };
    expect(interpolateVariables("${host:regex}", [multi])).toBe("(a\\.b|c)");
    expect(interpolateVariables("${host:pipe} ${host:csv} ${host:raw}", [multi])).toBe("a.b|c a.b,c a.b,c");
    expect(() => interpolateVariables("${host:lucene}", [multi])).toThrow(/format "lucene"/);
  });

  it("an interpolated single host always matches exactly that host in an anchored regex", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9._/+()-]{0,30}$/), fc.string(), (host, other) => {
        const pattern = interpolateVariables("^$host$", [single(host)]).replaceAll("\\/", "/");
        const regex = new RegExp(pattern);
        expect(regex.test(host)).toBe(true);
        if (other !== host) expect(regex.test(other)).toBe(false);
      }),
    );
  });
});

describe("expandEnv (Grafana provisioning's os.ExpandEnv)", () => {
  it("expands $VAR and ${VAR}, unset to empty, and $$ to a literal $", () => {
    const env = { A: "1", B_C: "two" };
    expect(expandEnv("${A}-$B_C-${MISSING}-$$A", env)).toBe("1-two--$A");
  });
});
