// The Compose stack cannot run here (no Docker engine), so it is checked as far as a machine without one can:
// docker-compose resolves the file with deploy/.env.example; its settings agree with the local stack
// (deploy/local/stack.sh) and with the fixed names; the config files pass the components' own schemas; the demo nginx
// config runs in a real nginx whose log lines our parser accepts; deploy.sh runs its steps in order against a
// stand-in `docker` that records every call.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_INFLUX_DATABASE,
  DEFAULT_PARTIALS_PARTITIONS,
  DEFAULT_PARTIALS_TOPIC,
  DEFAULT_RETENTION_DURATION,
  DEFAULT_RETENTION_POLICY,
  freePort,
} from "@rla/deploy";
import { createParser, emptyLogRecord } from "@rla/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const deployDir = dirname(here);
const repo = dirname(deployDir);
const composeFile = join(here, "docker-compose.yml");
const envExample = join(deployDir, ".env.example");
const read = (path: string) => readFileSync(path, "utf8");

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

function composeConfig(...args: string[]) {
  // The shell's RLA_* variables (a test run on other ports) must not leak into what the compose file resolves to.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("RLA_")));
  return spawnSync("docker-compose", [...args, "-f", composeFile, "config"], {
    encoding: "utf8",
    timeout: 60_000,
    env,
  });
}

/** `key=value` lines of a heredoc in stack.sh, by the file it writes (e.g. "kafka/server.properties"). */
function stackHeredoc(target: string): string[] {
  const script = read(join(deployDir, "local/stack.sh"));
  const start = script.indexOf(`cat >"$state/${target}" <<`);
  expect(start, `stack.sh writes ${target}`).toBeGreaterThan(0);
  const body = script.slice(script.indexOf("\n", start) + 1);
  return body.slice(0, body.indexOf("\nEOF")).split("\n");
}

function stackDefault(variable: string): string {
  const match = read(join(deployDir, "local/stack.sh")).match(new RegExp(`\\$\\{${variable}:-([^}]+)\\}`));
  expect(match, `stack.sh has a default for ${variable}`).not.toBeNull();
  return match![1]!;
}

/** The container port published on a host port, from `127.0.0.1:HOST:CONTAINER/tcp`. */
function published(service: Service, containerPort: number): string | undefined {
  for (const p of service.ports ?? []) {
    const m = p.match(/^127\.0\.0\.1:(\d+):(\d+)(\/tcp)?$/);
    if (m && Number(m[2]) === containerPort) return m[1];
  }
  return undefined;
}

let services: Record<string, Service>;

beforeAll(() => {
  const result = composeConfig("--env-file", envExample);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  services = parseYaml(result.stdout).services;
});

