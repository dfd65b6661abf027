import { isRetriable } from "@rla/protocol";
import { describe, expect, it } from "vitest";
import { AgentErrorCode, toKafkaError } from "./errors.js";

function kafkaError(name: string, retriable: boolean, cause?: Error): Error {
  const e = new Error(name) as Error & { retriable: boolean; cause?: Error };
  e.name = name;
  e.retriable = retriable;
  if (cause) e.cause = cause;
  return e;
}

describe("toKafkaError", () => {
  it("maps kafkajs' retriable flag, looking through KafkaJSNumberOfRetriesExceeded to its cause", () => {
    const refused = kafkaError("KafkaJSConnectionError", true);
    const exhausted = kafkaError("KafkaJSNumberOfRetriesExceeded", false, refused);
    expect(toKafkaError(refused, "send").code).toBe(AgentErrorCode.KafkaUnavailable);
    expect(isRetriable(toKafkaError(exhausted, "send"))).toBe(true);
    const denied = kafkaError("KafkaJSProtocolError", false);
    expect(isRetriable(toKafkaError(denied, "send"))).toBe(false);
    expect(toKafkaError(denied, "send").code).toBe(AgentErrorCode.KafkaRequest);
    expect(isRetriable(toKafkaError(new TypeError("bug"), "send"))).toBe(false);
  });

  it("looks through KafkaJSNonRetriableError (an outer retrier wrapping an exhausted inner one) to its cause", () => {
    // What producer.send throws once the broker it was connected to goes away (found by the Kafka outage test).
    const refused = kafkaError("KafkaJSConnectionError", true);
    const exhausted = kafkaError("KafkaJSNumberOfRetriesExceeded", false, refused);
    const wrapped = kafkaError("KafkaJSNonRetriableError", false, exhausted.cause as Error);
    expect(isRetriable(toKafkaError(wrapped, "send"))).toBe(true);
    const denied = kafkaError("KafkaJSProtocolError", false);
    expect(isRetriable(toKafkaError(kafkaError("KafkaJSNonRetriableError", false, denied), "send"))).toBe(false);
  });
});
