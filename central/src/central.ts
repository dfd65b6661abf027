/**
 * Wiring: Kafka consumer → merge engine → emitter → InfluxDB sink → offset commits, plus the ticker that fires
 * windows on timeout, the pipeline counters, baseline hydration and /metrics.
 *
 * The exactly-once chain (README "Exactly once"): every flush of the engine yields the points to write and, per
 * partition, the offset + metadata that become safe to commit once those points (and all submitted before them)
 * are durable. The sink writes in submission order and resolves each batch when durable; commits are chained in
 * the same order and dropped for partitions this instance no longer owns (or owns under a newer assignment epoch).
 */
import { setLogger as setInfluxClientLogger } from "@influxdata/influxdb-client";
import { retry } from "@rla/protocol";
import { type CentralConfig, type CentralSecrets, resolveSecrets } from "./config.js";
import { createPartialConsumer, type PartitionPosition } from "./consume/index.js";
import { FLEET_HOST, type HistoryRow } from "./detect/index.js";
import { createEmitter } from "./emit/index.js";
import { CentralError, CentralErrorCode } from "./errors.js";
import { createInfluxClient } from "./influx/client.js";
import { buildPipelinePoint, type PipelineCounts } from "./influx/points.js";
import { createInfluxSink } from "./influx/sink.js";
import { createLogger, type Logger, rateLimited } from "./logging.js";
import { type CommitIntent, createMergeEngine, type FiringKind, type IngestOutcome } from "./merge/index.js";
import { type CentralMetrics, createCentralMetrics, type MetricsServer, startMetricsServer } from "./metrics/index.js";

export interface StartCentralOptions {
  logger?: Logger;
  /** Default: resolved from the config's files / environment variables. */
  secrets?: CentralSecrets;
  now?: () => number;
}

export interface CentralStats {
  partials: Record<IngestOutcome, number>;
  firings: Record<FiringKind, number>;
  decodeErrors: number;
  pointsWritten: number;
  pendingBatches: number;
  assigned: number[];
  openWindows: number;
  commits: number;
  /** Consumption paused (InfluxDB failing or behind). */
  paused: boolean;
  /** Wall-clock ms since which InfluxDB writes have been failing, or null. */
  influxFailingSinceMs: number | null;
}

export interface CentralHandle {
  /** Graceful stop: stop consuming, wait for pending writes (bounded by shutdownTimeoutMs), commit, leave the group. */
  stop(): Promise<void>;
  /** Hard stop: leave at once without writing or committing anything pending (what a crash leaves behind). */
  abort(): Promise<void>;
  stats(): CentralStats;
  readonly metrics: CentralMetrics;
  /** Port of the /metrics server, or null when switched off. */
  readonly metricsPort: number | null;
  /** Rejects when central dies on its own (a non-retriable Kafka error); resolves after stop/abort. */
  readonly done: Promise<void>;
}

const OUTCOMES: IngestOutcome[] = [
  "accepted",
  "late",
  "duplicate",
  "dropped_late",
  "replayed_final",
  "poison",
  "already_processed",
];
const KINDS: FiringKind[] = ["early", "timeout", "watermark", "rewrite", "settle"];

const zeroCounts = (): PipelineCounts => ({
  partials: 0,
  latePartials: 0,
  droppedLate: 0,
  duplicates: 0,
  decodeErrors: 0,
});

