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
});
