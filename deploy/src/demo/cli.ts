#!/usr/bin/env node
/**
 * `npm run demo`: the whole pipeline on one machine, live. Three real nginx "web servers" on 127.0.0.1
 * write access logs with `$request_time`; wrk drives normal load, then an IP spike, an error surge and
 * a URL scan; three edge agents follow the logs and ship partials to the local Kafka; central merges
 * them into the local InfluxDB; this process shows what InfluxDB holds, refreshed every window, until
 * Ctrl-C or `--duration`. Everything it starts it stops by pid. Expects the stack to be up and the
 * workspaces built (deploy/local/demo.sh does both).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { stackEndpoints } from "../endpoints.js";
import { freePorts } from "../ports.js";
import { ensureInfluxDatabase, ensureTopic } from "../provision/index.js";
import { startTraffic } from "./traffic.js";
import {
  readSnapshot,
  renderAnomalyLine,
  renderSnapshot,
  renderWindowLine,
  type Snapshot,
  WINDOW_HEADER,
} from "./view.js";
import { NGINX_COMBINED_RT, startWebFleet, stopChild } from "./webfleet.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const HOSTS = ["web1", "web2", "web3"];

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a whole number");
  return n;
};

interface DemoOptions {
  duration: number;
  windowMs: number;
  basePort: number;
  stateDir: string;
  topic: string;
  database: string;
  expectAnomalies: boolean;
}

function yamlList(items: string[]): string {
  return `[${items.map((i) => JSON.stringify(i)).join(", ")}]`;
}

function startNode(script: string, args: string[], logFile: string): ChildProcess {
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      done();
    };
    const timer = setTimeout(finish, ms);
    signal.addEventListener("abort", finish, { once: true });
  });
}

async function main(opts: DemoOptions): Promise<number> {
  const { kafkaBrokers, influxUrl } = stackEndpoints();
  const dir = resolve(opts.stateDir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const say = (msg: string) => process.stdout.write(`${msg}\n`);

  say(`provisioning topic ${opts.topic} and database ${opts.database}`);
  await ensureTopic({ brokers: kafkaBrokers, topic: opts.topic });
  await ensureInfluxDatabase({ url: influxUrl, database: opts.database });

  // nginx ports, then one metrics port per agent and one for central.
  const free = await freePorts(2 * HOSTS.length + 1);
  const ports = opts.basePort === 0 ? free.slice(0, HOSTS.length) : HOSTS.map((_, i) => opts.basePort + i);
  const metricsPorts = free.slice(HOSTS.length);
  say(`starting nginx ×${HOSTS.length} on 127.0.0.1 ports ${ports.join(", ")}`);
  const fleet = await startWebFleet(join(dir, "web"), HOSTS, ports);
  const children: ChildProcess[] = [];
  let traffic: { stop(): Promise<void> } | undefined;
  const stopAll = async () => {
    await traffic?.stop();
    await Promise.all(children.map((c) => stopChild(c, 15_000)));
    await fleet.stop();
  };

  try {
    for (const host of fleet.hosts) {
      const config = join(dir, `agent-${host.name}.yaml`);
      writeFileSync(
        config,
        [
          `hostId: ${host.name}`,
          "service: web",
          `files: ${yamlList([host.accessLog])}`,
          `format: { nginx: ${JSON.stringify(NGINX_COMBINED_RT)} }`,
          `stateDir: ${JSON.stringify(join(dir, `agent-${host.name}`))}`,
          `windowMs: ${opts.windowMs}`,
          "closeLatenessMs: 1000",
          "idleCloseMs: 1000",
          "startAt: beginning",
          `kafka: { brokers: ${yamlList(kafkaBrokers)}, topic: ${opts.topic} }`,
          `metrics: { port: ${metricsPorts.shift()} }`,
          "",
        ].join("\n"),
      );
      children.push(
        startNode(
          join(repo, "edge-agent/dist/cli.js"),
          ["run", "--config", config],
          join(dir, `agent-${host.name}.log`),
        ),
      );
    }
    const centralConfig = join(dir, "central.yaml");
    writeFileSync(
      centralConfig,
      [
        `kafka: { brokers: ${yamlList(kafkaBrokers)}, topic: ${opts.topic}, groupId: rla-demo-${Date.now()} , fromBeginning: false }`,
        `influx: { url: ${JSON.stringify(influxUrl)}, database: ${opts.database} }`,
        `windowMs: ${opts.windowMs}`,
        `metrics: { port: ${metricsPorts.shift()} }`,
        "",
      ].join("\n"),
    );
    children.push(
      startNode(join(repo, "central/dist/cli.js"), ["run", "--config", centralConfig], join(dir, "central.log")),
    );
    say(`started 3 edge agents and central (logs in ${dir})`);

    const startedAt = Date.now();
    // Events (scenario phases, query errors) with the wall-clock time they happened; a terminal shows
    // HH:MM:SS, a log gets full ISO times so a reader (or test) can measure detection delays.
    const phaseLog: string[] = [];
    const stamp = (t: number) =>
      process.stdout.isTTY ? new Date(t).toISOString().slice(11, 19) : new Date(t).toISOString();
    traffic = startTraffic(fleet, join(dir, "web"), {
      durationMs: opts.duration > 0 ? opts.duration * 1000 : 24 * 3_600_000,
      windowMs: opts.windowMs,
      log: (m) => phaseLog.push(`${stamp(Date.now())}  ${m}`),
    });

    const stop = new AbortController();
    process.once("SIGINT", () => stop.abort());
    process.once("SIGTERM", () => stop.abort());
    if (opts.duration > 0) setTimeout(() => stop.abort(), opts.duration * 1000).unref();

    // On a terminal the view is redrawn in place; elsewhere (a log, CI) each new window and anomaly is one line.
    const tty = process.stdout.isTTY;
    if (!tty) say(WINDOW_HEADER);
    let last: Snapshot = { windows: [], anomalies: [] };
    let lastPrintedWindow = 0;
    const printedAnomalies = new Set<string>();
    while (!stop.signal.aborted) {
      try {
        last = await readSnapshot(influxUrl, opts.database, startedAt - opts.windowMs);
      } catch (error) {
        phaseLog.push(`${stamp(Date.now())}  view: InfluxDB query failed: ${(error as Error).message}`);
      }
      const header = `realtime-log-analytics demo — ${HOSTS.length} nginx hosts → edge agents → Kafka → central → InfluxDB  (Ctrl-C to stop)`;
      if (tty) {
        process.stdout.write(
          `\x1b[2J\x1b[H${[...renderSnapshot(last, header), "", "scenario", ...phaseLog.slice(-6)].join("\n")}\n`,
        );
      } else {
        for (const line of phaseLog.splice(0)) say(line);
        for (const w of [...last.windows].reverse()) {
          if (w.time <= lastPrintedWindow) continue;
          lastPrintedWindow = w.time;
          say(renderWindowLine(w));
        }
        for (const a of [...last.anomalies].reverse()) {
          const line = `ANOMALY ${renderAnomalyLine(a)}`;
          if (!printedAnomalies.has(line)) {
            printedAnomalies.add(line);
            say(`${line}  window=${new Date(a.time).toISOString()} seen=${stamp(Date.now())}`);
          }
        }
      }
      await sleepUnlessAborted(Math.min(2_000, opts.windowMs / 2), stop.signal);
    }

    say("\nstopping traffic, agents, central and nginx…");
    await stopAll();
    const found = new Set(last.anomalies.map((a) => a.type));
    say(renderSnapshot(last, "final view").join("\n"));
    say(`\nanomaly types detected: ${[...found].sort().join(", ") || "none"}`);
    say(
      [
        "",
        "Point a Grafana at it:",
        `  provisioning folder: ${join(repo, "grafana/provisioning")} (mount at /etc/grafana/provisioning)`,
        `  dashboards folder:   ${join(repo, "grafana/dashboards")}`,
        `  datasource env:      RLA_INFLUX_URL=${influxUrl} RLA_INFLUX_DB=${opts.database}`,
        "  see grafana/README.md; stop the stack with: npm run stack:down",
      ].join("\n"),
    );
    const missing = ["ip_spike", "error_surge", "url_scan"].filter((t) => !found.has(t));
    if (opts.expectAnomalies && missing.length > 0) {
      say(`missing anomalies: ${missing.join(", ")}`);
      return 1;
    }
    return 0;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

const program = new Command("demo")
  .description("run the whole pipeline live on this machine")
  .option("--duration <seconds>", "stop after this many seconds (0 = until Ctrl-C)", positiveInt, 180)
  .option("--window-ms <ms>", "window length", positiveInt, 10_000)
  .option("--base-port <port>", "first of 3 consecutive nginx ports (0 = any free ones)", positiveInt, 18081)
  .option("--state-dir <dir>", "where logs, agent state and configs go", join(repo, ".state/demo"))
  .option("--topic <topic>", "partials topic", "rla-partials")
  .option("--database <db>", "InfluxDB database", "rla")
  .option("--expect-anomalies", "exit 1 unless all three planted anomalies were detected", false)
  .action(async (opts: DemoOptions) => {
    process.exitCode = await main(opts);
  });

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
