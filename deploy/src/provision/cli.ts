#!/usr/bin/env node
// `npm run provision` (after `npm run build`): creates the partials topic and the InfluxDB database with its default
// retention policy, defaulting to the fixed names and to RLA_KAFKA_BROKERS / RLA_INFLUX_URL. Safe to run repeatedly.
import { Command, Option } from "commander";
import { parseOptions, provisionConfigSchema } from "../config.js";
import { stackEndpoints } from "../endpoints.js";
import { ensureInfluxDatabase } from "./influx-database.js";
import { ensureTopic } from "./topic.js";

const int = (value: string) => (/^-?\d+$/.test(value) ? Number(value) : Number.NaN);

const program = new Command("provision")
  .description("Create the Kafka partials topic and the InfluxDB database/retention policy (idempotent).")
  .option("--brokers <list>", "Kafka brokers, comma-separated (default: RLA_KAFKA_BROKERS or 127.0.0.1:19092)")
  .option("--topic <name>", "partials topic (default: rla-partials)")
  .option("--partitions <n>", "partition count for a new topic (default: 6)", int)
  .option("--replication-factor <n>", "replication factor for a new topic (default: 1)", int)
  .option("--retention-ms <ms>", "topic retention.ms (default: broker's)", int)
  .option("--min-insync-replicas <n>", "topic min.insync.replicas (default: broker's)", int)
  .option("--influx-url <url>", "InfluxDB 1.x URL (default: RLA_INFLUX_URL or http://127.0.0.1:18086)")
  .option("--database <name>", "InfluxDB database (default: rla)")
  .option("--retention-policy <name>", "default retention policy (default: rla_30d)")
  .option("--duration <d>", "retention policy duration (default: 30d)")
  .option("--timeout-ms <ms>", "how long to wait out an unavailable server (default: 60000)", int)
  .addOption(new Option("--skip-kafka", "do not touch Kafka").conflicts("skipInflux"))
  .option("--skip-influx", "do not touch InfluxDB")
  .showHelpAfterError();

async function main(): Promise<void> {
  const flags = program.parse().opts();
  const env = stackEndpoints();
  // Only flags given are passed on, so the schema's defaults (the fixed names) apply to the rest.
  const defined = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const config = parseOptions(
    provisionConfigSchema,
    defined({
      kafka: defined({
        brokers: flags.brokers === undefined ? env.kafkaBrokers : String(flags.brokers).split(","),
        topic: flags.topic,
        partitions: flags.partitions,
        replicationFactor: flags.replicationFactor,
        retentionMs: flags.retentionMs,
        minInsyncReplicas: flags.minInsyncReplicas,
      }),
      influx: defined({
        url: flags.influxUrl ?? env.influxUrl,
        database: flags.database,
        retentionPolicy: flags.retentionPolicy,
        duration: flags.duration,
      }),
      timeoutMs: flags.timeoutMs,
    }),
    "provision options",
  );

  if (!flags.skipKafka) {
    const topic = await ensureTopic({ ...config.kafka, timeoutMs: config.timeoutMs });
    console.log(
      `kafka ${config.kafka.brokers.join(",")}: topic ${topic.topic} ${topic.created ? "created" : "already exists"} (${topic.partitions} partitions)`,
    );
    if (topic.warning) console.warn(`warning: ${topic.warning}`);
  }
  if (!flags.skipInflux) {
    const db = await ensureInfluxDatabase({ ...config.influx, timeoutMs: config.timeoutMs });
    console.log(
      `influxdb ${config.influx.url}: database ${db.database}, default retention policy ${db.retentionPolicy} ` +
        `(${config.influx.duration}, ${db.retentionPolicyCreated ? "created" : "updated"})`,
    );
  }
}

main().catch((error: unknown) => {
  const code = (error as { code?: unknown }).code;
  console.error(
    `provision failed${typeof code === "string" ? ` [${code}]` : ""}: ${(error as Error).message ?? error}`,
  );
  process.exitCode = 1;
});