describe("docker-compose config", () => {
  it("resolves with deploy/.env.example and has every part of the stack", () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        "central",
        "grafana",
        "influxdb",
        "kafka",
        "provision",
        "traffic",
        "web1",
        "web1-agent",
        "web2",
        "web2-agent",
        "web3",
        "web3-agent",
      ].sort(),
    );
  });

  it("refuses to start without the passwords of an env file", () => {
    const result = composeConfig();
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/set INFLUX_\w+_PASSWORD in deploy\/\.env/);
  });

  it("documents in deploy/.env.example every variable the compose file and deploy.sh read, and no other", () => {
    const documented = new Set([...read(envExample).matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const composeVars = [...read(composeFile).matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!);
    const deployVars = [...read(join(deployDir, "deploy.sh")).matchAll(/setting ([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!);
    const used = new Set([...composeVars, ...deployVars]);
    expect([...used].filter((v) => !documented.has(v))).toEqual([]);
    // COMPOSE_PROJECT_NAME is read by Compose itself (and by deploy.sh through `setting`).
    expect([...documented].filter((v) => !used.has(v!))).toEqual([]);
  });

  it("orders start-up with health checks and a one-shot provisioning step", () => {
    const dependsOn = (name: string) =>
      Object.fromEntries(Object.entries(services[name]!.depends_on ?? {}).map(([k, v]) => [k, v.condition]));
    expect(dependsOn("provision")).toEqual({ kafka: "service_healthy", influxdb: "service_healthy" });
    expect(dependsOn("central")).toEqual({ provision: "service_completed_successfully" });
    expect(dependsOn("grafana")).toEqual({ influxdb: "service_healthy", central: "service_healthy" });
    for (const host of ["web1", "web2", "web3"]) {
      expect(dependsOn(`${host}-agent`)).toEqual({ central: "service_healthy" });
    }
    // Every service something waits on for health has a health check of its own in the compose file.
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        if (condition === "service_healthy") {
          expect(services[dependency]!.healthcheck?.test, `${name} waits on ${dependency}`).toBeDefined();
        }
      }
    }
    for (const name of ["central", "web1-agent", "web2-agent", "web3-agent"]) {
      expect(services[name]!.healthcheck?.test.join(" ")).toContain("/healthz");
    }
  });
});

describe("the compose stack matches the local stack", () => {
  it("runs Kafka with the local stack's broker settings and port", () => {
    const env = services.kafka!.environment!;
    // Listener layout and paths differ by design (containers vs. one host); every other setting must be equal.
    const differs = new Set([
      "listeners",
      "advertised.listeners",
      "listener.security.protocol.map",
      "controller.quorum.voters",
      "log.dirs",
    ]);
    const settings = stackHeredoc("kafka/server.properties").filter((l) => /^[a-z]/.test(l));
    expect(settings.length).toBeGreaterThan(10);
    for (const line of settings) {
      const [key, value] = [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)];
      if (differs.has(key)) continue;
      const variable = `KAFKA_${key.toUpperCase().replace(/\./g, "_")}`;
      expect(String(env[variable]), `${key} (${variable})`).toBe(value);
    }
    const port = stackDefault("RLA_KAFKA_PORT");
    expect(published(services.kafka!, 19092)).toBe(port);
    expect(env.KAFKA_ADVERTISED_LISTENERS).toBe(`PLAINTEXT://kafka:9092,EXTERNAL://127.0.0.1:${port}`);
    expect(String(env.KAFKA_NUM_PARTITIONS)).toBe(String(DEFAULT_PARTIALS_PARTITIONS));
    const kafkaVersion = read(join(deployDir, "local/kafka/pom.xml")).match(/<kafka.version>(.+)<\/kafka.version>/)![1];
    expect(services.kafka!.image).toBe(`apache/kafka:${kafkaVersion}`);
  });

  it("runs InfluxDB 1.8 with the local stack's server settings, port, database and retention policy", () => {
    const env = services.influxdb!.environment!;
    // Paths, bind addresses and the log level are the local stack's own; auth is on in compose by design.
    const differs = new Set(["bind-address", "dir", "wal-dir", "auth-enabled", "level"]);
    let section = "";
    let compared = 0;
    for (const raw of stackHeredoc("influxdb/influxdb.conf")) {
      const line = raw.trim();
      const header = line.match(/^\[(\w+)\]$/);
      if (header) section = header[1]!;
      const setting = line.match(/^([a-z-]+) = "?([^"]*)"?$/);
      if (!setting || differs.has(setting[1]!)) continue;
      const variable = `INFLUXDB_${section ? `${section}_` : ""}${setting[1]}`.toUpperCase().replace(/-/g, "_");
      expect(env[variable], `${section}.${setting[1]} (${variable})`).toBe(setting[2]);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(5);
    expect(services.influxdb!.image).toBe("influxdb:1.8");
    expect(published(services.influxdb!, 8086)).toBe(stackDefault("RLA_INFLUX_PORT"));
    expect(env.INFLUXDB_DB).toBe(DEFAULT_INFLUX_DATABASE);
    expect(env.INFLUXDB_HTTP_AUTH_ENABLED).toBe("true");
    expect(read(join(here, "influxdb/init.iql")).trim()).toBe(
      `CREATE RETENTION POLICY "${DEFAULT_RETENTION_POLICY}" ON "${DEFAULT_INFLUX_DATABASE}" ` +
        `DURATION ${DEFAULT_RETENTION_DURATION} REPLICATION 1 DEFAULT`,
    );
    expect(services.influxdb!.volumes).toContain(
      `${join(here, "influxdb/init.iql")}:/docker-entrypoint-initdb.d/init.iql:ro`,
    );
    expect(services.influxdb!.healthcheck!.test.join(" ")).toContain(
      `SHOW RETENTION POLICIES ON ${DEFAULT_INFLUX_DATABASE}' | grep -q '^${DEFAULT_RETENTION_POLICY} '`,
    );
  });

  it("provisions the fixed topic with the broker's partition count", () => {
    const command = services.provision!.command!;
    const flag = (name: string) => command[command.indexOf(name) + 1];
    expect(flag("--topic")).toBe(DEFAULT_PARTIALS_TOPIC);
    expect(flag("--partitions")).toBe(String(DEFAULT_PARTIALS_PARTITIONS));
    expect(services.provision!.environment!.RLA_KAFKA_BROKERS).toBe("kafka:9092");
    expect(services.provision!.build!.target).toBe("provision");
  });

  it("gives central and the agents the fixed names, the broker's container address and their secrets", () => {
    const central = parseYaml(read(join(here, "config/central.yaml")));
    expect(central.kafka).toMatchObject({
      brokers: ["kafka:9092"],
      topic: DEFAULT_PARTIALS_TOPIC,
      groupId: "rla-central",
    });
    expect(central.influx).toMatchObject({
      url: "http://influxdb:8086",
      database: DEFAULT_INFLUX_DATABASE,
      retentionPolicy: DEFAULT_RETENTION_POLICY,
    });
    expect(services.central!.environment![central.influx.tokenEnv]).toBe("rla_central:change-me-writer");
    expect(published(services.central!, central.metrics.port)).toBe("9465");

    const agent = parseYaml(read(join(here, "config/agent.yaml")));
    expect(agent.kafka).toMatchObject({ brokers: ["kafka:9092"], topic: DEFAULT_PARTIALS_TOPIC });
    expect(agent.format).toBe("nginx_combined_rt");
    const nginxLog = read(join(here, "nginx/nginx.conf")).match(/access_log (\S+) rla_rt;/)![1]!;
    expect(agent.files).toEqual([nginxLog]);
    for (const host of ["web1", "web2", "web3"]) {
      const logVolume = `${host}-logs:${dirname(nginxLog)}`;
      expect(services[host]!.volumes).toContain(`${logVolume}:rw`);
      expect(services[`${host}-agent`]!.volumes).toContain(`${logVolume}:ro`);
      expect(services[`${host}-agent`]!.volumes).toContain(`${host}-agent-state:${agent.stateDir}:rw`);
      expect(services[`${host}-agent`]!.command).toEqual([
        "run",
        "--config",
        "/etc/edge-agent/agent.yaml",
        "--host-id",
        host,
      ]);
    }
  });
});

