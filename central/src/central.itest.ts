// Central against the real Kafka broker and the real InfluxDB of the local stack: partials of three hosts (built
// with the protocol API from generated records, plus a late supplement, a duplicate and poison) go through a fresh
// topic into a fresh database, and what InfluxQL reads back must equal sums computed independently from the records.
// The same after `kill -9` of a central process (the CLI from the built dist) and a restart, and with two central
// instances sharing one consumer group.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, openSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ensureInfluxDatabase,
  ensureTopic,
  freePort,
  influxQuery,
  influxRows,
  quoteIdent,
  stackEndpoints,
} from "@rla/deploy";
import { addRecord, createPartial, encodePartial, type LogRecord } from "@rla/protocol";
import { Kafka, logLevel, type Message } from "kafkajs";
import { pack } from "msgpackr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededRandom } from "../../test/support/fleet-gen.js";
import { type CentralHandle, startCentral } from "./central.js";
import { type CentralConfigInput, parseCentralConfig } from "./config.js";
import { createLogger } from "./logging.js";
import { decodeCommitMetadata } from "./merge/index.js";

const { kafkaBrokers, influxUrl } = stackEndpoints();
const runId = `${Date.now().toString(36)}-${randomUUID().slice(0, 6)}`;
const kafka = new Kafka({ clientId: `rla-central-itest-${runId}`, brokers: kafkaBrokers, logLevel: logLevel.NOTHING });
const W = 10_000;
const HOSTS = ["web-1", "web-2", "web-3"];
const RP = "rla_30d";
const topics: string[] = [];
const databases: string[] = [];
const centrals: CentralHandle[] = [];
const children: ChildProcess[] = [];
const cliPath = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

beforeAll(() => {
  // The crash test runs the CLI from the built dist, so build it from the current sources.
  execFileSync("npx", ["tsc", "-b", "central"], {
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdio: "inherit",
  });
});

afterAll(async () => {
  for (const c of centrals) await c.abort().catch(() => undefined);
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
  for (const db of databases)
    await influxQuery(influxUrl, "", `DROP DATABASE ${quoteIdent(db)}`).catch(() => undefined);
});

// ---- data: seeded records, partials built with the protocol API, expected sums computed from the records ----

function records(seed: number, windowStartMs: number, n: number, status?: number): LogRecord[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => {
    const x = r();
    return {
      timeMs: windowStartMs + Math.floor(r() * W),
      status: status ?? (x < 0.8 ? 200 : x < 0.88 ? 304 : x < 0.96 ? 404 : 503),
      bytes: Math.floor(r() * 20_000),
      latencyUs: Math.floor(r() * 300_000),
      ip: `10.${Math.floor(r() * 4)}.0.${Math.floor(r() * 40)}`,
      method: "GET",
      path: `/page/${Math.floor(r() * 30)}`,
    };
  });
}

interface Row {
  requests: number;
  bytes: number;
  classes: number[];
  codes: Map<number, number>;
}

class Fleet {
  /** `${windowStartMs}|${host}` (host "all" too) → sums of every record sent, counted once. */
  readonly expected = new Map<string, Row>();

  partial(host: string, windowStartMs: number, seq: number, recs: LogRecord[]): Buffer {
    const p = createPartial({ host, service: "web", windowStartMs, windowMs: W, seq });
    for (const rec of recs) addRecord(p, rec);
    for (const key of [`${windowStartMs}|${host}`, `${windowStartMs}|all`]) {
      const row = this.expected.get(key) ?? { requests: 0, bytes: 0, classes: [0, 0, 0, 0, 0], codes: new Map() };
      for (const rec of recs) {
        row.requests++;
        row.bytes += rec.bytes;
        row.classes[Math.floor(rec.status / 100) - 1]!++;
        row.codes.set(rec.status, (row.codes.get(rec.status) ?? 0) + 1);
      }
      this.expected.set(key, row);
    }
    return encodePartial(p);
  }

  /** Primary partials of every host for windows [from, to). */
  windows(t0: number, from: number, to: number): Message[] {
    const out: Message[] = [];
    for (let i = from; i < to; i++) {
      const start = t0 + i * W;
      HOSTS.forEach((host, h) => {
        out.push({
          key: String(start),
          value: this.partial(host, start, 0, records(i * 31 + h, start, 20 + ((i * 7 + h * 5) % 25))),
        });
      });
    }
    return out;
  }
}

async function produce(topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  // One at a time, in order: a supplement must follow its window's primary in the partition.
  for (const m of messages) await producer.send({ topic, acks: -1, messages: [m] });
  await producer.disconnect();
}

