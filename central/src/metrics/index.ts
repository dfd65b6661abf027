/**
 * Prometheus metrics (prom-client, own registry) and the tiny HTTP server for `/metrics` and `/healthz`.
 */
import { createServer, type Server } from "node:http";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface CentralMetrics {
  readonly registry: Registry;
  /** Records by outcome (accepted, late, duplicate, dropped_late, replayed_final, poison, already_processed). */
  readonly partials: Counter<"outcome">;
  readonly decodeErrors: Counter<"reason">;
  /** Window writes by why they happened (early, timeout, watermark, rewrite, settle). */
  readonly firings: Counter<"kind">;
  /** Seconds from a window's end to its first write. */
  readonly fireDelay: Histogram;
  readonly anomalies: Counter;
  readonly consumerLag: Gauge<"partition">;
  readonly watermarkMs: Gauge<"partition">;
  /** Extra lateness in force after a gap without records (0 when none). */
  readonly outageHoldMs: Gauge;
  readonly openWindows: Gauge;
  readonly writeDuration: Histogram;
  readonly pointsWritten: Counter;
  readonly influxErrors: Counter<"kind">;
  readonly pendingBatches: Gauge;
  readonly consumerPaused: Gauge;
  readonly commits: Counter;
  readonly commitErrors: Counter;
}

export function createCentralMetrics(options: { defaultMetrics?: boolean } = {}): CentralMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "rla_central_" });
  const registers = [registry];
  return {
    registry,
    partials: new Counter({
      name: "rla_central_partials_total",
      help: "Kafka records of partials by outcome",
      labelNames: ["outcome"],
      registers,
    }),
    decodeErrors: new Counter({
      name: "rla_central_decode_errors_total",
      help: "Poison Kafka records skipped, by reason",
      labelNames: ["reason"],
      registers,
    }),
    firings: new Counter({
      name: "rla_central_window_firings_total",
      help: "Window writes by kind: early (all live agents reported), timeout, watermark, rewrite, settle",
      labelNames: ["kind"],
      registers,
    }),
    fireDelay: new Histogram({
      name: "rla_central_fire_delay_seconds",
      help: "Wall-clock delay from a window's end to its first write",
      buckets: [0.5, 1, 2, 3, 5, 10, 15, 20, 30, 60, 120],
      registers,
    }),
    anomalies: new Counter({ name: "rla_central_anomalies_total", help: "Anomaly points written", registers }),
    consumerLag: new Gauge({
      name: "rla_central_consumer_lag",
      help: "Records behind the partition's high watermark after the last batch",
      labelNames: ["partition"],
      registers,
    }),
    watermarkMs: new Gauge({
      name: "rla_central_watermark_ms",
      help: "Event-time watermark per partition (ms since epoch)",
      labelNames: ["partition"],
      registers,
    }),
    outageHoldMs: new Gauge({
      name: "rla_central_outage_hold_ms",
      help: "Extra allowed lateness in force after a gap without records (Kafka or central outage); 0 when none",
      registers,
    }),
    openWindows: new Gauge({ name: "rla_central_open_windows", help: "Windows held in memory", registers }),
    writeDuration: new Histogram({
      name: "rla_central_influx_write_seconds",
      help: "Duration of one successful InfluxDB write request",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    pointsWritten: new Counter({ name: "rla_central_points_written_total", help: "Points written", registers }),
    influxErrors: new Counter({
      name: "rla_central_influx_errors_total",
      help: "InfluxDB failures: retriable (retried) or rejected (dropped)",
      labelNames: ["kind"],
      registers,
    }),
    pendingBatches: new Gauge({
      name: "rla_central_pending_write_batches",
      help: "Write batches not yet durable",
      registers,
    }),
    consumerPaused: new Gauge({
      name: "rla_central_consumer_paused",
      help: "1 while consumption is paused (InfluxDB down or behind)",
      registers,
    }),
    commits: new Counter({ name: "rla_central_commits_total", help: "Offset commits", registers }),
    commitErrors: new Counter({ name: "rla_central_commit_errors_total", help: "Failed offset commits", registers }),
  };
}

export interface Health {
  ok: boolean;
  detail: Record<string, unknown>;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `/metrics` and `/healthz` (200 when healthy, 503 otherwise, JSON detail) on host:port. */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  registry: Registry;
  health: () => Health;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (path === "/metrics") {
      options.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": options.registry.contentType }).end(text);
        },
        (error: Error) => {
          res.writeHead(500, { "content-type": "text/plain" }).end(error.message);
        },
      );
      return;
    }
    if (path === "/healthz") {
      const h = options.health();
      res
        .writeHead(h.ok ? 200 : 503, { "content-type": "application/json" })
        .end(JSON.stringify({ status: h.ok ? "ok" : "unhealthy", ...h.detail }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : options.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
