/**
 * InfluxDB 1.8 I/O: line-protocol writes through @influxdata/influxdb-client's WriteApi (`/api/v2/write`, bucket
 * `db/rp`, org "", precision ms) and InfluxQL through `/query` (database checks, history read-back, deletes).
 *
 * Every failure comes out as a CentralError whose `retriable` flag says what to do: connection refused/reset,
 * timeouts, 5xx, 429, 408, and 401/403/404 (credentials or database fixed by an operator; dropping data would be
 * worse) are retriable; 400 (bad point; InfluxDB 1.x still writes the good points of the batch) and other 4xx are not.
 */
import { HttpError, InfluxDB, Point, type WriteApi } from "@influxdata/influxdb-client";
import type { HistoryRow } from "../detect/index.js";
import { CentralError, CentralErrorCode } from "../errors.js";
import { deleteStatement, type InfluxPoint, quoteIdent, quoteString, type SeriesDelete } from "./points.js";

export interface InfluxClientOptions {
  url: string;
  /** InfluxDB 1.8: "user:password", or "" with auth off. */
  token: string;
  database: string;
  retentionPolicy: string;
  timeoutMs: number;
  /** Most lines one `writeLines` call may be given. */
  maxLinesPerRequest: number;
}

export interface InfluxClient {
  /** Serialises points to line protocol (ms precision). */
  toLines(points: InfluxPoint[]): string[];
  /** Writes at most maxLinesPerRequest lines in one request; resolves when InfluxDB confirmed them. */
  writeLines(lines: string[]): Promise<void>;
  deleteSeries(deletes: SeriesDelete[]): Promise<void>;
  /** True when the database and retention policy exist. */
  databaseExists(): Promise<boolean>;
  createDatabase(duration: string): Promise<void>;
  /** `http_stats` rows (every host and "all") and fleet `top_ip` rows with time >= fromMs. */
  readHistory(fromMs: number): Promise<HistoryRow[]>;
  close(): Promise<void>;
}

const RETRIABLE_STATUS = new Set([401, 403, 404, 408, 429]);
const RETRIABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

function errorCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== "object" || error === null || depth > 4) return undefined;
  const e = error as { code?: unknown; cause?: unknown };
  if (typeof e.code === "string" && RETRIABLE_CODES.has(e.code)) return e.code;
  return errorCode(e.cause, depth + 1);
}

