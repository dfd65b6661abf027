import { CodedError } from "@rla/protocol";

/** Error codes of @rla/grafana: provisioning and dashboard checks, and running their queries against InfluxDB. */
export const GrafanaErrorCode = {
  /** A provisioning file does not have the structure Grafana expects (the message names the file and key path). */
  BadProvisioning: "ERR_GRAFANA_PROVISIONING",
  /** A dashboard does not have the structure Grafana expects. */
  BadDashboard: "ERR_GRAFANA_DASHBOARD",
  /** A template variable, macro or interval string cannot be expanded the way Grafana would. */
  BadTemplate: "ERR_GRAFANA_TEMPLATE",
  /** InfluxDB rejected a query (syntax, unknown database): retrying the same query cannot help. */
  QueryRejected: "ERR_GRAFANA_QUERY_REJECTED",
  /** InfluxDB could not be reached or answered 5xx: worth retrying. */
  InfluxUnavailable: "ERR_GRAFANA_INFLUX_UNAVAILABLE",
  /** An alert rule uses an expression type or reducer this evaluator does not implement. */
  UnsupportedExpression: "ERR_GRAFANA_EXPRESSION",
} as const;
export type GrafanaErrorCode = (typeof GrafanaErrorCode)[keyof typeof GrafanaErrorCode];

export class GrafanaError extends CodedError {
  constructor(code: GrafanaErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(code, message, options);
    this.name = "GrafanaError";
  }
}
