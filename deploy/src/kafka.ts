import { Kafka, logLevel } from "kafkajs";
import { DeployError, DeployErrorCode } from "./errors.js";

/**
 * A kafkajs client for short admin work. kafkajs' own retries are off so that the one `retry()` helper decides,
 * by the flag `toDeployError` sets; its logger is off because callers report outcomes themselves.
 */
export function adminClient(brokers: string[], clientId = "rla-deploy"): Kafka {
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 15_000,
    retry: { retries: 0 },
  });
}

// kafkajs marks transient broker errors `retriable` and wraps the last one in KafkaJSNumberOfRetriesExceeded
// (itself non-retriable), so the whole cause chain is inspected.
const UNAVAILABLE = new Set([
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSBrokerNotFound",
  "KafkaJSNoBrokerAvailableError",
]);

function isTransient(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  if (UNAVAILABLE.has(error.name) || (error as { retriable?: unknown }).retriable === true) return true;
  const nested = error as { cause?: unknown; originalError?: unknown; errors?: unknown };
  if (Array.isArray(nested.errors) && nested.errors.length > 0) {
    return nested.errors.every((e) => isTransient(e, depth + 1));
  }
  return isTransient(nested.cause, depth + 1) || isTransient(nested.originalError, depth + 1);
}

/** Maps a kafkajs failure to a DeployError: transient ones are retriable `ERR_KAFKA_UNAVAILABLE`. */
export function toDeployError(error: unknown, what: string): DeployError {
  if (error instanceof DeployError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return isTransient(error)
    ? new DeployError(DeployErrorCode.KafkaUnavailable, `${what}: Kafka unavailable: ${detail}`, error)
    : new DeployError(DeployErrorCode.KafkaRequest, `${what}: ${detail}`, error);
}
