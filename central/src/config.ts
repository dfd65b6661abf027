/**
 * Central's one config schema (YAML file, overridden by CLI flags), validated once at start. Defaults sit beside
 * each key; unknown keys are rejected; every error names the key path and the expected form. Secrets are never in
 * the file itself: `kafka.sasl.passwordFile | passwordEnv` and `influx.tokenFile | tokenEnv` say where to read one.
 */
import { hostname } from "node:os";
import {
  describeConfigIssues,
  kafkaSaslSchema,
  kafkaSslSchema,
  readConfigFile,
  readKafkaSsl,
  readSecret,
} from "@rla/protocol";
import * as z from "zod";
import { CentralError, CentralErrorCode } from "./errors.js";

const badConfig = (message: string) => new CentralError(CentralErrorCode.BadConfig, message);

export const DEFAULT_KAFKA_BROKERS = "127.0.0.1:19092";
export const DEFAULT_INFLUX_URL = "http://127.0.0.1:18086";

const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'expected "host:port"');
const positiveMs = z.int("expected an integer number of milliseconds").positive("expected a positive number");
const nonNegativeMs = z.int("expected an integer number of milliseconds").nonnegative("expected 0 or more");
const nonEmptyPath = z.string().min(1, "expected a file path");
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name");
const influxName = z.string().min(1, "expected a non-empty name").max(255);
const count = z.int("expected an integer").positive("expected a positive number");
const factor = z.number("expected a number").min(1, "expected a factor >= 1");
const fraction = z
  .number("expected a number")
  .gt(0, "expected a fraction in (0, 1]")
  .max(1, "expected a fraction in (0, 1]");