export async function startCentral(config: CentralConfig, options: StartCentralOptions = {}): Promise<CentralHandle> {
  const now = options.now ?? Date.now;
  const logger = options.logger ?? createLogger(config.logLevel);
  const log = logger.child({ component: "central" });
  const limited = rateLimited(10_000, now);
  // The client library logs every failed request itself; the sink already reports them, rate-limited.
  const influxLog = logger.child({ component: "influxdb-client" });
  setInfluxClientLogger({
    error: (message, error) => influxLog.debug({ err: error }, message),
    warn: (message, error) => influxLog.debug({ err: error }, message),
  });
  const secrets = options.secrets ?? resolveSecrets(config);
  const metrics = createCentralMetrics();
  const lifetime = new AbortController();
  const stats: CentralStats = {
    partials: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<IngestOutcome, number>,
    firings: Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<FiringKind, number>,
    decodeErrors: 0,
    pointsWritten: 0,
    pendingBatches: 0,
    assigned: [],
    openWindows: 0,
    commits: 0,
    paused: false,
    influxFailingSinceMs: null,
  };
  let interval = zeroCounts();

  const client = createInfluxClient({
    url: config.influx.url,
    token: secrets.influxToken,
    database: config.influx.database,
    retentionPolicy: config.influx.retentionPolicy,
    timeoutMs: config.influx.timeoutMs,
    maxLinesPerRequest: config.influx.batchSize,
  });
  const waitOut = (what: string) => ({
    signal: lifetime.signal,
    maxDelayMs: 10_000,
    onRetry: (error: unknown) =>
      limited(`wait:${what}`, (suppressed) =>
        log.warn({ err: error, suppressed }, `${what}: dependency unavailable, retrying`),
      ),
  });

  // The database must exist before anything is consumed: writing into nowhere would only fail later, per point.
  const exists = await retry(() => client.databaseExists(), waitOut("checking the InfluxDB database"));
  if (!exists) {
    if (!config.influx.createDatabase) {
      throw new CentralError(
        CentralErrorCode.InfluxMissingDatabase,
        `InfluxDB database ${config.influx.database} with retention policy ${config.influx.retentionPolicy} does not exist (create it with npm run provision, or set influx.createDatabase)`,
      );
    }
    await retry(() => client.createDatabase(config.influx.retentionDuration), waitOut("creating the database"));
    log.info({ database: config.influx.database }, "created the InfluxDB database");
  }

  const engine = createMergeEngine(config);
  const emitter = createEmitter(config);
  let influxDown = false;
  let paused = false;
  let consuming = false;
  let rebalancing = false;
  let stopping = false;
  const lastRequested = new Map<number, CommitIntent>();
  let commitChain: Promise<void> = Promise.resolve();

  const sink = createInfluxSink({
    client,
    batchSize: config.influx.batchSize,
    onOutage: (down, error) => {
      influxDown = down;
      if (down) log.warn({ err: error }, "InfluxDB writes failing; pausing consumption and retrying with backoff");
      else log.info("InfluxDB writes succeed again; resuming consumption");
      updatePause();
    },
    onWritten: (lines, seconds) => {
      metrics.pointsWritten.inc(lines);
      metrics.writeDuration.observe(seconds);
      stats.pointsWritten += lines;
    },
    onError: (error) => {
      metrics.influxErrors.inc({ kind: error.retriable ? "retriable" : "rejected" });
      if (!error.retriable) log.error({ err: error }, "InfluxDB rejected a write; its bad points are dropped");
      else limited("influx", (suppressed) => log.warn({ err: error, suppressed }, "InfluxDB write failed; retrying"));
    },
  });

  function updatePause(): void {
    if (!consuming) return;
    const pending = sink.pending();
    const want = influxDown || pending > config.influx.maxPendingBatches;
    if (want === paused) return;
    paused = want;
    metrics.consumerPaused.set(want ? 1 : 0);
    if (want) consumer.pause();
    else consumer.resume();
  }

  async function commitNow(intents: CommitIntent[]): Promise<void> {
    const owned = consumer.assigned();
    const current = intents.filter((c) => owned.has(c.partition) && engine.epochOf(c.partition) === c.epoch);
    if (current.length === 0) return;
    try {
      await consumer.commit(current);
      metrics.commits.inc(current.length);
      stats.commits += current.length;
    } catch (error) {
      metrics.commitErrors.inc();
      limited("commit", (suppressed) => log.warn({ err: error, suppressed }, "offset commit failed; retried later"));
      for (const c of current) if (lastRequested.get(c.partition) === c) lastRequested.delete(c.partition);
    }
  }

  /** Fires what is due, submits the writes, and chains the commits they make safe. */
  function flushAndWrite(): void {
    if (rebalancing || stopping) return;
    const t = now();
    const result = engine.flush(t);
    const rendered = emitter.render(result.emissions);
    for (const f of rendered.fired) {
      metrics.firings.inc({ kind: f.kind });
      stats.firings[f.kind]++;
      if (f.kind === "early" || f.kind === "timeout" || f.kind === "watermark") {
        metrics.fireDelay.observe(Math.max(0, (t - f.windowEndMs) / 1000));
      }
      if (f.anomalies > 0) metrics.anomalies.inc(f.anomalies);
    }
    const commits = result.commits.filter((c) => {
      const last = lastRequested.get(c.partition);
      return last === undefined || last.epoch !== c.epoch || last.offset !== c.offset || last.metadata !== c.metadata;
    });
    for (const c of commits) lastRequested.set(c.partition, c);
    if (rendered.points.length === 0 && rendered.deletes.length === 0 && commits.length === 0) return;
    const durable = sink.submit({ deletes: rendered.deletes, points: rendered.points });
    commitChain = commitChain.then(async () => {
      if ((await durable) && commits.length > 0) await commitNow(commits);
    });
    updatePause();
  }

  function historyFrom(baseMs: number): number {
    return (
      baseMs -
      (config.allowedLatenessMs + config.anomalies.baselineHistoryMs + config.agentLivenessMs + 2 * config.windowMs)
    );
  }

  async function hydrate(fromMs: number, heartbeat?: () => Promise<void>): Promise<void> {
    const rows = await retry(() => client.readHistory(fromMs), {
      ...waitOut("reading baseline history"),
      onRetry: (error) => {
        void heartbeat?.().catch(() => undefined);
        limited("hydrate", (suppressed) => log.warn({ err: error, suppressed }, "reading history failed; retrying"));
      },
    });
    applyHistory(rows);
    log.debug({ rows: rows.length, fromMs }, "hydrated baseline history and agent liveness");
  }

  /** Rows read back from InfluxDB feed the baselines and, for single hosts, the liveness registry. */
  function applyHistory(rows: HistoryRow[]): void {
    emitter.detector.hydrate(rows);
    const hostReports: { service: string; host: string; windowStartMs: number }[] = [];
    for (const r of rows) if (r.kind === "stats" && r.host !== FLEET_HOST) hostReports.push(r);
    engine.hydrateLiveness(hostReports);
  }

  const consumer = createPartialConsumer({
    config,
    secrets,
    logger,
    metrics,
    now,
    handlers: {
      async onAssigned(positions: PartitionPosition[], heartbeat) {
        const t = now();
        let base = t;
        for (const p of positions) {
          const r = engine.assign(p.partition, { offset: p.offset, metadata: p.metadata }, t);
          if (!r.metadataReadable) {
            log.warn(
              { partition: p.partition, metadata: p.metadata },
              "commit metadata is not central's; windows from the committed offset on are rebuilt from what follows it",
            );
          }
          if (Number.isFinite(r.restoredWatermarkMs)) base = Math.min(base, r.restoredWatermarkMs);
          log.info(
            { partition: p.partition, offset: p.offset, watermarkMs: r.restoredWatermarkMs },
            "partition initialised",
          );
        }
        await hydrate(historyFrom(base), heartbeat);
      },
      onRevoked(partitions) {
        rebalancing = false;
        for (const p of partitions) {
          engine.revoke(p);
          lastRequested.delete(p);
        }
      },
      onRebalancing() {
        rebalancing = true;
      },
      onRecords(partition, records) {
        if (!engine.isAssigned(partition)) return;
        const t = now();
        for (const r of records) {
          const outcome = engine.ingest(partition, r.offset, r.partial, t);
          metrics.partials.inc({ outcome });
          stats.partials[outcome]++;
          if (outcome === "accepted" || outcome === "late") interval.partials++;
          if (outcome === "late") interval.latePartials++;
          if (outcome === "dropped_late") interval.droppedLate++;
          if (outcome === "duplicate") interval.duplicates++;
          if (outcome === "poison") {
            interval.decodeErrors++;
            stats.decodeErrors++;
          }
        }
        flushAndWrite();
      },
      onFatal(error) {
        log.fatal({ err: error }, "Kafka consumer failed for good");
        fatal(error);
      },
    },
  });

  let fatal: (error: CentralError) => void = () => undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fatal = reject;
  });
  done.catch(() => undefined);

  let server: MetricsServer | null = null;
  if (config.metrics.port !== 0) {
    server = await startMetricsServer({
      host: config.metrics.host,
      port: config.metrics.port,
      registry: metrics.registry,
      health: () => {
        const failingSince = sink.failingSince();
        const influxOk = failingSince === null || now() - failingSince < config.metrics.influxFailingAfterMs;
        const ok = consuming && !stopping && influxOk;
        return {
          ok,
          detail: {
            consuming,
            assigned: engine.assigned(),
            pendingBatches: sink.pending(),
            influxFailingSinceMs: failingSince,
            paused,
          },
        };
      },
    });
  }

  try {
    await retry(() => consumer.start(), waitOut("connecting to Kafka"));
  } catch (error) {
    await server?.close();
    await consumer.disconnect();
    throw error;
  }
  consuming = true;
  log.info(
    {
      topic: config.kafka.topic,
      groupId: config.kafka.groupId,
      database: config.influx.database,
      metricsPort: server?.port,
    },
    "central started",
  );

  let intervalStartMs = now() - (now() % config.windowMs);
  let outageHoldMs = 0;
  const ticker = setInterval(() => {
    const t = now();
    flushAndWrite();
    updatePause();
    const currentStart = t - (t % config.windowMs);
    if (currentStart > intervalStartMs && !stopping) {
      void sink.submit({ deletes: [], points: [buildPipelinePoint(config.instance, intervalStartMs, interval)] });
      interval = zeroCounts();
      intervalStartMs = currentStart;
    }
    const snapshot = engine.snapshot();
    let open = 0;
    for (const s of snapshot) {
      open += s.openWindows;
      if (Number.isFinite(s.watermarkMs)) metrics.watermarkMs.set({ partition: String(s.partition) }, s.watermarkMs);
    }
    metrics.openWindows.set(open);
    const hold = engine.outageHoldMs();
    if (hold !== outageHoldMs) {
      if (hold > 0) {
        log.warn(
          { outageHoldMs: hold },
          `no records for a while (Kafka or central down?): lateness extended by ${Math.round(hold / 1000)} s until the newest windows pass the recovery + allowedLatenessMs`,
        );
      } else {
        log.info("outage hold ended: watermark back to newest window end - allowedLatenessMs");
      }
      outageHoldMs = hold;
    }
    metrics.outageHoldMs.set(hold);
    metrics.pendingBatches.set(sink.pending());
  }, config.tickMs);
  const refresher =
    config.anomalies.baselineRefreshMs > 0
      ? setInterval(() => {
          client
            .readHistory(historyFrom(now()))
            .then(applyHistory)
            .catch((error: unknown) =>
              limited("refresh", (suppressed) => log.warn({ err: error, suppressed }, "baseline refresh failed")),
            );
        }, config.anomalies.baselineRefreshMs)
      : null;

  async function shutdown(graceful: boolean): Promise<void> {
    if (stopping) return done;
    stopping = true;
    clearInterval(ticker);
    if (refresher !== null) clearInterval(refresher);
    // Ends any wait on an unavailable dependency (history read-back on assignment) so the batch can finish.
    lifetime.abort();
    consumer.halt();
    await consumer.idle();
    if (graceful) {
      const drained = await sink.drain(config.shutdownTimeoutMs);
      if (drained) {
        await Promise.race([commitChain, new Promise((r) => setTimeout(r, config.shutdownTimeoutMs))]);
      } else {
        log.warn(
          { pending: sink.pending() },
          "InfluxDB did not take the pending writes in time; the next owner rewrites them",
        );
      }
    }
    sink.abort();
    await consumer.disconnect();
    await client.close();
    await server?.close();
    log.info({ graceful }, "central stopped");
    finish();
  }

  return {
    stop: () => shutdown(true),
    abort: () => shutdown(false),
    stats: () => ({
      ...stats,
      partials: { ...stats.partials },
      firings: { ...stats.firings },
      pendingBatches: sink.pending(),
      assigned: engine.assigned(),
      openWindows: engine.snapshot().reduce((n, s) => n + s.openWindows, 0),
      paused,
      influxFailingSinceMs: sink.failingSince(),
    }),
    metrics,
    metricsPort: server?.port ?? null,
    done,
  };
}
