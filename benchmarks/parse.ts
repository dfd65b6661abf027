/**
 * Parse benchmark (`npm run bench:parse [-- --lines N --seed S --repeat R --no-external]`).
 *
 * Generates a seeded `nginx_combined_rt` log (benchmarks/lib/gen-log.ts), then on one pinned core:
 * 1. ours: read the file in 1 MiB chunks, split lines, `parse` into a LineRecord (as the agent does),
 *    `addRecord` into one partial per 10 s window (`addReject` for rejects); also a parse-only pass for
 *    reference. Counts and bytes are checked against what the generator wrote.
 * 2. mtail (--one_shot) with a program counting requests by status and a latency histogram.
 * 3. goaccess with a custom log format carrying the request time.
 * All three read the same file. Prints a summary, then one JSON line (the last line of stdout).
 *
 * The machine is shared, so besides wall-clock rates it reports CPU-time rates (user + system of
 * the measured process), which load from other processes disturbs far less, and the load average.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  addRecord,
  addReject,
  createLineRecord,
  createParser,
  createPartial,
  type WindowPartial,
  windowStartOf,
} from "@rla/protocol";
import { writeNginxLog } from "./lib/gen-log.js";

const { values: args } = parseArgs({
  options: {
    lines: { type: "string", default: "1000000" },
    seed: { type: "string", default: "42" },
    repeat: { type: "string", default: "2" },
    "no-external": { type: "boolean", default: false },
    cpu: { type: "string" },
  },
});
const LINES = Number(args.lines);
const SEED = Number(args.seed);
const REPEAT = Math.max(1, Number(args.repeat));
const WINDOW_MS = 10_000;
const CHUNK_BYTES = 1 << 20;

function has(command: string): boolean {
  return spawnSync("bash", ["-c", `command -v ${command}`]).status === 0;
}

// One core for everything measured: the last CPU, for this process (all its threads) and the tools.
const cpu = args.cpu ?? String(os.cpus().length - 1);
const pinned = has("taskset") && spawnSync("taskset", ["-a", "-cp", cpu, String(process.pid)]).status === 0;
const pin = pinned ? `taskset -c ${cpu} ` : "";

interface Run {
  wallSeconds: number;
  cpuSeconds: number;
  requests: number;
  rejects: number;
  bytes: number;
  windows: number;
  /** Requests per status code, summed over the windows' partials (parse-only: empty). */
  statusCounts: Record<string, number>;
}

/** Reads `file` in 1 MiB chunks and feeds every line to parse (+ aggregate unless `parseOnly`). */
function runOurs(file: string, parseOnly: boolean): Run {
  const parser = createParser("nginx_combined_rt");
  // What the agent parses into: plain ip / path stay byte ranges, so aggregation makes no string for
  // a key it already holds (results are the same as with a plain LogRecord).
  const rec = createLineRecord();
  const partials = new Map<number, WindowPartial>();
  let current: WindowPartial | undefined;
  let currentStart = Number.NaN;
  let requests = 0;
  let rejects = 0;
  let bytes = 0;

  const line = (buf: Buffer, start: number, end: number) => {
    const reason = parser.parse(buf, start, end, rec);
    if (reason !== null) {
      rejects++;
      if (!parseOnly && current) addReject(current, reason);
      return;
    }
    requests++;
    bytes += rec.bytes;
    if (parseOnly) return;
    const windowStartMs = windowStartOf(rec.timeMs, WINDOW_MS);
    if (windowStartMs !== currentStart) {
      currentStart = windowStartMs;
      current = partials.get(windowStartMs);
      if (!current) {
        current = createPartial({ host: "web1", service: "web", windowStartMs, windowMs: WINDOW_MS, seq: 0 });
        partials.set(windowStartMs, current);
      }
    }
    addRecord(current!, rec);
  };

  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const fd = openSync(file, "r");
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let carry = 0;
  for (;;) {
    const n = readSync(fd, chunk, carry, CHUNK_BYTES - carry, null);
    const length = carry + n;
    if (n === 0) {
      if (length > 0) line(chunk, 0, length);
      break;
    }
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0 || nl >= length) break;
      line(chunk, start, nl);
      start = nl + 1;
    }
    carry = length - start;
    if (carry === CHUNK_BYTES) throw new Error("a line longer than the chunk: not expected in generated logs");
    chunk.copy(chunk, 0, start, length);
  }
  closeSync(fd);
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = process.cpuUsage(cpu0);
  const statusCounts: Record<string, number> = {};
  for (const partial of partials.values()) {
    partial.statusCounts.forEach((count, code) => {
      if (count > 0) statusCounts[code] = (statusCounts[code] ?? 0) + count;
    });
  }
  return {
    wallSeconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    requests,
    rejects,
    bytes,
    windows: partials.size,
    statusCounts,
  };
}

