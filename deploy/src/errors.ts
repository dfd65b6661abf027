import { CodedError } from "@rla/protocol";

/** Deploy error codes: provisioning and talking to the local stack. */
export const DeployErrorCode = {
  /** A provisioning option or the CLI config is invalid; the message names the key and expected form. */
  BadConfig: "ERR_DEPLOY_CONFIG",
  /** Kafka did not answer (connection refused, timeout, no broker yet); worth retrying. */
  KafkaUnavailable: "ERR_KAFKA_UNAVAILABLE",
  /** Kafka answered with an error that retrying will not fix (bad topic config, not authorised, …). */
  KafkaRequest: "ERR_KAFKA_REQUEST",
  /** InfluxDB did not answer or answered 5xx; worth retrying. */
  InfluxUnavailable: "ERR_INFLUX_UNAVAILABLE",
  /** InfluxDB rejected the query (4xx, or an error in a statement result). */
  InfluxQuery: "ERR_INFLUX_QUERY",
  /** `deploy/local/stack.sh` failed. */
  Stack: "ERR_STACK",
} as const;
export type DeployErrorCode = (typeof DeployErrorCode)[keyof typeof DeployErrorCode];

/** Retriable exactly for the "unavailable" codes: those are the outages `retry()` waits out. */
export class DeployError extends CodedError {
  constructor(code: DeployErrorCode, message: string, cause?: unknown) {
    super(code, message, {
      retriable: code === DeployErrorCode.KafkaUnavailable || code === DeployErrorCode.InfluxUnavailable,
      cause,
    });
    this.name = "DeployError";
  }
}