export const centralConfigSchema = z
  .strictObject({
    kafka: z
      .strictObject({
        brokers: z
          .array(hostPort)
          .min(1, 'expected at least one "host:port"')
          .default(() => (process.env.RLA_KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS).split(",")),
        topic: z
          .string()
          .regex(/^[a-zA-Z0-9._-]{1,249}$/, "expected 1-249 characters of a-z A-Z 0-9 . _ -")
          .default("rla-partials"),
        groupId: z.string().min(1).default("rla-central"),
        clientId: z.string().min(1).default("rla-central"),
        ssl: kafkaSslSchema.default(false),
        sasl: kafkaSaslSchema.optional(),
        connectionTimeoutMs: positiveMs.default(3_000),
        requestTimeoutMs: positiveMs.default(30_000),
        /** The group coordinator evicts an instance that has not heartbeated for this long. */
        sessionTimeoutMs: positiveMs.default(30_000),
        /** A new group (no committed offsets) starts at the oldest retained partial, not at the end. */
        fromBeginning: z.boolean().default(true),
      })
      .prefault({}),
    influx: z
      .strictObject({
        url: z
          .url({ protocol: /^https?$/, error: "expected an http(s) URL, e.g. http://127.0.0.1:18086" })
          .default(() => process.env.RLA_INFLUX_URL ?? DEFAULT_INFLUX_URL),
        database: influxName.default("rla"),
        retentionPolicy: influxName.default("rla_30d"),
        /** Token for `/api/v2/write` (InfluxDB 1.8: `user:password`); absent = auth off. */
        tokenFile: nonEmptyPath.optional(),
        tokenEnv: envName.optional(),
        /** Per-request timeout; a timed-out write is retried. */
        timeoutMs: positiveMs.default(10_000),
        /** Lines per HTTP write request. */
        batchSize: count.default(5_000),
        /** Create the database with `retentionPolicy` as its default RP if missing (needs admin rights). */
        createDatabase: z.boolean().default(false),
        /** Duration of the RP that `createDatabase` creates. */
        retentionDuration: z
          .string()
          .regex(/^(INF|(\d+(ms|s|m|h|d|w))+)$/, "expected an InfluxQL duration such as 30d or INF")
          .default("30d"),
        /** Pending write batches at which the consumer pauses until InfluxDB catches up. */
        maxPendingBatches: count.default(64),
      })
      .refine((i) => i.tokenFile === undefined || i.tokenEnv === undefined, {
        error: "expected at most one of tokenFile or tokenEnv",
      })
      .prefault({}),
    /** Window length; every partial must carry the same. */
    windowMs: positiveMs.default(10_000),
    /** Watermark = newest window end seen in the partition minus this; windows behind it are final. */
    allowedLatenessMs: positiveMs.default(120_000),
    /**
     * After a gap without any record (Kafka, central or the whole fleet down), the lateness is extended by the
     * gap, at most by this, for allowedLatenessMs: agents draining spools after a fleet-wide Kafka outage lose
     * nothing to the watermark if the outage was at most this long. Costs memory for the held windows.
     */
    outageHoldMaxMs: nonNegativeMs.default(900_000),
    /** An agent counts as live for a window if it reported a window starting at most this long before. */
    agentLivenessMs: positiveMs.default(60_000),
    /** A window not reported by every live agent is written anyway this long (wall clock) after its end. */
    incompleteFireAfterMs: nonNegativeMs.default(15_000),
    /**
     * Partials of windows starting further than this ahead of the wall clock are poison (`future`): one host with a
     * clock far ahead would otherwise push the watermark past every current window. Default: min(60 s, half of
     * allowedLatenessMs).
     */
    maxFutureMs: positiveMs.optional(),
    /** Largest Kafka record decoded; larger ones are poison (`oversize`). */
    maxPartialBytes: count.default(1024 * 1024),
    /** How often timeouts are checked and pending windows fired. */
    tickMs: positiveMs.default(250),
    /** Length of the top_ip / top_url lists written per window and host. */
    topK: count.max(100, "expected at most 100").default(10),
    /** The `instance` tag of `pipeline` points; two instances on one machine need different values. */
    instance: z
      .string()
      .min(1)
      .default(() => hostname().split(".")[0] || "localhost"),
    anomalies: z
      .strictObject({
        /** At most this many anomalies of one type per window, host and service (tag `rank` 1..n). */
        maxAnomaliesPerType: count.max(100, "expected at most 100").default(5),
        /**
         * Baselines average the windows in [start - allowedLatenessMs - baselineHistoryMs, start -
         * allowedLatenessMs]: those are final whenever a window is computed (see README, "Baselines").
         */
        baselineHistoryMs: positiveMs.default(600_000),
        /** How often baseline history is re-read from InfluxDB (windows other instances wrote); 0 = never. */
        baselineRefreshMs: nonNegativeMs.default(30_000),
        ipSpike: z
          .strictObject({
            enabled: z.boolean().default(true),
            /** Requests from one IP in one window (fleet-wide) at or above which it may be a spike. */
            minRequests: count.default(500),
            /** …and at least this many times its baseline requests per window. */
            baselineFactor: factor.default(5),
          })
          .prefault({}),
        errorSurge: z
          .strictObject({
            enabled: z.boolean().default(true),
            /** 5xx share of requests (0..1) at or above which a window may be a surge. */
            minShare: fraction.default(0.05),
            /** …with at least this many 5xx responses… */
            minErrors: count.default(20),
            /** …and at least this many times the baseline 5xx share. */
            baselineFactor: factor.default(3),
          })
          .prefault({}),
        urlScan: z
          .strictObject({
            enabled: z.boolean().default(true),
            /** Distinct URL paths one IP requested in one window across all hosts. */
            minDistinctUrls: count.default(100),
            /** …or 404 responses one IP got in one window across all hosts. */
            minNotFound: count.default(50),
          })
          .prefault({}),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        host: z.string().min(1).default("127.0.0.1"),
        /** 0 switches the HTTP endpoint (/metrics, /healthz) off. */
        port: z.int().min(0).max(65_535, "expected a port 0-65535").default(9465),
        /** `/healthz` answers 503 once InfluxDB writes have failed for this long. */
        influxFailingAfterMs: positiveMs.default(60_000),
      })
      .prefault({}),
    /** How long a graceful stop waits for pending writes before leaving them to the next owner. */
    shutdownTimeoutMs: positiveMs.default(15_000),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .superRefine((c, ctx) => {
    if (c.allowedLatenessMs < c.windowMs) {
      ctx.addIssue({ code: "custom", path: ["allowedLatenessMs"], message: "expected at least windowMs" });
    }
    if (c.maxFutureMs !== undefined && c.maxFutureMs >= c.allowedLatenessMs) {
      ctx.addIssue({ code: "custom", path: ["maxFutureMs"], message: "expected less than allowedLatenessMs" });
    }
    if (c.agentLivenessMs < c.windowMs) {
      ctx.addIssue({ code: "custom", path: ["agentLivenessMs"], message: "expected at least windowMs" });
    }
  })
  .transform((c) => ({ ...c, maxFutureMs: c.maxFutureMs ?? Math.min(60_000, Math.floor(c.allowedLatenessMs / 2)) }));

export type CentralConfig = z.output<typeof centralConfigSchema>;
export type CentralConfigInput = z.input<typeof centralConfigSchema>;

/** Flags that override the file (commander's parsed options, all optional). */
export interface ConfigOverrides {
  brokers?: string[];
  topic?: string;
  group?: string;
  influxUrl?: string;
  influxDb?: string;
  latenessMs?: number;
}

/** Validates a parsed config object; throws CentralError(BadConfig) listing every problem as `key.path: expected …`. */
export function parseCentralConfig(input: unknown): CentralConfig {
  const result = centralConfigSchema.safeParse(input);
  if (result.success) return result.data;
  throw badConfig(`invalid config: ${describeConfigIssues(result.error)}`);
}

function section(raw: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = raw[key];
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? { ...(value as Record<string, unknown>) }
    : {};
}

function applyOverrides(raw: Record<string, unknown>, o: ConfigOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  if (o.brokers || o.topic || o.group) {
    const kafka = section(raw, "kafka");
    if (o.brokers) kafka.brokers = o.brokers;
    if (o.topic) kafka.topic = o.topic;
    if (o.group) kafka.groupId = o.group;
    out.kafka = kafka;
  }
  if (o.influxUrl || o.influxDb) {
    const influx = section(raw, "influx");
    if (o.influxUrl) influx.url = o.influxUrl;
    if (o.influxDb) influx.database = o.influxDb;
    out.influx = influx;
  }
  if (o.latenessMs !== undefined) out.allowedLatenessMs = o.latenessMs;
  return out;
}

/** Reads the YAML file (if given), applies flag overrides, validates. */
export function loadCentralConfig(file: string | undefined, overrides: ConfigOverrides = {}): CentralConfig {
  return parseCentralConfig(applyOverrides(readConfigFile(file, badConfig), overrides));
}

/** Secrets resolved from their files / environment variables. Never log this object. */
export interface CentralSecrets {
  saslPassword: string | undefined;
  influxToken: string;
}

export function resolveSecrets(config: CentralConfig, env: NodeJS.ProcessEnv = process.env): CentralSecrets {
  const sasl = config.kafka.sasl;
  return {
    saslPassword: sasl
      ? readSecret({ file: sasl.passwordFile, env: sasl.passwordEnv }, "kafka.sasl.password", env, badConfig)
      : undefined,
    influxToken:
      readSecret({ file: config.influx.tokenFile, env: config.influx.tokenEnv }, "influx.token", env, badConfig) ?? "",
  };
}

/** TLS options for kafkajs, with the CA/cert/key files read; the error names the key of an unreadable file. */
export function resolveSsl(config: CentralConfig): boolean | { ca?: string; cert?: string; key?: string } {
  return readKafkaSsl(config.kafka.ssl, badConfig);
}

/** The effective config as `validate` prints it: secrets are only said to be found, never shown. */
export function redactedConfig(config: CentralConfig, secrets: CentralSecrets): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown> & {
    kafka: Record<string, unknown>;
    influx: Record<string, unknown>;
  };
  if (config.kafka.sasl) {
    copy.kafka.sasl = { ...config.kafka.sasl, password: secrets.saslPassword ? "<redacted>" : null };
  }
  copy.influx.token = secrets.influxToken ? "<redacted>" : null;
  return copy;
}
