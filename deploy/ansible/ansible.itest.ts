// The Ansible role, for real: ansible-lint (production profile), a syntax check, then the playbook run twice against
// localhost (connection: local) into a throwaway root with the agent tarball `npm pack` builds — the second run
// must change nothing — and `systemd-analyze verify` of the unit it rendered. The service itself is not started
// (edge_agent_manage_service=false): systemd is not PID 1 here.
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "../..");
const playbook = join(here, "playbooks/edge-agent.yml");
// Each playbook run takes 20-60 s on a busy 2-core machine (ansible start-up per task, the npm install).
const PLAYBOOK_TIMEOUT_MS = 600_000;
// The test's own service account, removed afterwards; the role's default is edge-agent.
const testUser = "rla-itest-agent";

const ansibleEnv = {
  ...process.env,
  ANSIBLE_CONFIG: join(here, "ansible.cfg"),
  ANSIBLE_NOCOLOR: "1",
  ANSIBLE_FORCE_COLOR: "0",
};

function ansible(command: string, args: string[], cwd = here) {
  return spawnSync(command, args, { cwd, encoding: "utf8", env: ansibleEnv, timeout: 300_000 });
}

describe("the edge_agent role, statically", () => {
  it("is ansible-lint clean under the production profile", () => {
    const lint = ansible("ansible-lint", ["--profile", "production", "--nocolor"]);
    expect(lint.stdout + lint.stderr).toContain("Passed with production profile: 0 failure(s), 0 warning(s)");
    expect(lint.status).toBe(0);
  });

  it("passes ansible-playbook --syntax-check with the example inventory", () => {
    const check = ansible("ansible-playbook", ["--syntax-check", "-i", "inventories/example/hosts.yml", playbook]);
    expect(check.stderr).not.toMatch(/ERROR/);
    expect(check.status).toBe(0);
  });
});