describe("Grafana in the compose stack", () => {
  it("mounts the provisioning and the dashboards where the provisioning expects them", () => {
    const grafana = services.grafana!;
    const provider = parseYaml(read(join(repo, "grafana/provisioning/dashboards/provider.yaml")));
    expect(grafana.volumes).toContain(`${join(repo, "grafana/provisioning")}:/etc/grafana/provisioning:ro`);
    expect(grafana.volumes).toContain(`${join(repo, "grafana/dashboards")}:${provider.providers[0].options.path}:ro`);
  });

  it("sets every variable the provisioning files expand, pointing the data source at the compose InfluxDB", () => {
    const env = services.grafana!.environment!;
    const files = ["datasources/influxdb.yaml", "alerting/contact-points.yaml"];
    // Only the files' YAML, not their comments (which mention optional variables such as RLA_ALERT_EMAIL).
    const used = files.flatMap((f) =>
      [
        ...read(join(repo, "grafana/provisioning", f))
          .replace(/#.*$/gm, "")
          .matchAll(/\$\{(\w+)\}/g),
      ].map((m) => m[1]!),
    );
    expect(used.length).toBeGreaterThan(3);
    expect(used.filter((v) => env[v] === undefined)).toEqual([]);
    expect(env).toMatchObject({
      RLA_INFLUX_URL: "http://influxdb:8086",
      RLA_INFLUX_DB: DEFAULT_INFLUX_DATABASE,
      RLA_INFLUX_USER: services.influxdb!.environment!.INFLUXDB_READ_USER,
      RLA_INFLUX_PASSWORD: services.influxdb!.environment!.INFLUXDB_READ_USER_PASSWORD,
    });
  });
});

describe("the config files pass the components' own validation", () => {
  // The CLIs from source (tsx), the way an operator would check a config: `<cli> validate --config <file>`.
  const validate = (cli: string, args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ["--import", "tsx", join(repo, cli), "validate", ...args], {
      cwd: repo,
      encoding: "utf8",
      env: { ...process.env, ...env },
      timeout: 60_000,
    });

  it("central validate accepts config/central.yaml with the token compose passes", () => {
    const result = validate("central/src/cli.ts", ["--config", join(here, "config/central.yaml")], {
      RLA_INFLUX_TOKEN: services.central!.environment!.RLA_INFLUX_TOKEN!,
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ influx: { token: "<redacted>" }, metrics: { port: 9465 } });
  });

  it("edge-agent validate accepts config/agent.yaml with each host's --host-id", () => {
    for (const host of ["web1", "web2", "web3"]) {
      const args = services[`${host}-agent`]!.command!.slice(1); // drop "run"
      const result = validate(
        "edge-agent/src/cli.ts",
        args.map((a) => a.replace("/etc/edge-agent/agent.yaml", join(here, "config/agent.yaml"))),
      );
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ hostId: host, metrics: { port: 9464 } });
    }
  });
});

