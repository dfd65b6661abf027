/**
 * End-to-end harness: real `edge-agent` and `central` processes against the real Kafka broker and InfluxDB, and
 * the comparison of what ends up in InfluxDB with the independent reference (reference.ts).
 *
 * - Processes are started from the packages' current sources, bundled once per test process with esbuild into
 *   `.state/e2e-bin/` (inside the repo, so the bundles resolve their npm dependencies from `node_modules`), so a test
 *   never runs a stale `dist/`. `RLA_E2E_BIN=dist` runs `edge-agent/dist/cli.js` / `central/dist/cli.js` instead
 *   (what `npm pack` ships; needs `npm run build`).
 * - Every environment gets its own temp dir, topic, consumer group and InfluxDB database; every process its own
 *   config file, state dir, metrics port and log file. `cleanup()` stops what it started by pid (SIGTERM, then
 *   SIGKILL), deletes the topic and drops the database (`RLA_E2E_KEEP=1` keeps everything and says where).
 * - Waiting is polling with a deadline (`waitFor`), never a fixed sleep.
 * - `compareWithReference` reads every `http_stats` (per host and `all`) and `http_status` point and lists every
 *   difference from the reference, with the `{ lines_written, lines_counted, lost, doubled }` summary.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureInfluxDatabase, ensureTopic, influxQuery, influxRows, quoteIdent, stackEndpoints } from "@rla/deploy";
import { type Kafka as KafkaClient, Kafka, logLevel } from "kafkajs";
import { stringify } from "yaml";
import {
  ReferenceAccumulator,
  type ReferenceWindow,
  windowMaxLatencyUs,
  windowPercentileUs,
  withinHdrMean,
  withinHdrPrecision,
} from "./reference.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

// ---------------------------------------------------------------------------------------------------------------
// Waiting

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** What is awaited, for the timeout message. */
  what: string;
}

