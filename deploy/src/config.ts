import * as z from "zod";
import { DEFAULT_INFLUX_URL, DEFAULT_KAFKA_BROKERS } from "./endpoints.js";
import { DeployError, DeployErrorCode } from "./errors.js";

/** Fixed names shared by every package (see the team conventions). */
export const DEFAULT_PARTIALS_TOPIC = "rla-partials";
export const DEFAULT_PARTIALS_PARTITIONS = 6;
export const DEFAULT_INFLUX_DATABASE = "rla";
export const DEFAULT_RETENTION_POLICY = "rla_30d";
export const DEFAULT_RETENTION_DURATION = "30d";
export const DEFAULT_PROVISION_TIMEOUT_MS = 60_000;

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, "expected host:port, e.g. 127.0.0.1:19092");
// Kafka's own rule for topic names.
const topicName = z
  .string()
  .regex(/^[a-zA-Z0-9._-]{1,249}$/, "expected 1-249 characters of a-z A-Z 0-9 . _ -")
  .refine((t) => t !== "." && t !== "..", "'.' and '..' are not topic names");
const influxName = z.string().min(1, "expected a non-empty name").max(255);
const influxDuration = z
  .string()
  .regex(/^(INF|(\d+(ns|u|µ|ms|s|m|h|d|w))+)$/, "expected an InfluxQL duration such as 30d, 12h or INF");

/** Options of `ensureTopic` (also the `kafka` block of the provisioning config). */
export const topicOptionsSchema = z.strictObject({
  brokers: z.array(hostPort).min(1, "expected at least one broker"),
  topic: topicName,
  partitions: z.int().min(1).default(DEFAULT_PARTIALS_PARTITIONS),
  replicationFactor: z.int().min(1).default(1),
  /** Topic `retention.ms`; broker default when absent. */
  retentionMs: z.int().min(-1).optional(),
  /** Topic `min.insync.replicas`; broker default when absent. */
  minInsyncReplicas: z.int().min(1).optional(),
  /** How long to wait out an unavailable broker before giving up. */
  timeoutMs: z.int().positive().default(DEFAULT_PROVISION_TIMEOUT_MS),
});
export type TopicOptions = z.input<typeof topicOptionsSchema>;

/** Options of `ensureInfluxDatabase` (also the `influx` block of the provisioning config). */
export const influxDatabaseOptionsSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: "expected an http(s) URL, e.g. http://127.0.0.1:18086" }),
  database: influxName,
  retentionPolicy: influxName.default(DEFAULT_RETENTION_POLICY),
  duration: influxDuration.default(DEFAULT_RETENTION_DURATION),
  timeoutMs: z.int().positive().default(DEFAULT_PROVISION_TIMEOUT_MS),
});
export type InfluxDatabaseOptions = z.input<typeof influxDatabaseOptionsSchema>;

/** The provisioning CLI's config: what `npm run provision` creates, defaulting to the fixed names. */
export const provisionConfigSchema = z.strictObject({
  kafka: topicOptionsSchema
    .omit({ timeoutMs: true })
    .extend({
      brokers: topicOptionsSchema.shape.brokers.default([DEFAULT_KAFKA_BROKERS]),
      topic: topicName.default(DEFAULT_PARTIALS_TOPIC),
    })
    // prefault: an absent block is parsed as {} so its fields' defaults apply.
    .prefault({}),
  influx: influxDatabaseOptionsSchema
    .omit({ timeoutMs: true })
    .extend({
      url: influxDatabaseOptionsSchema.shape.url.default(DEFAULT_INFLUX_URL),
      database: influxName.default(DEFAULT_INFLUX_DATABASE),
    })
    .prefault({}),
  timeoutMs: z.int().positive().default(DEFAULT_PROVISION_TIMEOUT_MS),
});
export type ProvisionConfig = z.output<typeof provisionConfigSchema>;

/** Validates once, at the edge; the error names every bad key path and its expected form. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  throw new DeployError(DeployErrorCode.BadConfig, `invalid ${what}: ${problems.join("; ")}`);
}
