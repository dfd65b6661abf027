// The foundation every other integration test stands on: the real Kafka broker and the real InfluxDB started by
// deploy/local/stack.sh carry data end to end, and provisioning them is idempotent.
import { randomUUID } from "node:crypto";
import { InfluxDB, Point } from "@influxdata/influxdb-client";
import { ensureInfluxDatabase, ensureTopic, influxQuery, influxRows, quoteIdent, stackEndpoints } from "@rla/deploy";
import { Kafka, type KafkaMessage, logLevel } from "kafkajs";
import { afterAll, describe, expect, it } from "vitest";

const { kafkaBrokers, influxUrl } = stackEndpoints();
const runId = `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
const kafka = new Kafka({ clientId: `rla-itest-${runId}`, brokers: kafkaBrokers, logLevel: logLevel.NOTHING });
const topics: string[] = [];
const databases: string[] = [];

afterAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => {});
  await admin.disconnect();
  for (const db of databases) await influxQuery(influxUrl, "", `DROP DATABASE ${quoteIdent(db)}`);
});

/** Resolves with the first message the handler accepts, or rejects at the deadline (no sleeping to synchronise). */
function firstMessage(run: (onMessage: (m: KafkaMessage, partition: number) => void) => Promise<void>, ms: number) {
  return new Promise<{ message: KafkaMessage; partition: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message consumed within ${ms} ms`)), ms);
    run((message, partition) => {
      clearTimeout(timer);
      resolve({ message, partition });
    }).catch(reject);
  });
}

describe("foundation round trip against the real stack", () => {
  it("a record produced through kafkajs to a fresh topic is consumed back from the broker", async () => {
    const topic = `rla-itest-roundtrip-${runId}`;
    topics.push(topic);
    expect(await ensureTopic({ brokers: kafkaBrokers, topic, partitions: 3, retentionMs: 3_600_000 })).toEqual({
      topic,
      created: true,
      partitions: 3,
    });

    const producer = kafka.producer();
    await producer.connect();
    const [sent] = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: "web-1", value: Buffer.from([0x00, 0xff, 0x10, 0x7f]), headers: { v: "1" } }],
    });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `rla-itest-${runId}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    try {
      const { message, partition } = await firstMessage(
        (onMessage) => consumer.run({ eachMessage: async ({ message: m, partition: p }) => onMessage(m, p) }),
        60_000,
      );
      expect(partition).toBe(sent?.partition);
      expect(message.offset).toBe(sent?.baseOffset);
      expect(message.key?.toString()).toBe("web-1");
      expect([...(message.value ?? [])]).toEqual([0x00, 0xff, 0x10, 0x7f]);
      expect(message.headers?.v?.toString()).toBe("1");
    } finally {
      await consumer.disconnect();
    }
  });

  it("points written to /api/v2/write with bucket db/rp come back through an InfluxQL /query", async () => {
    const database = `rla_itest_roundtrip_${runId.replace(/-/g, "_")}`;
    databases.push(database);
    await ensureInfluxDatabase({ url: influxUrl, database, retentionPolicy: "rla_30d", duration: "30d" });

    // Window starts a minute ago: inside the 30 d retention policy, aligned to the 10 s window grid.
    const t0 = Math.floor((Date.now() - 60_000) / 10_000) * 10_000;
    const writeApi = new InfluxDB({ url: influxUrl, token: "" }).getWriteApi("", `${database}/rla_30d`, "ms");
    writeApi.writePoints([
      new Point("http_stats")
        .tag("host", "web-1")
        .tag("service", "web")
        .intField("requests", 42)
        .floatField("rps", 4.2)
        .timestamp(t0),
      new Point("http_stats")
        .tag("host", "web-1")
        .tag("service", "web")
        .intField("requests", 7)
        .floatField("rps", 0.7)
        .timestamp(t0 + 10_000),
      new Point("http_stats")
        .tag("host", "web-2")
        .tag("service", "web")
        .intField("requests", 5)
        .floatField("rps", 0.5)
        .timestamp(t0),
    ]);
    await writeApi.close();

    const rows = influxRows(
      await influxQuery(
        influxUrl,
        database,
        `SELECT "requests", "rps" FROM "rla_30d"."http_stats" WHERE "host" = 'web-1' ORDER BY time ASC`,
      ),
    );
    expect(rows).toEqual([
      { time: t0, requests: 42, rps: 4.2 },
      { time: t0 + 10_000, requests: 7, rps: 0.7 },
    ]);

    // The policy is the database's default, so an unqualified query sees the same points; tags come back per series.
    const perHost = influxRows(
      await influxQuery(influxUrl, database, `SELECT SUM("requests") FROM "http_stats" GROUP BY "host"`),
    );
    expect(perHost).toEqual([
      { host: "web-1", time: 0, sum: 49 },
      { host: "web-2", time: 0, sum: 5 },
    ]);
  });

  it("provisioning is idempotent: running it twice leaves the same topic and database", async () => {
    const topic = `rla-itest-provision-${runId}`;
    topics.push(topic);
    const database = `rla_itest_provision_${runId.replace(/-/g, "_")}`;
    databases.push(database);

    const topicFirst = await ensureTopic({ brokers: kafkaBrokers, topic });
    const topicSecond = await ensureTopic({ brokers: kafkaBrokers, topic });
    expect(topicFirst).toEqual({ topic, created: true, partitions: 6 });
    expect(topicSecond).toEqual({ topic, created: false, partitions: 6 });
    const other = await ensureTopic({ brokers: kafkaBrokers, topic, partitions: 2 });
    expect(other.created).toBe(false);
    expect(other.partitions).toBe(6);
    expect(other.warning).toMatch(/6 partitions, not the 2 asked for/);

    const dbFirst = await ensureInfluxDatabase({
      url: influxUrl,
      database,
      retentionPolicy: "rla_30d",
      duration: "30d",
    });
    const dbSecond = await ensureInfluxDatabase({
      url: influxUrl,
      database,
      retentionPolicy: "rla_30d",
      duration: "30d",
    });
    expect(dbFirst.retentionPolicyCreated).toBe(true);
    expect(dbSecond.retentionPolicyCreated).toBe(false);
    const policies = async () =>
      influxRows(await influxQuery(influxUrl, database, `SHOW RETENTION POLICIES ON ${quoteIdent(database)}`))
        .filter((p) => p.name === "rla_30d")
        .map(({ duration, default: isDefault }) => ({ duration, isDefault }));
    expect(await policies()).toEqual([{ duration: "720h0m0s", isDefault: true }]);

    // A changed duration converges the existing policy instead of failing on the conflict.
    await ensureInfluxDatabase({ url: influxUrl, database, retentionPolicy: "rla_30d", duration: "7d" });
    expect(await policies()).toEqual([{ duration: "168h0m0s", isDefault: true }]);
    const databasesNow = influxRows(await influxQuery(influxUrl, "", "SHOW DATABASES")).map((r) => r.name);
    expect(databasesNow.filter((name) => name === database)).toHaveLength(1);
  });
});
