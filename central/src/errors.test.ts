import { isRetriable } from "@rla/protocol";
import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { CentralErrorCode, toKafkaError } from "./errors.js";

/** kafkajs's own error classes (its typings declare fewer constructor arguments than the classes take). */
const errors = kafkajs as unknown as Record<
  | "KafkaJSConnectionError"
  | "KafkaJSGroupCoordinatorNotFound"
  | "KafkaJSNonRetriableError"
  | "KafkaJSNumberOfRetriesExceeded"
  | "KafkaJSSASLAuthenticationError",
  new (
    ...args: unknown[]
  ) => Error
>;
const {
  KafkaJSConnectionError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSSASLAuthenticationError,
} = errors;

describe("toKafkaError", () => {
  it("waits out outages kafkajs gives up on: retries exceeded, and a group coordinator still missing", () => {
    const refused = new KafkaJSConnectionError("connect ECONNREFUSED 127.0.0.1:9092");
    expect(toKafkaError(refused, "fetch").code).toBe(CentralErrorCode.KafkaUnavailable);
    const exhausted = new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 5, retryTime: 3000, cause: refused });
    expect(isRetriable(toKafkaError(exhausted, "fetch"))).toBe(true);
    // What kafkajs's consumer crashed with when the broker stopped during a group join (CI, 2026-11-28).
    const noCoordinator = new KafkaJSGroupCoordinatorNotFound("Failed to find group coordinator");
    const wrapped = new KafkaJSNonRetriableError(noCoordinator, { cause: noCoordinator });
    expect(toKafkaError(wrapped, "consumer").code).toBe(CentralErrorCode.KafkaUnavailable);
  });

  it("gives up on what waiting cannot fix", () => {
    const denied = new KafkaJSSASLAuthenticationError("SASL PLAIN authentication failed");
    expect(isRetriable(toKafkaError(new KafkaJSNonRetriableError(denied, { cause: denied }), "connect"))).toBe(false);
    expect(isRetriable(toKafkaError(new Error("a bug"), "consumer"))).toBe(false);
  });
});
