/**
 * Helpers for tests and benchmarks that drive central's pure stages without servers: building partials from
 * records, and an in-memory stand-in for InfluxDB with the same overwrite / delete / read-back semantics central
 * relies on (a point with the measurement, tags and time of an existing one overwrites the fields it carries and keeps
 * the others; a delete removes every point of a time stamp matching its tags). Integration tests use the real InfluxDB instead.
 */
import { addRecord, createPartial, emptyLogRecord, type LogRecord, type WindowPartial } from "@rla/protocol";
import type { HistoryRow } from "./detect/index.js";
import { type InfluxPoint, pointKey, type SeriesDelete } from "./influx/points.js";

export interface PartialSpec {
  host: string;
  service?: string;
  windowStartMs: number;
  windowMs?: number;
  seq?: number;
}

/** A partial holding `records` (each a partial LogRecord; time defaults to the window start). */
export function partialOf(spec: PartialSpec, records: Partial<LogRecord>[] = []): WindowPartial {
  const p = createPartial({
    host: spec.host,
    service: spec.service ?? "web",
    windowStartMs: spec.windowStartMs,
    windowMs: spec.windowMs ?? 10_000,
    seq: spec.seq ?? 0,
  });
  for (const r of records) {
    addRecord(p, {
      ...emptyLogRecord(),
      timeMs: spec.windowStartMs,
      status: 200,
      ip: "192.0.2.1",
      method: "GET",
      path: "/",
      ...r,
    });
  }
  return p;
}

export class MemoryInflux {
  readonly points = new Map<string, InfluxPoint>();

  apply(batch: { deletes: SeriesDelete[]; points: InfluxPoint[] }): void {
    for (const d of batch.deletes) this.delete(d);
    for (const p of batch.points) {
      const key = pointKey(p);
      const old = this.points.get(key);
      this.points.set(key, old === undefined ? p : { ...p, fields: { ...old.fields, ...p.fields } });
    }
  }

  delete(d: SeriesDelete): void {
    for (const [key, p] of this.points) {
      if (p.measurement !== d.measurement || p.timeMs !== d.timeMs) continue;
      if (Object.entries(d.tags).every(([k, v]) => p.tags[k] === v)) this.points.delete(key);
    }
  }

  /** What `InfluxClient.readHistory` returns for this content. */
  readHistory(fromMs: number): HistoryRow[] {
    const out: HistoryRow[] = [];
    for (const p of this.points.values()) {
      if (p.timeMs < fromMs) continue;
      const service = p.tags.service ?? "";
      if (p.measurement === "http_stats") {
        const requests = p.fields.requests;
        const errors = p.fields.status_5xx;
        out.push({
          kind: "stats",
          service,
          host: p.tags.host ?? "",
          windowStartMs: p.timeMs,
          requests: requests !== undefined && "int" in requests ? requests.int : 0,
          errors5xx: errors !== undefined && "int" in errors ? errors.int : 0,
        });
      } else if (p.measurement === "top_ip" && p.tags.host === "all") {
        const ip = p.fields.ip;
        const requests = p.fields.requests;
        if (ip === undefined || !("str" in ip) || requests === undefined || !("int" in requests)) continue;
        out.push({ kind: "top_ip", service, windowStartMs: p.timeMs, ip: ip.str, requests: requests.int });
      }
    }
    return out;
  }

  /** Content as sorted [key, fields] pairs, for equality checks. */
  snapshot(measurements?: string[]): [string, InfluxPoint["fields"]][] {
    return [...this.points.entries()]
      .filter(([, p]) => measurements === undefined || measurements.includes(p.measurement))
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([k, p]) => [k, p.fields]);
  }
}