/** Polls `check` until it returns a value other than undefined/false, or throws at the deadline. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  o: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${o.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 250));
  }
}

/** A free TCP port on 127.0.0.1 (for metrics endpoints; the tiny race with other binders is acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Binaries

export interface Binaries {
  agent: string;
  central: string;
}

let binaries: Promise<Binaries> | null = null;

/** The CLI entry points to run with `node` (built once per test process). */
export function buildBinaries(): Promise<Binaries> {
  binaries ??= (async () => {
    if (process.env.RLA_E2E_BIN === "dist") {
      const out = {
        agent: join(REPO_ROOT, "edge-agent/dist/cli.js"),
        central: join(REPO_ROOT, "central/dist/cli.js"),
      };
      for (const file of Object.values(out)) {
        if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build (RLA_E2E_BIN=dist)`);
      }
      return out;
    }
    const { build } = await import("esbuild");
    const dir = join(REPO_ROOT, ".state/e2e-bin", `${process.pid}-${randomUUID().slice(0, 8)}`);
    mkdirSync(dir, { recursive: true });
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const alias = Object.fromEntries(
      ["protocol", "edge-agent", "central", "deploy"].map((ws) => [`@rla/${ws}`, join(REPO_ROOT, ws, "src/index.ts")]),
    );
    const out = { agent: join(dir, "edge-agent.mjs"), central: join(dir, "central.mjs") };
    await Promise.all(
      (
        [
          ["edge-agent", out.agent],
          ["central", out.central],
        ] as const
      ).map(([pkg, outfile]) =>
        build({
          entryPoints: [join(REPO_ROOT, pkg, "src/cli.ts")],
          outfile,
          bundle: true,
          platform: "node",
          format: "esm",
          target: "node20",
          // npm dependencies stay imports (resolved from the repo's node_modules); @rla/* sources are bundled.
          packages: "external",
          alias,
          sourcemap: true,
          logLevel: "error",
        }),
      ),
    );
    return out;
  })();
  return binaries;
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<ManagedProcess>();
process.once("exit", () => {
  for (const p of running) p.child.kill("SIGKILL");
});

/** A child process with its log file, exit promise and peak RSS (VmHWM, sampled from /proc while it runs). */
export class ManagedProcess {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | null = null;
  /** Largest VmHWM seen, in kB. */
  maxRssKb = 0;
  /** Set by whoever signalled it on purpose, so an exit is not reported as unexpected. */
  expectedExit = false;
  private readonly sampler: NodeJS.Timeout;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
    /** http://127.0.0.1:<port> of its /metrics and /healthz, when it has one. */
    readonly metricsUrl: string | null,
  ) {
    if (child.pid === undefined) throw new Error(`${name} did not start (see ${logFile})`);
    this.pid = child.pid;
    running.add(this);
    this.sampler = setInterval(() => this.sampleRss(), 200);
    this.sampler.unref();
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        clearInterval(this.sampler);
        running.delete(this);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  sampleRss(): number {
    if (!this.running) return this.maxRssKb;
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, "utf8"));
      if (m) this.maxRssKb = Math.max(this.maxRssKb, Number(m[1]));
    } catch {
      // exited between the check and the read
    }
    return this.maxRssKb;
  }

  /** kill -9, as a crash; resolves once it is gone. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.sampleRss();
    this.expectedExit = true;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 20_000): Promise<ExitInfo> {
    if (!this.running) return this.exitInfo!;
    this.sampleRss();
    this.expectedExit = true;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }

  /** Waits for it to exit on its own; rejects (with its log) on a timeout or a non-zero exit. */
  async waitSuccess(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} still running after ${timeoutMs} ms\n${this.logTail()}`)),
        timeoutMs,
      );
    });
    try {
      const info = await Promise.race([this.exited, timeout]);
      if (info.code !== 0) {
        throw new Error(`${this.name} exited with ${info.code ?? info.signal}\n${this.logTail()}`);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Throws if it exited without being asked to. */
  assertAlive(): void {
    if (!this.running && !this.expectedExit) {
      throw new Error(
        `${this.name} (pid ${this.pid}) exited unexpectedly with ${this.exitInfo?.code ?? this.exitInfo?.signal}\n${this.logTail()}`,
      );
    }
  }

  logTail(lines = 25): string {
    try {
      const text = readFileSync(this.logFile, "utf8").trimEnd().split("\n");
      return `--- last lines of ${this.logFile} ---\n${text.slice(-lines).join("\n")}`;
    } catch {
      return `(no log at ${this.logFile})`;
    }
  }

  async metrics(): Promise<Map<string, number>> {
    if (this.metricsUrl === null) throw new Error(`${this.name} has no metrics endpoint`);
    const res = await fetch(`${this.metricsUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    return parsePrometheus(await res.text());
  }

  async healthy(): Promise<boolean> {
    if (this.metricsUrl === null || !this.running) return false;
    try {
      const res = await fetch(`${this.metricsUrl}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await res.text();
      return res.ok;
    } catch {
      return false;
    }
  }
}

/** Prometheus text → `name{labels}` → value (labels exactly as exposed, e.g. `x_total{reason="empty"}`). */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

/** Sum of every series of a metric (all label values). */
export function metricSum(metrics: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [key, value] of metrics) if (key === name || key.startsWith(`${name}{`)) sum += value;
  return sum;
}

function spawnNode(name: string, args: string[], logFile: string, metricsUrl: string | null): ManagedProcess {
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(process.execPath, ["--enable-source-maps", ...args], {
      stdio: ["ignore", fd, fd],
      env: { ...process.env, NODE_ENV: "production" },
    });
    return new ManagedProcess(name, child, logFile, metricsUrl);
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Environments

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep merge of config overrides (objects merge, everything else replaces). */
export function mergeConfig(base: Json, override: Json | undefined): Json {
  if (override === undefined) return base;
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(override)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeConfig(out[k] as Json, v) : v;
  }
  return out;
}

