#!/usr/bin/env node
/**
 * `central run|validate --config central.yaml [flags]`. Exit codes (central/README.md): 0 ok (stopped by
 * SIGTERM/SIGINT, or validate passed), 1 internal error, 2 invalid config or usage, 3 a dependency refused us for
 * good (Kafka topic missing / access denied, InfluxDB database missing).
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { startCentral } from "./central.js";
import { type ConfigOverrides, loadCentralConfig, redactedConfig, resolveSecrets, resolveSsl } from "./config.js";
import { CentralError, CentralErrorCode, ExitCode } from "./errors.js";
import { createLogger } from "./logging.js";

interface Flags {
  config?: string;
  brokers?: string[];
  topic?: string;
  group?: string;
  influxUrl?: string;
  influxDb?: string;
  latenessMs?: number;
}

const splitList = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
];

const milliseconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer of ms");
  return n;
};

function overrides(flags: Flags): ConfigOverrides {
  const out: ConfigOverrides = {};
  if (flags.brokers) out.brokers = flags.brokers;
  if (flags.topic) out.topic = flags.topic;
  if (flags.group) out.group = flags.group;
  if (flags.influxUrl) out.influxUrl = flags.influxUrl;
  if (flags.influxDb) out.influxDb = flags.influxDb;
  if (flags.latenessMs !== undefined) out.latenessMs = flags.latenessMs;
  return out;
}

function addCommonOptions(command: Command): Command {
  return command
    .option("-c, --config <file>", "YAML config file")
    .option("--brokers <list>", "Kafka brokers host:port, comma-separated; overrides kafka.brokers", splitList)
    .option("--topic <topic>", "partials topic; overrides kafka.topic")
    .option("--group <id>", "consumer group; overrides kafka.groupId")
    .option("--influx-url <url>", "InfluxDB base URL; overrides influx.url")
    .option("--influx-db <name>", "InfluxDB database; overrides influx.database")
    .option("--lateness-ms <ms>", "allowed lateness; overrides allowedLatenessMs", milliseconds);
}

function exitCodeOf(error: unknown): number {
  if (error instanceof CentralError) {
    if (error.code === CentralErrorCode.BadConfig) return ExitCode.BadConfig;
    if (error.code === CentralErrorCode.KafkaRequest || error.code === CentralErrorCode.InfluxMissingDatabase) {
      return ExitCode.Dependency;
    }
  }
  return ExitCode.Internal;
}

async function run(flags: Flags): Promise<number> {
  const config = loadCentralConfig(flags.config, overrides(flags));
  const logger = createLogger(config.logLevel);
  const central = await startCentral(config, { logger, secrets: resolveSecrets(config) });
  const stop = (signal: string) => {
    logger.info({ signal }, "stopping");
    void central.stop();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  try {
    await central.done;
    return ExitCode.Ok;
  } catch (error) {
    await central.abort();
    throw error;
  }
}

async function main(argv: string[]): Promise<number> {
  let code: number = ExitCode.Ok;
  const program = new Command()
    .name("central")
    .description("Merges the fleet's window partials from Kafka and writes them to InfluxDB exactly once.")
    .showHelpAfterError()
    .exitOverride();
  addCommonOptions(program.command("run").description("consume, merge and write (until SIGTERM)")).action(
    async (flags: Flags) => {
      code = await run(flags);
    },
  );
  addCommonOptions(
    program.command("validate").description("check the config and print the effective config (secrets redacted)"),
  ).action((flags: Flags) => {
    const config = loadCentralConfig(flags.config, overrides(flags));
    resolveSsl(config);
    process.stdout.write(`${JSON.stringify(redactedConfig(config, resolveSecrets(config)), null, 2)}\n`);
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    // commander already printed help or the usage error; a usage error is a config error.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.Ok : ExitCode.BadConfig;
    process.stderr.write(`central: ${(error as Error).message}\n`);
    return exitCodeOf(error);
  }
}

main(process.argv).then((code) => {
  // kafkajs may keep timers around after a disconnect; the process has nothing left to do.
  process.exit(code);
});