describe("the Dockerfiles", () => {
  const dockerfile = (name: string) => read(join(deployDir, "docker", name));

  it("build with node:20 and run on node:20-slim as the non-root node user, with a /healthz check", () => {
    for (const name of ["edge-agent.Dockerfile", "central.Dockerfile"]) {
      const text = dockerfile(name);
      expect(text, name).toMatch(/^FROM node:20 AS build$/m);
      expect(text, name).toMatch(/^FROM node:20-slim AS \w+$/m);
      expect(text, name).toMatch(/^USER node$/m);
      expect(text, name).toMatch(/^HEALTHCHECK .*\n.*RLA_HEALTH_URL/m);
      expect(text, name).toMatch(/RLA_HEALTH_URL=http:\/\/127\.0\.0\.1:\d+\/healthz/);
    }
  });

  it("start programs the build produces, and compose builds the stages it names", () => {
    const central = dockerfile("central.Dockerfile");
    const entrypoints = [...central.matchAll(/"\/app\/(\w+)\/dist\/([\w/]+)\.js"/g)];
    expect(entrypoints.map((m) => m[1])).toEqual(["deploy", "central"]);
    for (const [path, workspace, file] of entrypoints) {
      expect(existsSync(join(repo, workspace!, "src", `${file}.ts`)), path).toBe(true);
    }
    expect(central).toMatch(/^FROM base AS provision$/m);
    expect(
      central
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("FROM"))
        .at(-1),
    ).toBe("FROM base AS runtime");
    expect(services.central!.build).toMatchObject({ dockerfile: "deploy/docker/central.Dockerfile" });
    expect(services.central!.build!.target).toBeUndefined(); // the last stage, runtime
    expect(services["web1-agent"]!.build).toMatchObject({ dockerfile: "deploy/docker/edge-agent.Dockerfile" });
    // The agent image installs the npm pack tarball exactly like the Ansible role.
    expect(dockerfile("edge-agent.Dockerfile")).toContain("npm pack -w @rla/edge-agent");
  });
});

describe("the demo web host", () => {
  const work = mkdtempSync(join(tmpdir(), "rla-compose-nginx-"));
  let nginx: ChildProcess | undefined;
  let traffic: ChildProcess | undefined;
  afterAll(() => {
    traffic?.kill("SIGTERM");
    nginx?.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  });

  it("runs in real nginx and writes lines the nginx_combined_rt parser accepts, from the demo traffic", async () => {
    // The container's paths and port, moved into a scratch dir and a free loopback port; the rest is the file as is.
    const port = await freePort();
    const conf = read(join(here, "nginx/nginx.conf"))
      .replace("/var/log/rla/access.log", join(work, "access.log"))
      .replace("pid /tmp/nginx.pid;", `pid ${join(work, "nginx.pid")};`)
      .replace("listen 8080;", `listen 127.0.0.1:${port};`)
      .replace("set_real_ip_from 10.0.0.0/8;", "set_real_ip_from 127.0.0.1;\n  set_real_ip_from 10.0.0.0/8;");
    writeFileSync(join(work, "nginx.conf"), conf);
    const check = spawnSync("nginx", ["-t", "-p", work, "-c", join(work, "nginx.conf")], { encoding: "utf8" });
    expect(check.stderr).toContain("test is successful");

    nginx = spawn("nginx", ["-p", work, "-c", join(work, "nginx.conf"), "-g", "daemon off;"], { stdio: "ignore" });
    traffic = spawn("sh", [join(here, "traffic/traffic.sh")], {
      stdio: "ignore",
      env: {
        ...process.env,
        TRAFFIC_TARGETS: `http://127.0.0.1:${port}`,
        TRAFFIC_INTERVAL_S: "0.01",
        TRAFFIC_BURST_EVERY: "0",
      },
    });
    const lines = await waitForLines(join(work, "access.log"), 60, 30_000);
    traffic.kill("SIGTERM");

    const parser = createParser("nginx_combined_rt");
    const record = emptyLogRecord();
    const statuses = new Set<number>();
    for (const line of lines) {
      const buf = Buffer.from(line);
      expect(parser.parse(buf, 0, buf.length, record), line).toBeNull();
      statuses.add(record.status);
      // X-Forwarded-For from the generator's client pool became $remote_addr.
      expect(record.ip, line).toMatch(/^10\.\d+\.\d+\.\d+$/);
      expect(record.latencyUs, line).toBeGreaterThanOrEqual(0);
    }
    expect(statuses.has(200)).toBe(true);
    expect([...statuses].every((s) => [200, 404, 503].includes(s))).toBe(true);
  });
});

