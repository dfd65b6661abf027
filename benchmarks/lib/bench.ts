/**
 * What every benchmark script shares: pinning to one core, timing a child process (wall and CPU seconds, children
 * included), sampling a running process from /proc, reading a topic back, the broker's log segment sizes, and the
 * one-JSON-line result convention (the last line of stdout).
 *
 * Benchmarks run the current sources, never a `dist/` that another build may be rewriting at that moment: scripts
 * run with tsx and benchmarks/tsconfig.json, whose `paths` map each `@rla/` package to its `src/index.ts`
 * (`npx tsx --tsconfig benchmarks/tsconfig.json …`; child scripts inherit it through TSX_TSCONFIG_PATH), and the
 * CLIs are bundled from source by the end-to-end harness (`buildBinaries`, test/support/harness.ts).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTopic, stackEndpoints } from "@rla/deploy";
import { Kafka, logLevel } from "kafkajs";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const TSCONFIG = path.join(REPO_ROOT, "benchmarks/tsconfig.json");
process.env.TSX_TSCONFIG_PATH ??= TSCONFIG;

/** Run id for topic / database / directory names: unique per run, sortable by time. */
export function runId(): string {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, "0")}`;
}

export function has(command: string): boolean {
  return spawnSync("bash", ["-c", `command -v ${command}`]).status === 0;
}

/** `taskset -c <cpu>` when taskset exists (and the CPU does), else nothing: the caller reports which. */
export function pinPrefix(cpu: number | null): string[] {
  if (cpu === null || cpu >= os.cpus().length || !has("taskset")) return [];
  return ["taskset", "-c", String(cpu)];
}

// Children started here die with this process (a crashed or interrupted benchmark leaves no load behind).
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

export interface Timed {
  wallSeconds: number;
  /** User + system seconds of the command and all its children (bash `time`). */
  cpuSeconds: number;
  code: number;
}

/**
 * Runs `argv` under bash's `time` with stdout and stderr appended to `logFile`; resolves when it exits.
 * `onSpawn` gets the child (the bash process, leader of its own process group) so a caller can stop it.
 */
export function timedRun(
  argv: string[],
  logFile: string,
  options: { env?: NodeJS.ProcessEnv; onSpawn?: (child: ChildProcess) => void } = {},
): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", 'TIMEFORMAT="%R %U %S"; time "$@" >>"$RLA_BENCH_LOG" 2>&1', "bash", ...argv], {
      cwd: REPO_ROOT,
      env: { ...(options.env ?? process.env), RLA_BENCH_LOG: logFile },
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    children.add(child);
    child.once("exit", () => children.delete(child));
    options.onSpawn?.(child);
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const times = stderr.trim().split("\n").at(-1)?.split(/\s+/).map(Number) ?? [];
      if (times.length !== 3 || times.some((t) => !Number.isFinite(t))) {
        reject(new Error(`no timing from \`${argv.join(" ")}\` (exit ${code}): ${stderr.slice(-500)}`));
        return;
      }
      const [wall, user, sys] = times as [number, number, number];
      resolve({ wallSeconds: wall, cpuSeconds: user + sys, code: code ?? -1 });
    });
  });
}

/** Starts `argv` in its own process group with stdout and stderr appended to `logFile`. */
export function startProcess(argv: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, stdio: ["ignore", fd, fd], detached: true });
    if (child.pid === undefined) throw new Error(`could not start ${argv.join(" ")}`);
    children.add(child);
    child.once("exit", () => children.delete(child));
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Resolves with the exit code once `child` exits. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/**
 * Runs `argv` (in its own process group, stopped if this process dies), echoing its stdout and stderr lines with
 * `prefix`; resolves with its exit code and whole stdout.
 */
export function runEchoed(argv: string[], prefix: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
    children.add(child);
    let stdout = "";
    const echo = (stream: NodeJS.ReadableStream | null, keep: boolean) => {
      let partial = "";
      stream?.setEncoding("utf8");
      stream?.on("data", (d: string) => {
        if (keep) stdout += d;
        const lines = (partial + d).split("\n");
        partial = lines.pop()!;
        for (const line of lines) console.log(`${prefix}${line}`);
      });
      stream?.on("end", () => {
        if (partial) console.log(`${prefix}${partial}`);
      });
    };
    echo(child.stdout, true);
    echo(child.stderr, false);
    child.on("error", reject);
    child.on("close", (code) => {
      children.delete(child);
      resolve({ code, stdout });
    });
  });
}

/** The last `lines` lines of a log file, for error messages. */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return `(no log at ${file})`;
  }
}

/**
 * `node --import tsx <script> …args`: how one benchmark script runs another as its own process (with the sources
 * mapping of benchmarks/tsconfig.json, through TSX_TSCONFIG_PATH).
 */
export function tsxArgv(script: string, args: string[] = []): string[] {
  return [process.execPath, "--import", "tsx", path.join(REPO_ROOT, script), ...args];
}

/** How to run a benchmark script by hand, as RESULTS.md quotes it. */
export function tsxCommand(script: string, args: string[] = []): string {
  return ["npx tsx --tsconfig benchmarks/tsconfig.json", script, ...args].join(" ");
}

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

