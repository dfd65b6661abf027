/**
 * Prometheus metrics (`/metrics`) and the health check (`/healthz`); loaded only when the endpoint is on.
 *
 * The hot path only bumps plain numbers; metrics read them through a snapshot at scrape time, so scraping
 * costs nothing between scrapes and reading a line costs no metric call.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { REJECT_REASONS, type RejectReason } from "@rla/protocol";
import { Counter, Gauge, Registry } from "prom-client";

export interface FileLag {
  path: string;
  /** Bytes between the read position and the file's current size. */
  bytes: number;
  /** Event time between the last line read and now, while bytes are left; 0 when caught up. */
  seconds: number;
}

export interface AgentSnapshot {
  linesRead: number;
  bytesRead: number;
  linesParsed: number;
  linesSkipped: number;
  rejects: Record<RejectReason, number>;
  partialsOutboxed: number;
  supplements: number;
  partialsShipped: number;
  kafkaErrors: number;
  outboxBytes: number;
  outboxRecords: number;
  files: FileLag[];
}

export interface Health {
  ok: boolean;
  reasons: string[];
}

/** A counter that mirrors a monotonically growing number read at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number): Counter<string> {
  let last = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const value = read();
      if (value > last) this.inc(value - last);
      last = value;
    },
  });
}

export function createAgentMetrics(snapshot: () => AgentSnapshot): Registry {
  const registry = new Registry();
  // One snapshot serves all collect() calls of a scrape (it stats the followed files).
  let current: AgentSnapshot | null = null;
  let takenAt = 0;
  const snap = (): AgentSnapshot => {
    const t = Date.now();
    if (current === null || t - takenAt > 250) {
      current = snapshot();
      takenAt = t;
    }
    return current;
  };
  mirroredCounter(
    registry,
    "rla_agent_lines_read_total",
    "Log lines read (re-read lines included).",
    () => snap().linesRead,
  );
  mirroredCounter(registry, "rla_agent_bytes_read_total", "Log bytes read.", () => snap().bytesRead);
  mirroredCounter(
    registry,
    "rla_agent_lines_parsed_total",
    "Lines counted as requests into a partial.",
    () => snap().linesParsed,
  );
  mirroredCounter(
    registry,
    "rla_agent_lines_skipped_total",
    "Re-read lines skipped after a restart because they were already outboxed.",
    () => snap().linesSkipped,
  );
  mirroredCounter(
    registry,
    "rla_agent_partials_outboxed_total",
    "Partials committed to the outbox (heartbeats included).",
    () => snap().partialsOutboxed,
  );
  mirroredCounter(
    registry,
    "rla_agent_supplements_total",
    "Supplementary partials for lines that arrived after their window closed.",
    () => snap().supplements,
  );
  mirroredCounter(
    registry,
    "rla_agent_windows_shipped_total",
    "Partials acknowledged by Kafka.",
    () => snap().partialsShipped,
  );
  mirroredCounter(
    registry,
    "rla_agent_kafka_errors_total",
    "Failed Kafka sends (each retried).",
    () => snap().kafkaErrors,
  );
  new Gauge({
    name: "rla_agent_outbox_bytes",
    help: "Bytes in the outbox not yet acknowledged by Kafka.",
    registers: [registry],
    collect() {
      this.set(snap().outboxBytes);
    },
  });
  new Gauge({
    name: "rla_agent_outbox_records_unacked",
    help: "Outbox records not yet acknowledged by Kafka.",
    registers: [registry],
    collect() {
      this.set(snap().outboxRecords);
    },
  });
  new Gauge({
    name: "rla_agent_file_lag_bytes",
    help: "Bytes between the read position and the end of each followed file.",
    labelNames: ["path"],
    registers: [registry],
    collect() {
      this.reset();
      for (const f of snap().files) this.set({ path: f.path }, f.bytes);
    },
  });
  new Gauge({
    name: "rla_agent_file_lag_seconds",
    help: "Event time behind now of the last line read, per file with unread bytes (0 when caught up).",
    labelNames: ["path"],
    registers: [registry],
    collect() {
      this.reset();
      for (const f of snap().files) this.set({ path: f.path }, f.seconds);
    },
  });
  const last = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  new Counter({
    name: "rla_agent_lines_rejected_total",
    help: "Lines counted as rejects, by reason.",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      const rejects = snap().rejects;
      for (const reason of REJECT_REASONS) {
        this.inc({ reason }, rejects[reason] - last[reason]);
        last[reason] = rejects[reason];
      }
    },
  });
  return registry;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** `/metrics` and `/healthz` (200 "ok" / 503 with the reasons). */
export async function startMetricsServer(
  options: { host: string; port: number },
  registry: Registry,
  health: () => Health,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405).end();
    } else if (path === "/metrics") {
      registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
        (error: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(error.message),
      );
    } else if (path === "/healthz") {
      const h = health();
      res
        .writeHead(h.ok ? 200 : 503, { "content-type": "text/plain" })
        .end(h.ok ? "ok\n" : `${h.reasons.join("\n")}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