/**
 * The naive way, for reference on a shared machine: per line a string, one regex, Date.parse.
 * Runs in the same process right after ours, so its rate tells how loaded the core was.
 */
const NAIVE = /^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) ([^"?]*)[^"]*" (\d{3}) (\d+|-) "[^"]*" "[^"]*" (\S+)/;
function runNaiveRegex(file: string): { wallSeconds: number; cpuSeconds: number; requests: number } {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const buf = readFileSync(file);
  let requests = 0;
  let bytes = 0;
  for (let start = 0; start < buf.length; ) {
    let nl = buf.indexOf(10, start);
    if (nl < 0) nl = buf.length;
    const m = NAIVE.exec(buf.toString("latin1", start, nl));
    if (m) {
      const timeMs = Date.parse(m[2]!.replace(":", " "));
      if (!Number.isNaN(timeMs) && Number(m[5]) >= 0) requests++;
      bytes += m[6] === "-" ? 0 : Number(m[6]);
    }
    start = nl + 1;
  }
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const used = process.cpuUsage(cpu0);
  return { wallSeconds, cpuSeconds: (used.user + used.system) / 1e6, requests: bytes >= 0 ? requests : 0 };
}

function best(runs: Run[]): Run {
  return runs.reduce((a, b) => (b.cpuSeconds < a.cpuSeconds ? b : a));
}

interface External {
  wallSeconds: number;
  cpuSeconds: number;
  stdout: string;
}

/** Runs a shell command pinned to the core; times it with bash's `time` (wall, user, sys incl. children). */
function timed(command: string, dir: string): External {
  const out = path.join(dir, "out");
  const result = spawnSync(
    "bash",
    ["-c", `TIMEFORMAT='%R %U %S'; time (${pin}${command} > ${out} 2> ${path.join(dir, "err")})`],
    { encoding: "utf8" },
  );
  if (result.status !== 0) {
    throw new Error(
      `${command} failed (${result.status}): ${readFileSync(path.join(dir, "err"), "utf8").slice(-2000)}`,
    );
  }
  const [wall, user, sys] = result.stderr.trim().split(/\s+/).slice(-3).map(Number) as [number, number, number];
  return { wallSeconds: wall, cpuSeconds: user + sys, stdout: readFileSync(out, "utf8") };
}

const MTAIL_PROGRAM = String.raw`counter requests_total by status
histogram request_time_seconds buckets 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10

/^\S+ \S+ \S+ \[[^\]]+\] "[^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-) "[^"]*" "[^"]*" (?P<rt>\d+\.\d+) / {
  requests_total[$status]++
  request_time_seconds = $rt
}
`;

function runMtail(file: string, dir: string): External & { counted: number } {
  const progs = path.join(dir, "progs");
  mkdirSync(progs, { recursive: true });
  writeFileSync(path.join(progs, "bench.mtail"), MTAIL_PROGRAM);
  // --port 0 on loopback: one-shot mode still starts its HTTP server.
  const run = timed(
    `env GOMAXPROCS=1 mtail --one_shot --one_shot_format json --progs ${progs} --logs ${file} --address 127.0.0.1 --port 0`,
    dir,
  );
  const metrics = JSON.parse(run.stdout) as {
    requests_total?: { LabelValues?: { Value?: { Value?: number } }[] }[];
  };
  const counted = (metrics.requests_total?.[0]?.LabelValues ?? []).reduce((sum, v) => sum + (v.Value?.Value ?? 0), 0);
  return { ...run, counted };
}

function runGoaccess(file: string, dir: string): External & { counted: number } {
  const report = path.join(dir, "goaccess.json");
  const run = timed(
    `goaccess ${file} --no-global-config --no-progress --log-format='%h %^[%d:%t %^] "%r" %s %b "%R" "%u" %T %^' ` +
      `--date-format=%d/%b/%Y --time-format=%T -o ${report}`,
    dir,
  );
  const general = (JSON.parse(readFileSync(report, "utf8")) as { general: { valid_requests: number } }).general;
  return { ...run, counted: general.valid_requests };
}

const round = (x: number, digits = 0) => Number(x.toFixed(digits));

const dir = mkdtempSync(path.join(os.tmpdir(), "rla-bench-parse-"));
try {
  const file = path.join(dir, "access.log");
  const loadAtStart = os.loadavg();
  const gen = writeNginxLog(file, { lines: LINES, host: "web1", seed: SEED });
  console.log(
    `generated ${gen.lines} lines, ${(gen.bytes / 2 ** 20).toFixed(1)} MiB; pinned to cpu ${pinned ? cpu : "none"}`,
  );

  const parseOnly = best(Array.from({ length: REPEAT }, () => runOurs(file, true)));
  const ours = best(Array.from({ length: REPEAT }, () => runOurs(file, false)));
  // Exact against the generator's own tally: every line a request, bytes and per-status counts equal.
  const exact =
    ours.requests === gen.lines &&
    ours.rejects === 0 &&
    ours.bytes === gen.bodyBytes &&
    JSON.stringify(ours.statusCounts) === JSON.stringify(gen.statusCounts);
  const rate = (r: { wallSeconds: number }) => LINES / r.wallSeconds;
  const cpuRate = (r: { cpuSeconds: number }) => LINES / r.cpuSeconds;
  console.log(
    `ours parse+aggregate: ${(rate(ours) / 1e6).toFixed(2)} M lines/s wall, ${(cpuRate(ours) / 1e6).toFixed(2)} M lines/cpu-s ` +
      `(${ours.windows} windows, exact=${exact}); parse only: ${(rate(parseOnly) / 1e6).toFixed(2)} M lines/s wall, ` +
      `${(cpuRate(parseOnly) / 1e6).toFixed(2)} M lines/cpu-s`,
  );

  const naive = runNaiveRegex(file);
  console.log(
    `naive regex parse (reference): ${(rate(naive) / 1e6).toFixed(2)} M lines/s wall, ` +
      `${(cpuRate(naive) / 1e6).toFixed(2)} M lines/cpu-s, matched ${naive.requests}`,
  );

  let mtail: (External & { counted: number }) | undefined;
  let goaccess: (External & { counted: number }) | undefined;
  if (!args["no-external"]) {
    if (has("mtail")) {
      mtail = runMtail(file, dir);
      console.log(
        `mtail: ${(rate(mtail) / 1e3).toFixed(0)} k lines/s wall (${mtail.wallSeconds} s), counted ${mtail.counted}`,
      );
    }
    if (has("goaccess")) {
      goaccess = runGoaccess(file, dir);
      console.log(
        `goaccess: ${(rate(goaccess) / 1e3).toFixed(0)} k lines/s wall (${goaccess.wallSeconds} s), counted ${goaccess.counted}`,
      );
    }
  }

  const result = {
    bench: "parse",
    format: "nginx_combined_rt",
    lines: LINES,
    seconds: round(ours.wallSeconds, 3),
    lines_per_sec: round(rate(ours)),
    cpu_seconds: round(ours.cpuSeconds, 3),
    lines_per_cpu_sec: round(cpuRate(ours)),
    parse_only_lines_per_sec: round(rate(parseOnly)),
    parse_only_lines_per_cpu_sec: round(cpuRate(parseOnly)),
    exact,
    windows: ours.windows,
    naive_regex_parse_lines_per_sec: round(rate(naive)),
    naive_regex_parse_lines_per_cpu_sec: round(cpuRate(naive)),
    parse_only_ratio_vs_naive_regex: round(cpuRate(parseOnly) / cpuRate(naive), 1),
    mtail_lines_per_sec: mtail ? round(rate(mtail)) : null,
    mtail_lines_per_cpu_sec: mtail ? round(cpuRate(mtail)) : null,
    mtail_counted: mtail?.counted ?? null,
    goaccess_lines_per_sec: goaccess ? round(rate(goaccess)) : null,
    goaccess_lines_per_cpu_sec: goaccess ? round(cpuRate(goaccess)) : null,
    goaccess_counted: goaccess?.counted ?? null,
    ratio_vs_mtail: mtail ? round(rate(ours) / rate(mtail), 1) : null,
    ratio_vs_goaccess: goaccess ? round(rate(ours) / rate(goaccess), 1) : null,
    cpu_ratio_vs_mtail: mtail ? round(cpuRate(ours) / cpuRate(mtail), 1) : null,
    cpu_ratio_vs_goaccess: goaccess ? round(cpuRate(ours) / cpuRate(goaccess), 1) : null,
    repeat: REPEAT,
    pinned_cpu: pinned ? Number(cpu) : null,
    node: process.version,
    cpu_model: os.cpus()[0]?.model ?? "unknown",
    cpus: os.cpus().length,
    loadavg_at_start: loadAtStart.map((x) => round(x, 2)),
  };
  console.log(JSON.stringify(result));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
