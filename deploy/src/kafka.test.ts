import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { toDeployError } from "./kafka.js";

// kafkajs exports its error classes at runtime but not in its typings.
const errors = kafkajs as unknown as Record<string, new (...args: unknown[]) => Error>;

describe("toDeployError", () => {
  it("marks connection failures retriable, also when wrapped by kafkajs' retrier", () => {
    const refused = new errors.KafkaJSConnectionError!("Connection error: connect ECONNREFUSED");
    const wrapped = new errors.KafkaJSNumberOfRetriesExceeded!(refused, { retryCount: 0, retryTime: 100 });
    for (const error of [refused, wrapped]) {
      const mapped = toDeployError(error, "ensureTopic t");
      expect(mapped.code).toBe("ERR_KAFKA_UNAVAILABLE");
      expect(mapped.retriable).toBe(true);
      expect(mapped.message).toContain("ensureTopic t: Kafka unavailable");
    }
  });

  it("keeps request errors that retrying cannot fix non-retriable", () => {
    const invalid = new errors.KafkaJSNonRetriableError!("Invalid config");
    const mapped = toDeployError(invalid, "ensureTopic t");
    expect(mapped.code).toBe("ERR_KAFKA_REQUEST");
    expect(mapped.retriable).toBe(false);
    expect(toDeployError(new Error("boom"), "x").retriable).toBe(false);
  });
});
