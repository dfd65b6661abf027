/** Where the local stack listens unless the environment says otherwise (see deploy/local/stack.sh). */
export const DEFAULT_KAFKA_BROKERS = "127.0.0.1:19092";
export const DEFAULT_INFLUX_URL = "http://127.0.0.1:18086";

export interface StackEndpoints {
  kafkaBrokers: string[];
  influxUrl: string;
}

/**
 * Endpoints every test and tool uses: `RLA_KAFKA_BROKERS` (comma-separated host:port list) and `RLA_INFLUX_URL`,
 * defaulting to the local stack.
 */
export function stackEndpoints(env: NodeJS.ProcessEnv = process.env): StackEndpoints {
  const brokers = (env.RLA_KAFKA_BROKERS || DEFAULT_KAFKA_BROKERS)
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  return { kafkaBrokers: brokers, influxUrl: (env.RLA_INFLUX_URL || DEFAULT_INFLUX_URL).replace(/\/+$/, "") };
}
