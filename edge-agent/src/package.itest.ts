// The npm package as Ansible installs it: `npm pack` (prepack bundles dist/cli.js with @rla/protocol inlined) →
// `npm install -g --prefix <tmp>` of the tarball on this Node → the installed `edge-agent` answers --help and validate.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "rla-agent-package-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string): string {
  return execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 });
}

describe("edge-agent npm package", () => {
  it("packs without @rla/protocol, installs globally from the tarball, and its CLI runs", () => {
    npm(["pack", "--pack-destination", work], PACKAGE_DIR);
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    expect(tarball).toBeDefined();
    const listing = execFileSync("tar", ["-tzf", join(work, tarball!)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .sort();
    expect(listing).toEqual(["package/README.md", "package/dist/cli.js", "package/package.json"]);
    const manifest = JSON.parse(
      execFileSync("tar", ["-xzOf", join(work, tarball!), "package/package.json"], { encoding: "utf8" }),
    );
    expect(Object.keys(manifest.dependencies)).not.toContain("@rla/protocol");

    const prefix = join(work, "prefix");
    // Dependencies come from the local npm cache; one missing there is fetched from the registry.
    npm(
      ["install", "-g", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", join(work, tarball!)],
      work,
    );
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
  });
});
