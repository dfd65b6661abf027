/**
 * InfluxQL over InfluxDB 1.x's `/query` endpoint, the way Grafana's InfluxDB data source calls it (GET, `epoch=ms`,
 * `u`/`p` only when a user is set). The @influxdata/influxdb-client package speaks Flux and line protocol, not
 * InfluxQL, so this is a small fetch wrapper.
 */
import { GrafanaError, GrafanaErrorCode } from "./errors.js";

export type InfluxValue = number | string | boolean | null;

/** One series of an InfluxQL statement's result. */
export interface InfluxSeries {
  name: string;
  tags: Record<string, string>;
  /** First column is `time` (epoch ms) for SELECTs. */
  columns: string[];
  values: InfluxValue[][];
}

export interface InfluxConnection {
  influxUrl: string;
  database: string;
  /** Sent as `u`/`p` when non-empty (InfluxDB auth on); never logged. */
  username?: string;
  password?: string;
}

interface QueryResponse {
  results?: Array<{ statement_id?: number; series?: Array<Partial<InfluxSeries>>; error?: string }>;
  error?: string;
}

/**
 * Runs one or more `;`-separated InfluxQL statements and returns each statement's series. `method: "POST"` is for
 * statements that change the database (CREATE/DROP), which InfluxDB refuses over GET.
 */
export async function queryInfluxQL(
  conn: InfluxConnection,
  query: string,
  options: { method?: "GET" | "POST"; signal?: AbortSignal } = {},
): Promise<InfluxSeries[][]> {
  const params = new URLSearchParams({ q: query, epoch: "ms" });
  if (conn.database) params.set("db", conn.database);
  if (conn.username) {
    params.set("u", conn.username);
    params.set("p", conn.password ?? "");
  }
  const method = options.method ?? "GET";
  const base = `${conn.influxUrl.replace(/\/+$/, "")}/query`;
  let response: Response;
  try {
    response =
      method === "GET"
        ? await fetch(`${base}?${params}`, { signal: options.signal })
        : await fetch(base, { method, body: params, signal: options.signal });
  } catch (cause) {
    throw new GrafanaError(GrafanaErrorCode.InfluxUnavailable, `InfluxDB at ${conn.influxUrl} is unreachable`, {
      retriable: true,
      cause,
    });
  }
  const text = await response.text();
  if (response.status >= 500) {
    throw new GrafanaError(
      GrafanaErrorCode.InfluxUnavailable,
      `InfluxDB answered ${response.status}: ${text.slice(0, 200)}`,
      { retriable: true },
    );
  }
  let body: QueryResponse;
  try {
    body = JSON.parse(text) as QueryResponse;
  } catch (cause) {
    throw new GrafanaError(GrafanaErrorCode.QueryRejected, `InfluxDB answered ${response.status} with non-JSON`, {
      cause,
    });
  }
  const failed = body.error ?? body.results?.find((r) => r.error)?.error;
  if (!response.ok || failed) {
    throw new GrafanaError(
      GrafanaErrorCode.QueryRejected,
      `InfluxDB rejected the query (${response.status}): ${failed ?? text.slice(0, 200)}\nquery: ${query}`,
    );
  }
  return (body.results ?? []).map((result) =>
    (result.series ?? []).map((s) => ({
      name: s.name ?? "",
      tags: s.tags ?? {},
      columns: s.columns ?? [],
      values: s.values ?? [],
    })),
  );
}

/** Runs a single statement and returns its series. */
export async function querySeries(conn: InfluxConnection, query: string): Promise<InfluxSeries[]> {
  const [first] = await queryInfluxQL(conn, query);
  return first ?? [];
}