async function waitForLines(file: string, count: number, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let lines: string[] = [];
    try {
      lines = read(file).split("\n").filter(Boolean);
    } catch {
      // not created yet
    }
    if (lines.length >= count) return lines;
    if (Date.now() > deadline)
      throw new Error(`only ${lines.length} of ${count} access-log lines within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("deploy.sh", () => {
  // A stand-in `docker` on PATH: records each call, reports every container healthy, and the provisioning container
  // as exited with PROVISION_EXIT.
  let bin: string;
  let envFile: string;
  beforeAll(() => {
    bin = mkdtempSync(join(tmpdir(), "rla-deploy-sh-"));
    writeFileSync(
      join(bin, "docker"),
      `#!/usr/bin/env bash
echo "$*" >>"$DOCKER_CALLS"
case "$1" in
  ps) for a in "$@"; do case "$a" in label=com.docker.compose.service=*) echo "id-\${a##*=}";; esac; done ;;
  inspect)
    case "$3:$4" in
      *State.ExitCode*:id-provision) echo "\${PROVISION_EXIT:-0}" ;;
      *State.Health*:id-provision) echo none ;;
      *State.Health*) echo healthy ;;
      *State.Status*:id-provision) echo exited ;;
      *State.Status*) echo running ;;
    esac ;;
esac
exit 0
`,
    );
    chmodSync(join(bin, "docker"), 0o755);
    envFile = join(bin, "test.env");
    writeFileSync(envFile, `${read(envExample)}\nDEPLOY_SMOKE_WAIT_MS=0\nDEPLOY_WAIT_S=5\n`);
  });
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  const deploy = (provisionExit: number) => {
    const calls = join(bin, `calls-${provisionExit}`);
    const result = spawnSync("bash", [join(deployDir, "deploy.sh"), "up"], {
      encoding: "utf8",
      timeout: 60_000,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        RLA_ENV_FILE: envFile,
        RLA_COMPOSE: "docker compose",
        DOCKER_CALLS: calls,
        PROVISION_EXIT: String(provisionExit),
      },
    });
    const ups = read(calls)
      .split("\n")
      .filter((c) => c.startsWith("compose ") && !c.includes(" logs "))
      .map((c) => c.slice(c.indexOf(" -f ") + 4 + composeFile.length + 1));
    return { ...result, ups };
  };

  it("brings the stack up in order: kafka+influxdb, provision, central, grafana, web hosts", () => {
    const run = deploy(0);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.ups).toEqual([
      "build",
      "up -d kafka influxdb",
      "up -d provision",
      "up -d central",
      "up -d grafana",
      "up -d web1 web2 web3 web1-agent web2-agent web3-agent traffic",
    ]);
    expect(run.stdout).toContain("smoke: skipped (DEPLOY_SMOKE_WAIT_MS=0)");
  });

  it("stops before central when provisioning fails", () => {
    const run = deploy(1);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("provision failed (exit code 1)");
    expect(run.ups).toEqual(["build", "up -d kafka influxdb", "up -d provision"]);
  });
});
