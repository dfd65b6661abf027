/**
 * Central merge benchmark (`npm run bench:central [-- --hosts 20 --windows 60 --records 300 --repeat 3]`).
 *
 * Builds realistic encoded partials (every host, every window, `records` requests each from a few hundred
 * clients and dozens of URLs) with the protocol API, then on one pinned core measures:
 * 1. decode + merge: `decodeRecord` (decode and validate) and `MergeEngine.ingest` (dedup, merge into the host's and
 *    the fleet's partial, watermark) for every partial — the per-partial cost of central;
 * 2. end to end without I/O: the same plus a flush every 100 partials (firing decisions), rendering (summaries,
 *    anomaly detection, points) and serialising the points to line protocol.
 * The goal is ≥ 10 k partials/s for (1) on one core, the bar ≥ 3 k. Prints a summary, then one JSON line (the last
 * line of stdout). Rates are per wall-clock second and per CPU second of this process (the machine is shared).
 */
import { spawnSync } from "node:child_process";
import os from "node:os";
import { parseArgs } from "node:util";
import { createEmitter, createInfluxClient, createMergeEngine, decodeRecord, parseCentralConfig } from "@rla/central";
import { addRecord, createPartial, emptyLogRecord, encodePartial } from "@rla/protocol";
import { seededRandom } from "../test/support/fleet-gen.js";

const { values: args } = parseArgs({
  options: {
    hosts: { type: "string", default: "20" },
    windows: { type: "string", default: "60" },
    records: { type: "string", default: "300" },
    repeat: { type: "string", default: "3" },
    /** Distinct client IPs per host (plus a shared pool); above ~100 the fleet's IP table leaves exact mode. */
    clients: { type: "string", default: "100" },
    cpu: { type: "string" },
  },
});
const HOSTS = Number(args.hosts);
const WINDOWS = Number(args.windows);
const RECORDS = Number(args.records);
const REPEAT = Math.max(1, Number(args.repeat));
const CLIENTS = Number(args.clients);

const cpu = args.cpu ?? String(os.cpus().length - 1);
const pinned = spawnSync("taskset", ["-a", "-cp", cpu, String(process.pid)]).status === 0;

const config = parseCentralConfig({ metrics: { port: 0 } });
const T0 = Math.floor((Date.now() - 3_600_000) / config.windowMs) * config.windowMs;

/** Partials in the order agents ship them: window by window, every host. */
function buildPartials(): Buffer[] {
  const out: Buffer[] = [];
  const r = seededRandom(42);
  const rec = emptyLogRecord();
  for (let w = 0; w < WINDOWS; w++) {
    const start = T0 + w * config.windowMs;
    for (let h = 0; h < HOSTS; h++) {
      const p = createPartial({
        host: `web-${h}`,
        service: "web",
        windowStartMs: start,
        windowMs: config.windowMs,
        seq: 0,
      });
      for (let i = 0; i < RECORDS; i++) {
        const x = r();
        rec.timeMs = start + Math.floor(r() * config.windowMs);
        rec.status = x < 0.85 ? 200 : x < 0.9 ? 304 : x < 0.97 ? 404 : 500;
        rec.bytes = Math.floor(r() * 30_000);
        rec.latencyUs = Math.floor(r() * r() * 800_000);
        // A skewed client population: some shared across hosts, most per host.
        rec.ip = x < 0.3 ? `198.51.100.${Math.floor(r() * r() * 200)}` : `10.${h}.${Math.floor(r() * CLIENTS)}`;
        rec.method = r() < 0.9 ? "GET" : "POST";
        rec.path = `/api/v1/item/${Math.floor(r() * r() * 120)}`;
        addRecord(p, rec);
      }
      out.push(encodePartial(p));
    }
  }
  return out;
}

interface Run {
  wallSeconds: number;
  cpuSeconds: number;
}

function measure(fn: () => void): Run {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(cpu0);
  return { wallSeconds: wall, cpuSeconds: (c.user + c.system) / 1e6 };
}

function decodeOnly(buffers: Buffer[]): void {
  const now = T0 + WINDOWS * config.windowMs;
  for (let i = 0; i < buffers.length; i++) {
    if (!decodeRecord(buffers[i]!, now, config).ok) throw new Error(`benchmark partial ${i} did not decode`);
  }
}

