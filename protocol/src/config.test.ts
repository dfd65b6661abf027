import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { describeConfigIssues, kafkaSaslSchema, readConfigFile, readKafkaSsl, readSecret } from "./config.js";

class TestConfigError extends Error {}
const fail = (message: string) => new TestConfigError(message);

function file(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "rla-config-")), name);
  writeFileSync(path, text);
  return path;
}

describe("shared config pieces", () => {
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

  it("reads a YAML mapping, or says what is wrong with the file, through the caller's error", () => {
    expect(readConfigFile(undefined, fail)).toEqual({});
    expect(readConfigFile(file("ok.yaml", "kafka:\n  brokers: [a:1]\n"), fail)).toEqual({
      kafka: { brokers: ["a:1"] },
    });
    expect(readConfigFile(file("empty.yaml", ""), fail)).toEqual({});
    const cases: [string | undefined, RegExp][] = [
      ["/nonexistent/x.yaml", /^cannot read config file \/nonexistent\/x\.yaml: ENOENT/],
      [file("bad.yaml", "files: [unclosed\n"), /bad\.yaml is not valid YAML: /],
      [file("list.yaml", "- a\n- b\n"), /^invalid config: \(root\): expected a YAML mapping of keys$/],
      [file("scalar.yaml", "42\n"), /expected a YAML mapping/],
    ];
    for (const [path, message] of cases) {
      expect(() => readConfigFile(path, fail)).toThrow(TestConfigError);
      expect(() => readConfigFile(path, fail)).toThrow(message);
    }
  });

  it("reads a secret from its environment variable or its file and names the key when it cannot", () => {
    const env = { RLA_S: "from-env", RLA_EMPTY: "" };
    const secretFile = file("secret", "from-file\n");
    expect(readSecret({ env: "RLA_S", file: secretFile }, "influx.token", env, fail)).toBe("from-env");
    expect(readSecret({ file: secretFile }, "influx.token", env, fail)).toBe("from-file");
    expect(readSecret({}, "influx.token", env, fail)).toBeUndefined();
    expect(() => readSecret({ env: "RLA_EMPTY" }, "influx.token", env, fail)).toThrow(
      "invalid config: influx.tokenEnv: environment variable RLA_EMPTY is not set",
    );
    expect(() => readSecret({ file: "/nonexistent/pw" }, "kafka.sasl.password", env, fail)).toThrow(
      /^invalid config: kafka\.sasl\.passwordFile: cannot read \/nonexistent\/pw: ENOENT/,
    );
  });
});
