// The smoke check against the real local stack: a uniquely named topic and databases per run, http_stats points
// written directly with the InfluxDB client at chosen times, and a clock injected so freshness is decided exactly.
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { InfluxDB, Point } from "@influxdata/influxdb-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureInfluxDatabase, ensureTopic, influxQuery, quoteIdent, stackEndpoints } from "../index.js";
import { adminClient } from "../kafka.js";
import { runSmoke, type SmokeOptions } from "./smoke.js";

const { kafkaBrokers, influxUrl } = stackEndpoints();
const run = `${process.pid}_${Date.now()}`;
const topic = `smoke-itest-${run}`;
const freshDb = `smoke_fresh_${run}`;
const staleDb = `smoke_stale_${run}`;
const emptyDb = `smoke_empty_${run}`;
const rp = "rla_30d";
// The injected "now": near the real clock because the 30 d retention policy drops older points, and the CLI (which
// reads the real clock) sees the stale database's points as 10 min old too.
const t0 = Math.floor(Date.now() / 1_000) * 1_000;
const cli = fileURLToPath(new URL("../../dist/smoke/cli.js", import.meta.url));

async function writeStats(database: string, timesMs: number[]): Promise<void> {
  const writer = new InfluxDB({ url: influxUrl, token: "" }).getWriteApi("", `${database}/${rp}`, "ms");
  for (const [i, timeMs] of timesMs.entries()) {
    writer.writePoint(
      new Point("http_stats")
        .tag("host", "all")
        .tag("service", "web")
        .intField("requests", 100 + i)
        .floatField("rps", 10 + i / 10)
        .timestamp(timeMs),
    );
  }
  await writer.close();
}

function options(database: string, extra: Partial<SmokeOptions> = {}): SmokeOptions {
  return { kafka: { brokers: kafkaBrokers, topic }, influx: { url: influxUrl, database }, maxAgeMs: 60_000, ...extra };
}

const byName = (report: Awaited<ReturnType<typeof runSmoke>>, name: string) =>
  report.checks.find((c) => c.name === name);

beforeAll(async () => {
  await ensureTopic({ brokers: kafkaBrokers, topic, partitions: 2 });
  for (const database of [freshDb, staleDb, emptyDb]) {
    await ensureInfluxDatabase({ url: influxUrl, database, retentionPolicy: rp });
  }
  // Fresh: the newest point is 5 s before t0 (an older one shows last() picks the newest, not the first).
  await writeStats(freshDb, [t0 - 600_000, t0 - 5_000]);
  // Stale: the newest point is 10 min before t0.
  await writeStats(staleDb, [t0 - 700_000, t0 - 600_000]);
});

afterAll(async () => {
  for (const database of [freshDb, staleDb, emptyDb]) {
    await influxQuery(influxUrl, "", `DROP DATABASE ${quoteIdent(database)}`).catch(() => {});
  }
  const admin = adminClient(kafkaBrokers).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
});

