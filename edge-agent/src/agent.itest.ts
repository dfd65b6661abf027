// The edge agent end to end against the real Kafka broker: the built CLI (`edge-agent/dist/cli.js`, `npm run build`)
// runs as a child process, its partials are consumed back from a fresh topic, merged after dropping duplicate
// identities, and compared with an independent recomputation from the raw lines (test/support/reference.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTopic, freePort, stackEndpoints } from "@rla/deploy";
import {
  createPartial,
  decodePartial,
  mergePartial,
  partialIdentity,
  REJECT_REASONS,
  summarizePartial,
  type WindowPartial,
} from "@rla/protocol";
import { Kafka, logLevel } from "kafkajs";
import { afterAll, describe, expect, it } from "vitest";
import { generateFleet, seededRandom } from "../../test/support/fleet-gen.js";
import { referenceWindows } from "../../test/support/reference.js";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const { kafkaBrokers } = stackEndpoints();
const runId = `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
const kafka = new Kafka({ clientId: `rla-agent-itest-${runId}`, brokers: kafkaBrokers, logLevel: logLevel.NOTHING });
const topics: string[] = [];
const dirs: string[] = [];
const children = new Set<ChildProcess>();

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => {});
  await admin.disconnect();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function freshTopic(name: string): Promise<string> {
  const topic = `rla-itest-agent-${name}-${runId}`;
  topics.push(topic);
  await ensureTopic({ brokers: kafkaBrokers, topic, partitions: 6 });
  return topic;
}

function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), "rla-agent-itest-"));
  dirs.push(d);
  return d;
}

function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, "agent.yaml");
  writeFileSync(file, JSON.stringify(config, null, 2)); // YAML is a superset of JSON
  return file;
}

function baseConfig(dir: string, topic: string, files: string[], extra: Record<string, unknown> = {}) {
  return {
    hostId: "itest-1",
    files,
    format: "nginx_combined_rt",
    stateDir: join(dir, "state"),
    closeLatenessMs: 2_000,
    kafka: { brokers: kafkaBrokers, topic },
    metrics: { port: 0 },
    ...extra,
  };
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function startAgent(
  configFile: string,
  args: string[],
  logFile: string,
): { child: ChildProcess; exited: Promise<Exit> } {
  const log = openSync(logFile, "a");
  const child = spawn(process.execPath, [CLI, "run", "--config", configFile, ...args], {
    stdio: ["ignore", log, log],
  });
  children.add(child);
  const exited = new Promise<Exit>((resolve) =>
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, exited };
}

async function runOnce(configFile: string, logFile: string, timeoutMs = 120_000): Promise<Exit> {
  const { child, exited } = startAgent(configFile, ["--once"], logFile);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exit = await exited;
  clearTimeout(timer);
  return exit;
}

/** Every message in the topic, read until each partition's high watermark is reached (or the deadline). */
async function consumeAll(topic: string, deadlineMs = 60_000): Promise<Buffer[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const remaining = new Map(offsets.map((o) => [o.partition, Number(o.high) - Number(o.low)]));
  const values: Buffer[] = [];
  if ([...remaining.values()].every((n) => n === 0)) return values;
  const consumer = kafka.consumer({ groupId: `rla-agent-itest-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`topic ${topic} not read to its end in ${deadlineMs} ms`)),
        deadlineMs,
      );
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            values.push(message.value!);
            remaining.set(partition, (remaining.get(partition) ?? 0) - 1);
            if ([...remaining.values()].every((n) => n <= 0)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

interface Merged {
  windows: Map<number, WindowPartial>;
  duplicates: number;
  partials: number;
}

/** Merges per window after dropping duplicate deliveries; a repeated identity must carry the very same bytes. */
function mergeDeliveries(values: Buffer[]): Merged {
  const seen = new Map<string, Buffer>();
  const windows = new Map<number, WindowPartial>();
  let duplicates = 0;
  for (const value of values) {
    const p = decodePartial(value);
    const id = partialIdentity(p);
    const before = seen.get(id);
    if (before !== undefined) {
      expect(before.equals(value), `identity ${id} delivered with different contents`).toBe(true);
      duplicates++;
      continue;
    }
    seen.set(id, value);
    let w = windows.get(p.windowStartMs);
    if (w === undefined) {
      w = createPartial({ ...p, seq: 0 });
      windows.set(p.windowStartMs, w);
    }
    mergePartial(w, p);
  }
  return { windows, duplicates, partials: seen.size };
}

/** Requests, bytes and status codes per window must equal the reference exactly; rejects in total. */
function expectExact(merged: Merged, lines: string[]): void {
  const ref = referenceWindows(lines);
  const got = new Map<number, { requests: number; bytes: number; codes: Record<string, number> }>();
  let rejects = 0;
  for (const [w, p] of merged.windows) {
    const s = summarizePartial(p, { topK: 5 });
    rejects += REJECT_REASONS.reduce((sum, r) => sum + s.rejects[r], 0);
    if (s.requests > 0) got.set(w, { requests: s.requests, bytes: s.bytes, codes: s.statusCodes });
  }
  const want = new Map(
    [...ref.windows].map(([w, r]) => [
      w,
      {
        requests: r.requests,
        bytes: r.bytes,
        codes: Object.fromEntries([...r.codes].map(([code, n]) => [String(code), n])),
      },
    ]),
  );
  expect(got).toEqual(want);
  expect(rejects).toBe(ref.rejects);
}

function generateLog(seed: number, seconds: number, ratePerSec: number, startMs: number): string[] {
  return generateFleet({
    seed,
    hosts: ["web1"],
    startMs,
    durationMs: seconds * 1_000,
    ratePerHostPerSec: ratePerSec,
    lateShare: 0.02,
    lateByMs: 6_000,
  })
    .get("web1")!
    .map((l) => l.text);
}

function writeLines(file: string, lines: string[]): void {
  writeFileSync(file, lines.length > 0 ? `${lines.join("\n")}\n` : "");
}

const MINUTE = 60_000;
const recentStart = () => Math.floor((Date.now() - 30 * MINUTE) / 10_000) * 10_000;

describe("edge agent against the real broker", () => {
  it("(a) --once over a generated log: merged partials equal a recomputation from the raw lines", async () => {
    const dir = workDir();
    const topic = await freshTopic("once");
    const start = recentStart();
    const a = generateLog(1, 120, 150, start);
    const b = generateLog(2, 90, 100, start + 20_000);
    writeLines(join(dir, "a.access.log"), a);
    writeLines(join(dir, "b.access.log"), b);
    const config = writeConfig(dir, baseConfig(dir, topic, [join(dir, "*.access.log")]));

    const exit = await runOnce(config, join(dir, "agent.log"));
    expect(exit, readFileSync(join(dir, "agent.log"), "utf8").slice(-2_000)).toEqual({ code: 0, signal: null });
    const merged = mergeDeliveries(await consumeAll(topic));
    expectExact(merged, [...a, ...b]);
    expect(merged.duplicates).toBe(0);
    // Every window from the first to the last is there, empty ones too (heartbeats).
    const starts = [...merged.windows.keys()].sort((x, y) => x - y);
    expect(starts.length).toBe((starts.at(-1)! - starts[0]!) / 10_000 + 1);

    // A second --once finds nothing new: nothing is shipped twice.
    const again = await runOnce(config, join(dir, "agent.log"));
    expect(again.code).toBe(0);
    expect((await consumeAll(topic)).length).toBe(merged.partials);
  });

  it("(b) kill -9 at random points of a replay, 5 times, then a full run: exact after dropping duplicates", async () => {
    const dir = workDir();
    const topic = await freshTopic("kill9");
    const lines = generateLog(3, 600, 500, recentStart());
    writeLines(join(dir, "access.log"), lines);
    const config = writeConfig(dir, baseConfig(dir, topic, [join(dir, "access.log")]));
    const random = seededRandom(Number.parseInt(runId.slice(-4), 36));
    // Kill points are drawn relative to how long an uninterrupted replay of the same log takes on this machine
    // now (a scratch copy with its own state and topic), so they land inside the replay however fast it runs.
    const scratch = workDir();
    writeLines(join(scratch, "access.log"), lines);
    const scratchConfig = writeConfig(
      scratch,
      baseConfig(scratch, await freshTopic("kill9-timing"), [join(scratch, "access.log")]),
    );
    const timingStart = Date.now();
    expect((await runOnce(scratchConfig, join(scratch, "agent.log"))).code).toBe(0);
    const fullRunMs = Date.now() - timingStart;
    const killedAfterMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { child, exited } = startAgent(config, ["--once"], join(dir, "agent.log"));
      const delayMs = Math.round(fullRunMs * (0.3 + 0.4 * random()));
      const timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
      const exit = await exited;
      clearTimeout(timer);
      if (exit.signal === "SIGKILL") killedAfterMs.push(delayMs);
    }
    expect(
      killedAfterMs.length,
      `the replay (${fullRunMs} ms uninterrupted) must last long enough to be killed`,
    ).toBeGreaterThanOrEqual(2);
    const shippedBeforeLastRun = (await consumeAll(topic)).length;
    expect(shippedBeforeLastRun, "the killed runs got partials out before dying").toBeGreaterThan(0);
    const exit = await runOnce(config, join(dir, "agent.log"));
    expect(exit.code, readFileSync(join(dir, "agent.log"), "utf8").slice(-2_000)).toBe(0);
    const merged = mergeDeliveries(await consumeAll(topic));
    expectExact(merged, lines);
    console.log(
      `(b) killed after ${killedAfterMs.join(", ")} ms; ${shippedBeforeLastRun} partials shipped before the last run; ` +
        `${merged.partials} distinct partials, ${merged.duplicates} duplicate deliveries dropped`,
    );
  });

  it("(c) Kafka unreachable mid-stream: the outbox fills, reading pauses, /healthz says why; nothing is lost", async () => {
    const dir = workDir();
    const topic = await freshTopic("outage");
    const lines = generateLog(4, 400, 100, recentStart());
    const file = join(dir, "access.log");
    writeLines(file, lines);
    const proxyPort = await freePort();
    const metricsPort = await freePort();
    const config = writeConfig(
      dir,
      baseConfig(dir, topic, [file], {
        kafka: { brokers: [`127.0.0.1:${proxyPort}`], topic, connectionTimeoutMs: 500 },
        spool: { maxSpoolBytes: 60_000, segmentBytes: 30_000 },
        metrics: { port: metricsPort, kafkaUnreachableAfterMs: 1_000 },
      }),
    );
    const { exited } = startAgent(config, ["--once"], join(dir, "agent.log"));
    // Nothing answers on the broker port yet: partials pile up in the outbox until it is full.
    const health = await until(async () => {
      const h = await httpGet(metricsPort, "/healthz");
      return h.status === 503 && h.body.includes("outbox full") && h.body.includes("Kafka unreachable") ? h : null;
    }, 60_000);
    expect(health.body).toMatch(/outbox full: \d+ unacknowledged bytes/);
    const metrics = (await httpGet(metricsPort, "/metrics")).body;
    expect(Number(/rla_agent_outbox_bytes (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(60_000);
    expect(Number(/rla_agent_kafka_errors_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    // Reading stopped before the end of the log: the log file is the buffer, nothing is dropped.
    expect(Number(/rla_agent_lines_read_total (\d+)/.exec(metrics)?.[1])).toBeLessThan(lines.length);

    const proxy = await startProxy(proxyPort, kafkaBrokers[0]!);
    try {
      const exit = await exited; // --once exits only once Kafka acknowledged every record
      expect(exit.code, readFileSync(join(dir, "agent.log"), "utf8").slice(-2_000)).toBe(0);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
    const merged = mergeDeliveries(await consumeAll(topic));
    expectExact(merged, lines);
  });

  it("(d) a garbage-heavy log (binary, 1 MB lines, truncated last line): no crash, rejects counted by reason", async () => {
    const dir = workDir();
    const topic = await freshTopic("garbage");
    const good = generateLog(5, 60, 50, recentStart());
    const random = seededRandom(5);
    const chunks: Buffer[] = [];
    const expected = { binary: 0, too_long: 0, syntax: 0, truncated: 1 };
    good.forEach((line, i) => {
      chunks.push(Buffer.from(`${line}\n`));
      if (i % 50 === 7) {
        const junk = Buffer.alloc(40 + Math.floor(random() * 200));
        for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(random() * 256);
        for (let j = 0; j < junk.length; j++) if (junk[j] === 10) junk[j] = 0;
        junk[3] = 0;
        chunks.push(junk, Buffer.from("\n"));
        expected.binary++;
      }
      if (i % 400 === 100) {
        chunks.push(Buffer.alloc(1024 * 1024, "a"), Buffer.from("\n"));
        expected.too_long++;
      }
      if (i % 100 === 3) {
        chunks.push(Buffer.from("this is not an access log line\n"));
        expected.syntax++;
      }
    });
    chunks.push(Buffer.from(good[0]!.slice(0, 40))); // the writer died mid-line
    const file = join(dir, "access.log");
    writeFileSync(file, Buffer.concat(chunks));
    const config = writeConfig(dir, baseConfig(dir, topic, [file]));

    const exit = await runOnce(config, join(dir, "agent.log"));
    expect(exit, readFileSync(join(dir, "agent.log"), "utf8").slice(-2_000)).toEqual({ code: 0, signal: null });
    const merged = mergeDeliveries(await consumeAll(topic));
    const rejects = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<string, number>;
    let requests = 0;
    for (const p of merged.windows.values()) {
      const s = summarizePartial(p, { topK: 1 });
      requests += s.requests;
      for (const r of REJECT_REASONS) rejects[r]! += s.rejects[r];
    }
    expect(requests).toBe(good.length);
    expect(rejects).toMatchObject(expected);
    expect(Object.values(rejects).reduce((x, y) => x + y, 0)).toBe(
      expected.binary + expected.too_long + expected.syntax + expected.truncated,
    );
  });
});

// ---- small helpers -------------------------------------------------------------------------------------------------

async function until<T>(probe: () => Promise<T | null>, deadlineMs: number): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** A TCP pass-through to the broker on `port` (Kafka then hands out the broker's own address). */
function startProxy(port: number, target: string): Promise<Server> {
  const [host, targetPort] = target.split(":");
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  const close = server.close.bind(server);
  server.close = (cb) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  };
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}