async function freshTopicAndDb(name: string, partitions: number): Promise<{ topic: string; database: string }> {
  const topic = `rla-itest-central-${name}-${runId}`;
  const database = `rla_itest_central_${name}_${runId.replace(/-/g, "_")}`;
  topics.push(topic);
  databases.push(database);
  await ensureTopic({ brokers: kafkaBrokers, topic, partitions, retentionMs: 3_600_000 });
  await ensureInfluxDatabase({ url: influxUrl, database, retentionPolicy: RP, duration: "30d" });
  return { topic, database };
}

function configInput(topic: string, database: string, instance: string, metricsPort = 0): CentralConfigInput {
  return {
    kafka: { brokers: kafkaBrokers, topic, groupId: `rla-central-itest-${topic}`, sessionTimeoutMs: 6_000 },
    influx: { url: influxUrl, database, retentionPolicy: RP },
    metrics: { port: metricsPort },
    maxPartialBytes: 100_000,
    tickMs: 100,
    instance,
    logLevel: "warn",
    anomalies: { baselineRefreshMs: 0 },
  };
}

const q = async (database: string, statement: string) => influxRows(await influxQuery(influxUrl, database, statement));

/** Reads http_stats back, keyed like Fleet.expected. */
async function readStats(database: string, t0: number): Promise<Map<string, Record<string, unknown>>> {
  const rows = await q(database, `SELECT * FROM "${RP}"."http_stats" WHERE time >= ${t0}ms GROUP BY "host"`);
  return new Map(rows.map((r) => [`${r.time}|${r.host}`, r]));
}

/** Polls until http_stats equals the expected sums (or the deadline passes), then returns the last reading. */
async function waitForExact(database: string, t0: number, fleet: Fleet, deadlineMs = 120_000) {
  const until = Date.now() + deadlineMs;
  let stats = new Map<string, Record<string, unknown>>();
  for (;;) {
    stats = await readStats(database, t0);
    const done = [...fleet.expected].every(([key, row]) => stats.get(key)?.requests === row.requests);
    if ((done && stats.size === fleet.expected.size) || Date.now() > until) return stats;
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function expectExact(database: string, t0: number, fleet: Fleet): Promise<void> {
  const stats = await waitForExact(database, t0, fleet);
  expect(stats.size).toBe(fleet.expected.size);
  for (const [key, row] of fleet.expected) {
    const got = stats.get(key);
    expect({ key, ...got }).toMatchObject({
      key,
      requests: row.requests,
      bytes: row.bytes,
      status_1xx: row.classes[0],
      status_2xx: row.classes[1],
      status_3xx: row.classes[2],
      status_4xx: row.classes[3],
      status_5xx: row.classes[4],
      rps: row.requests / 10,
    });
    if (key.endsWith("|all"))
      expect({ key, reported: got?.agents_reported, expected: got?.agents_expected }).toEqual({
        key,
        reported: 3,
        expected: 3,
      });
  }
  const codes = await q(
    database,
    `SELECT "count" FROM "${RP}"."http_status" WHERE time >= ${t0}ms GROUP BY "host", "code"`,
  );
  const got = new Map(codes.map((r) => [`${r.time}|${r.host}|${r.code}`, r.count]));
  const want = new Map<string, number>();
  for (const [key, row] of fleet.expected) for (const [code, n] of row.codes) want.set(`${key}|${code}`, n);
  expect(got).toEqual(want);
}

function startChild(configFile: string, logFile: string): ChildProcess {
  const child = spawn(process.execPath, [cliPath, "run", "--config", configFile], {
    stdio: ["ignore", "ignore", openSync(logFile, "a")],
  });
  children.push(child);
  return child;
}

/** A TCP proxy in front of the shared InfluxDB that can refuse connections, so an outage hurts nobody else. */
async function influxProxy(): Promise<{ url: string; setDown(down: boolean): Promise<void>; close(): Promise<void> }> {
  const target = new URL(influxUrl);
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, "127.0.0.1", () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const shut = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (server === null) return resolve();
      server.close(() => resolve());
      server = null;
    });
  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    setDown: (down) => (down ? shut() : listen()),
    close: shut,
  };
}

async function until(what: string, check: () => Promise<boolean> | boolean, deadlineMs = 60_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });

