/**
 * Freshness: window close → visible in InfluxDB
 * (`npx tsx --tsconfig benchmarks/tsconfig.json benchmarks/freshness.ts [--window-ms 10000 --windows 60 --hosts 3 --rate 1000]`).
 *
 * The whole pipeline live, as deployed: `central run` and one `edge-agent run` per host (child processes, default
 * configs apart from windowMs and log level), each agent following its own log that a separate paced writer process
 * (lib/paced-writer.ts) appends `--rate` lines/s to, stamped with the wall clock. After a warm-up (two windows, at
 * least 10 s: group join, agents becoming live), for each of `--windows` consecutive windows this script polls
 * InfluxDB every 100 ms for the fleet point (`http_stats`, host=all) and records
 *   freshness = wall time the point is first returned − window end (window start + windowMs),
 * and also when it first carries every agent (agents_reported = hosts). The poll's response time is used, so a
 * figure overstates by at most one query round trip plus the 100 ms poll period. With windowMs 10 s, 60 windows take
 * 10 minutes; `--window-ms` shortens a quick run (the agents' closeLatenessMs/idleCloseMs stay at their 5 s default,
 * so freshness does not shrink with the window).
 *
 * Processes, topic and database come from test/support/harness.ts (PipelineEnv), which the end-to-end tests use.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { influxQuery, influxRows } from "@rla/deploy";
import { createPipelineEnv, type ManagedProcess, waitFor } from "../test/support/harness.js";
import { lastJsonLine, loadavg, logTail, percentile, round, startProcess, stopGroup, tsxArgv } from "./lib/bench.js";

const { values: args } = parseArgs({
  options: {
    "window-ms": { type: "string", default: "10000" },
    windows: { type: "string", default: "60" },
    hosts: { type: "string", default: "3" },
    rate: { type: "string", default: "1000" },
    "poll-ms": { type: "string", default: "100" },
  },
});
const WINDOW_MS = Number(args["window-ms"]);
const WINDOWS = Number(args.windows);
const HOSTS = Array.from({ length: Number(args.hosts) }, (_, i) => `web${i + 1}`);
const RATE = Number(args.rate);
const POLL_MS = Number(args["poll-ms"]);

const load = [loadavg()];
const env = await createPipelineEnv({ name: "bench-fresh", windowMs: WINDOW_MS });
let writer: ReturnType<typeof startProcess> | null = null;

try {
  const central = await env.startCentral({ config: { logLevel: "warn" } });
  const files = HOSTS.map((h) => path.join(env.logDir(h), "access.log"));
  for (const f of files) writeFileSync(f, "");
  const agents: ManagedProcess[] = [];
  for (const host of HOSTS) agents.push(await env.startAgent(host, { config: { logLevel: "warn" } }));
  await waitFor(async () => (await Promise.all(agents.map((a) => a.healthy()))).every(Boolean), {
    timeoutMs: 60_000,
    what: "every agent's /healthz",
  });
  const watched = [central, ...agents];

  const writerLog = path.join(env.dir, "writer.log");
  writer = startProcess(
    tsxArgv("benchmarks/lib/paced-writer.ts", [
      "--files",
      files.join(","),
      "--hosts",
      HOSTS.join(","),
      "--rate",
      String(RATE),
    ]),
    writerLog,
  );
  const writerStartMs = Date.now();
  const firstWindow = Math.ceil((writerStartMs + Math.max(2 * WINDOW_MS, 10_000)) / WINDOW_MS) * WINDOW_MS;
  const lastWindow = firstWindow + (WINDOWS - 1) * WINDOW_MS;
  console.log(
    `${HOSTS.length} agents + central running (windowMs ${WINDOW_MS}); writer at ${RATE} lines/s per host; ` +
      `measuring ${WINDOWS} windows from ${new Date(firstWindow).toISOString()} (about ${Math.round((lastWindow + WINDOW_MS - Date.now()) / 1000)} s)`,
  );

  const firstSeen = new Map<number, { latencyMs: number; agents: number }>();
  const completeSeen = new Map<number, number>();
  const deadline = lastWindow + WINDOW_MS + 120_000;
  let polls = 0;
  while (completeSeen.size < WINDOWS && Date.now() < deadline) {
    const sent = Date.now();
    const rows = influxRows(
      await influxQuery(
        env.influxUrl,
        env.database,
        `SELECT "requests", "agents_reported" FROM "http_stats" WHERE "host" = 'all' AND time >= ${firstWindow}ms AND time <= ${lastWindow}ms`,
      ),
    );
    const seenAt = Date.now();
    polls++;
    for (const row of rows) {
      const start = Number(row.time);
      const agentsReported = Number(row.agents_reported);
      const end = start + WINDOW_MS;
      if (!firstSeen.has(start)) {
        firstSeen.set(start, { latencyMs: seenAt - end, agents: agentsReported });
        const n = firstSeen.size;
        if (n % 10 === 0 || n === WINDOWS) {
          console.log(`  ${n}/${WINDOWS} windows seen; last: ${((seenAt - end) / 1000).toFixed(2)} s after its end`);
        }
      }
      if (agentsReported >= HOSTS.length && !completeSeen.has(start)) completeSeen.set(start, seenAt - end);
    }
    for (const p of watched) p.assertAlive();
    if (writer.exitCode !== null) throw new Error(`the writer exited:\n${logTail(writerLog)}`);
    await sleep(Math.max(0, POLL_MS - (Date.now() - sent)));
  }
  await stopGroup(writer);
  const written = lastJsonLine(logTail(writerLog, 3));
  load.push(loadavg());

  const first = [...firstSeen.values()].map((x) => x.latencyMs).sort((a, b) => a - b);
  const complete = [...completeSeen.values()].sort((a, b) => a - b);
  const incompleteFirst = [...firstSeen.values()].filter((x) => x.agents < HOSTS.length).length;
  const s = (ms: number) => round(ms / 1000, 2);
  console.log(
    `window close → fleet point visible in InfluxDB over ${first.length} windows of ${WINDOW_MS} ms: ` +
      `p50 ${s(percentile(first, 50))} s, p99 ${s(percentile(first, 99))} s (min ${s(first[0] ?? Number.NaN)} s, max ${s(first.at(-1) ?? Number.NaN)} s)`,
  );
  console.log(
    `…with all ${HOSTS.length} agents in it: p50 ${s(percentile(complete, 50))} s, p99 ${s(percentile(complete, 99))} s ` +
      `(${complete.length} windows; ${incompleteFirst} first appeared with fewer agents)`,
  );
  if (first.length < WINDOWS) console.log(`only ${first.length} of ${WINDOWS} windows appeared before the deadline`);
  console.log(
    JSON.stringify({
      bench: "freshness",
      window_ms: WINDOW_MS,
      windows: WINDOWS,
      windows_seen: first.length,
      windows_complete: complete.length,
      hosts: HOSTS.length,
      rate_per_host: RATE,
      writer_rate_per_host: written?.rate_per_file ?? null,
      poll_ms: POLL_MS,
      polls,
      p50_s: s(percentile(first, 50)),
      p90_s: s(percentile(first, 90)),
      p99_s: s(percentile(first, 99)),
      min_s: s(first[0] ?? Number.NaN),
      max_s: s(first.at(-1) ?? Number.NaN),
      complete_p50_s: s(percentile(complete, 50)),
      complete_p99_s: s(percentile(complete, 99)),
      incomplete_first: incompleteFirst,
      latencies_s: first.map(s),
      loadavg: load,
    }),
  );
} finally {
  if (writer) await stopGroup(writer);
  await env.cleanup();
}
