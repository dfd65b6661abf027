import { describe, expect, it } from "vitest";
import * as z from "zod";
import { describeConfigIssues, kafkaSaslSchema, readKafkaSsl } from "./kafka-config.js";

describe("shared Kafka config pieces", () => {
  it("names each bad key by its path and each unknown key on its own", () => {
    const schema = z.strictObject({
      kafka: z.strictObject({ brokers: z.array(z.string().regex(/:/, 'expected "host:port"')) }),
    });
    const result = schema.safeParse({ kafka: { brokers: ["ok:1", "nope"], extra: 1 } });
    expect(result.success).toBe(false);
    expect(describeConfigIssues(result.error!)).toBe(
      'kafka.brokers[1]: expected "host:port"; kafka.extra: unknown key',
    );
  });

  it("wants exactly one place to read the SASL password from", () => {
    const base = { mechanism: "plain", username: "u" };
    expect(kafkaSaslSchema.safeParse({ ...base, passwordEnv: "P" }).success).toBe(true);
    expect(kafkaSaslSchema.safeParse(base).success).toBe(false);
    expect(kafkaSaslSchema.safeParse({ ...base, passwordEnv: "P", passwordFile: "/f" }).success).toBe(false);
  });

  it("reads TLS files and names the key of one it cannot read", () => {
    expect(readKafkaSsl(true, (m) => new Error(m))).toBe(true);
    expect(() =>
      readKafkaSsl({ caFile: "/nonexistent/ca.pem", rejectUnauthorized: true }, (m) => new Error(m)),
    ).toThrow(/kafka\.ssl\.caFile: cannot read \/nonexistent\/ca\.pem/);
  });
});
