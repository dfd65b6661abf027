/**
 * The agent's one config schema (YAML file, overridden by CLI flags), validated once at start. Defaults sit beside
 * each key; unknown keys are rejected; every error names the key path and the expected form.
 * Secrets are never in the file itself: `kafka.sasl.passwordFile` or `kafka.sasl.passwordEnv` say where to read one.
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
import { AgentError, AgentErrorCode } from "./errors.js";

const badConfig = (message: string) => new AgentError(AgentErrorCode.BadConfig, message);

export const DEFAULT_TOPIC = "rla-partials";
export const DEFAULT_STATE_DIR = "/var/lib/rla-edge-agent";

const FORMAT_PRESETS = [
  "nginx_combined",
  "nginx_combined_rt",
  "apache_common",
  "apache_combined",
  "apache_combined_d",
  "json",
] as const;

// Host and service become part of a partial's identity `host|service|window|seq`, so they must not contain "|".
const identityName = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'expected 1-128 characters of A-Z a-z 0-9 . _ : - (e.g. "web-1")');
const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'expected "host:port"');
const positiveMs = z.int("expected an integer number of milliseconds").positive("expected a positive number");
const byteCount = z.int("expected an integer number of bytes").positive("expected a positive number");
const nonEmptyPath = z.string().min(1, "expected a file path");

const formatSpec = z.union(
  [z.enum(FORMAT_PRESETS), z.strictObject({ nginx: z.string().min(1) }), z.strictObject({ apache: z.string().min(1) })],
  {
    error: `expected one of ${FORMAT_PRESETS.join(", ")}, { nginx: "<log_format string>" } or { apache: "<LogFormat string>" }`,
  },
);

export const agentConfigSchema = z.strictObject({
  /** This host's name in every partial; defaults to the machine's host name. */
  hostId: identityName.default(() => hostname().split(".")[0] || "localhost"),
  service: identityName.default("web"),
  /** Globs of access logs to follow. */
  files: z.array(z.string().min(1, "expected a glob")).min(1, "expected at least one glob"),
  format: formatSpec,
  /** Checkpoint and outbox live here; the agent must be able to create and fsync files in it. */
  stateDir: nonEmptyPath.default(DEFAULT_STATE_DIR),
  windowMs: positiveMs.default(10_000),
  /** A window closes once the event clock (max event time seen) is this far past its end. */
  closeLatenessMs: z.int().nonnegative().default(5_000),
  /** …or, while every file is at its end, once the wall clock is this far past the window's end. */
  idleCloseMs: z.int().nonnegative().default(5_000),
  /** Lines whose window is older than this behind the file's event clock are rejected as `too_old`. */
  windowHorizonMs: positiveMs.default(3_600_000),
  /** A longer line is skipped whole and counted as `too_long`. */
  maxLineBytes: byteCount.default(65_536),
  readChunkBytes: byteCount.default(1_048_576),
  /** Where to start a file the agent has no saved position for (`--once` always starts at the beginning). */
  startAt: z.enum(["beginning", "end"]).default("end"),
  kafka: z.strictObject({
    brokers: z.array(hostPort).min(1, 'expected at least one "host:port"'),
    topic: z
      .string()
      .regex(/^[a-zA-Z0-9._-]{1,249}$/, "expected 1-249 characters of a-z A-Z 0-9 . _ -")
      .default(DEFAULT_TOPIC),
    clientId: z.string().min(1).default("rla-edge-agent"),
    ssl: kafkaSslSchema.default(false),
    sasl: kafkaSaslSchema.optional(),
    connectionTimeoutMs: positiveMs.default(3_000),
    requestTimeoutMs: positiveMs.default(30_000),
    /**
     * gzip level of what goes to Kafka, 1 (fastest) to 9 (smallest). Level 1 costs the agent 0.11 CPU-s per 1 M
     * lines against 0.25 at zlib's default 6, for 8 % more bytes (README, design notes).
     */
    gzipLevel: z.int().min(1, "expected 1 to 9").max(9, "expected 1 to 9").default(1),
  }),
  spool: z
    .strictObject({
      /** Unacknowledged outbox bytes at which the agent stops reading logs until Kafka catches up. */
      maxSpoolBytes: byteCount.default(256 * 1024 * 1024),
      /** Outbox segment size; acknowledged segments are deleted whole. */
      segmentBytes: byteCount.default(8 * 1024 * 1024),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      host: z.string().min(1).default("127.0.0.1"),
      /** 0 switches the HTTP endpoint off. */
      port: z.int().min(0).max(65_535, "expected a port 0-65535").default(9464),
      /** `/healthz` answers 503 once Kafka has been unreachable this long. */
      kafkaUnreachableAfterMs: positiveMs.default(60_000),
    })
    .prefault({}),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type AgentConfig = z.output<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** Flags that override the file (commander's parsed options, all optional). */
export interface ConfigOverrides {
  files?: string[];
  format?: string;
  hostId?: string;
  brokers?: string[];
  topic?: string;
  stateDir?: string;
}

/** Validates a parsed config object; throws AgentError(BadConfig) listing every problem as `key.path: expected …`. */
export function parseAgentConfig(input: unknown): AgentConfig {
  const result = agentConfigSchema.safeParse(input);
  if (result.success) return result.data;
  throw badConfig(`invalid config: ${describeConfigIssues(result.error)}`);
}

function applyOverrides(raw: Record<string, unknown>, o: ConfigOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  if (o.files) out.files = o.files;
  if (o.format) out.format = o.format;
  if (o.hostId) out.hostId = o.hostId;
  if (o.stateDir) out.stateDir = o.stateDir;
  if (o.brokers || o.topic) {
    const kafka = { ...((raw.kafka as Record<string, unknown> | undefined) ?? {}) };
    if (o.brokers) kafka.brokers = o.brokers;
    if (o.topic) kafka.topic = o.topic;
    out.kafka = kafka;
  }
  return out;
}

/** Reads the YAML file (if given), applies flag overrides, validates. */
export function loadAgentConfig(file: string | undefined, overrides: ConfigOverrides = {}): AgentConfig {
  return parseAgentConfig(applyOverrides(readConfigFile(file, badConfig), overrides));
}

/** The SASL password, read from its file or environment variable; the error names the key that points at it. */
export function resolveSaslPassword(config: AgentConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const sasl = config.kafka.sasl;
  if (!sasl) return undefined;
  return readSecret({ file: sasl.passwordFile, env: sasl.passwordEnv }, "kafka.sasl.password", env, badConfig);
}

/** TLS options for kafkajs, with the CA/cert/key files read; the error names the key of an unreadable file. */
export function resolveSsl(config: AgentConfig): boolean | { ca?: string; cert?: string; key?: string } {
  return readKafkaSsl(config.kafka.ssl, badConfig);
}

/**
 * The effective config as `validate` prints it. The file holds no secret itself (only where to find one); the
 * resolved password is shown as "<redacted>" so an operator can see that it was found.
 */
export function redactedConfig(config: AgentConfig, passwordFound: boolean): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown> & { kafka: Record<string, unknown> };
  if (config.kafka.sasl) copy.kafka.sasl = { ...config.kafka.sasl, password: passwordFound ? "<redacted>" : null };
  return copy;
}
