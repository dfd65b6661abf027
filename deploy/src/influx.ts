import { DeployError, DeployErrorCode } from "./errors.js";

/** One series of an InfluxQL statement result, as InfluxDB 1.x returns it. */
export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface InfluxStatementResult {
  statement_id: number;
  series?: InfluxSeries[];
  error?: string;
}

/** The parsed JSON body of InfluxDB 1.x `/query`. */
export interface InfluxQueryResponse {
  results: InfluxStatementResult[];
}

export interface InfluxQueryOptions {
  /** Timestamp unit of the `time` column (default `ms`: numbers, matching the ms-precision schema). */
  epoch?: "ns" | "u" | "ms" | "s" | "m" | "h";
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Credentials when auth is on: `user:password`, sent as `Authorization: Token …` (InfluxDB 1.8+). */
  token?: string;
}

/**
 * Runs InfluxQL against InfluxDB 1.x `/query` (POST, so write statements such as `CREATE DATABASE` work too) and
 * returns the parsed JSON. `db` may be empty for server-level statements.
 *
 * Contract: resolves only when every statement succeeded. Connection failures and 5xx throw a retriable
 * `ERR_INFLUX_UNAVAILABLE`; a 4xx or an `error` in any statement result throws `ERR_INFLUX_QUERY`.
 */
export async function influxQuery(
  url: string,
  db: string,
  q: string,
  options: InfluxQueryOptions = {},
): Promise<InfluxQueryResponse> {
  const body = new URLSearchParams({ q, epoch: options.epoch ?? "ms" });
  if (db !== "") body.set("db", db);
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const endpoint = `${url.replace(/\/+$/, "")}/query`;
  let res: Response;
  try {
    const headers: Record<string, string> = options.token ? { authorization: `Token ${options.token}` } : {};
    res = await fetch(endpoint, { method: "POST", body, signal, headers });
  } catch (error) {
    throw new DeployError(
      DeployErrorCode.InfluxUnavailable,
      `InfluxDB ${url} did not answer: ${describe(error)}`,
      error,
    );
  }
  const text = await res.text();
  if (res.status >= 500) {
    throw new DeployError(DeployErrorCode.InfluxUnavailable, `InfluxDB ${url} answered ${res.status}: ${text.trim()}`);
  }
  let parsed: InfluxQueryResponse & { error?: string };
  try {
    parsed = JSON.parse(text) as InfluxQueryResponse & { error?: string };
  } catch (error) {
    throw new DeployError(DeployErrorCode.InfluxQuery, `InfluxDB ${url} answered ${res.status} with non-JSON`, error);
  }
  if (!res.ok || parsed.error !== undefined) {
    throw new DeployError(DeployErrorCode.InfluxQuery, `InfluxQL rejected (${res.status}): ${parsed.error ?? text}`);
  }
  const failed = parsed.results.find((r) => r.error !== undefined);
  if (failed) {
    throw new DeployError(
      DeployErrorCode.InfluxQuery,
      `InfluxQL statement ${failed.statement_id} of "${q}" failed: ${failed.error}`,
    );
  }
  return parsed;
}

/**
 * Flattens the series of one statement result into row objects: each row holds the series' tags (present with
 * `GROUP BY` tags) and one key per column, e.g. `{ host: "web-1", time: 1700000000000, requests: 42 }`.
 */
export function influxRows(response: InfluxQueryResponse, statement = 0): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const series of response.results[statement]?.series ?? []) {
    for (const values of series.values) {
      const row: Record<string, unknown> = { ...series.tags };
      series.columns.forEach((column, i) => {
        row[column] = values[i];
      });
      rows.push(row);
    }
  }
  return rows;
}

/** Quotes an InfluxQL identifier (database, retention policy, measurement) so any name is safe to interpolate. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}
