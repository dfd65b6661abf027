// A visible round trip for demo-bootstrap.sh: one record through Kafka, two points through InfluxDB, printed as it
// goes. Uses a throwaway topic and database so the provisioned defaults stay untouched.
import { InfluxDB, Point } from "@influxdata/influxdb-client";
import { ensureInfluxDatabase, ensureTopic, influxQuery, influxRows, quoteIdent, stackEndpoints } from "@rla/deploy";
import kafkajs from "kafkajs";

const { kafkaBrokers, influxUrl } = stackEndpoints();
const id = Date.now().toString(36);
const topic = `rla-demo-roundtrip-${id}`;
const database = `rla_demo_roundtrip_${id}`;
const kafka = new kafkajs.Kafka({ clientId: "rla-demo", brokers: kafkaBrokers, logLevel: kafkajs.logLevel.NOTHING });
const admin = kafka.admin();

await ensureTopic({ brokers: kafkaBrokers, topic, partitions: 1 });
console.log(`kafka: created topic ${topic} on ${kafkaBrokers.join(",")}`);
const producer = kafka.producer();
await producer.connect();
const line = '203.0.113.7 - - [27/Nov/2026:10:00:00 +0000] "GET /index.html HTTP/1.1" 200 512 "-" "curl/8"';
const [sent] = await producer.send({ topic, acks: -1, messages: [{ key: "web-1", value: line }] });
await producer.disconnect();
console.log(`kafka: produced 1 record (partition ${sent.partition}, offset ${sent.baseOffset})`);

const consumer = kafka.consumer({ groupId: `rla-demo-${id}` });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
const received = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no record consumed within 60 s")), 60_000);
  consumer.run({
    eachMessage: async ({ message }) => {
      clearTimeout(timer);
      resolve(message.value.toString());
    },
  });
});
await consumer.disconnect();
console.log(`kafka: consumed it back: ${received}`);

await ensureInfluxDatabase({ url: influxUrl, database, retentionPolicy: "rla_30d", duration: "30d" });
const t0 = Math.floor((Date.now() - 20_000) / 10_000) * 10_000;
const writeApi = new InfluxDB({ url: influxUrl, token: "" }).getWriteApi("", `${database}/rla_30d`, "ms");
writeApi.writePoints([
  new Point("http_stats").tag("host", "web-1").tag("service", "web").intField("requests", 120).timestamp(t0),
  new Point("http_stats")
    .tag("host", "web-1")
    .tag("service", "web")
    .intField("requests", 95)
    .timestamp(t0 + 10_000),
]);
await writeApi.close();
console.log(`influxdb: wrote 2 http_stats points to ${influxUrl}/api/v2/write (bucket ${database}/rla_30d)`);
const rows = influxRows(await influxQuery(influxUrl, database, 'SELECT "requests" FROM "http_stats" ORDER BY time'));
for (const row of rows) console.log(`influxdb: read back ${new Date(row.time).toISOString()} requests=${row.requests}`);

await admin.connect();
await admin.deleteTopics({ topics: [topic] });
await admin.disconnect();
await influxQuery(influxUrl, "", `DROP DATABASE ${quoteIdent(database)}`);
console.log("cleaned up the demo topic and database");
