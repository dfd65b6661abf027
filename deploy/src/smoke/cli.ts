#!/usr/bin/env node
// `npm run smoke -- --kafka … --influx … [--grafana …]` (after `npm run build`): checks a running deployment — Kafka
// metadata and the partials topic, InfluxDB /ping with the database and retention policy, Grafana /api/health when a
// URL is given, and that fresh http_stats points are arriving. Exit 0 when every check passes, 1 otherwise.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Command } from "commander";
import { stackEndpoints } from "../endpoints.js";
import { DEFAULT_SMOKE_MAX_AGE_MS, runSmoke, type SmokeReport } from "./smoke.js";

const int = (value: string) => (/^\d+$/.test(value) ? Number(value) : Number.NaN);

const program = new Command("smoke")
  .description("Check that a deployment is up and that fresh http_stats points are arriving.")
  .option("--kafka <brokers>", "Kafka brokers, comma-separated (default: RLA_KAFKA_BROKERS or 127.0.0.1:19092)")
  .option("--topic <name>", "partials topic that must exist (default: rla-partials)")
  .option("--group <id>", "also report this consumer group's lag on the topic (e.g. rla-central)")
  .option("--influx <url>", "InfluxDB 1.x URL (default: RLA_INFLUX_URL or http://127.0.0.1:18086)")
  .option("--database <name>", "InfluxDB database (default: rla)")
  .option("--retention-policy <name>", "retention policy central writes to (default: rla_30d)")
  .option("--influx-token-file <path>", "file holding user:password when InfluxDB auth is on (else RLA_INFLUX_TOKEN)")
  .option("--grafana <url>", "Grafana base URL; checks /api/health")
  .option(
    "--max-age-ms <ms>",
    `newest http_stats point must be at most this old (default: ${DEFAULT_SMOKE_MAX_AGE_MS})`,
    int,
  )
  .option("--timeout-ms <ms>", "per-request timeout (default: 10000)", int)
  .option(
    "--wait-ms <ms>",
    "repeat the checks until they all pass or this much time has passed (default: 0, once)",
    int,
  )
  .showHelpAfterError();

function print(report: SmokeReport): void {
  for (const check of report.checks) {
    console.log(`${check.ok ? "ok  " : "FAIL"} ${check.name.padEnd(10)} ${check.detail}`);
  }
}

async function main(): Promise<void> {
  const flags = program.parse().opts();
  const env = stackEndpoints();
  const token = flags.influxTokenFile
    ? readFileSync(String(flags.influxTokenFile), "utf8").trim()
    : process.env.RLA_INFLUX_TOKEN || undefined;
  const options = {
    kafka: {
      brokers: flags.kafka === undefined ? env.kafkaBrokers : String(flags.kafka).split(","),
      topic: flags.topic,
      groupId: flags.group,
    },
    influx: {
      url: flags.influx ?? env.influxUrl,
      database: flags.database,
      retentionPolicy: flags.retentionPolicy,
      token,
    },
    grafanaUrl: flags.grafana,
    maxAgeMs: flags.maxAgeMs,
    timeoutMs: flags.timeoutMs,
  };
  const waitMs: number = flags.waitMs ?? 0;
  const deadline = Date.now() + waitMs;
  let report = await runSmoke(options);
  while (!report.ok && Date.now() < deadline) {
    await sleep(Math.min(5_000, Math.max(0, deadline - Date.now())));
    report = await runSmoke(options);
  }
  print(report);
  process.exitCode = report.ok ? 0 : 1;
}

main().catch((error: unknown) => {
  const code = (error as { code?: unknown }).code;
  console.error(`smoke failed${typeof code === "string" ? ` [${code}]` : ""}: ${(error as Error).message ?? error}`);
  process.exitCode = 2;
});