export interface ProcSample {
  /** Wall time of the sample (ms). */
  atMs: number;
  /** utime + stime of the process so far. */
  cpuSeconds: number;
  rssKb: number;
  /** Peak resident set (VmHWM). */
  hwmKb: number;
  /** Voluntary context switches of the main thread so far: each is a sleep the thread was woken from. */
  mainWakeups: number;
}

/** One reading of /proc/<pid>/stat and status; null once the process is gone. */
export function sampleProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name (which may contain spaces): state is field 3, utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(rest[11]) + Number(rest[12]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
    // The main thread's own status: how often it went to sleep and was woken (timers, I/O completions).
    const main = readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
    const wakeups = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(main)?.[1] ?? Number.NaN);
    return {
      atMs: Date.now(),
      cpuSeconds: ticks / CLK_TCK,
      rssKb: kb("VmRSS"),
      hwmKb: kb("VmHWM"),
      mainWakeups: wakeups,
    };
  } catch {
    return null;
  }
}

/** Stops a process group this script started: SIGTERM, then SIGKILL after `timeoutMs`. */
export async function stopGroup(child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      // already gone
    }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** The last line of `text` that parses as a JSON object (a benchmark's result line). */
export function lastJsonLine(text: string): Record<string, unknown> | null {
  const lines = text.trimEnd().split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith("{")) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      // not a result line
    }
  }
  return null;
}

export const round = (x: number, digits = 0): number => Number(x.toFixed(digits));

/** Value at rank ceil(p/100·n) of ascending `sorted` (the nearest-rank percentile). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

export function loadavg(): number[] {
  return os.loadavg().map((x) => round(x, 2));
}

export interface Machine {
  cpu_model: string;
  cores: number;
  memory_gib: number;
  node: string;
  kernel: string;
}

export function machine(): Machine {
  let model = os.cpus()[0]?.model ?? "unknown";
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? model;
  } catch {
    // not Linux: os.cpus() says what it can
  }
  return {
    cpu_model: model,
    cores: os.cpus().length,
    memory_gib: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    kernel: os.release(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Kafka

export function kafkaClient(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: stackEndpoints().kafkaBrokers, logLevel: logLevel.NOTHING });
}

export async function createTopic(topic: string, partitions = 6): Promise<void> {
  await ensureTopic({ brokers: stackEndpoints().kafkaBrokers, topic, partitions, retentionMs: 6 * 3_600_000 });
}

export async function deleteTopics(topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = kafkaClient("rla-bench-admin").admin();
  try {
    await admin.connect();
    await admin.deleteTopics({ topics, timeout: 15_000 });
  } catch (error) {
    console.error(`could not delete topics ${topics.join(", ")}: ${(error as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Records in the topic (high minus low watermark over its partitions). */
export async function topicRecordCount(topic: string): Promise<number> {
  const admin = kafkaClient("rla-bench-admin").admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Every record value of the topic, from the beginning to its end as of the call. */
export async function readTopicValues(topic: string, timeoutMs = 120_000): Promise<Buffer[]> {
  const kafka = kafkaClient("rla-bench-reader");
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(ends.filter((e) => Number(e.high) > 0).map((e) => [e.partition, Number(e.high)]));
  const values: Buffer[] = [];
  if (remaining.size === 0) return values;
  const consumer = kafka.consumer({ groupId: `rla-bench-reader-${runId()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      new Promise<void>((resolve) => {
        void consumer.run({
          eachMessage: async ({ partition, message }) => {
            const high = remaining.get(partition);
            if (high === undefined) return;
            if (message.value) values.push(message.value);
            if (Number(message.offset) + 1 >= high) {
              remaining.delete(partition);
              if (remaining.size === 0) resolve();
            }
          },
        });
      }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`reading ${topic} timed out`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return values;
}

/**
 * Bytes the broker stores for the topic: the sizes of its partitions' `.log` segments, read from the local stack's
 * data directory (`log.dirs` of `$RLA_STATE_DIR/kafka/server.properties`). Record batches are stored as the
 * producer sent them (compressed, with their headers), so this is what went over the wire in produce requests.
 * Null when the broker is not the local stack (no such directory).
 */
export function topicSegmentBytes(topic: string): number | null {
  const state = process.env.RLA_STATE_DIR ?? path.join(REPO_ROOT, ".state/stack");
  let logDirs: string[];
  try {
    const props = readFileSync(path.join(state, "kafka/server.properties"), "utf8");
    logDirs = (/^log\.dirs=(.+)$/m.exec(props)?.[1] ?? "").split(",").filter(Boolean);
  } catch {
    return null;
  }
  let total = 0;
  let found = false;
  for (const dir of logDirs) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir)) {
      if (!new RegExp(`^${topic.replace(/[.]/g, "\\.")}-\\d+$`).test(entry)) continue;
      found = true;
      for (const file of readdirSync(path.join(dir, entry))) {
        if (file.endsWith(".log")) total += statSync(path.join(dir, entry, file)).size;
      }
    }
  }
  return found ? total : null;
}

/** Scrapes a Prometheus endpoint and sums every series of `name`. */
export async function metricSum(url: string, name: string): Promise<number> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  let sum = 0;
  for (const line of (await res.text()).split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
