/**
 * The config pieces the agent and central share: reading the YAML file, how a Kafka client's TLS and SASL are written
 * in it, how a zod failure is turned into `key.path: expected …` lines, and reading the TLS and secret files. Each
 * package keeps its own schema and error codes (`fail` builds the caller's config error from a message); these are
 * the parts that must read the same in both.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import * as z from "zod";

/** Builds the caller's config error (exit 2 in both CLIs) from a message that names the file or key. */
export type ConfigErrorFactory = (message: string) => Error;

/** The mapping of keys in the YAML `file`, or {} without a file (flags and defaults only). */
export function readConfigFile(file: string | undefined, fail: ConfigErrorFactory): Record<string, unknown> {
  if (file === undefined) return {};
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw fail(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw fail(`config file ${file} is not valid YAML: ${(error as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw fail("invalid config: (root): expected a YAML mapping of keys");
  }
  return raw as Record<string, unknown>;
}

/**
 * A secret from the environment variable `source.env` or else the file `source.file` (one trailing newline
 * dropped); undefined when neither is configured. Errors name the key: `${keyPath}Env` / `${keyPath}File`.
 */
export function readSecret(
  source: { file?: string | undefined; env?: string | undefined },
  keyPath: string,
  env: NodeJS.ProcessEnv,
  fail: ConfigErrorFactory,
): string | undefined {
  if (source.env !== undefined) {
    const value = env[source.env];
    if (value === undefined || value === "") {
      throw fail(`invalid config: ${keyPath}Env: environment variable ${source.env} is not set`);
    }
    return value;
  }
  if (source.file === undefined) return undefined;
  try {
    return readFileSync(source.file, "utf8").replace(/\r?\n$/, "");
  } catch (error) {
    throw fail(`invalid config: ${keyPath}File: cannot read ${source.file}: ${(error as Error).message}`);
  }
}

const filePath = z.string().min(1, "expected a file path");

export const kafkaSslSchema = z.union([
  z.boolean(),
  z.strictObject({
    caFile: filePath.optional(),
    certFile: filePath.optional(),
    keyFile: filePath.optional(),
    /** Checks the broker's certificate against the CA (default true: only switch off for a test broker). */
    rejectUnauthorized: z.boolean().default(true),
    servername: z.string().optional(),
  }),
]);
export type KafkaSslConfig = z.output<typeof kafkaSslSchema>;

/** The password itself is never in the file: `passwordFile` or `passwordEnv` says where to read it. */
export const kafkaSaslSchema = z
  .strictObject({
    mechanism: z.enum(["plain", "scram-sha-256", "scram-sha-512"]),
    username: z.string().min(1),
    passwordFile: filePath.optional(),
    passwordEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name")
      .optional(),
  })
  .refine((s) => (s.passwordFile === undefined) !== (s.passwordEnv === undefined), {
    error: "expected exactly one of passwordFile or passwordEnv",
  });

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || "(root)";
}

/** Every problem of a failed parse as `key.path: expected …`, joined by "; " (unknown keys named one by one). */
export function describeConfigIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key`).join("; ")
        : `${formatPath(issue.path)}: ${issue.message}`,
    )
    .join("; ");
}

/**
 * TLS options for kafkajs with the CA/cert/key files read. `fail` builds the caller's config error from a message
 * that names the key of an unreadable file.
 */
export function readKafkaSsl(
  ssl: KafkaSslConfig,
  fail: ConfigErrorFactory,
): boolean | { ca?: string; cert?: string; key?: string } {
  if (typeof ssl === "boolean") return ssl;
  const read = (key: "caFile" | "certFile" | "keyFile"): string | undefined => {
    const file = ssl[key];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      throw fail(`invalid config: kafka.ssl.${key}: cannot read ${file}: ${(error as Error).message}`);
    }
  };
  const out: Record<string, unknown> = { rejectUnauthorized: ssl.rejectUnauthorized };
  const ca = read("caFile");
  const cert = read("certFile");
  const key = read("keyFile");
  if (ca !== undefined) out.ca = ca;
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  if (ssl.servername !== undefined) out.servername = ssl.servername;
  return out;
}