function decodeAndMerge(buffers: Buffer[]): void {
  const engine = createMergeEngine(config);
  const now = T0 + WINDOWS * config.windowMs;
  engine.assign(0, { offset: null, metadata: null }, now);
  for (let i = 0; i < buffers.length; i++) {
    const d = decodeRecord(buffers[i]!, now, config);
    if (!d.ok) throw new Error(`benchmark partial ${i} did not decode: ${d.message}`);
    engine.ingest(0, i, d.partial, now);
  }
}

let points = 0;
function endToEnd(buffers: Buffer[]): void {
  const engine = createMergeEngine(config);
  const emitter = createEmitter(config);
  const client = createInfluxClient({
    url: "http://127.0.0.1:1",
    token: "",
    database: "bench",
    retentionPolicy: "rp",
    timeoutMs: 1000,
    maxLinesPerRequest: 5000,
  });
  engine.assign(0, { offset: null, metadata: null }, T0);
  let now = T0;
  for (let i = 0; i < buffers.length; i++) {
    // Wall clock follows the windows: partials of window w arrive just after it ends.
    now = T0 + (Math.floor(i / HOSTS) + 1) * config.windowMs + 1000;
    const d = decodeRecord(buffers[i]!, now, config);
    if (!d.ok) throw new Error(d.message);
    engine.ingest(0, i, d.partial, now);
    if (i % 100 === 99 || i === buffers.length - 1) {
      const write = emitter.render(engine.flush(now).emissions);
      points += client.toLines(write.points).length;
    }
  }
  void client.close();
}

const buffers = buildPartials();
const bytes = buffers.reduce((n, b) => n + b.length, 0);
const best = (runs: Run[]) => ({
  wall: Math.min(...runs.map((r) => r.wallSeconds)),
  cpu: Math.min(...runs.map((r) => r.cpuSeconds)),
});
decodeAndMerge(buffers.slice(0, HOSTS * 5)); // warm-up (JIT)
const decode = best(Array.from({ length: REPEAT }, () => measure(() => decodeOnly(buffers))));
const merge = best(Array.from({ length: REPEAT }, () => measure(() => decodeAndMerge(buffers))));
const e2e = best(Array.from({ length: REPEAT }, () => measure(() => endToEnd(buffers))));
const n = buffers.length;
const result = {
  name: "central-merge",
  pinned_cpu: pinned ? Number(cpu) : null,
  partials: n,
  hosts: HOSTS,
  windows: WINDOWS,
  requests_per_partial: RECORDS,
  avg_partial_bytes: Math.round(bytes / n),
  decode_only_per_cpu_sec: Math.round(n / decode.cpu),
  decode_merge_per_sec: Math.round(n / merge.wall),
  decode_merge_per_cpu_sec: Math.round(n / merge.cpu),
  end_to_end_per_sec: Math.round(n / e2e.wall),
  end_to_end_per_cpu_sec: Math.round(n / e2e.cpu),
  points_per_run: Math.round(points / REPEAT),
  goal_per_sec: 10_000,
  bar_per_sec: 3_000,
  meets_goal: n / merge.wall >= 10_000,
  meets_bar: n / merge.wall >= 3_000,
  loadavg_1m: Number(os.loadavg()[0]!.toFixed(2)),
};
console.log(
  `central merge: ${n} partials (${HOSTS} hosts × ${WINDOWS} windows, ${RECORDS} requests, ~${result.avg_partial_bytes} B each)${pinned ? ` on CPU ${cpu}` : ""}`,
);
console.log(`  decode only    : ${result.decode_only_per_cpu_sec} partials per CPU-s`);
console.log(
  `  decode + merge : ${result.decode_merge_per_sec} partials/s wall, ${result.decode_merge_per_cpu_sec} per CPU-s (goal 10000, bar 3000)`,
);
console.log(
  `  end to end     : ${result.end_to_end_per_sec} partials/s wall, ${result.end_to_end_per_cpu_sec} per CPU-s (flush, anomalies, points, line protocol)`,
);
console.log(JSON.stringify(result));
