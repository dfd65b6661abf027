import { describe, expect, it } from "vitest";
import { influxDatabaseOptionsSchema, parseOptions, provisionConfigSchema, topicOptionsSchema } from "./config.js";
import { stackEndpoints } from "./endpoints.js";
import { DeployError } from "./errors.js";

describe("provisioning config", () => {
  it("fills the fixed names as defaults", () => {
    expect(parseOptions(provisionConfigSchema, {}, "provision options")).toEqual({
      kafka: { brokers: ["127.0.0.1:19092"], topic: "rla-partials", partitions: 6, replicationFactor: 1 },
      influx: { url: "http://127.0.0.1:18086", database: "rla", retentionPolicy: "rla_30d", duration: "30d" },
      timeoutMs: 60_000,
    });
  });

  it("names every bad key path and the expected form", () => {
    const bad = { brokers: ["nohost"], topic: "bad topic", partitions: 0, extra: 1 };
    let caught: unknown;
    try {
      parseOptions(topicOptionsSchema, bad, "ensureTopic options");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DeployError);
    const error = caught as DeployError;
    expect(error.code).toBe("ERR_DEPLOY_CONFIG");
    expect(error.retriable).toBe(false);
    expect(error.message).toContain("brokers.0: expected host:port");
    expect(error.message).toContain("topic: expected 1-249 characters");
    expect(error.message).toContain("partitions:");
    expect(error.message).toMatch(/extra/);
  });

  it("accepts InfluxQL durations and rejects others", () => {
    const base = { url: "http://127.0.0.1:18086", database: "d" };
    for (const duration of ["30d", "1h30m", "INF", "500ms"]) {
      expect(parseOptions(influxDatabaseOptionsSchema, { ...base, duration }, "x").duration).toBe(duration);
    }
    for (const duration of ["30", "3x", "", "1 d"]) {
      expect(() => parseOptions(influxDatabaseOptionsSchema, { ...base, duration }, "x")).toThrow(/duration/);
    }
    expect(() => parseOptions(influxDatabaseOptionsSchema, { ...base, url: "ftp://x" }, "x")).toThrow(/url/);
  });
});

describe("stackEndpoints", () => {
  it("defaults to the local stack", () => {
    expect(stackEndpoints({})).toEqual({ kafkaBrokers: ["127.0.0.1:19092"], influxUrl: "http://127.0.0.1:18086" });
  });

  it("reads a comma-separated broker list and trims the URL's trailing slash", () => {
    expect(stackEndpoints({ RLA_KAFKA_BROKERS: "a:1, b:2,", RLA_INFLUX_URL: "http://h:8086/" })).toEqual({
      kafkaBrokers: ["a:1", "b:2"],
      influxUrl: "http://h:8086",
    });
  });
});
