// The end-to-end proof: three real edge agents replay the standard scenario (3 hosts, 180 s, an IP spike, an error
// surge, a URL scan, 1 % late lines) into one topic, central merges them into one InfluxDB database, and every
// value there equals the independent reference recomputed from the raw log text. Then the same with central
// kill -9ed mid-run and restarted, and with two central instances in one consumer group.
//
// Event time: the scenario is placed 10 min in the past, so every window is inside InfluxDB's retention, far
// behind central's future limit, and far from the wall clock (windows fire on their own timeout at once when a host
// is missing, and are rewritten as the others arrive — what a backfill does). Replays run faster than real time
// and the three agents do not start at the same instant: one may ship its whole 180 s before another ships its
// first window. Central's watermark is per partition and driven by the newest window seen, so with the default
// 2 min of allowed lateness a slow agent's first windows could be dropped as late — correct for live traffic, not
// what this test is about. allowedLatenessMs is therefore set above the scenario's span (180 s + 25 s of late lines).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type GeneratedLine, generateFleet, standardScenario } from "../support/fleet-gen.js";
import {
  type Comparison,
  compareWithReference,
  createPipelineEnv,
  describeMismatches,
  type Expected,
  expectFleet,
  type PipelineEnv,
  readAnomalies,
  readStats,
  waitFor,
  waitForReference,
  waitGroupStable,
} from "../support/harness.js";

const WINDOW_MS = 10_000;
const CENTRAL = { allowedLatenessMs: 300_000 };
const HOSTS = ["web1", "web2", "web3"];

let env: PipelineEnv | null = null;
afterEach(async () => {
  await env?.cleanup();
  env = null;
});

function scenarioStart(): number {
  const t = Date.now() - 10 * 60_000;
  return t - (t % WINDOW_MS);
}

function writeLogs(
  e: PipelineEnv,
  fleet: Map<string, GeneratedLine[]>,
  part: (lines: GeneratedLine[]) => GeneratedLine[],
) {
  for (const [host, lines] of fleet) {
    const text = part(lines)
      .map((l) => `${l.text}\n`)
      .join("");
    writeFileSync(join(e.logDir(host), "access.log"), text, { flag: "a" });
  }
}

function expectedOf(fleet: Map<string, GeneratedLine[]>): Expected {
  return expectFleet(new Map([...fleet].map(([host, lines]) => [host, lines.map((l) => l.text)])));
}

/** The planted anomalies as (type, host, key, window); the error surge on web3 also lifts the fleet row's 5xx share. */
function plantedAnomalies(start: number): string[] {
  return [
    `ip_spike|all|203.0.113.7|${start + 60_000}`,
    `error_surge|web3|web3|${start + 100_000}`,
    `error_surge|all|all|${start + 100_000}`,
    `url_scan|all|198.51.100.23|${start + 140_000}`,
  ].sort();
}

async function anomaliesFound(e: PipelineEnv): Promise<string[]> {
  return (await readAnomalies(e)).map((a) => `${a.type}|${a.host}|${a.key}|${a.time}`).sort();
}

/** Every fleet row counts the hosts that reported its window; inside the scenario that is all three. */
async function checkAgentsReported(e: PipelineEnv, expected: Expected, start: number, durationMs: number) {
  const stats = await readStats(e);
  const problems: string[] = [];
  for (const row of stats.filter((r) => r.host === "all")) {
    const t = Number(row.time);
    const hostsWithLines = HOSTS.filter((h) => (expected.get(h)?.windows.get(t)?.requests ?? 0) > 0).length;
    const want = t >= start && t < start + durationMs ? 3 : hostsWithLines;
    if (Number(row.agents_reported) !== want) {
      problems.push(`${new Date(t).toISOString()}: agents_reported ${row.agents_reported}, want ${want}`);
    }
  }
  return problems;
}

function assertMatches(result: Comparison, linesWritten: number) {
  expect(result.mismatches, describeMismatches(result)).toEqual([]);
  expect(result.summary).toEqual({ lines_written: linesWritten, lines_counted: linesWritten, lost: 0, doubled: 0 });
}

