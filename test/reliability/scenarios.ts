/**
 * The fault-injection scenarios, parameterised by size: `reliability.itest.ts` (npm run test:reliability) runs them
 * at full size, `test/e2e/reliability-ci.itest.ts` (the integration project, so CI) at small sizes.
 *
 * Every scenario runs real agent and central processes against a real Kafka and InfluxDB, injects its fault, waits
 * (polling with a deadline) until InfluxDB matches the reference of every line written, and returns one result;
 * `report` prints it as ONE summary line `scenario, lines written, lines counted, lost, doubled, max RSS` (and
 * appends it to .state/reliability/summary.txt). The caller asserts lost = doubled = 0 and no mismatch.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, runStackScript } from "@rla/deploy";
import { createPartial, decodePartial, encodePartial, partialIdentity, REJECT_REASONS } from "@rla/protocol";
import { Packr } from "msgpackr";
import { generateFleet, seededRandom, standardScenario } from "../support/fleet-gen.js";
import {
  type ComparisonSummary,
  createExpected,
  createPipelineEnv,
  type Expected,
  expectFleet,
  expectLine,
  type ManagedProcess,
  metricSum,
  type PipelineEnv,
  REPO_ROOT,
  readPipelineTotals,
  readTopic,
  waitFor,
  waitForReference,
} from "../support/harness.js";
import { createLineMaker, LiveLog, writeLive } from "../support/traffic.js";

export interface ScenarioResult {
  scenario: string;
  summary: ComparisonSummary;
  mismatches: string[];
  /** Peak VmHWM over every process of the kind (restarts included), MB. */
  maxRssMb: { agent: number; central: number };
  /** Scenario-specific figures, printed at the end of the summary line. */
  notes: string;
}

const mb = (kb: number) => Math.round(kb / 1024);
const peak = (ps: ManagedProcess[], prefix: string) =>
  mb(Math.max(0, ...ps.filter((p) => p.name.startsWith(prefix)).map((p) => p.sampleRss())));

function resultOf(
  scenario: string,
  env: PipelineEnv,
  c: { summary: ComparisonSummary; mismatches: string[] },
  notes: string,
): ScenarioResult {
  return {
    scenario,
    summary: c.summary,
    mismatches: c.mismatches,
    maxRssMb: { agent: peak(env.processes, "agent-"), central: peak(env.processes, "central-") },
    notes,
  };
}

/** Prints the scenario's one summary line and appends it to .state/reliability/summary.txt. */
export function report(r: ScenarioResult): string {
  const s = r.summary;
  const line =
    `[reliability] ${r.scenario}, lines written ${s.lines_written}, lines counted ${s.lines_counted}, ` +
    `lost ${s.lost}, doubled ${s.doubled}, max RSS agent ${r.maxRssMb.agent} MB / central ${r.maxRssMb.central} MB` +
    (r.mismatches.length > 0 ? `, ${r.mismatches.length} MISMATCHES` : "") +
    (r.notes ? ` (${r.notes})` : "");
  console.log(line);
  const dir = join(REPO_ROOT, ".state/reliability");
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, "summary.txt"), `${new Date().toISOString()} ${line}\n`);
  return line;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

// ---------------------------------------------------------------------------------------------------------------
// Rotations

export interface RotationOptions {
  rotations: number;
  linesPerSec: number;
  /** Least time between two rotations (a rotation also waits until the agent read a line of the current file). */
  minIntervalMs?: number;
  copytruncateShare?: number;
  seed?: number;
  timeoutMs?: number;
}

/**
 * One agent follows access.log live (not --once) while it is written at `linesPerSec` and rotated `rotations`
 * times, rename and copytruncate mixed (seeded). A rotation waits until the agent has read a line of the current
 * file: real rotations are hours apart, and a file created and rotated away before anyone opened it cannot be
 * followed by any tailer.
 */