export interface PipelineEnvOptions {
  /** Short name used in the topic, group and database names. */
  name: string;
  kafkaBrokers?: string[];
  influxUrl?: string;
  partitions?: number;
  windowMs?: number;
}

export interface AgentStartOptions {
  /** Globs of the logs (default: `<dir>/logs/<host>/access.log`). */
  files?: string[];
  once?: boolean;
  /** Agent config overrides (deep-merged into the harness defaults). */
  config?: Json;
}

export interface CentralStartOptions {
  instance?: string;
  config?: Json;
  /** Wait until /healthz answers 200 (default true). */
  waitHealthy?: boolean;
}

export class PipelineEnv {
  readonly runId: string;
  readonly dir: string;
  readonly topic: string;
  readonly groupId: string;
  readonly database: string;
  readonly retentionPolicy = "rla_30d";
  readonly kafkaBrokers: string[];
  readonly influxUrl: string;
  readonly windowMs: number;
  readonly processes: ManagedProcess[] = [];
  private readonly counters = new Map<string, number>();
  private kafkaClient: KafkaClient | null = null;

  constructor(readonly options: PipelineEnvOptions) {
    const endpoints = stackEndpoints();
    this.runId = `${Date.now().toString(36)}-${randomUUID().slice(0, 6)}`;
    const slug = `${options.name}-${this.runId}`.replace(/[^a-zA-Z0-9-]/g, "-");
    this.dir = mkdtempSync(join(tmpdir(), `rla-e2e-${options.name}-`));
    this.topic = `rla-e2e-${slug}`;
    this.groupId = `rla-e2e-${slug}`;
    this.database = `rla_e2e_${slug.replace(/-/g, "_")}`;
    this.kafkaBrokers = options.kafkaBrokers ?? endpoints.kafkaBrokers;
    this.influxUrl = options.influxUrl ?? endpoints.influxUrl;
    this.windowMs = options.windowMs ?? 10_000;
  }

  /** Creates the topic and the database. */
  async provision(): Promise<void> {
    await ensureTopic({
      brokers: this.kafkaBrokers,
      topic: this.topic,
      partitions: this.options.partitions ?? 6,
      retentionMs: 6 * 3_600_000,
    });
    await ensureInfluxDatabase({
      url: this.influxUrl,
      database: this.database,
      retentionPolicy: this.retentionPolicy,
      duration: "30d",
    });
  }

  kafka(): KafkaClient {
    this.kafkaClient ??= new Kafka({
      clientId: `rla-e2e-${this.runId}`,
      brokers: this.kafkaBrokers,
      logLevel: logLevel.NOTHING,
    });
    return this.kafkaClient;
  }

