// The npm package as Ansible installs it: `npm pack` (prepack bundles dist/cli.js with @rla/protocol and every npm
// dependency inlined) → `npm install -g --offline --prefix <tmp>` of the tarball on this Node (no registry needed) →
// the installed `edge-agent` answers --help and validate, and `run --once` ships a log to the real broker.
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTopic, stackEndpoints } from "@rla/deploy";
import { afterAll, describe, expect, it } from "vitest";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "rla-agent-package-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string): string {
  return execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 });
}

describe("edge-agent npm package", () => {
  it("packs with no dependencies, installs globally from the tarball offline, and its CLI runs", async () => {
    npm(["pack", "--pack-destination", work], PACKAGE_DIR);
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    expect(tarball).toBeDefined();
    const listing = execFileSync("tar", ["-tzf", join(work, tarball!)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .sort();
    expect(listing).toEqual([
      "package/README.md",
      "package/dist/THIRD-PARTY-LICENSES.txt",
      "package/dist/cli.js",
      "package/package.json",
    ]);
    // The licence text of what the bundle inlines travels with it.
    const licences = execFileSync("tar", ["-xzOf", join(work, tarball!), "package/dist/THIRD-PARTY-LICENSES.txt"], {
      encoding: "utf8",
    });
    for (const name of ["kafkajs", "pino", "zod", "msgpackr", "hdr-histogram-js", "prom-client"]) {
      expect(licences).toMatch(new RegExp(`^${name} \\d+\\.\\d+\\.\\d+ \\(`, "m"));
    }
    expect(licences).toContain("Permission is hereby granted, free of charge");
    const manifest = JSON.parse(
      execFileSync("tar", ["-xzOf", join(work, tarball!), "package/package.json"], { encoding: "utf8" }),
    );
    expect(manifest.dependencies).toBeUndefined();

    const prefix = join(work, "prefix");
    npm(["install", "-g", "--prefix", prefix, "--offline", "--no-audit", "--no-fund", join(work, tarball!)], work);
    expect(readdirSync(join(prefix, "lib", "node_modules", "@rla", "edge-agent"))).not.toContain("node_modules");
    const bin = join(prefix, "bin", "edge-agent");

    const help = spawnSync(bin, ["--help"], { encoding: "utf8" });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: edge-agent/);
    expect(help.stdout).toMatch(/validate/);

    const config = join(work, "agent.yaml");
    writeFileSync(
      config,
      "files: [/var/log/nginx/access.log]\nformat: nginx_combined_rt\nkafka:\n  brokers: [127.0.0.1:19092]\n",
    );
    const valid = spawnSync(bin, ["validate", "--config", config, "--host-id", "pkg-1"], { encoding: "utf8" });
    expect(valid.status, valid.stderr).toBe(0);
    expect(JSON.parse(valid.stdout)).toMatchObject({ hostId: "pkg-1", kafka: { topic: "rla-partials" } });

    const invalid = spawnSync(bin, ["validate", "--config", config, "--brokers", "nohost"], { encoding: "utf8" });
    expect(invalid.status).toBe(2);
    expect(invalid.stderr).toMatch(/kafka\.brokers\[0\]: expected "host:port"/);

    // The whole pipeline from the installed files alone (parse, HDR histogram, msgpack, kafkajs, fsync'd outbox).
    const topic = `rla-package-itest-${randomUUID().slice(0, 8)}`;
    const { kafkaBrokers } = stackEndpoints();
    await ensureTopic({ brokers: kafkaBrokers, topic, partitions: 1 });
    const log = join(work, "access.log");
    const lines = Array.from(
      { length: 40 },
      (_, i) =>
        `10.0.0.${i % 7} - - [01/May/2024:12:00:${String(i).padStart(2, "0")} +0000] "GET /p/${i % 5} HTTP/1.1" ` +
        `${i % 10 === 0 ? 500 : 200} ${100 + i} "-" "curl/8" 0.0${i % 10}0 -`,
    );
    writeFileSync(log, `${lines.join("\n")}\n`);
    const once = spawnSync(
      bin,
      [
        ...["run", "--once", "--config", config, "--files", log, "--state-dir", join(work, "state")],
        ...["--brokers", kafkaBrokers.join(","), "--topic", topic],
      ],
      { encoding: "utf8", cwd: work, timeout: 120_000 },
    );
    expect(once.status, once.stdout + once.stderr).toBe(0);
    const stopped = once.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { msg: string; linesRead?: number; partialsShipped?: number })
      .find((entry) => entry.msg === "edge agent stopped");
    // 40 lines, one a second from 12:00:00: windows :00, :10, :20 and :30.
    expect(stopped).toMatchObject({ linesRead: 40, partialsShipped: 4 });
  });
});