export async function rotationScenario(o: RotationOptions): Promise<ScenarioResult> {
  const env = await createPipelineEnv({ name: "rotate" });
  try {
    const host = "web1";
    const seed = o.seed ?? 1;
    const rnd = seededRandom(seed);
    const log = new LiveLog(join(env.logDir(host), "access.log"));
    const expected = createExpected([host]);
    const central = await env.startCentral();
    const agent = await env.startAgent(host);
    const written = () => expected.get(host)!.lines;
    let rotations = 0;
    let lastRotationMs = 0;
    let generationStart: number | null = 0;
    let checking = false;
    const minInterval = o.minIntervalMs ?? 400;
    const t0 = Date.now();
    const run = await writeLive({
      sources: [{ host, log, make: createLineMaker({ seed, hostIndex: 0 }) }],
      linesPerSec: o.linesPerSec,
      expected,
      lateShare: 0.001,
      seed,
      until: (elapsed) => rotations >= o.rotations && elapsed - lastRotationMs >= 1_000,
      onTick: (elapsed) => {
        agent.assertAlive();
        central.assertAlive();
        // After a rename the writer reopens the path a few writes later: the new file starts there.
        if (generationStart === null && !log.writingToRenamed) generationStart = written();
        if (checking || rotations >= o.rotations || generationStart === null) return;
        if (!log.canRotate || elapsed - lastRotationMs < minInterval) return;
        const mustHaveRead = generationStart;
        checking = true;
        agent
          .metrics()
          .then((m) => {
            if (metricSum(m, "rla_agent_lines_read_total") <= mustHaveRead) return;
            if (rnd() < (o.copytruncateShare ?? 0.5)) {
              log.rotateCopyTruncate();
              generationStart = written();
            } else {
              log.rotateRename();
              generationStart = null;
            }
            rotations++;
            lastRotationMs = Date.now() - t0;
          })
          .catch(() => undefined)
          .finally(() => {
            checking = false;
          });
      },
    });
    log.close();
    const result = await waitForReference({
      ...env,
      expected,
      timeoutMs: o.timeoutMs ?? 240_000,
      watch: [agent, central],
    });
    const r = log.rotations;
    return resultOf(
      `rotations x${rotations} (rename ${r.rename}, copytruncate ${r.copytruncate}) while following live`,
      env,
      result,
      `written at ${Math.round(run.rate)} lines/s for ${(run.elapsedMs / 1000).toFixed(1)} s`,
    );
  } finally {
    await env.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Crashes

export interface KillOptions {
  agentKills: number;
  centralKills: number;
  /** Per agent (two agents write). */
  linesPerSec: number;
  durationMs: number;
  seed?: number;
  timeoutMs?: number;
}

/**
 * Two agents follow live logs; at seeded random moments an agent or central is kill -9ed and restarted at once
 * (same config and state dir; a new central joins the same group). The writer never stops.
 */
export async function killScenario(o: KillOptions): Promise<ScenarioResult> {
  const env = await createPipelineEnv({ name: "kill" });
  try {
    const hosts = ["web1", "web2"];
    const seed = o.seed ?? 7;
    const rnd = seededRandom(seed);
    const expected = createExpected(hosts);
    const logs = hosts.map((h) => new LiveLog(join(env.logDir(h), "access.log")));
    let central = await env.startCentral();
    const agents = new Map<string, ManagedProcess>();
    for (const h of hosts) agents.set(h, await env.startAgent(h));

    // Seeded moments in [10 %, 90 %] of the run. Agent kills and central kills run as two independent sequences
    // (a central restart waits until it consumes again, and must not hold back an agent kill); within a sequence a
    // kill may come a little later than drawn.
    const moments = (count: number) =>
      Array.from({ length: count }, () => Math.round(o.durationMs * (0.1 + 0.8 * rnd()))).sort((a, b) => a - b);
    const agentEvents = moments(o.agentKills).map((atMs) => ({ atMs, host: hosts[Math.floor(rnd() * hosts.length)]! }));
    const centralEvents = moments(o.centralKills);
    const t0 = Date.now();
    const done: string[] = [];
    const stamp = (what: string) => done.push(`${what}@${((Date.now() - t0) / 1000).toFixed(1)}s`);
    let chaosError: unknown = null;
    let chaosDone = false;
    const chaos = Promise.all([
      (async () => {
        for (const e of agentEvents) {
          await sleep(e.atMs - (Date.now() - t0));
          await agents.get(e.host)!.kill9();
          stamp(e.host);
          agents.set(e.host, await env.startAgent(e.host));
        }
      })(),
      (async () => {
        for (const atMs of centralEvents) {
          await sleep(atMs - (Date.now() - t0));
          await central.kill9();
          stamp("central");
          central = await env.startCentral();
        }
      })(),
    ])
      .catch((error: unknown) => {
        chaosError = error;
      })
      .finally(() => {
        chaosDone = true;
      });

    const run = await writeLive({
      sources: hosts.map((host, i) => ({
        host,
        log: logs[i]!,
        make: createLineMaker({ seed: seed + i, hostIndex: i }),
      })),
      linesPerSec: o.linesPerSec,
      expected,
      lateShare: 0.002,
      seed,
      until: (elapsed) => chaosError !== null || (chaosDone && elapsed >= o.durationMs),
      onTick: () => {
        for (const p of agents.values()) p.assertAlive();
      },
    });
    await chaos;
    if (chaosError !== null) throw chaosError;
    for (const l of logs) l.close();
    const result = await waitForReference({
      ...env,
      expected,
      timeoutMs: o.timeoutMs ?? 240_000,
      watch: [...agents.values(), central],
    });
    return resultOf(
      `kill -9: agent x${o.agentKills}, central x${o.centralKills} at seeded moments`,
      env,
      result,
      `2 agents at ${Math.round(run.rate)} lines/s for ${(run.elapsedMs / 1000).toFixed(1)} s; kills ${done.join(" ")}`,
    );
  } finally {
    await env.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Outages (on a separate stack instance: the shared stack is never stopped)

export interface SeparateStack {
  kafkaBrokers: string[];
  influxUrl: string;
  /** SIGTERM to the server started for this instance (by its pid file); resolves once it is gone. */
  stop(server: "kafka" | "influxd"): Promise<void>;
  /** `stack.sh up` for this instance: starts whatever is not running and waits until both answer. */
  up(): Promise<void>;
  down(): Promise<void>;
}

export async function startSeparateStack(): Promise<SeparateStack> {
  const state = mkdtempSync(join(tmpdir(), "rla-rel-stack-"));
  const [kafka, controller, influx, rpc] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RLA_STATE_DIR: state,
    RLA_KAFKA_PORT: String(kafka),
    RLA_KAFKA_CONTROLLER_PORT: String(controller),
    RLA_INFLUX_PORT: String(influx),
    RLA_INFLUX_RPC_PORT: String(rpc),
  };
  const stack: SeparateStack = {
    kafkaBrokers: [`127.0.0.1:${kafka}`],
    influxUrl: `http://127.0.0.1:${influx}`,
    async stop(server) {
      const pid = Number(readFileSync(join(state, `${server}.pid`), "utf8").trim());
      // stack.sh's own rule: a pid is ours only if its command line names our state dir.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (!cmdline.includes(state)) throw new Error(`pid ${pid} is not the ${server} of ${state}`);
      process.kill(pid, "SIGTERM");
      const alive = () => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      await waitFor(() => !alive(), { timeoutMs: 60_000, what: `${server} (pid ${pid}) to exit` }).catch(async () => {
        process.kill(pid, "SIGKILL");
        await waitFor(() => !alive(), { timeoutMs: 10_000, what: `${server} (pid ${pid}) to die` });
      });
    },
    up: () => runStackScript("up", env),
    async down() {
      await runStackScript("down", env);
      rmSync(state, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    },
  };
  try {
    await stack.up();
  } catch (error) {
    await stack.down().catch(() => undefined);
    throw error;
  }
  return stack;
}

export interface OutageOptions {
  stack: SeparateStack;
  /** Agents writing (web1..webN), each at `linesPerSec`; default 1. */
  agents?: number;
  server: "kafka" | "influxd";
  outageMs: number;
  linesPerSec: number;
  /** Writing before the outage and after the server is back. */
  leadMs?: number;
  tailMs?: number;
  seed?: number;
  timeoutMs?: number;
}

/** Agents and central on the separate stack; under load, `server` is stopped for `outageMs` and started again. */
export async function outageScenario(o: OutageOptions): Promise<ScenarioResult> {
  const env = await createPipelineEnv({
    name: `outage-${o.server}`,
    kafkaBrokers: o.stack.kafkaBrokers,
    influxUrl: o.stack.influxUrl,
  });
  try {
    const hosts = Array.from({ length: o.agents ?? 1 }, (_, i) => `web${i + 1}`);
    const seed = o.seed ?? 3;
    const expected = createExpected(hosts);
    const logs = hosts.map((h) => new LiveLog(join(env.logDir(h), "access.log")));
    const central = await env.startCentral();
    const agents: ManagedProcess[] = [];
    for (const h of hosts) agents.push(await env.startAgent(h));
    const leadMs = o.leadMs ?? 8_000;
    let restoredAt: number | null = null;
    let downFor = 0;
    let chaosError: unknown = null;
    const t0 = Date.now();
    const chaos = (async () => {
      await sleep(leadMs);
      await o.stack.stop(o.server);
      const stoppedAt = Date.now();
      await sleep(o.outageMs);
      await o.stack.up();
      restoredAt = Date.now();
      downFor = restoredAt - stoppedAt;
    })().catch((error: unknown) => {
      chaosError = error;
    });
    const run = await writeLive({
      sources: hosts.map((host, i) => ({
        host,
        log: logs[i]!,
        make: createLineMaker({ seed: seed + i, hostIndex: i }),
      })),
      linesPerSec: o.linesPerSec,
      expected,
      lateShare: 0.002,
      seed,
      until: () => chaosError !== null || (restoredAt !== null && Date.now() - restoredAt >= (o.tailMs ?? 8_000)),
      onTick: () => {
        for (const p of agents) p.assertAlive();
        central.assertAlive();
      },
    });
    await chaos;
    if (chaosError !== null) throw chaosError;
    for (const l of logs) l.close();
    const result = await waitForReference({
      ...env,
      expected,
      timeoutMs: o.timeoutMs ?? 300_000,
      watch: [...agents, central],
    });
    const pipeline = await readPipelineTotals(env);
    // The longest outage hold central announced (its warn line carries outageHoldMs).
    const holds = [...readFileSync(central.logFile, "utf8").matchAll(/"outageHoldMs":(\d+)/g)].map((m) => Number(m[1]));
    return resultOf(
      `${o.server === "kafka" ? "Kafka" : "InfluxDB"} stopped for ${Math.round(o.outageMs / 1000)} s under load`,
      env,
      result,
      `${hosts.length} agent(s); unavailable ${(downFor / 1000).toFixed(0)} s including its restart; ` +
        `${Math.round(run.rate)} lines/s written for ${(run.elapsedMs / 1000).toFixed(0)} s; ` +
        `waited ${((Date.now() - t0 - run.elapsedMs) / 1000).toFixed(0)} s after the last line; ` +
        `central partials dropped as late: ${pipeline.dropped_late}; ` +
        `longest outage hold: ${(Math.max(0, ...holds) / 1000).toFixed(0)} s`,
    );
  } finally {
    await env.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Garbage in the logs

export interface FuzzOptions {
  fuzzLines: number;
  goodLines: number;
  /** Of the fuzz lines, this many are 1 MB long. */
  hugeLines: number;
  seed?: number;
  timeoutMs?: number;
}

const MAX_LINE_BYTES = 65_536;

type FuzzKind =
  | "empty"
  | "ascii"
  | "high_bytes"
  | "utf8_in_good"
  | "nul"
  | "ctl_in_agent"
  | "crlf"
  | "cut"
  | "bad_status"
  | "bad_bytes"
  | "bad_month";

const FUZZ_KINDS: FuzzKind[] = [
  "empty",
  "ascii",
  "high_bytes",
  "utf8_in_good",
  "nul",
  "ctl_in_agent",
  "crlf",
  "cut",
  "bad_status",
  "bad_bytes",
  "bad_month",
];

/**
 * One log of `goodLines` real lines with `fuzzLines` fuzzed ones mixed in (garbage, 1 MB lines, invalid UTF-8, NUL
 * bytes, CRLF endings, lines cut short, bad fields), ending in an unterminated line; replayed with --once. Good
 * lines — including real lines with invalid UTF-8 or control bytes in the user agent, or a CRLF ending, which the
 * parsers' contract counts as requests — must be exact per window; rejects exact in total and by reason where the
 * reason is unambiguous.
 */
export async function fuzzScenario(o: FuzzOptions): Promise<ScenarioResult> {
  const env = await createPipelineEnv({ name: "fuzz" });
  try {
    const host = "web1";
    const seed = o.seed ?? 5;
    const r = seededRandom(seed);
    const expected = createExpected([host], 10_000, MAX_LINE_BYTES);
    const make = createLineMaker({ seed, hostIndex: 1 });
    const t = Date.now() - 15 * 60_000;
    const start = t - (t % 10_000);
    const spanMs = 120_000;
    const kinds = new Map<FuzzKind | "huge", number>();
    const fd = openSync(join(env.logDir(host), "access.log"), "w");
    let chunk: string[] = [];
    const flush = () => {
      if (chunk.length === 0) return;
      writeSync(fd, `${chunk.join("\n")}\n`, null, "latin1");
      chunk = [];
    };
    let blank = 0;
    const emit = (text: string) => {
      // The parsers' `empty`: only spaces and tabs (a trailing \r dropped), whatever kind of fuzz made it.
      if (/^[ \t]*\r?$/.test(text)) blank++;
      expectLine(expected, host, text);
      chunk.push(text);
      if (chunk.length >= 5_000) flush();
    };
    const randomText = (n: number, lo: number, hi: number) => {
      let s = "";
      for (let i = 0; i < n; i++) {
        const c = lo + Math.floor(r() * (hi - lo + 1));
        s += String.fromCharCode(c === 10 ? 11 : c);
      }
      return s;
    };
    const hugeEvery = o.hugeLines > 0 ? Math.floor(o.fuzzLines / o.hugeLines) : Number.POSITIVE_INFINITY;
    let fuzzDone = 0;
    const fuzz = (good: string) => {
      fuzzDone++;
      if (fuzzDone % hugeEvery === 0 && (kinds.get("huge") ?? 0) < o.hugeLines) {
        kinds.set("huge", (kinds.get("huge") ?? 0) + 1);
        const huge = `${good.slice(0, 40)}${"x".repeat(1_048_576)}`;
        flush();
        expectLine(expected, host, huge);
        writeSync(fd, `${huge}\n`, null, "latin1");
        return;
      }
      const kind = FUZZ_KINDS[Math.floor(r() * FUZZ_KINDS.length)]!;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      switch (kind) {
        case "empty":
          return emit("");
        case "ascii":
          return emit(randomText(1 + Math.floor(r() * 200), 0x20, 0x7e));
        case "high_bytes":
          return emit(randomText(1 + Math.floor(r() * 200), 0x80, 0xff));
        case "utf8_in_good":
          return emit(good.replace('"loadgen/1.0"', `"bad\xc3\x28utf8\xff\xfe\xa0"`));
        case "nul": {
          // Into a field parsers keep (the client address or the URI path): always `binary`.
          const [from, to] =
            r() < 0.5 ? [1, good.indexOf(" ")] : [good.indexOf('"GET /') + 6, good.indexOf(" HTTP/1.1")];
          const at = from + Math.floor(r() * (to - from));
          return emit(`${good.slice(0, at)}\0${good.slice(at)}`);
        }
        case "ctl_in_agent":
          // Parsers skip the user agent unread (documented): still a request.
          return emit(good.replace('"loadgen/1.0"', '"load\0gen\x01\x1b[0m"'));
        case "crlf":
          // A trailing \r is ignored (CRLF files): still a request.
          return emit(`${good}\r`);
        case "cut":
          return emit(good.slice(0, 1 + Math.floor(r() * (good.indexOf(' "GET') - 1))));
        case "bad_status":
          return emit(good.replace(/" (\d)(\d)(\d) /, '" $1x$3 '));
        case "bad_bytes":
          return emit(good.replace(/" (\d{3}) (\d+|-) /, '" $1 12k '));
        case "bad_month":
          return emit(good.replace(/\/(\w{3})\//, "/Foo/"));
      }
    };
    const ratio = o.fuzzLines / o.goodLines;
    for (let i = 0; i < o.goodLines; i++) {
      const good = make(start + Math.floor((i * spanMs) / o.goodLines));
      emit(good);
      const n = Math.floor((i + 1) * ratio) - Math.floor(i * ratio);
      for (let k = 0; k < n; k++) fuzz(make(start + Math.floor((i * spanMs) / o.goodLines)));
    }
    flush();
    // The log ends inside a line: --once reads it as `truncated`, whatever it holds.
    writeSync(fd, make(start + spanMs - 1).slice(0, 60), null, "latin1");
    closeSync(fd);
    expected.get(host)!.count(null);
    expected.get("all")!.count(null);

    const central = await env.startCentral();
    const agent = await env.runAgentOnce(host, { timeoutMs: o.timeoutMs ?? 600_000 });
    const result = await waitForReference({ ...env, expected, timeoutMs: o.timeoutMs ?? 300_000, watch: [central] });

    // Rejects by reason, from the partials themselves (each identity once).
    const byReason = Object.fromEntries(REJECT_REASONS.map((reason) => [reason, 0])) as Record<string, number>;
    const seen = new Set<string>();
    for (const rec of await readTopic(env)) {
      const p = decodePartial(rec.value!);
      const id = partialIdentity(p);
      if (seen.has(id)) continue;
      seen.add(id);
      REJECT_REASONS.forEach((reason, i) => {
        byReason[reason]! += p.rejectCounts[i]!;
      });
    }
    const want = {
      empty: blank,
      too_long: kinds.get("huge") ?? 0,
      binary: kinds.get("nul") ?? 0,
      truncated: 1,
    };
    const mismatches = [...result.mismatches];
    for (const [reason, n] of Object.entries(want)) {
      if (byReason[reason] !== n) mismatches.push(`rejects ${reason}: agent ${byReason[reason]}, expected ${n}`);
    }
    void agent;
    const reasons = Object.entries(byReason)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
    return resultOf(
      `fuzz: ${o.fuzzLines} fuzzed lines (${o.hugeLines} of 1 MB) in ${o.goodLines} real lines`,
      env,
      { summary: result.summary, mismatches },
      `rejects by reason: ${reasons}; counted as requests: ${kinds.get("utf8_in_good") ?? 0} with invalid UTF-8, ` +
        `${kinds.get("ctl_in_agent") ?? 0} with control bytes in the user agent, ${kinds.get("crlf") ?? 0} CRLF`,
    );
  } finally {
    await env.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Poison records in the partials topic

export interface PoisonOptions {
  /** Records of each poison kind. */
  perKind: number;
  /** Real partials produced a second time (exact redeliveries). */
  duplicates: number;
  seed?: number;
  timeoutMs?: number;
}

/**
 * Two agents replay 60 s of traffic; between and after their runs, poison records are produced into the topic
 * (empty, garbage, truncated, wrong version, wrong window length, misaligned window, far-future window, oversize)
 * plus exact copies of real partials. Central must count and skip each by reason, drop the copies as duplicates,
 * and write exactly the reference.
 */
export async function poisonScenario(o: PoisonOptions): Promise<ScenarioResult> {
  const env = await createPipelineEnv({ name: "poison" });
  try {
    const seed = o.seed ?? 9;
    const r = seededRandom(seed);
    const hosts = ["web1", "web2"];
    const t = Date.now() - 10 * 60_000;
    const start = t - (t % 10_000);
    const fleet = generateFleet({ ...standardScenario(start, seed), hosts, durationMs: 60_000, anomalies: [] });
    const texts = new Map([...fleet].map(([h, lines]) => [h, lines.map((l) => l.text)]));
    for (const [h, lines] of texts) {
      const fd = openSync(join(env.logDir(h), "access.log"), "w");
      writeSync(fd, lines.map((l) => `${l}\n`).join(""));
      closeSync(fd);
    }
    const expected: Expected = expectFleet(texts);

    const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true, int64AsType: "number" });
    const sample = createPartial({ host: "web9", service: "web", windowStartMs: start, windowMs: 10_000, seq: 0 });
    const valid = encodePartial(sample);
    const mutate = (change: Record<string, unknown>) => packr.pack({ ...packr.unpack(valid), ...change });
    const future = Date.now() + 2 * 3_600_000;
    const kinds: Record<string, () => Buffer | Uint8Array> = {
      empty: () => Buffer.alloc(0),
      garbage: () => randomBytes(10 + Math.floor(r() * 500)),
      truncated: () => valid.subarray(0, valid.length >> 1),
      version: () => mutate({ v: 99 }),
      window_length: () => mutate({ wm: 60_000 }),
      misaligned: () => mutate({ w: start + 1_234 }),
      future: () => mutate({ w: future - (future % 10_000) }),
      oversize: () => randomBytes(100_000),
    };
    const producer = env.kafka().producer();
    await producer.connect();
    /** In requests of at most ~256 KB: the broker refuses a record batch above its message.max.bytes (1 MB). */
    const send = async (messages: { key: string | Buffer | null; value: Buffer | null }[]) => {
      let batch: typeof messages = [];
      let bytes = 0;
      for (const m of messages) {
        if (batch.length > 0 && bytes + (m.value?.length ?? 0) > 256 * 1024) {
          await producer.send({ topic: env.topic, acks: -1, messages: batch });
          batch = [];
          bytes = 0;
        }
        batch.push(m);
        bytes += m.value?.length ?? 0;
      }
      if (batch.length > 0) await producer.send({ topic: env.topic, acks: -1, messages: batch });
    };
    const injectPoison = () =>
      send(
        Object.values(kinds).flatMap((make) =>
          Array.from({ length: o.perKind }, () => ({
            key: String(start + 10_000 * Math.floor(r() * 6)),
            value: Buffer.from(make()),
          })),
        ),
      );
    try {
      await env.runAgentOnce("web1");
      await injectPoison();
      await env.runAgentOnce("web2");
      await injectPoison();
      const real = (await readTopic(env)).filter((m) => {
        if (m.value === null || m.value.length === 0) return false;
        try {
          return decodePartial(m.value).host !== "web9";
        } catch {
          return false;
        }
      });
      const copies = Array.from({ length: o.duplicates }, () => real[Math.floor(r() * real.length)]!);
      await send(copies.map((m) => ({ key: m.key, value: m.value })));
    } finally {
      await producer.disconnect();
    }
    const poison = 2 * o.perKind * Object.keys(kinds).length;

    const central = await env.startCentral({ config: { allowedLatenessMs: 300_000, maxPartialBytes: 65_536 } });
    const result = await waitForReference({ ...env, expected, timeoutMs: o.timeoutMs ?? 120_000, watch: [central] });
    const m = await central.metrics();
    const mismatches = [...result.mismatches];
    const decodeErrors = metricSum(m, "rla_central_decode_errors_total");
    if (decodeErrors !== poison) mismatches.push(`decode errors ${decodeErrors}, injected ${poison}`);
    const perReason = (reason: string) => m.get(`rla_central_decode_errors_total{reason="${reason}"}`) ?? 0;
    for (const reason of ["empty", "version", "window_length", "misaligned", "future", "oversize"]) {
      if (perReason(reason) !== 2 * o.perKind) {
        mismatches.push(`decode errors ${reason}: ${perReason(reason)}, injected ${2 * o.perKind}`);
      }
    }
    // Garbage may be caught as malformed or as an unknown version; truncated records are malformed.
    const garbageLike = perReason("malformed") + perReason("version") - 2 * o.perKind;
    if (garbageLike !== 4 * o.perKind)
      mismatches.push(`malformed (garbage + truncated): ${garbageLike}, want ${4 * o.perKind}`);
    const duplicates = m.get(`rla_central_partials_total{outcome="duplicate"}`) ?? 0;
    if (duplicates !== o.duplicates) mismatches.push(`duplicates ${duplicates}, injected ${o.duplicates}`);
    // The pipeline measurement carries the same count (its interval points are written every window).
    const totals = await waitFor(
      async () => {
        const p = await readPipelineTotals(env);
        return p.decode_errors === poison ? p : undefined;
      },
      { timeoutMs: 30_000, what: `pipeline.decode_errors to sum to ${poison}` },
    ).catch((error: Error) => {
      mismatches.push(error.message);
      return null;
    });
    return resultOf(
      `poison: ${poison} poison records (${Object.keys(kinds).length} kinds) + ${o.duplicates} duplicate partials`,
      env,
      { summary: result.summary, mismatches },
      `central decode errors ${decodeErrors}, duplicates dropped ${duplicates}, pipeline.decode_errors ${totals?.decode_errors ?? "?"}`,
    );
  } finally {
    await env.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A million clients

export interface DistinctIpOptions {
  ips: number;
  /** RSS limits asserted by the caller, reported here. */
  timeoutMs?: number;
}

/** One window with `ips` distinct client IPs (one request each), replayed with --once; memory must stay bounded. */
export async function distinctIpScenario(o: DistinctIpOptions): Promise<ScenarioResult> {
  const env = await createPipelineEnv({ name: "ips" });
  try {
    const host = "web1";
    const expected = createExpected([host]);
    const make = createLineMaker({ seed: 13, hostIndex: 0 });
    const t = Date.now() - 10 * 60_000;
    const start = t - (t % 10_000);
    const fd = openSync(join(env.logDir(host), "access.log"), "w");
    let chunk: string[] = [];
    for (let i = 0; i < o.ips; i++) {
      const ip = `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
      const text = make(start + Math.floor((i * 9_000) / o.ips), ip);
      expectLine(expected, host, text);
      chunk.push(text);
      if (chunk.length >= 10_000) {
        writeSync(fd, `${chunk.join("\n")}\n`);
        chunk = [];
      }
    }
    if (chunk.length > 0) writeSync(fd, `${chunk.join("\n")}\n`);
    closeSync(fd);
    const central = await env.startCentral();
    await env.runAgentOnce(host, { timeoutMs: o.timeoutMs ?? 600_000 });
    const result = await waitForReference({ ...env, expected, timeoutMs: o.timeoutMs ?? 300_000, watch: [central] });
    return resultOf(`${o.ips} distinct client IPs in one window`, env, result, "");
  } finally {
    await env.cleanup();
  }
}