describe("runSmoke against the local stack", () => {
  it("passes when a fresh http_stats point exists", async () => {
    const report = await runSmoke(options(freshDb), () => t0);
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ["kafka", true],
      ["influxdb", true],
      ["http_stats", true],
    ]);
    expect(report.ok).toBe(true);
    expect(byName(report, "kafka")?.detail).toContain(`topic ${topic} with 2 partitions`);
    expect(byName(report, "influxdb")?.detail).toContain(`database ${freshDb}, retention policy ${rp}`);
    expect(byName(report, "http_stats")?.detail).toContain(
      `newest point at ${new Date(t0 - 5_000).toISOString()}, 5000 ms old`,
    );
  });

  it("fails with the newest point's age when no point is fresh enough", async () => {
    const report = await runSmoke(options(staleDb), () => t0);
    expect(report.ok).toBe(false);
    expect(byName(report, "kafka")?.ok).toBe(true);
    expect(byName(report, "influxdb")?.ok).toBe(true);
    expect(byName(report, "http_stats")).toEqual({
      name: "http_stats",
      ok: false,
      detail:
        `no http_stats point newer than 60000 ms in ${staleDb}.${rp}.http_stats: ` +
        `the newest is at ${new Date(t0 - 600_000).toISOString()}, 600000 ms old`,
    });
    // The same data passes under a bound that admits it: the verdict is the bound, not the data.
    expect((await runSmoke(options(staleDb, { maxAgeMs: 600_000 }), () => t0)).ok).toBe(true);
  });

  it("fails when the database has no http_stats point at all", async () => {
    const report = await runSmoke(options(emptyDb), () => t0);
    expect(report.ok).toBe(false);
    expect(byName(report, "http_stats")?.detail).toMatch(/^no http_stats point at all in /);
  });

  it("fails clearly for a missing database and a missing topic", async () => {
    const missingDb = `smoke_missing_${run}`;
    const report = await runSmoke(
      { ...options(missingDb), kafka: { brokers: kafkaBrokers, topic: `${topic}-missing` } },
      () => t0,
    );
    expect(report.ok).toBe(false);
    expect(byName(report, "influxdb")).toMatchObject({ ok: false });
    expect(byName(report, "influxdb")?.detail).toContain(`database ${missingDb} does not exist`);
    expect(byName(report, "kafka")).toMatchObject({ ok: false });
    expect(byName(report, "kafka")?.detail).toContain(`topic ${topic}-missing is missing or unreadable`);
  });

  it("reports a consumer group's lag", async () => {
    const report = await runSmoke(
      { ...options(freshDb), kafka: { brokers: kafkaBrokers, topic, groupId: `smoke-itest-${run}` } },
      () => t0,
    );
    // Nothing was produced to the fresh topic, so a group that never committed lags by 0.
    expect(byName(report, "kafka")?.detail).toContain(`consumer group smoke-itest-${run} lag 0 record(s)`);
  });
});

describe("runSmoke's Grafana check", () => {
  // Grafana is not part of the local stack; a stand-in answers /api/health the way Grafana does.
  let server: Server;
  let health: { status: number; body: object };
  beforeAll(async () => {
    server = createServer((req, res) => {
      const found = req.url === "/api/health";
      res.writeHead(found ? health.status : 404, { "content-type": "application/json" });
      res.end(JSON.stringify(found ? health.body : { message: "Not found" }));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const grafanaUrl = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  it("passes on database ok and fails otherwise", async () => {
    health = { status: 200, body: { database: "ok", version: "11.0.0" } };
    const good = await runSmoke(options(freshDb, { grafanaUrl: grafanaUrl() }), () => t0);
    expect(byName(good, "grafana")).toEqual({
      name: "grafana",
      ok: true,
      detail: `${grafanaUrl()}: version 11.0.0, database ok`,
    });
    expect(good.ok).toBe(true);

    health = { status: 503, body: { database: "failing" } };
    const bad = await runSmoke(options(freshDb, { grafanaUrl: grafanaUrl() }), () => t0);
    expect(byName(bad, "grafana")).toEqual({
      name: "grafana",
      ok: false,
      detail: `${grafanaUrl()}/api/health answered 503 (database: failing)`,
    });
    expect(bad.ok).toBe(false);
  });
});

describe("npm run smoke (the built CLI)", () => {
  // The CLI measures against the real clock, so the points are placed far from the bound on either side.
  const smoke = (database: string) =>
    spawnSync(
      process.execPath,
      [cli, "--kafka", kafkaBrokers.join(","), "--topic", topic, "--influx", influxUrl, "--database", database],
      { encoding: "utf8", env: { ...process.env, RLA_INFLUX_TOKEN: "smoke:secret-token-value" }, timeout: 60_000 },
    );

  it("exits 0 with fresh points and 1 without, never printing the token", async () => {
    const liveDb = `smoke_cli_${run}`;
    await ensureInfluxDatabase({ url: influxUrl, database: liveDb, retentionPolicy: rp });
    try {
      await writeStats(liveDb, [Date.now() - 1_000]);
      const pass = smoke(liveDb);
      expect(pass.stdout).toMatch(/^ok {3}http_stats /m);
      expect(pass.status).toBe(0);

      const fail = smoke(staleDb);
      expect(fail.stdout).toMatch(/^FAIL http_stats no http_stats point newer than 180000 ms /m);
      expect(fail.status).toBe(1);
      for (const out of [pass.stdout, pass.stderr, fail.stdout, fail.stderr]) {
        expect(out).not.toContain("secret-token-value");
      }
    } finally {
      await influxQuery(influxUrl, "", `DROP DATABASE ${quoteIdent(liveDb)}`).catch(() => {});
    }
  });
});
