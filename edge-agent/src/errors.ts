import { CodedError } from "@rla/protocol";

/** Edge-agent error codes. The CLI maps them to exit codes (see README.md). */
export const AgentErrorCode = {
  /** The config file or a flag is invalid; the message names the key path and the expected form. Exit 2. */
  BadConfig: "ERR_AGENT_CONFIG",
  /** The state dir cannot be created, locked, read or written, or holds a checkpoint this agent cannot read. Exit 3. */
  StateDir: "ERR_AGENT_STATE_DIR",
  /** Kafka did not answer (connection refused, timeout, leader moving); the shipper waits it out. */
  KafkaUnavailable: "ERR_KAFKA_UNAVAILABLE",
  /** Kafka answered with an error that retrying will not fix (not authorised, SASL failure, record too large). */
  KafkaRequest: "ERR_KAFKA_REQUEST",
  /** A followed log file could not be listed, opened or read (not ENOENT); the tailer retries it at the next poll. */
  TailIo: "ERR_TAIL_IO",
  /**
   * A stream's unread bytes are gone: its checkpointed file is nowhere to be found, or a copytruncate happened and
   * the copy was not found among the rotated siblings. The tailer emitted `closed` for it; count it. (A stream read
   * to its end but not yet closed when the agent stopped, whose file is deleted before the restart, is reported too.)
   */
  TailStreamLost: "ERR_TAIL_STREAM_LOST",
  /** A file shrank but still starts with the same bytes; the tailer goes on at its new end under the same key. */
  TailShrunk: "ERR_TAIL_SHRUNK",
  /** A checkpoint position's fileKey is not `dev:ino:fnvhex-length`; the tailer emitted `closed` for it. */
  TailBadPosition: "ERR_TAIL_BAD_POSITION",
  /** `next()` was called after `stop()`. */
  TailStopped: "ERR_TAIL_STOPPED",
} as const;
export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

export class AgentError extends CodedError {
  constructor(code: AgentErrorCode, message: string, cause?: unknown) {
    super(code, message, { retriable: code === AgentErrorCode.KafkaUnavailable, cause });
    this.name = "AgentError";
  }
}

/**
 * kafkajs marks every error `retriable`, but gives up after its own retries by wrapping the last one in
 * KafkaJSNumberOfRetriesExceeded (non-retriable), and an outer retrier wraps that again in
 * KafkaJSNonRetriableError (cause = the original error: a producer whose broker went away fails this way), so the
 * flag of the innermost cause decides. Anything kafkajs did not mark (a bug, a TypeError) is not retriable.
 */
function kafkaRetriable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  const e = error as Error & { retriable?: unknown; cause?: unknown; originalError?: unknown };
  if (e.name === "KafkaJSNumberOfRetriesExceeded" || e.name === "KafkaJSNonRetriableError") {
    return kafkaRetriable(e.cause ?? e.originalError, depth + 1);
  }
  if (e.name === "KafkaJSNoBrokerAvailableError" || e.name === "KafkaJSLockTimeout") return true;
  return e.retriable === true;
}

/** Maps any failure of a Kafka call to an AgentError whose `retriable` flag `retry()` can trust. */
export function toKafkaError(error: unknown, what: string): AgentError {
  if (error instanceof AgentError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return kafkaRetriable(error)
    ? new AgentError(AgentErrorCode.KafkaUnavailable, `${what}: Kafka unavailable: ${detail}`, error)
    : new AgentError(AgentErrorCode.KafkaRequest, `${what}: ${detail}`, error);
}