/** Maps any failure of an InfluxDB call to a CentralError with the right `retriable` flag. */
export function classifyInfluxError(error: unknown, what: string): CentralError {
  if (error instanceof CentralError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  const status =
    error instanceof HttpError
      ? error.statusCode
      : typeof (error as { statusCode?: unknown })?.statusCode === "number"
        ? (error as { statusCode: number }).statusCode
        : undefined;
  if (status !== undefined) {
    const retriable = status >= 500 || RETRIABLE_STATUS.has(status);
    return new CentralError(
      retriable ? CentralErrorCode.InfluxUnavailable : CentralErrorCode.InfluxRejected,
      `${what}: InfluxDB answered ${status}: ${detail}`,
      error,
    );
  }
  const name = (error as { name?: unknown })?.name;
  if (
    name === "RequestTimedOutError" ||
    name === "AbortError" ||
    name === "TimeoutError" ||
    errorCode(error) !== undefined ||
    (error instanceof TypeError && detail === "fetch failed")
  ) {
    return new CentralError(CentralErrorCode.InfluxUnavailable, `${what}: InfluxDB unreachable: ${detail}`, error);
  }
  return new CentralError(CentralErrorCode.InfluxRejected, `${what}: ${detail}`, error);
}

interface QueryResponse {
  results?: {
    statement_id: number;
    series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[];
    error?: string;
  }[];
  error?: string;
}

export function createInfluxClient(options: InfluxClientOptions): InfluxClient {
  const base = options.url.replace(/\/+$/, "");
  const influx = new InfluxDB({ url: base, token: options.token, timeout: options.timeoutMs });
  const writeApi: WriteApi = influx.getWriteApi("", `${options.database}/${options.retentionPolicy}`, "ms", {
    // The sink sends each chunk with one explicit flush and retries itself; the client must neither flush on its
    // own (a background flush would swallow its error) nor retry.
    batchSize: options.maxLinesPerRequest + 1,
    maxBatchBytes: Number.MAX_SAFE_INTEGER,
    flushInterval: 0,
    maxRetries: 0,
    writeFailed: () => undefined,
  });
  const rp = quoteIdent(options.retentionPolicy);

  async function query(q: string, what: string): Promise<QueryResponse> {
    const body = new URLSearchParams({ q, db: options.database, epoch: "ms" });
    const headers: Record<string, string> = options.token ? { authorization: `Token ${options.token}` } : {};
    let res: Response;
    try {
      res = await fetch(`${base}/query`, {
        method: "POST",
        body,
        headers,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      throw classifyInfluxError(error, what);
    }
    const text = await res.text();
    if (!res.ok) throw classifyInfluxError({ statusCode: res.status, message: text.trim().slice(0, 500) }, what);
    let parsed: QueryResponse;
    try {
      parsed = JSON.parse(text) as QueryResponse;
    } catch (error) {
      throw new CentralError(CentralErrorCode.InfluxUnavailable, `${what}: InfluxDB answered non-JSON`, error);
    }
    const failed = parsed.error ?? parsed.results?.find((r) => r.error !== undefined)?.error;
    if (failed !== undefined) {
      // "database not found" can be an operator mid-fix; anything else is our statement's fault.
      const missing = /database not found/i.test(failed);
      throw new CentralError(
        missing ? CentralErrorCode.InfluxUnavailable : CentralErrorCode.InfluxRejected,
        `${what}: ${failed}`,
      );
    }
    return parsed;
  }

  function rows(response: QueryResponse, statement: number): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const series of response.results?.[statement]?.series ?? []) {
      for (const values of series.values) {
        const row: Record<string, unknown> = { ...series.tags };
        series.columns.forEach((c, i) => {
          row[c] = values[i];
        });
        out.push(row);
      }
    }
    return out;
  }

  return {
    toLines(points) {
      const out: string[] = [];
      for (const p of points) {
        const line = toPoint(p).toLineProtocol(writeApi);
        if (line !== undefined) out.push(line);
      }
      return out;
    },
    async writeLines(lines) {
      if (lines.length === 0) return;
      writeApi.writeRecords(lines);
      try {
        await writeApi.flush();
      } catch (error) {
        throw classifyInfluxError(error, `writing ${lines.length} points`);
      }
    },
    async deleteSeries(deletes) {
      if (deletes.length === 0) return;
      await query(deletes.map(deleteStatement).join("; "), `deleting ${deletes.length} stale series`);
    },
    async databaseExists() {
      let response: QueryResponse;
      try {
        response = await query(`SHOW RETENTION POLICIES ON ${quoteIdent(options.database)}`, "checking the database");
      } catch (error) {
        // A missing database is the answer here, not an outage to wait out (query() retries it elsewhere).
        if (error instanceof CentralError && /database not found/i.test(error.message)) return false;
        throw error;
      }
      return rows(response, 0).some((r) => r.name === options.retentionPolicy);
    },
    async createDatabase(duration) {
      await query(
        `CREATE DATABASE ${quoteIdent(options.database)} WITH DURATION ${duration} REPLICATION 1 NAME ${rp}`,
        "creating the database",
      );
    },
    async readHistory(fromMs) {
      const since = `time >= ${Math.floor(fromMs)}ms`;
      const response = await query(
        `SELECT "requests", "status_5xx" FROM ${rp}."http_stats" WHERE ${since} GROUP BY "host", "service"; ` +
          `SELECT "ip", "requests" FROM ${rp}."top_ip" WHERE "host" = ${quoteString("all")} AND ${since} GROUP BY "service"`,
        "reading baseline history",
      );
      const out: HistoryRow[] = [];
      for (const r of rows(response, 0)) {
        if (typeof r.requests !== "number" || typeof r.time !== "number") continue;
        out.push({
          kind: "stats",
          service: String(r.service),
          host: String(r.host),
          windowStartMs: r.time,
          requests: r.requests,
          errors5xx: typeof r.status_5xx === "number" ? r.status_5xx : 0,
        });
      }
      for (const r of rows(response, 1)) {
        if (typeof r.ip !== "string" || typeof r.requests !== "number" || typeof r.time !== "number") continue;
        out.push({ kind: "top_ip", service: String(r.service), windowStartMs: r.time, ip: r.ip, requests: r.requests });
      }
      return out;
    },
    close: () => writeApi.close().catch(() => undefined),
  };
}

/** Escaping of measurement, tags and string fields is the client's Point's. */
function toPoint(p: InfluxPoint): Point {
  const point = new Point(p.measurement).timestamp(p.timeMs);
  for (const [k, v] of Object.entries(p.tags)) point.tag(k, v);
  for (const [k, v] of Object.entries(p.fields)) {
    if ("int" in v) point.intField(k, v.int);
    else if ("float" in v) point.floatField(k, v.float);
    else point.stringField(k, v.str);
  }
  return point;
}
