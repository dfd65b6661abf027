/**
 * The README's main command, run for real: `deploy/dist/demo/cli.js` starts 3 nginx hosts, wrk traffic
 * with the planted IP spike, error surge and URL scan, 3 edge agents and central against the local
 * stack. Then, on the InfluxDB the real pipeline filled, every Grafana panel query and alert rule is run
 * as Grafana would run it. This is the proof for the demo ("all three anomalies within two windows of
 * their start") and for the dashboards and alerts on pipeline-written data.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { influxQuery, quoteIdent, stackEndpoints } from "@rla/deploy";
import { evaluateAlertRules, runDashboardQueries } from "@rla/grafana";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const WINDOW_MS = 10_000;
const suffix = `${Date.now()}`;
const database = `rla_demo_${suffix}`;
const topic = `rla-demo-${suffix}`;
const { influxUrl, kafkaBrokers } = stackEndpoints();

interface DemoRun {
  code: number | null;
  stdout: string;
  startedAt: number;
  endedAt: number;
}

let demo: ChildProcess | undefined;

function runDemo(stateDir: string, durationS: number): Promise<DemoRun> {
  const startedAt = Date.now();
  const child = spawn(
    process.execPath,
    [
      "deploy/dist/demo/cli.js",
      ...["--duration", String(durationS), "--window-ms", String(WINDOW_MS), "--base-port", "0"],
      ...["--state-dir", stateDir, "--topic", topic, "--database", database, "--expect-anomalies"],
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  demo = child;
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  return new Promise((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout, startedAt, endedAt: Date.now() })),
  );
}

describe("npm run demo (the README's main command)", () => {
  let run: DemoRun;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "rla-demo-"));
    run = await runDemo(stateDir, 125);
  }, 300_000);

  afterAll(async () => {
    // A demo still running here means beforeAll timed out; stop it (it stops what it started on TERM).
    if (demo && demo.exitCode === null && demo.signalCode === null) demo.kill("SIGTERM");
    rmSync(stateDir, { recursive: true, force: true });
    await influxQuery(influxUrl, "", `DROP DATABASE ${quoteIdent(database)}`).catch(() => undefined);
    const admin = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it("exits 0 having shown each planted anomaly within two windows of its start, in its own window", () => {
    expect(run.stdout).toContain("anomaly types detected: error_surge, ip_spike, url_scan");
    expect(run.code).toBe(0);
    const phases = [...run.stdout.matchAll(/^(\S+Z)\s+scenario: (\w+)/gm)].map((m) => ({
      at: Date.parse(m[1]!),
      type: m[2]!,
    }));
    expect(phases.map((p) => p.type)).toEqual(["ip_spike", "error_surge", "url_scan"]);
    const shown = [...run.stdout.matchAll(/^ANOMALY \S+\s+(\w+)\s+host=(\S+).* window=(\S+) seen=(\S+)$/gm)].map(
      (m) => ({
        type: m[1]!,
        host: m[2]!,
        windowMs: Date.parse(m[3]!),
        seenMs: Date.parse(m[4]!),
      }),
    );
    for (const phase of phases) {
      const fleetWide = shown.filter((a) => a.type === phase.type && a.host === "all");
      expect(fleetWide.length, `${phase.type} shown fleet-wide`).toBeGreaterThan(0);
      const first = fleetWide.reduce((a, b) => (a.seenMs <= b.seenMs ? a : b));
      expect(first.windowMs).toBe(Math.floor(phase.at / WINDOW_MS) * WINDOW_MS);
      expect(first.seenMs - phase.at, `${phase.type} detection delay`).toBeLessThanOrEqual(2 * WINDOW_MS);
    }
  });

  it("fills every dashboard panel from the pipeline's own points", async () => {
    const reports = await runDashboardQueries({ influxUrl, database, from: run.startedAt, to: run.endedAt });
    const results = reports.flatMap((r) => r.results);
    expect(results.length).toBeGreaterThan(10);
    const hostVar = reports[0]!.variables.find((v) => v.name === "host");
    expect(new Set(hostVar?.options)).toEqual(new Set(["all", "web1", "web2", "web3"]));
    const empty = results
      .filter((r) => r.series.every((s) => s.values.length === 0))
      .map((r) => `${r.panelTitle}/${r.refId}`);
    expect(empty).toEqual([]);
    const rps = results.find((r) => r.panelTitle === "Requests per second");
    expect(rps, "an RPS panel").toBeDefined();
    const values = rps!.series
      .flatMap((s) => s.values.map((v) => v[1]))
      .filter((v): v is number => typeof v === "number");
    expect(Math.max(...values)).toBeGreaterThan(50);
  });

  it("fires the anomaly alerts on the demo's data and stays quiet on its clean warm-up", async () => {
    const atEnd = await evaluateAlertRules({ influxUrl, database, now: run.endedAt });
    const firing = new Set(atEnd.filter((e) => e.firing).map((e) => e.title));
    expect(firing).toEqual(new Set(["ip_spike", "error_surge", "url_scan"]));
    const phases = [...run.stdout.matchAll(/^(\S+Z)\s+scenario: (\w+)/gm)].map((m) => Date.parse(m[1]!));
    const beforeFirstAnomaly = Math.floor(phases[0]! / WINDOW_MS) * WINDOW_MS - 1;
    const clean = await evaluateAlertRules({ influxUrl, database, now: beforeFirstAnomaly });
    expect(clean.filter((e) => e.firing).map((e) => e.title)).toEqual([]);
  });
});
