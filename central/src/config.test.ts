import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCentralConfig, parseCentralConfig, redactedConfig, resolveSecrets } from "./config.js";
import { CentralErrorCode } from "./errors.js";

const dir = mkdtempSync(join(tmpdir(), "rla-central-config-"));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe("central config", () => {
  it("fills every default of the fixed names", () => {
    const c = parseCentralConfig({ kafka: { brokers: ["k:9092"] }, influx: { url: "http://i:8086" } });
    expect(c).toMatchObject({
      kafka: { brokers: ["k:9092"], topic: "rla-partials", groupId: "rla-central", ssl: false },
      influx: { database: "rla", retentionPolicy: "rla_30d", createDatabase: false },
      windowMs: 10_000,
      allowedLatenessMs: 120_000,
      agentLivenessMs: 60_000,
      incompleteFireAfterMs: 15_000,
      topK: 10,
      metrics: { host: "127.0.0.1", port: 9465 },
      anomalies: { maxAnomaliesPerType: 5, ipSpike: { minRequests: 500 }, urlScan: { minDistinctUrls: 100 } },
      logLevel: "info",
    });
  });

  it("rejects unknown keys and bad values, naming each key path and the expected form", () => {
    let message = "";
    try {
      parseCentralConfig({
        kafka: { brokers: ["nope"], topc: "x" },
        anomalies: { errorSurge: { minShare: 5 } },
        metrics: { port: 70000 },
        allowedLatenessMs: 5_000,
      });
    } catch (error) {
      expect((error as { code: string }).code).toBe(CentralErrorCode.BadConfig);
      message = (error as Error).message;
    }
    expect(message).toContain('kafka.brokers[0]: expected "host:port"');
    expect(message).toContain("kafka.topc: unknown key");
    expect(message).toContain("anomalies.errorSurge.minShare: expected a fraction in (0, 1]");
    expect(message).toContain("metrics.port: expected a port 0-65535");
    expect(message).toContain("allowedLatenessMs: expected at least windowMs");
  });

  it("applies command-line overrides over the file", () => {
    const path = file("a.yaml", "kafka:\n  topic: from-file\n  groupId: g1\ninflux:\n  database: filedb\n");
    const c = loadCentralConfig(path, { topic: "from-flag", brokers: ["b:1"], influxDb: "flagdb", latenessMs: 60_000 });
    expect(c.kafka).toMatchObject({ topic: "from-flag", groupId: "g1", brokers: ["b:1"] });
    expect(c.influx.database).toBe("flagdb");
    expect(c.allowedLatenessMs).toBe(60_000);
  });

  it("reads secrets from a file or the environment and never shows them", () => {
    const token = file("token", "admin:s3cret\n");
    const c = parseCentralConfig({
      influx: { tokenFile: token },
      kafka: { sasl: { mechanism: "scram-sha-512", username: "central", passwordEnv: "RLA_TEST_KAFKA_PASSWORD" } },
    });
    const secrets = resolveSecrets(c, { RLA_TEST_KAFKA_PASSWORD: "hunter2" });
    expect(secrets).toEqual({ saslPassword: "hunter2", influxToken: "admin:s3cret" });
    const shown = JSON.stringify(redactedConfig(c, secrets));
    expect(shown).not.toContain("hunter2");
    expect(shown).not.toContain("s3cret");
    expect(shown).toContain("<redacted>");
    expect(() => resolveSecrets(c, {})).toThrow(
      "kafka.sasl.passwordEnv: environment variable RLA_TEST_KAFKA_PASSWORD is not set",
    );
  });

  it("requires exactly one source for the SASL password", () => {
    expect(() => parseCentralConfig({ kafka: { sasl: { mechanism: "plain", username: "u" } } })).toThrow(
      "kafka.sasl: expected exactly one of passwordFile or passwordEnv",
    );
  });
});
