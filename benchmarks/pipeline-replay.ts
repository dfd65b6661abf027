/**
 * Whole-pipeline replay throughput (`npx tsx --tsconfig benchmarks/tsconfig.json benchmarks/pipeline-replay.ts [--lines 1000000 --hosts 3 --seed 42]`).
 *
 * Seeded logs (gen-log.ts, one per host, `--lines` each, spanning the 10 minutes that ended 10 minutes ago: recent
 * enough for the 30 d retention policy and for central's default 2 min lateness to be long past) are replayed by one
 * `edge-agent run --once` per host, all at once, into Kafka; `central run` (already consuming, as in production)
 * merges and writes InfluxDB. Timed from the agents' start until InfluxDB's fleet points hold every window and every
 * request. Then every `http_stats` (per host and fleet) and `http_status` value is compared with the independent
 * reference (test/support/reference.ts, fed each line as it is generated): counts, bytes and status codes exactly,
 * latency percentiles within HDR precision → "exact: yes/no".
 *
 * Central runs with allowedLatenessMs = the logs' span + 5 min (`--lateness-ms` sets it): a backfill setting. With
 * the default 2 min, agents replaying at different speeds move central's event-time watermark (the newest window
 * seen, minus the lateness) past the windows of the slower hosts, whose partials are then dropped as late — by
 * design, as for an agent catching up after an outage longer than the lateness; `--lateness-ms 120000` shows it.
 *
 * Everything shares this machine's cores (agents, broker, central, InfluxDB); nothing is pinned.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { influxQuery, influxRows } from "@rla/deploy";
import {
  compareWithReference,
  createExpected,
  createPipelineEnv,
  describeMismatches,
  expectLine,
  type ManagedProcess,
  readPipelineTotals,
} from "../test/support/harness.js";
import { loadavg, round } from "./lib/bench.js";
import { generateLogLines } from "./lib/gen-log.js";

const { values: args } = parseArgs({
  options: {
    lines: { type: "string", default: "1000000" },
    hosts: { type: "string", default: "3" },
    seed: { type: "string", default: "42" },
    "timeout-s": { type: "string", default: "1200" },
    "lateness-ms": { type: "string" },
  },
});
const LINES = Number(args.lines);
const HOSTS = Array.from({ length: Number(args.hosts) }, (_, i) => `web${i + 1}`);
const SEED = Number(args.seed);
const TIMEOUT_MS = Number(args["timeout-s"]) * 1000;
const WINDOW_MS = 10_000;
const SPAN_MS = 600_000;
const LATENESS_MS = Number(args["lateness-ms"] ?? SPAN_MS + 300_000);

const load = [loadavg()];
const env = await createPipelineEnv({ name: "bench-replay", windowMs: WINDOW_MS });

try {
  const startMs = Math.floor((Date.now() - 2 * SPAN_MS) / WINDOW_MS) * WINDOW_MS;
  const expected = createExpected(HOSTS, WINDOW_MS);
  let logBytes = 0;
  for (const host of HOSTS) {
    const fd = openSync(path.join(env.logDir(host), "access.log"), "w");
    let batch: string[] = [];
    for (const line of generateLogLines({ lines: LINES, host, seed: SEED, startMs, durationMs: SPAN_MS })) {
      expectLine(expected, host, line);
      batch.push(line);
      if (batch.length === 10_000) {
        logBytes += writeSync(fd, `${batch.join("\n")}\n`);
        batch = [];
      }
    }
    if (batch.length > 0) logBytes += writeSync(fd, `${batch.join("\n")}\n`);
    closeSync(fd);
  }
  const fleet = expected.get("all")!;
  const totalLines = LINES * HOSTS.length;
  console.log(
    `generated ${HOSTS.length} × ${LINES} lines (${(logBytes / 2 ** 20).toFixed(0)} MiB), ${fleet.windows.size} windows ` +
      `from ${new Date(startMs).toISOString()}; reference: ${fleet.requests} requests, ${fleet.rejects} rejects`,
  );

  const central = await env.startCentral({ config: { logLevel: "warn", allowedLatenessMs: LATENESS_MS } });
  console.log(`central consuming (allowedLatenessMs ${LATENESS_MS}); starting the agents (--once)`);
  const t0 = Date.now();
  const agents: ManagedProcess[] = [];
  for (const host of HOSTS) agents.push(await env.startAgent(host, { once: true, config: { logLevel: "warn" } }));
  let agentsDoneMs: number | null = null;
  void Promise.all(agents.map((a) => a.waitSuccess(TIMEOUT_MS))).then(
    () => {
      agentsDoneMs = Date.now();
    },
    () => undefined,
  );

  // Until the fleet points hold every window and request, or nothing has changed for a minute after the agents.
  let heldMs: number | null = null;
  let last = { windows: -1, requests: -1, changedMs: Date.now() };
  while (Date.now() - t0 < TIMEOUT_MS) {
    for (const a of agents) {
      if (a.exitInfo !== null && a.exitInfo.code !== 0) throw new Error(`${a.name} failed:\n${a.logTail()}`);
    }
    central.assertAlive();
    const [row] = influxRows(
      await influxQuery(
        env.influxUrl,
        env.database,
        `SELECT COUNT("requests") AS "windows", SUM("requests") AS "requests" FROM "http_stats" WHERE "host" = 'all'`,
      ),
    );
    const now = { windows: Number(row?.windows ?? 0), requests: Number(row?.requests ?? 0), changedMs: Date.now() };
    if (now.windows >= fleet.windows.size && now.requests === fleet.requests) {
      heldMs = now.changedMs;
      break;
    }
    if (now.windows !== last.windows || now.requests !== last.requests) last = now;
    else if (agentsDoneMs !== null && Date.now() - last.changedMs > 60_000) break;
    await sleep(250);
  }
  load.push(loadavg());
  const seconds = heldMs === null ? null : (heldMs - t0) / 1000;
  const agentSeconds = agentsDoneMs === null ? null : (agentsDoneMs - t0) / 1000;

  const comparison = await compareWithReference({
    influxUrl: env.influxUrl,
    database: env.database,
    expected,
    windowMs: WINDOW_MS,
  });
  const exact = heldMs !== null && comparison.mismatches.length === 0;
  // Central writes its `pipeline` counters once per wall-clock window: wait for the one holding the last partials.
  await sleep(WINDOW_MS - (Date.now() % WINDOW_MS) + 2_000);
  const totals = await readPipelineTotals(env);
  const maxRssMb = (p: ManagedProcess) => round(p.maxRssKb / 1024, 1);
  console.log(
    seconds === null
      ? `InfluxDB did not hold every window within the time limit`
      : `${totalLines} lines → InfluxDB in ${seconds.toFixed(1)} s: ${(totalLines / seconds / 1e3).toFixed(0)} k lines/s ` +
          `(agents done after ${agentSeconds?.toFixed(1)} s)`,
  );
  console.log(
    `central: ${totals.partials} partials, ${totals.late_partials} late, ${totals.dropped_late} dropped late, ${totals.duplicates} duplicates; ` +
      `peak RSS central ${maxRssMb(central)} MiB, agents ${agents.map(maxRssMb).join("/")} MiB`,
  );
  console.log(`exact: ${exact ? "yes" : "no"}`);
  if (!exact) console.log(describeMismatches(comparison, 20));
  console.log(
    JSON.stringify({
      bench: "pipeline-replay",
      hosts: HOSTS.length,
      lines_per_host: LINES,
      lines: totalLines,
      windows: fleet.windows.size,
      central_allowed_lateness_ms: LATENESS_MS,
      seconds: seconds === null ? null : round(seconds, 2),
      lines_per_sec: seconds === null ? null : round(totalLines / seconds),
      agents_seconds: agentSeconds === null ? null : round(agentSeconds, 2),
      exact,
      mismatches: comparison.mismatches.length,
      summary: comparison.summary,
      central_partials: totals.partials,
      central_late_partials: totals.late_partials,
      central_dropped_late: totals.dropped_late,
      central_duplicates: totals.duplicates,
      central_peak_rss_mib: maxRssMb(central),
      agent_peak_rss_mib: agents.map(maxRssMb),
      loadavg: load,
    }),
  );
} finally {
  await env.cleanup();
}