  /** `<dir>/logs/<host>` (created). */
  logDir(host: string): string {
    const dir = join(this.dir, "logs", host);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  stateDir(host: string): string {
    return join(this.dir, "state", host);
  }

  private nextName(base: string): string {
    const n = (this.counters.get(base) ?? 0) + 1;
    this.counters.set(base, n);
    return `${base}#${n}`;
  }

  async startAgent(host: string, o: AgentStartOptions = {}): Promise<ManagedProcess> {
    const bins = await buildBinaries();
    const port = await freePort();
    const config = mergeConfig(
      {
        hostId: host,
        service: "web",
        files: o.files ?? [join(this.logDir(host), "access.log")],
        format: "nginx_combined_rt",
        stateDir: this.stateDir(host),
        windowMs: this.windowMs,
        startAt: "beginning",
        kafka: { brokers: this.kafkaBrokers, topic: this.topic, clientId: `rla-e2e-agent-${host}` },
        metrics: { host: "127.0.0.1", port },
        logLevel: "info",
      },
      o.config,
    );
    const name = this.nextName(`agent-${host}`);
    const file = join(this.dir, `${name.replace("#", "-")}.yaml`);
    writeFileSync(file, stringify(config));
    const args = [bins.agent, "run", "--config", file, ...(o.once ? ["--once"] : [])];
    const p = spawnNode(name, args, join(this.dir, `${name.replace("#", "-")}.log`), `http://127.0.0.1:${port}`);
    this.processes.push(p);
    return p;
  }

  /** `edge-agent run --once`: resolves when it exited 0 (everything read, flushed and acknowledged). */
  async runAgentOnce(host: string, o: Omit<AgentStartOptions, "once"> & { timeoutMs?: number } = {}) {
    const p = await this.startAgent(host, { ...o, once: true });
    await p.waitSuccess(o.timeoutMs ?? 120_000);
    return p;
  }

  centralConfig(o: CentralStartOptions = {}, metricsPort = 0): Json {
    return mergeConfig(
      {
        kafka: {
          brokers: this.kafkaBrokers,
          topic: this.topic,
          groupId: this.groupId,
          clientId: `rla-e2e-central-${o.instance ?? "c1"}`,
          // A crashed member is evicted after this; the broker's minimum keeps restarts quick.
          sessionTimeoutMs: 6_000,
        },
        influx: { url: this.influxUrl, database: this.database, retentionPolicy: this.retentionPolicy },
        windowMs: this.windowMs,
        instance: o.instance ?? "c1",
        metrics: { host: "127.0.0.1", port: metricsPort },
        logLevel: "info",
      },
      o.config,
    );
  }

  /** `central run` as a child process (so it can be kill -9ed); waits until its /healthz says it consumes. */
  async startCentral(o: CentralStartOptions = {}): Promise<ManagedProcess> {
    const bins = await buildBinaries();
    const port = await freePort();
    const name = this.nextName(`central-${o.instance ?? "c1"}`);
    const file = join(this.dir, `${name.replace("#", "-")}.yaml`);
    writeFileSync(file, stringify(this.centralConfig(o, port)));
    const p = spawnNode(
      name,
      [bins.central, "run", "--config", file],
      join(this.dir, `${name.replace("#", "-")}.log`),
      `http://127.0.0.1:${port}`,
    );
    this.processes.push(p);
    if (o.waitHealthy !== false) {
      await waitFor(
        async () => {
          p.assertAlive();
          return p.healthy();
        },
        { timeoutMs: 90_000, intervalMs: 200, what: `${name} to answer /healthz 200\n${p.logTail()}` },
      );
    }
    return p;
  }

  /** `startCentral` in this process (no metrics port); the caller stops the handle. */
  async startCentralInProcess(o: CentralStartOptions = {}) {
    const { parseCentralConfig, startCentral } = await import("@rla/central");
    const { pino } = await import("pino");
    const config = parseCentralConfig(this.centralConfig({ ...o, config: mergeConfig({ logLevel: "warn" }, o.config) }));
    return startCentral(config, { logger: pino({ level: config.logLevel }) });
  }

  /** Stops every process (SIGTERM, SIGKILL after 10 s), deletes the topic, drops the database, removes the dir. */
  async cleanup(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(10_000)));
    if (process.env.RLA_E2E_KEEP === "1") {
      console.log(`[e2e] RLA_E2E_KEEP=1: kept ${this.dir}, topic ${this.topic}, database ${this.database}`);
      return;
    }
    const admin = this.kafka().admin();
    await admin
      .connect()
      .then(() => admin.deleteTopics({ topics: [this.topic], timeout: 10_000 }))
      .catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await influxQuery(this.influxUrl, "", `DROP DATABASE ${quoteIdent(this.database)}`).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function createPipelineEnv(options: PipelineEnvOptions): Promise<PipelineEnv> {
  const env = new PipelineEnv(options);
  await env.provision();
  return env;
}

/** Waits until the consumer group has `members` members and is Stable (a rebalance finished). */
export async function waitGroupStable(env: PipelineEnv, members: number, timeoutMs = 60_000): Promise<void> {
  const admin = env.kafka().admin();
  await admin.connect();
  try {
    await waitFor(
      async () => {
        const { groups } = await admin.describeGroups([env.groupId]);
        const g = groups[0];
        return g !== undefined && g.state === "Stable" && g.members.length === members;
      },
      { timeoutMs, intervalMs: 250, what: `group ${env.groupId} to be Stable with ${members} members` },
    );
  } finally {
    await admin.disconnect();
  }
}

/** Records of a topic from the beginning to its end as of the call. */
export async function readTopic(
  env: PipelineEnv,
): Promise<{ partition: number; offset: string; key: Buffer | null; value: Buffer | null }[]> {
  const admin = env.kafka().admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(env.topic);
  await admin.disconnect();
  const remaining = new Map(ends.map((e) => [e.partition, BigInt(e.high)]));
  for (const [p, high] of remaining) if (high === 0n) remaining.delete(p);
  const out: { partition: number; offset: string; key: Buffer | null; value: Buffer | null }[] = [];
  if (remaining.size === 0) return out;
  const consumer = env.kafka().consumer({ groupId: `rla-e2e-reader-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: env.topic, fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        const high = remaining.get(partition);
        if (high === undefined) return;
        out.push({ partition, offset: message.offset, key: message.key, value: message.value });
        if (BigInt(message.offset) + 1n >= high) {
          remaining.delete(partition);
          if (remaining.size === 0) resolve();
        }
      },
    });
  });
  try {
    await Promise.race([
      done,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`reading ${env.topic} timed out`)), 60_000)),
    ]);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// InfluxDB

export type Row = Record<string, unknown>;

async function select(env: { influxUrl: string; database: string }, q: string): Promise<Row[]> {
  return influxRows(await influxQuery(env.influxUrl, env.database, q, { timeoutMs: 30_000 }));
}

export const readStats = (env: { influxUrl: string; database: string }) =>
  select(env, `SELECT * FROM "http_stats" GROUP BY "host", "service"`);
export const readStatus = (env: { influxUrl: string; database: string }) =>
  select(env, `SELECT "count" FROM "http_status" GROUP BY "host", "service", "code"`);
export const readAnomalies = (env: { influxUrl: string; database: string }) =>
  select(env, `SELECT * FROM "anomaly" GROUP BY "type", "host", "service", "rank"`);

export interface PipelineTotals {
  partials: number;
  late_partials: number;
  dropped_late: number;
  duplicates: number;
  decode_errors: number;
}

/** Sums of central's `pipeline` counters over every instance and interval written so far. */
export async function readPipelineTotals(env: { influxUrl: string; database: string }): Promise<PipelineTotals> {
  const [row] = await select(
    env,
    `SELECT SUM("partials") AS "partials", SUM("late_partials") AS "late_partials", SUM("dropped_late") AS "dropped_late", SUM("duplicates") AS "duplicates", SUM("decode_errors") AS "decode_errors" FROM "pipeline"`,
  );
  const n = (k: string) => Number(row?.[k] ?? 0);
  return {
    partials: n("partials"),
    late_partials: n("late_partials"),
    dropped_late: n("dropped_late"),
    duplicates: n("duplicates"),
    decode_errors: n("decode_errors"),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Comparison with the reference

/** Expected content: per host id, and `all` for the fleet, the reference of every line written. */
export type Expected = Map<string, ReferenceAccumulator>;

/** An empty expectation for `hosts` plus `all`, to feed line by line (`expectLine`). */
export function createExpected(hosts: Iterable<string>, windowMs = 10_000, maxLineBytes?: number): Expected {
  const out: Expected = new Map();
  for (const h of [...hosts, "all"]) out.set(h, new ReferenceAccumulator(windowMs, maxLineBytes));
  return out;
}

/** Counts one written line (latin1 text, no newline) for its host and for the fleet; returns whether it is a request. */
export function expectLine(expected: Expected, host: string, text: string): boolean {
  const parsed = expected.get(host)!.add(text);
  expected.get("all")!.count(parsed);
  return parsed !== null;
}

/** The expectation for whole logs, host by host. */
export function expectFleet(
  linesByHost: Map<string, Iterable<string>>,
  windowMs = 10_000,
  maxLineBytes?: number,
): Expected {
  const out = createExpected(linesByHost.keys(), windowMs, maxLineBytes);
  for (const [host, lines] of linesByHost) for (const text of lines) expectLine(out, host, text);
  return out;
}

export interface ComparisonSummary {
  /** Lines written to the logs (every host; requests and rejects). */
  lines_written: number;
  /** Requests plus parse rejects in the per-host `http_stats` rows. */
  lines_counted: number;
  /** Per (host, window), requests the reference has and InfluxDB does not, plus missing rejects (per host). */
  lost: number;
  /** Per (host, window), requests InfluxDB has beyond the reference, plus extra rejects (per host). */
  doubled: number;
}

export interface Comparison {
  mismatches: string[];
  summary: ComparisonSummary;
  stats: Row[];
}

export interface CompareOptions {
  influxUrl: string;
  database: string;
  expected: Expected;
  service?: string;
  windowMs?: number;
  /** Compare latency percentiles (default true). */
  latency?: boolean;
  /** Compare each host's total parse rejects with the reference's (default true). */
  rejects?: boolean;
}

const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
const PERCENTILES = [50, 90, 95, 99] as const;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Reads `http_stats` and `http_status` and compares every value with the reference: counts, bytes, status classes
 * and codes exactly; latency percentiles and max within HDR precision, the mean within 0.1 %. A window the reference
 * does not have must hold no requests (agents write empty heartbeat windows). Rejects are compared as per-host
 * totals: the agent files a reject under its file's clock window, which the reference cannot know.
 */
export async function compareWithReference(o: CompareOptions): Promise<Comparison> {
  const service = o.service ?? "web";
  const env = { influxUrl: o.influxUrl, database: o.database };
  const [stats, status] = await Promise.all([readStats(env), readStatus(env)]);
  const mismatches: string[] = [];
  const summary: ComparisonSummary = { lines_written: 0, lines_counted: 0, lost: 0, doubled: 0 };

  const rows = new Map<string, Map<number, Row>>();
  for (const r of stats) {
    if (r.service !== service) continue;
    const host = String(r.host);
    if (!rows.has(host)) rows.set(host, new Map());
    rows.get(host)!.set(Number(r.time), r);
  }
  const codes = new Map<string, number>();
  for (const r of status) {
    if (r.service !== service) continue;
    codes.set(`${r.host}|${r.time}|${r.code}`, Number(r.count));
  }

  const hosts = new Set([...o.expected.keys(), ...rows.keys()]);
  for (const host of [...hosts].sort()) {
    const want = o.expected.get(host);
    const got = rows.get(host) ?? new Map<number, Row>();
    const perHost = host !== "all";
    if (perHost && want) summary.lines_written += want.lines;
    if (!want) {
      mismatches.push(`${host}: InfluxDB has ${got.size} windows of a host the reference does not know`);
    }
    const windows = new Set([...(want?.windows.keys() ?? []), ...got.keys()]);
    let gotRejects = 0;
    for (const w of [...windows].sort((a, b) => a - b)) {
      const ref = want?.windows.get(w);
      const row = got.get(w);
      const where = `${host} @${iso(w)}`;
      const requests = row === undefined ? 0 : Number(row.requests);
      const wantRequests = ref?.requests ?? 0;
      if (row !== undefined) gotRejects += Number(row.parse_rejects ?? 0);
      if (perHost) {
        summary.lines_counted += requests;
        if (requests < wantRequests) summary.lost += wantRequests - requests;
        else summary.doubled += requests - wantRequests;
      }
      if (row === undefined) {
        if (wantRequests > 0) mismatches.push(`${where}: missing (reference has ${wantRequests} requests)`);
        continue;
      }
      if (requests !== wantRequests) mismatches.push(`${where}: requests ${requests}, reference ${wantRequests}`);
      if (ref === undefined) continue;
      compareWindow(mismatches, where, row, ref, o.latency !== false);
      const seen = new Set<number>();
      for (const [code, n] of ref.codes) {
        seen.add(code);
        const c = codes.get(`${host}|${w}|${code}`);
        if (c !== n) mismatches.push(`${where}: http_status code ${code} = ${c ?? "missing"}, reference ${n}`);
      }
      for (const [key, n] of codes) {
        const [h, t, code] = key.split("|");
        if (h === host && Number(t) === w && !seen.has(Number(code)) && n !== 0) {
          mismatches.push(`${where}: http_status code ${code} = ${n}, reference has none`);
        }
      }
    }
    if (perHost) {
      summary.lines_counted += gotRejects;
      const wantRejects = want?.rejects ?? 0;
      if (o.rejects !== false && gotRejects !== wantRejects) {
        mismatches.push(`${host}: parse_rejects total ${gotRejects}, reference ${wantRejects}`);
        if (gotRejects < wantRejects) summary.lost += wantRejects - gotRejects;
        else summary.doubled += gotRejects - wantRejects;
      }
    }
  }
  return { mismatches, summary, stats };
}

function compareWindow(out: string[], where: string, row: Row, ref: ReferenceWindow, latency: boolean): void {
  const exact = (field: string, want: number) => {
    const got = row[field] === undefined || row[field] === null ? undefined : Number(row[field]);
    if (got !== want) out.push(`${where}: ${field} ${got ?? "missing"}, reference ${want}`);
  };
  exact("bytes", ref.bytes);
  for (const c of CLASSES) exact(`status_${c}`, ref.classes[c]);
  if (!latency || ref.latencyN === 0) return;
  const us = (field: string) =>
    row[field] === undefined || row[field] === null ? Number.NaN : Math.round(Number(row[field]) * 1000);
  for (const p of PERCENTILES) {
    const got = us(`latency_p${p}_ms`);
    const want = windowPercentileUs(ref, p);
    if (!withinHdrPrecision(got, want)) out.push(`${where}: latency_p${p}_ms = ${got / 1000}, exact ${want / 1000}`);
  }
  const max = us("latency_max_ms");
  if (!withinHdrPrecision(max, windowMaxLatencyUs(ref))) {
    out.push(`${where}: latency_max_ms = ${max / 1000}, exact ${windowMaxLatencyUs(ref) / 1000}`);
  }
  const mean = us("latency_mean_ms");
  const exactMean = ref.latencySumUs / ref.latencyN;
  if (!withinHdrMean(mean, exactMean)) out.push(`${where}: latency_mean_ms = ${mean / 1000}, exact ${exactMean / 1000}`);
}

export interface WaitForReferenceOptions extends CompareOptions {
  timeoutMs: number;
  /** Processes that must stay up meanwhile (an unexpected exit fails at once, with its log). */
  watch?: ManagedProcess[];
}

/**
 * Polls `compareWithReference` until InfluxDB matches (twice in a row, a second apart, so a half-written batch
 * does not count) or the deadline passes; returns the last comparison either way, so the caller's assertion shows
 * every remaining mismatch.
 */
export async function waitForReference(o: WaitForReferenceOptions): Promise<Comparison> {
  const deadline = Date.now() + o.timeoutMs;
  let last: Comparison | null = null;
  let matchedBefore = false;
  for (;;) {
    for (const p of o.watch ?? []) p.assertAlive();
    try {
      last = await compareWithReference(o);
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    if (last !== null && last.mismatches.length === 0) {
      if (matchedBefore) return last;
      matchedBefore = true;
    } else matchedBefore = false;
    if (Date.now() >= deadline && last !== null) return last;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** The first `n` mismatches, one per line, for assertion messages. */
export function describeMismatches(c: Comparison, n = 40): string {
  const head = c.mismatches.slice(0, n).join("\n");
  const more = c.mismatches.length > n ? `\n… and ${c.mismatches.length - n} more` : "";
  return `${c.mismatches.length} mismatches (summary ${JSON.stringify(c.summary)}):\n${head}${more}`;
}
