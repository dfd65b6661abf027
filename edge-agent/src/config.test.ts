import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadAgentConfig, parseAgentConfig, redactedConfig, resolveSaslPassword } from "./config.js";
import { AgentErrorCode } from "./errors.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function file(name: string, text: string): string {
  const d = mkdtempSync(join(tmpdir(), "rla-config-"));
  dirs.push(d);
  const path = join(d, name);
  writeFileSync(path, text);
  return path;
}

const MINIMAL = { files: ["/var/log/nginx/access.log"], format: "nginx_combined", kafka: { brokers: ["k1:9092"] } };

describe("agent config", () => {
  it("fills defaults beside the keys", () => {
    const c = parseAgentConfig({ ...MINIMAL, hostId: "web-1" });
    expect(c).toMatchObject({
      hostId: "web-1",
      service: "web",
      windowMs: 10_000,
      windowHorizonMs: 3_600_000,
      startAt: "end",
      kafka: { brokers: ["k1:9092"], topic: "rla-partials", ssl: false, gzipLevel: 1 },
      spool: { maxSpoolBytes: 256 * 1024 * 1024 },
      metrics: { host: "127.0.0.1", port: 9464 },
    });
  });

  it("names the key path and the expected form of every problem", () => {
    const bad = { ...MINIMAL, kafka: { brokers: ["nohost"] }, windowMs: -5, colour: "red" };
    expect(() => parseAgentConfig(bad)).toThrow(/kafka\.brokers\[0\]: expected "host:port"/);
    expect(() => parseAgentConfig(bad)).toThrow(/windowMs: expected a positive number/);
    expect(() => parseAgentConfig(bad)).toThrow(/colour: unknown key/);
    expect(() => parseAgentConfig({ ...MINIMAL, format: "squid" })).toThrow(/format: expected one of nginx_combined/);
    const gzipLevel = (n: number) => ({ ...MINIMAL, kafka: { ...MINIMAL.kafka, gzipLevel: n } });
    expect(() => parseAgentConfig(gzipLevel(0))).toThrow(/kafka\.gzipLevel: expected 1 to 9/);
    expect(() => parseAgentConfig(gzipLevel(10))).toThrow(/kafka\.gzipLevel: expected 1 to 9/);
    try {
      parseAgentConfig(bad);
    } catch (error) {
      expect((error as { code: string }).code).toBe(AgentErrorCode.BadConfig);
    }
  });

  it("lets flags override the file", () => {
    const path = file("agent.yaml", "files: [/a.log]\nformat: json\nkafka:\n  brokers: [a:1]\n  topic: t1\n");
    const c = loadAgentConfig(path, { brokers: ["b:2"], hostId: "h-9", files: ["/b.log"], stateDir: "/tmp/s" });
    expect([c.kafka.brokers, c.kafka.topic, c.hostId, c.files, c.stateDir]).toEqual([
      ["b:2"],
      "t1",
      "h-9",
      ["/b.log"],
      "/tmp/s",
    ]);
  });

  it("reads the SASL password from a file or the environment and never prints it", () => {
    const secret = file("pw", "s3cret\n");
    const c = parseAgentConfig({
      ...MINIMAL,
      kafka: { brokers: ["k:1"], sasl: { mechanism: "plain", username: "agent", passwordFile: secret } },
    });
    expect(resolveSaslPassword(c)).toBe("s3cret");
    expect(JSON.stringify(redactedConfig(c, true))).not.toContain("s3cret");
    const fromEnv = parseAgentConfig({
      ...MINIMAL,
      kafka: { brokers: ["k:1"], sasl: { mechanism: "plain", username: "agent", passwordEnv: "RLA_PW" } },
    });
    expect(resolveSaslPassword(fromEnv, { RLA_PW: "x" })).toBe("x");
    expect(() => resolveSaslPassword(fromEnv, {})).toThrow(
      /kafka\.sasl\.passwordEnv: environment variable RLA_PW is not set/,
    );
    expect(() =>
      parseAgentConfig({ ...MINIMAL, kafka: { brokers: ["k:1"], sasl: { mechanism: "plain", username: "a" } } }),
    ).toThrow(/kafka\.sasl: expected exactly one of passwordFile or passwordEnv/);
  });

  it("reports an unreadable or non-YAML file as a config error", () => {
    expect(() => loadAgentConfig("/nonexistent/agent.yaml")).toThrow(/cannot read config file/);
    expect(() => loadAgentConfig(file("bad.yaml", "files: [unclosed\n"))).toThrow(/not valid YAML/);
  });
});