describe("the edge_agent role, applied to localhost", () => {
  const work = mkdtempSync(join(tmpdir(), "rla-ansible-"));
  const root = join(work, "root");
  const logs = join(work, "logs");
  let tarball = "";
  const userExisted = spawnSync("getent", ["passwd", testUser]).status === 0;

  beforeAll(() => {
    mkdirSync(logs);
    // The same tarball an operator builds: npm pack of the agent workspace (its prepack bundles it).
    execFileSync("npm", ["pack", "-w", "@rla/edge-agent", "--pack-destination", work, "--silent"], {
      cwd: repo,
      stdio: ["ignore", "ignore", "inherit"],
    });
    const packed = readdirSync(work).find((f) => f.endsWith(".tgz"));
    expect(packed, "npm pack produced a tarball").toBeDefined();
    tarball = join(work, packed!);
    writeFileSync(
      join(work, "hosts.yml"),
      `all:
  children:
    web:
      hosts:
        localhost:
          ansible_connection: local
          ansible_become: false
          ansible_python_interpreter: /usr/bin/python3
`,
    );
    writeFileSync(
      join(work, "vars.yml"),
      `edge_agent_root: ${root}
edge_agent_package_src: ${tarball}
edge_agent_install_nodejs: false
edge_agent_manage_service: false
edge_agent_user: ${testUser}
edge_agent_group: ${testUser}
edge_agent_host_id: web-itest-1
edge_agent_files:
  - ${logs}/access.log
  - ${logs}/shop.*.log
edge_agent_format: nginx_combined_rt
edge_agent_kafka_brokers: [127.0.0.1:19092]
edge_agent_kafka_sasl_mechanism: scram-sha-512
edge_agent_kafka_sasl_username: edge-agent
edge_agent_kafka_sasl_password: itest-sasl-secret
`,
    );
  });

  afterAll(() => {
    if (!userExisted) {
      spawnSync("userdel", [testUser]);
      spawnSync("groupdel", [testUser]);
    }
    rmSync(work, { recursive: true, force: true });
  });

  const play = (...extra: string[]) =>
    ansible("ansible-playbook", [
      "-i",
      join(work, "hosts.yml"),
      playbook,
      "-e",
      `@${join(work, "vars.yml")}`,
      ...extra,
    ]);
  const recap = (out: string) => {
    const m = out.match(/localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/);
    expect(m, out).not.toBeNull();
    return { ok: Number(m![1]), changed: Number(m![2]), unreachable: Number(m![3]), failed: Number(m![4]) };
  };

  const prefix = () => join(root, "opt/edge-agent");
  const configDir = () => join(root, "etc/edge-agent");
  const unit = () => join(root, "etc/systemd/system/edge-agent.service");

  it(
    "installs the package, renders a config the agent accepts, and a second run changes nothing",
    () => {
      // --check first, as the runbook advises before a rollout: it must get through a fresh host and write nothing.
      const dryRun = play("--check");
      expect(dryRun.status, dryRun.stdout + dryRun.stderr).toBe(0);
      expect(existsSync(root)).toBe(false);

      const first = play();
      expect(first.status, first.stdout + first.stderr).toBe(0);
      expect(recap(first.stdout)).toMatchObject({ failed: 0, unreachable: 0 });
      expect(recap(first.stdout).changed).toBeGreaterThan(0);
      expect(first.stdout + first.stderr).not.toContain("itest-sasl-secret");

      const second = play();
      expect(second.status, second.stdout + second.stderr).toBe(0);
      expect(recap(second.stdout)).toMatchObject({ changed: 0, failed: 0 });
    },
    PLAYBOOK_TIMEOUT_MS,
  );

  it("installed the agent CLI with npm under the prefix, which accepts the rendered config", () => {
    const bin = join(prefix(), "bin/edge-agent");
    expect(existsSync(bin)).toBe(true);
    const validate = spawnSync(bin, ["validate", "--config", join(configDir(), "agent.yaml")], { encoding: "utf8" });
    expect(validate.stderr).toBe("");
    expect(validate.status).toBe(0);
    const effective = JSON.parse(validate.stdout);
    expect(effective).toMatchObject({
      hostId: "web-itest-1",
      files: [`${logs}/access.log`, `${logs}/shop.*.log`],
      format: "nginx_combined_rt",
      stateDir: join(root, "var/lib/edge-agent"),
      kafka: { brokers: ["127.0.0.1:19092"], sasl: { mechanism: "scram-sha-512", password: "<redacted>" } },
    });
    expect(validate.stdout).not.toContain("itest-sasl-secret");
    // Every setting the agent has (defaults included in its effective config) is rendered from a role variable.
    const rendered = parseYaml(readFileSync(join(configDir(), "agent.yaml"), "utf8"));
    delete effective.kafka.sasl.password; // validate's marker that the password file was found
    expect(keyPaths(rendered)).toEqual(keyPaths(effective));
  });

  it("writes the config 0640 root:<group> and the SASL password 0600 for the service user only", () => {
    const uid = Number(execFileSync("id", ["-u", testUser], { encoding: "utf8" }));
    const gid = Number(execFileSync("id", ["-g", testUser], { encoding: "utf8" }));
    const config = statSync(join(configDir(), "agent.yaml"));
    expect({ mode: config.mode & 0o777, uid: config.uid, gid: config.gid }).toEqual({ mode: 0o640, uid: 0, gid });
    const secret = statSync(join(configDir(), "kafka-sasl-password"));
    expect({ mode: secret.mode & 0o777, uid: secret.uid }).toEqual({ mode: 0o600, uid });
    expect(readFileSync(join(configDir(), "kafka-sasl-password"), "utf8")).toBe("itest-sasl-secret");
    const yaml = readFileSync(join(configDir(), "agent.yaml"), "utf8");
    expect(yaml).not.toContain("itest-sasl-secret");
    expect(parseYaml(yaml).kafka.sasl.passwordFile).toBe(join(configDir(), "kafka-sasl-password"));
    // The service user is an unprivileged system account in the log-reading group.
    const groups = execFileSync("id", ["-nG", testUser], { encoding: "utf8" }).trim().split(" ");
    expect(groups).toContain("adm");
    expect(uid).toBeLessThan(1000);
  });

  it("renders a hardened unit that systemd-analyze verify accepts", () => {
    const text = readFileSync(unit(), "utf8");
    for (const line of [
      `User=${testUser}`,
      `ExecStart=${prefix()}/bin/edge-agent run --config ${configDir()}/agent.yaml`,
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      `ReadWritePaths=${join(root, "var/lib/edge-agent")}`,
      `ReadOnlyPaths=-${logs}`,
      "CapabilityBoundingSet=",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
      "Restart=on-failure",
      "LimitNOFILE=65536",
    ]) {
      expect(text.split("\n"), line).toContain(line);
    }
    // One ReadOnlyPaths= for the two globs in the same directory.
    expect(text.match(/^ReadOnlyPaths=/gm)).toHaveLength(1);
    const verify = spawnSync("systemd-analyze", ["verify", "--man=no", unit()], { encoding: "utf8" });
    expect(verify.stderr).toBe("");
    expect(verify.status).toBe(0);
  });

  it(
    "keeps the installed config when the agent rejects a new one",
    () => {
      const before = readFileSync(join(configDir(), "agent.yaml"), "utf8");
      const bad = play("-e", "edge_agent_window_ms=-5");
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).toContain("windowMs: expected a positive number");
      expect(readFileSync(join(configDir(), "agent.yaml"), "utf8")).toBe(before);
    },
    PLAYBOOK_TIMEOUT_MS,
  );

  it(
    "reinstalls when the tarball changes (the second run above shows it does not otherwise)",
    () => {
      // Same package, different bytes: the tar stream recompressed at another gzip level.
      writeFileSync(tarball, gzipSync(gunzipSync(readFileSync(tarball)), { level: 1 }));
      const changed = play();
      expect(changed.status, changed.stdout + changed.stderr).toBe(0);
      expect(changed.stdout).toMatch(
        /TASK \[edge_agent : Install the agent package with npm\][^\n]*\nchanged: \[localhost\]/,
      );
    },
    PLAYBOOK_TIMEOUT_MS,
  );
});

/** Sorted dotted paths of every leaf of a parsed config (arrays count as leaves). */
function keyPaths(value: unknown, prefix = ""): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [prefix];
  return Object.entries(value)
    .flatMap(([k, v]) => keyPaths(v, prefix ? `${prefix}.${k}` : k))
    .sort();
}
