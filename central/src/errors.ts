import { CodedError } from "@rla/protocol";

/** Central error codes. The CLI maps them to exit codes (see central/README.md). */
export const CentralErrorCode = {
  /** The config file or a flag is invalid; the message names the key path and the expected form. Exit 2. */
  BadConfig: "ERR_CENTRAL_CONFIG",
  /** Kafka did not answer (connection refused, timeout, coordinator moving); waited out with backoff. */
  KafkaUnavailable: "ERR_KAFKA_UNAVAILABLE",
  /** Kafka answered with an error that retrying will not fix (not authorised, unknown topic). Exit 3. */
  KafkaRequest: "ERR_KAFKA_REQUEST",
  /** InfluxDB did not answer, timed out, or answered 5xx/429/401/403/404; waited out with backoff. */
  InfluxUnavailable: "ERR_INFLUX_UNAVAILABLE",
  /** InfluxDB rejected the request itself (400 bad point, 413); logged, counted, not retried. */
  InfluxRejected: "ERR_INFLUX_REJECTED",
  /** The configured database or retention policy does not exist at start. Exit 3. */
  InfluxMissingDatabase: "ERR_INFLUX_DATABASE",
  /** A partial decoded but does not fit this central (window length, alignment, far-future window). */
  InvalidPartial: "ERR_PARTIAL_INVALID",
} as const;
export type CentralErrorCode = (typeof CentralErrorCode)[keyof typeof CentralErrorCode];

const RETRIABLE: ReadonlySet<string> = new Set([CentralErrorCode.KafkaUnavailable, CentralErrorCode.InfluxUnavailable]);

export class CentralError extends CodedError {
  constructor(code: CentralErrorCode, message: string, cause?: unknown) {
    super(code, message, { retriable: RETRIABLE.has(code), cause });
    this.name = "CentralError";
  }
}

/** Process exit codes of the `central` CLI (documented in central/README.md). */
export const ExitCode = {
  Ok: 0,
  /** An unexpected internal error (a bug); the message and stack are logged. */
  Internal: 1,
  /** Invalid config or command line. */
  BadConfig: 2,
  /** A dependency refused us for good: Kafka auth/topic errors, missing InfluxDB database. */
  Dependency: 3,
} as const;

/**
 * kafkajs marks its errors `retriable`, but wraps the last one in KafkaJSNumberOfRetriesExceeded (non-retriable)
 * after its own retries and sometimes nests causes, so the innermost cause decides. Unmarked errors are bugs.
 */
function kafkaRetriable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  const e = error as Error & { retriable?: unknown; cause?: unknown; originalError?: unknown };
  if (e.name === "KafkaJSNumberOfRetriesExceeded") return kafkaRetriable(e.cause ?? e.originalError, depth + 1);
  // kafkajs's retrier wraps a non-retriable error as the cause of a plain KafkaJSNonRetriableError.
  if (e.name === "KafkaJSNonRetriableError" && (e.cause ?? e.originalError) !== undefined) {
    return kafkaRetriable(e.cause ?? e.originalError, depth + 1);
  }
  // No coordinator for the group: the broker is down or still starting (kafkajs calls it non-retriable).
  if (e.name === "KafkaJSGroupCoordinatorNotFound") return true;
  if (e.name === "KafkaJSNoBrokerAvailableError" || e.name === "KafkaJSLockTimeout") return true;
  if (e.name === "KafkaJSConnectionError" || e.name === "KafkaJSRequestTimeoutError") return true;
  return e.retriable === true;
}

/** Maps a failed Kafka call to a CentralError whose `retriable` flag `retry()` can trust. */
export function toKafkaError(error: unknown, what: string): CentralError {
  if (error instanceof CentralError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return kafkaRetriable(error)
    ? new CentralError(CentralErrorCode.KafkaUnavailable, `${what}: Kafka unavailable: ${detail}`, error)
    : new CentralError(CentralErrorCode.KafkaRequest, `${what}: ${detail}`, error);
}