describe("central against the real Kafka and InfluxDB", () => {
  it("writes exact sums, rewrites on a late supplement, drops the duplicate and counts poison", async () => {
    const { topic, database } = await freshTopicAndDb("exact", 3);
    const t0 = Math.floor((Date.now() - 5 * 60_000) / W) * W;
    const fleet = new Fleet();
    const messages = fleet.windows(t0, 0, 8);
    // A planted client flooding window 6 through two hosts: an ip_spike.
    const spike = records(991, t0 + 6 * W, 600).map((r) => ({ ...r, ip: "203.0.113.99", status: 200 }));
    messages.push({ key: String(t0 + 6 * W), value: fleet.partial("web-1", t0 + 6 * W, 1, spike.slice(0, 300)) });
    messages.push({ key: String(t0 + 6 * W), value: fleet.partial("web-2", t0 + 6 * W, 1, spike.slice(300)) });
    const duplicate = messages[4 * 3]!; // web-1's primary of window 4, sent again
    const poison: Message[] = [
      { key: String(t0), value: Buffer.from("definitely not msgpack") },
      { key: String(t0), value: pack({ v: 99, h: "web-1" }) },
      { key: String(t0), value: Buffer.alloc(150_000, 7) },
    ];
    await produce(topic, [...messages, ...poison]);

    const central = await startCentral(
      parseCentralConfig(configInput(topic, database, `exact-${runId}`, await freePort())),
      {
        logger: createLogger("warn"),
      },
    );
    centrals.push(central);
    // Every window fired before the late partial exists: it must then be rewritten.
    await waitForExact(database, t0, fleet);
    const late = {
      key: String(t0 + 2 * W),
      value: fleet.partial("web-2", t0 + 2 * W, 1, records(7, t0 + 2 * W, 9, 502)),
    };
    await produce(topic, [late, { key: duplicate.key, value: duplicate.value }]);
    await expectExact(database, t0, fleet);

    const stats = central.stats();
    expect(stats.partials.duplicate).toBe(1);
    expect(stats.partials.poison).toBe(3);
    expect(stats.decodeErrors).toBe(3);
    expect(stats.partials.late).toBeGreaterThanOrEqual(1);
    expect(stats.firings.rewrite).toBeGreaterThanOrEqual(1);
    const metrics = await central.metrics.registry.getSingleMetricAsString("rla_central_decode_errors_total");
    expect(metrics).toMatch(/reason="malformed"} 1/);
    expect(metrics).toMatch(/reason="version"} 1/);
    expect(metrics).toMatch(/reason="oversize"} 1/);

    const base = `http://127.0.0.1:${central.metricsPort}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", consuming: true });
    const exposition = await (await fetch(`${base}/metrics`)).text();
    expect(exposition).toMatch(/rla_central_partials_total\{outcome="duplicate"\} 1/);
    expect(exposition).toMatch(/rla_central_window_firings_total\{kind="early"\} \d+/);
    expect(exposition).toMatch(/rla_central_consumer_lag\{partition="\d"\} \d+/);
    expect(exposition).toContain("rla_central_influx_write_seconds_bucket");

    const anomalies = await q(database, `SELECT * FROM "${RP}"."anomaly" WHERE time >= ${t0}ms`);
    expect(anomalies).toContainEqual(
      expect.objectContaining({
        time: t0 + 6 * W,
        type: "ip_spike",
        host: "all",
        rank: "1",
        key: "203.0.113.99",
        value: 600,
      }),
    );
    const tags = await q(database, `SHOW TAG KEYS FROM "${RP}"."top_ip"`);
    expect(tags.map((t) => t.tagKey).sort()).toEqual(["host", "rank", "service"]);

    // The pipeline counters reach InfluxDB at the end of each 10 s interval.
    const until = Date.now() + 30_000;
    let pipeline: Record<string, unknown> | undefined;
    while (Date.now() < until) {
      [pipeline] = await q(
        database,
        `SELECT sum("duplicates") AS d, sum("decode_errors") AS e, sum("late_partials") AS l FROM "${RP}"."pipeline" WHERE "instance" = 'exact-${runId}'`,
      );
      if (pipeline?.d === 1 && pipeline?.e === 3) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(pipeline).toMatchObject({ d: 1, e: 3 });
    await central.stop();
  });

  it("writes a fresh window within 2 s of the last live agent's partial (early firing)", async () => {
    const { topic, database } = await freshTopicAndDb("fresh", 3);
    const central = await startCentral(parseCentralConfig(configInput(topic, database, `fresh-${runId}`)), {
      logger: createLogger("warn"),
    });
    centrals.push(central);
    const fleet = new Fleet();
    const current = Math.floor(Date.now() / W) * W - W; // the window that just closed
    await produce(topic, fleet.windows(current - W, 0, 1)); // every host reported the window before: all are live
    await waitForExact(database, current - W, fleet);
    const messages = fleet.windows(current, 0, 1);
    await produce(topic, messages.slice(0, 2));
    const earlyBefore = central.stats().firings.early;
    await produce(topic, messages.slice(2));
    const sent = Date.now();
    await until(
      "the fresh window in InfluxDB",
      async () => (await readStats(database, current)).get(`${current}|all`)?.agents_reported === 3,
      10_000,
    );
    const delayMs = Date.now() - sent;
    console.log(`fresh window visible ${delayMs} ms after the last partial was acknowledged`);
    expect(delayMs).toBeLessThan(2_000);
    expect(central.stats().firings.early).toBe(earlyBefore + 1);
    await expectExact(database, current - W, fleet);
    await central.stop();
  });

  it("survives kill -9 mid-run: the restart rebuilds unfinished windows and counts nothing twice", async () => {
    const { topic, database } = await freshTopicAndDb("crash", 3);
    const t0 = Math.floor((Date.now() - 8 * 60_000) / W) * W;
    const fleet = new Fleet();
    const dir = mkdtempSync(join(tmpdir(), "rla-central-itest-"));
    const configFile = join(dir, "central.yaml");
    const logFile = join(dir, "central.log");
    writeFileSync(configFile, JSON.stringify(configInput(topic, database, `crash-${runId}`)));

    await produce(topic, fleet.windows(t0, 0, 15));
    let child = startChild(configFile, logFile);
    const firstHalf = new Fleet();
    firstHalf.windows(t0, 0, 15);
    await waitForExact(database, t0, firstHalf);
    child.kill("SIGKILL");
    await exited(child);

    // What the crashed process committed: an offset and the watermark it had reached.
    const admin = kafka.admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: `rla-central-itest-${topic}`, topics: [topic] });
    await admin.disconnect();
    const watermarks = (committed?.partitions ?? []).map((p) => decodeCommitMetadata(p.metadata)?.watermarkMs);
    expect(watermarks.some((w) => w !== undefined && Number.isFinite(w))).toBe(true);

    // More data, a supplement for a window that was written but is not final, and a redelivery, while it is down.
    const more = fleet.windows(t0, 15, 30);
    const late = {
      key: String(t0 + 12 * W),
      value: fleet.partial("web-3", t0 + 12 * W, 1, records(5, t0 + 12 * W, 6, 500)),
    };
    await produce(topic, [...more.slice(0, 20), late, more[0]!, ...more.slice(20)]);

    // Restart, and kill it again almost at once (somewhere in its replay), then let a third run finish.
    child = startChild(configFile, logFile);
    await new Promise((r) => setTimeout(r, 1_500));
    child.kill("SIGKILL");
    await exited(child);
    child = startChild(configFile, logFile);
    await expectExact(database, t0, fleet);
    child.kill("SIGTERM");
    expect(await exited(child)).toBe(0);
  });

  it("pauses while InfluxDB is down, retries with backoff, and resumes without loss", async () => {
    const { topic, database } = await freshTopicAndDb("outage", 3);
    const proxy = await influxProxy();
    const t0 = Math.floor((Date.now() - 5 * 60_000) / W) * W;
    const fleet = new Fleet();
    const input = configInput(topic, database, `outage-${runId}`);
    const central = await startCentral(
      parseCentralConfig({
        ...input,
        influx: { ...input.influx, url: proxy.url, timeoutMs: 2_000 },
        metrics: { port: await freePort(), influxFailingAfterMs: 1_000 },
      }),
      { logger: createLogger("silent") },
    );
    centrals.push(central);
    try {
      await produce(topic, fleet.windows(t0, 0, 5));
      await waitForExact(database, t0, fleet);

      await proxy.setDown(true);
      await produce(topic, fleet.windows(t0, 5, 12));
      await until("consumption to pause", () => central.stats().paused);
      await until("/healthz to turn unhealthy", async () => {
        const res = await fetch(`http://127.0.0.1:${central.metricsPort}/healthz`);
        return res.status === 503;
      });
      const errors = await central.metrics.registry.getSingleMetricAsString("rla_central_influx_errors_total");
      expect(errors).toMatch(/kind="retriable"} [1-9]/);

      await proxy.setDown(false);
      await expectExact(database, t0, fleet);
      await until("consumption to resume", () => !central.stats().paused);
      expect(central.stats().influxFailingSinceMs).toBeNull();
      await central.stop();
    } finally {
      await proxy.close();
    }
  });

  it("two instances in one group split the partitions and write the same result as one", async () => {
    const { topic, database } = await freshTopicAndDb("pair", 6);
    const t0 = Math.floor((Date.now() - 6 * 60_000) / W) * W;
    const fleet = new Fleet();
    const first = await startCentral(parseCentralConfig(configInput(topic, database, `pair-a-${runId}`)), {
      logger: createLogger("warn"),
    });
    centrals.push(first);
    const second = await startCentral(parseCentralConfig(configInput(topic, database, `pair-b-${runId}`)), {
      logger: createLogger("warn"),
    });
    centrals.push(second);
    await produce(topic, fleet.windows(t0, 0, 20));
    await expectExact(database, t0, fleet);
    const a = first.stats().assigned;
    const b = second.stats().assigned;
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    expect([...a, ...b].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const merged = (c: CentralHandle) => c.stats().partials.accepted + c.stats().partials.late;
    expect(merged(first) + merged(second)).toBeGreaterThanOrEqual(60);
    await Promise.all([first.stop(), second.stop()]);
  });
});
