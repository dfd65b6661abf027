#!/usr/bin/env node
/**
 * `edge-agent run|validate --config agent.yaml [flags]`. Exit codes (README.md): 0 ok, 2 config error,
 * 3 state dir unusable, 1 anything else (a non-retriable Kafka error, a bug).
 */
import { createParser, LOG_FORMAT_PRESETS, ProtocolError } from "@rla/protocol";
import { Command, CommanderError, Option } from "commander";
import { pino } from "pino";
import { parse as parseYaml } from "yaml";
import { type ConfigOverrides, loadAgentConfig, redactedConfig, resolveSaslPassword, resolveSsl } from "./config.js";
import { AgentError, AgentErrorCode } from "./errors.js";

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_CONFIG = 2;
const EXIT_STATE_DIR = 3;

interface CommonFlags {
  config?: string;
  files?: string[];
  format?: string;
  hostId?: string;
  brokers?: string[];
  topic?: string;
  stateDir?: string;
}

const splitList = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
];

function overrides(flags: CommonFlags): ConfigOverrides {
  const out: ConfigOverrides = {};
  if (flags.files) out.files = flags.files;
  if (flags.hostId) out.hostId = flags.hostId;
  if (flags.brokers) out.brokers = flags.brokers;
  if (flags.topic) out.topic = flags.topic;
  if (flags.stateDir) out.stateDir = flags.stateDir;
  if (flags.format) {
    // A preset name, or a YAML/JSON mapping such as '{nginx: "$remote_addr …"}'.
    out.format = (LOG_FORMAT_PRESETS as readonly string[]).includes(flags.format)
      ? flags.format
      : (parseYaml(flags.format) as string);
  }
  return out;
}

function addCommonOptions(command: Command): Command {
  return command
    .option("-c, --config <file>", "YAML config file")
    .option("--files <globs>", "log file globs, comma-separated (repeatable); overrides files", splitList)
    .option("--format <format>", `log format: ${LOG_FORMAT_PRESETS.join("|")} or a YAML mapping; overrides format`)
    .option("--host-id <id>", "this host's name in partials; overrides hostId")
    .option("--brokers <list>", "Kafka brokers host:port, comma-separated; overrides kafka.brokers", splitList)
    .option("--topic <topic>", "Kafka topic; overrides kafka.topic")
    .option("--state-dir <dir>", "checkpoint and outbox directory; overrides stateDir");
}

function exitCodeOf(error: unknown): number {
  if (error instanceof AgentError) {
    if (error.code === AgentErrorCode.BadConfig) return EXIT_CONFIG;
    if (error.code === AgentErrorCode.StateDir) return EXIT_STATE_DIR;
  }
  if (error instanceof ProtocolError) return EXIT_CONFIG; // a custom log format that does not compile
  return EXIT_FAILURE;
}

async function run(flags: CommonFlags & { once?: boolean }): Promise<number> {
  const config = loadAgentConfig(flags.config, overrides(flags));
  // Loaded here, not at the top: `validate` and `--help` need none of kafkajs and the pipeline.
  const [{ Agent }, { RateLimitedLog }, { createKafkaSink }] = await Promise.all([
    import("./agent.js"),
    import("./metrics/rate-limited-log.js"),
    import("./ship/kafka.js"),
  ]);
  const logger = pino({ level: config.logLevel, base: { host: config.hostId, service: config.service } });
  const kafkaLog = new RateLimitedLog(logger, 60_000);
  const sink = createKafkaSink({
    kafka: config.kafka,
    ssl: resolveSsl(config),
    password: resolveSaslPassword(config),
    onLog: (level, message, extra) => kafkaLog.log(level, message, extra, message),
  });
  const agent = new Agent({ config, once: flags.once === true, sink, logger });
  const stop = (signal: string) => {
    logger.info({ signal }, "stopping");
    agent.stop();
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  logger.info({ files: config.files, topic: config.kafka.topic, once: flags.once === true }, "edge agent started");
  const totals = await agent.run();
  logger.info(totals, "edge agent stopped");
  return EXIT_OK;
}

function buildProgram(exit: (code: number) => void): Command {
  const program = new Command()
    .name("edge-agent")
    .description("Tails access logs, aggregates them into 10 s partials and ships them to Kafka exactly once.")
    .showHelpAfterError()
    .exitOverride();
  addCommonOptions(program.command("run").description("follow the logs and ship partials (until SIGTERM)"))
    .addOption(new Option("--once", "replay the files to their end, flush every window, wait for Kafka, exit 0"))
    .action(async (flags: CommonFlags & { once?: boolean }) => {
      exit(await run(flags));
    });
  addCommonOptions(
    program.command("validate").description("check the config and print the effective config (secrets redacted)"),
  ).action((flags: CommonFlags) => {
    const config = loadAgentConfig(flags.config, overrides(flags));
    createParser(config.format); // a custom log format that does not compile is a config error
    resolveSsl(config);
    const password = resolveSaslPassword(config);
    process.stdout.write(`${JSON.stringify(redactedConfig(config, password !== undefined), null, 2)}\n`);
    exit(EXIT_OK);
  });
  return program;
}

async function main(argv: string[]): Promise<number> {
  let code = EXIT_OK;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    // commander already printed help or the usage error; a usage error is a config error.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_CONFIG;
    const exitCode = exitCodeOf(error);
    process.stderr.write(`edge-agent: ${(error as Error).message}\n`);
    return exitCode;
  }
}

// Exit as soon as the work is done (pino flushes its buffered lines synchronously on exit): a timer some library still
// holds, e.g. a Kafka retry that lost the race with the final acknowledgement, must not keep `--once` (backfills,
// scripts) waiting.
main(process.argv).then((code) => process.exit(code));
