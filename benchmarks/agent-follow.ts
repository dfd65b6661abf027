/**
 * Agent cost while following a live log (`npx tsx --tsconfig benchmarks/tsconfig.json benchmarks/agent-follow.ts [--rate 10000 --duration-s 60]`).
 *
 * `edge-agent run` follows one file that a separate, paced writer process (lib/paced-writer.ts) appends
 * `--rate` lines/s to, stamped with the wall clock, for `--duration-s`. Every `--sample-ms` this script reads the
 * agent's /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS, VmHWM): CPU % per interval = CPU seconds
 * used / wall seconds (100 % = one core). The first `--warmup-s` are reported apart (start-up, JIT). Afterwards it
 * checks on the agent's /metrics that it read every line written and has no lag left, then measures it idle for
 * `--idle-s` (the file no longer growing): CPU % and how often its main thread is woken.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { freePort } from "@rla/deploy";
import { buildBinaries } from "../test/support/harness.js";
import {
  createTopic,
  deleteTopics,
  exitOf,
  lastJsonLine,
  loadavg,
  logTail,
  metricSum,
  type ProcSample,
  percentile,
  round,
  runId,
  sampleProc,
  startProcess,
  stopGroup,
  tsxArgv,
} from "./lib/bench.js";

const { values: args } = parseArgs({
  options: {
    rate: { type: "string", default: "10000" },
    "duration-s": { type: "string", default: "60" },
    "sample-ms": { type: "string", default: "1000" },
    "warmup-s": { type: "string", default: "5" },
    "idle-s": { type: "string", default: "15" },
  },
});
const RATE = Number(args.rate);
const DURATION_S = Number(args["duration-s"]);
const SAMPLE_MS = Number(args["sample-ms"]);
const WARMUP_S = Number(args["warmup-s"]);
const IDLE_S = Number(args["idle-s"]);

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

const AGENT_CLI = (await buildBinaries()).agent;
const id = runId();
const dir = mkdtempSync(path.join(os.tmpdir(), "rla-bench-agent-follow-"));
const topic = `rla-bench-follow-${id}`;
const load = [loadavg()];
const agentLog = path.join(dir, "agent.log");
const started: ReturnType<typeof startProcess>[] = [];

try {
  await createTopic(topic);
  const file = path.join(dir, "access.log");
  writeFileSync(file, "");
  const port = await freePort();
  const metricsUrl = `http://127.0.0.1:${port}`;
  const config = path.join(dir, "agent.yaml");
  writeFileSync(
    config,
    JSON.stringify({
      hostId: "web1",
      files: [file],
      format: "nginx_combined_rt",
      stateDir: path.join(dir, "state"),
      startAt: "beginning",
      kafka: { brokers: [process.env.RLA_KAFKA_BROKERS ?? "127.0.0.1:19092"], topic },
      metrics: { host: "127.0.0.1", port },
      logLevel: "warn",
    }),
  );
  const agent = startProcess([process.execPath, AGENT_CLI, "run", "--config", config], agentLog);
  started.push(agent);
  await until(async () => (await fetch(`${metricsUrl}/metrics`)).ok, 60_000, "the agent's /metrics");

  const writerLog = path.join(dir, "writer.log");
  const writer = startProcess(
    tsxArgv("benchmarks/lib/paced-writer.ts", [
      "--files",
      file,
      "--hosts",
      "web1",
      "--rate",
      String(RATE),
      "--duration-ms",
      String(DURATION_S * 1000),
    ]),
    writerLog,
  );
  started.push(writer);
  const writerDone = exitOf(writer);
  console.log(
    `following ${file}: writer at ${RATE} lines/s for ${DURATION_S} s; sampling the agent every ${SAMPLE_MS} ms`,
  );

  const samples: ProcSample[] = [sampleProc(agent.pid!)!];
  let writing = true;
  void writerDone.then(() => {
    writing = false;
  });
  while (writing) {
    await sleep(SAMPLE_MS);
    const s = sampleProc(agent.pid!);
    if (s === null) throw new Error(`the agent exited while following:\n${logTail(agentLog)}`);
    samples.push(s);
  }
  if ((await writerDone) !== 0) throw new Error(`the writer failed:\n${logTail(writerLog)}`);
  const written = lastJsonLine(logTail(writerLog, 3));
  const linesWritten = Number(written?.lines_per_file);

  // Every line read and nothing left behind (the agent reads what the writer wrote by its last tick).
  let linesRead = 0;
  await until(
    async () => {
      linesRead = await metricSum(metricsUrl, "rla_agent_lines_read_total");
      return linesRead === linesWritten;
    },
    60_000,
    `the agent to read all ${linesWritten} lines`,
  );
  const lagBytes = await metricSum(metricsUrl, "rla_agent_file_lag_bytes");
  load.push(loadavg());

  // Then idle: the file stops growing (what most hosts' agents do most of the time at night).
  const idleFrom = sampleProc(agent.pid!);
  await sleep(IDLE_S * 1000);
  const idleTo = sampleProc(agent.pid!);
  if (idleFrom === null || idleTo === null) throw new Error(`the agent exited while idle:\n${logTail(agentLog)}`);
  const idleSeconds = (idleTo.atMs - idleFrom.atMs) / 1000;
  const idleCpuPct = (100 * (idleTo.cpuSeconds - idleFrom.cpuSeconds)) / idleSeconds;
  const idleWakeupsPerSec = (idleTo.mainWakeups - idleFrom.mainWakeups) / idleSeconds;

  const t0 = samples[0]!.atMs;
  const intervals = samples.slice(1).map((s, i) => ({
    atS: (s.atMs - t0) / 1000,
    cpuPct: (100 * (s.cpuSeconds - samples[i]!.cpuSeconds)) / ((s.atMs - samples[i]!.atMs) / 1000),
    rssMb: s.rssKb / 1024,
  }));
  const steady = intervals.filter((x) => x.atS > WARMUP_S);
  const first = samples.find((s) => (s.atMs - t0) / 1000 >= WARMUP_S) ?? samples[0]!;
  const last = samples.at(-1)!;
  const steadyCpuPct = (100 * (last.cpuSeconds - first.cpuSeconds)) / ((last.atMs - first.atMs) / 1000);
  const cpuSorted = steady.map((x) => x.cpuPct).sort((a, b) => a - b);
  const rssSorted = steady.map((x) => x.rssMb).sort((a, b) => a - b);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const cpuUsPerLine = ((last.cpuSeconds - first.cpuSeconds) * 1e6) / (RATE * ((last.atMs - first.atMs) / 1000));
  console.log(
    `writer: ${linesWritten} lines in ${written?.seconds} s (${written?.rate_per_file} lines/s, worst tick ${written?.worst_tick_late_ms} ms late); ` +
      `agent read ${linesRead}, lag ${lagBytes} bytes`,
  );
  console.log(
    `agent CPU after ${WARMUP_S} s warm-up: ${steadyCpuPct.toFixed(1)} % of one core on average ` +
      `(per ${SAMPLE_MS} ms: p50 ${percentile(cpuSorted, 50).toFixed(1)} %, p95 ${percentile(cpuSorted, 95).toFixed(1)} %, ` +
      `max ${cpuSorted.at(-1)?.toFixed(1)} %), ${cpuUsPerLine.toFixed(2)} CPU-µs per line`,
  );
  console.log(
    `agent RSS: mean ${mean(rssSorted).toFixed(0)} MiB, max ${rssSorted.at(-1)?.toFixed(0)} MiB, peak (VmHWM) ${(last.hwmKb / 1024).toFixed(0)} MiB`,
  );
  console.log(
    `agent idle (file not growing, ${IDLE_S} s): ${idleCpuPct.toFixed(2)} % of one core, main thread woken ${idleWakeupsPerSec.toFixed(0)} times/s, RSS ${(idleTo.rssKb / 1024).toFixed(0)} MiB`,
  );
  console.log(
    JSON.stringify({
      bench: "agent-follow",
      rate_lines_per_sec: RATE,
      duration_s: DURATION_S,
      warmup_s: WARMUP_S,
      sample_ms: SAMPLE_MS,
      lines_written: linesWritten,
      writer_rate: written?.rate_per_file ?? null,
      writer_worst_tick_late_ms: written?.worst_tick_late_ms ?? null,
      lines_read: linesRead,
      lag_bytes_after: lagBytes,
      cpu_pct_mean: round(steadyCpuPct, 1),
      cpu_pct_p50: round(percentile(cpuSorted, 50), 1),
      cpu_pct_p95: round(percentile(cpuSorted, 95), 1),
      cpu_pct_max: round(cpuSorted.at(-1) ?? Number.NaN, 1),
      cpu_us_per_line: round(cpuUsPerLine, 2),
      rss_mib_mean: round(mean(rssSorted), 1),
      rss_mib_max: round(rssSorted.at(-1) ?? Number.NaN, 1),
      rss_mib_peak_hwm: round(last.hwmKb / 1024, 1),
      idle_s: IDLE_S,
      idle_cpu_pct: round(idleCpuPct, 2),
      idle_main_wakeups_per_sec: round(idleWakeupsPerSec, 0),
      idle_rss_mib: round(idleTo.rssKb / 1024, 1),
      samples: intervals.map((x) => [round(x.atS, 1), round(x.cpuPct, 1), round(x.rssMb, 1)]),
      loadavg: load,
    }),
  );
} finally {
  for (const child of started) await stopGroup(child);
  await deleteTopics([topic]);
  rmSync(dir, { recursive: true, force: true });
}
