// Global setup of the vitest "integration" project: make sure the local Kafka + InfluxDB stack answers.
//
// A stack that already answers is used as it is and never stopped (another engineer or a previous run owns it).
// Otherwise `deploy/local/stack.sh up` starts it, and teardown stops it again unless RLA_KEEP_STACK=1. CI runs the
// same path: its first `npm test` brings the stack up here.
import { runStackScript, stackEndpoints, stackHealth } from "@rla/deploy";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Ports for stack.sh derived from the endpoints tests will use, so RLA_KAFKA_BROKERS/RLA_INFLUX_URL alone suffice. */
function stackEnv(): NodeJS.ProcessEnv {
  const { kafkaBrokers, influxUrl } = stackEndpoints();
  const env = { ...process.env };
  const [host, port] = (kafkaBrokers[0] ?? "").split(":");
  if (host && LOOPBACK.has(host) && port && env.RLA_KAFKA_PORT === undefined) env.RLA_KAFKA_PORT = port;
  const url = new URL(influxUrl);
  if (LOOPBACK.has(url.hostname) && url.port && env.RLA_INFLUX_PORT === undefined) env.RLA_INFLUX_PORT = url.port;
  return env;
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  const endpoints = stackEndpoints();
  const where = `Kafka ${endpoints.kafkaBrokers.join(",")}, InfluxDB ${endpoints.influxUrl}`;
  const before = await stackHealth(endpoints);
  if (before.kafka && before.influx) {
    console.log(`[stack] using the running stack (${where}); it is left running`);
    return undefined;
  }
  console.log(`[stack] not answering (kafka: ${before.kafka}, influx: ${before.influx}); running stack.sh up`);
  await runStackScript("up", stackEnv());
  const after = await stackHealth(endpoints);
  if (!after.kafka || !after.influx) {
    throw new Error(
      `stack.sh up finished but ${where} do not both answer (kafka: ${after.kafka}, influx: ${after.influx})`,
    );
  }
  // Only a stack this run started from nothing is ours to stop; a half-running one belongs to someone else.
  const startedByUs = !before.kafka && !before.influx;
  return async () => {
    if (!startedByUs) return;
    if (process.env.RLA_KEEP_STACK === "1") {
      console.log("[stack] RLA_KEEP_STACK=1: leaving the stack running");
      return;
    }
    await runStackScript("down", stackEnv());
  };
}