describe("end to end: agents → Kafka → central → InfluxDB equals the reference", () => {
  it("3 agents replay the standard scenario: exact values, agents_reported = 3, exactly the planted anomalies, late lines rewritten", async () => {
    env = await createPipelineEnv({ name: "pipeline" });
    const e = env;
    const start = scenarioStart();
    const scenario = standardScenario(start);
    const fleet = generateFleet(scenario);
    writeLogs(e, fleet, (l) => l);
    const expected = expectedOf(fleet);
    const linesWritten = [...fleet.values()].reduce((n, l) => n + l.length, 0);

    const central = await e.startCentralInProcess({ config: CENTRAL });
    try {
      await Promise.all(HOSTS.map((h) => e.runAgentOnce(h)));
      const result = await waitForReference({ ...e, expected, timeoutMs: 90_000 });
      assertMatches(result, linesWritten);
      expect(await checkAgentsReported(e, expected, start, scenario.durationMs)).toEqual([]);
      expect(await anomaliesFound(e)).toEqual(plantedAnomalies(start));

      // Late lines (25 s behind) reached the agents after their window had closed there: they travelled as
      // supplementary partials, central took them as late and rewrote the window they belong to (the exact
      // per-window match above shows they landed in their own windows).
      const stats = central.stats();
      expect(stats.partials.late).toBeGreaterThan(0);
      expect(stats.firings.rewrite).toBeGreaterThan(0);
      expect(stats.partials.dropped_late).toBe(0);
      expect(stats.decodeErrors).toBe(0);
    } finally {
      await central.stop();
    }
  });

  it("central kill -9ed mid-run and restarted: the final InfluxDB contents equal the reference", async () => {
    env = await createPipelineEnv({ name: "crash" });
    const e = env;
    const start = scenarioStart();
    const fleet = generateFleet(standardScenario(start, 7));
    const expected = expectedOf(fleet);
    const linesWritten = [...fleet.values()].reduce((n, l) => n + l.length, 0);

    // Phase 1: the first half of every log; central writes some windows and is killed without a chance to flush
    // or commit anything it holds.
    writeLogs(e, fleet, (l) => l.slice(0, l.length >> 1));
    const first = await e.startCentral({ config: CENTRAL });
    await Promise.all(HOSTS.map((h) => e.runAgentOnce(h)));
    await waitFor(async () => (await readStats(e)).length >= 12, {
      timeoutMs: 60_000,
      what: "central to write its first windows",
    });
    await first.kill9();
    const before = await compareWithReference({ ...e, expected });
    expect(before.mismatches.length).toBeGreaterThan(0); // half the data: far from the reference

    // Phase 2: the agents resume from their checkpoints with the rest of the logs; a new central takes over.
    writeLogs(e, fleet, (l) => l.slice(l.length >> 1));
    await Promise.all(HOSTS.map((h) => e.runAgentOnce(h)));
    const second = await e.startCentral({ config: CENTRAL });
    const result = await waitForReference({ ...e, expected, timeoutMs: 90_000, watch: [second] });
    assertMatches(result, linesWritten);
    expect(await anomaliesFound(e)).toEqual(plantedAnomalies(start));
  });

  it("two central instances in one group: the same final results", async () => {
    env = await createPipelineEnv({ name: "group" });
    const e = env;
    const start = scenarioStart();
    const fleet = generateFleet(standardScenario(start, 11));
    writeLogs(e, fleet, (l) => l);
    const expected = expectedOf(fleet);
    const linesWritten = [...fleet.values()].reduce((n, l) => n + l.length, 0);

    const a = await e.startCentral({ instance: "ca", config: CENTRAL });
    const b = await e.startCentral({ instance: "cb", config: CENTRAL });
    await waitGroupStable(e, 2);
    await Promise.all(HOSTS.map((h) => e.runAgentOnce(h)));
    const result = await waitForReference({ ...e, expected, timeoutMs: 90_000, watch: [a, b] });
    assertMatches(result, linesWritten);
    expect(await anomaliesFound(e)).toEqual(plantedAnomalies(start));
    // Both members did part of the work (the 6 partitions were split between them).
    const partials = async (p: typeof a) => {
      const m = await p.metrics();
      let n = 0;
      for (const [k, v] of m) if (k.startsWith("rla_central_partials_total{")) n += v;
      return n;
    };
    expect(await partials(a)).toBeGreaterThan(0);
    expect(await partials(b)).toBeGreaterThan(0);
  });
});
