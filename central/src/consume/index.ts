/**
 * The Kafka side: a kafkajs consumer group member reading partials with `eachBatch`, manual commits only.
 *
 * - Every record is decoded and validated here; poison (garbage, wrong version, oversize, wrong window length,
 *   misaligned or far-future window) is counted by reason, logged rate-limited and handed on as `partial: null` so
 *   its offset still advances; it never stops consumption.
 * - Assignment: on GROUP_JOIN the partitions no longer ours are reported revoked at once; a newly assigned one is
 *   initialised before its first record with its committed offset and commit metadata (`admin.fetchOffsets`).
 * - Offsets are resolved as records are handed on (so fetching moves on), but only `commit()` commits them, with
 *   whatever offset and metadata the caller decided.
 */
import { retry, type WindowPartial } from "@rla/protocol";
import { type Admin, type Consumer, type EachBatchPayload, Kafka, logLevel, type SASLOptions } from "kafkajs";
import { type CentralConfig, type CentralSecrets, resolveSsl } from "../config.js";
import { CentralError, CentralErrorCode, toKafkaError } from "../errors.js";
import { type Logger, rateLimited } from "../logging.js";
import type { CentralMetrics } from "../metrics/index.js";
import { decodeRecord, type PoisonReason } from "./decode.js";

export { decodeRecord, POISON_REASONS, type PoisonReason } from "./decode.js";

export interface PartitionPosition {
  partition: number;
  /** Committed offset, or null when the group never committed this partition. */
  offset: number | null;
  metadata: string | null;
}

export interface ConsumedRecord {
  offset: number;
  /** Null for poison. */
  partial: WindowPartial | null;
  poison: PoisonReason | null;
}

export interface ConsumerHandlers {
  /** Newly assigned partitions, before any of their records; may wait (call `heartbeat` while waiting long). */
  onAssigned(positions: PartitionPosition[], heartbeat: () => Promise<void>): Promise<void>;
  onRevoked(partitions: number[]): void;
  /** A rebalance started: until the next onAssigned/onRevoked, assignment may change under us. */
  onRebalancing(): void;
  /** One batch of one partition, in offset order. Synchronous: ingest and decide what to write. */
  onRecords(partition: number, records: ConsumedRecord[]): void;
  /** kafkajs gave up for good (not retriable); the process should exit. */
  onFatal(error: CentralError): void;
}

export interface CommitRequest {
  partition: number;
  offset: number;
  metadata: string;
}

export interface PartialConsumer {
  /**
   * Connects, checks the topic exists, joins the group and starts consuming. Throws a CentralError: retriable when
   * Kafka is unavailable (the caller retries), not when the topic is missing or access is denied.
   */
  start(): Promise<void>;
  commit(requests: CommitRequest[]): Promise<void>;
  /** Partitions currently assigned to this member. */
  assigned(): ReadonlySet<number>;
  pause(): void;
  resume(): void;
  /** Resolves when no batch is being handled. */
  idle(): Promise<void>;
  /** Stops handing on records at once (the running batch stops after its current record). */
  halt(): void;
  disconnect(): Promise<void>;
}

export interface PartialConsumerOptions {
  config: CentralConfig;
  secrets: CentralSecrets;
  logger: Logger;
  metrics: CentralMetrics;
  handlers: ConsumerHandlers;
  now?: () => number;
  /** Waits between attempts to restart the consumer after an outage ended it (injected by tests). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

function kafkaLogLevel(level: string): logLevel {
  if (level === "debug" || level === "trace") return logLevel.INFO;
  if (level === "silent" || level === "fatal") return logLevel.NOTHING;
  if (level === "error") return logLevel.ERROR;
  return logLevel.WARN;
}

export function createPartialConsumer(options: PartialConsumerOptions): PartialConsumer {
  const { config, logger, metrics, handlers } = options;
  const now = options.now ?? Date.now;
  const topic = config.kafka.topic;
  const log = logger.child({ component: "consume" });
  const kafkaLog = logger.child({ component: "kafkajs" });
  const limited = rateLimited(10_000, now);
  const sasl = config.kafka.sasl;

  const kafka = new Kafka({
    clientId: config.kafka.clientId,
    brokers: config.kafka.brokers,
    ssl: resolveSsl(config),
    ...(sasl
      ? {
          sasl: {
            mechanism: sasl.mechanism,
            username: sasl.username,
            password: options.secrets.saslPassword ?? "",
          } as SASLOptions,
        }
      : {}),
    connectionTimeout: config.kafka.connectionTimeoutMs,
    requestTimeout: config.kafka.requestTimeoutMs,
    logLevel: kafkaLogLevel(config.logLevel),
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, timestamp: _t, ...extra } = entry;
        const fn = level <= logLevel.ERROR ? "error" : level === logLevel.WARN ? "warn" : "debug";
        kafkaLog[fn](extra, message);
      },
  });
  const consumer: Consumer = kafka.consumer({
    groupId: config.kafka.groupId,
    sessionTimeout: config.kafka.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(config.kafka.sessionTimeoutMs / 10)),
    maxWaitTimeInMs: 500,
    // kafkajs restarts itself after retriable failures (broker down); see the CRASH handler for the rest.
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 30_000 },
  });
  const admin: Admin = kafka.admin();

  let assigned = new Set<number>();
  const initialised = new Set<number>();
  let halted = false;
  let inFlight: Promise<void> = Promise.resolve();

  consumer.on(consumer.events.REBALANCING, () => handlers.onRebalancing());
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    const next = new Set(event.payload.memberAssignment[topic] ?? []);
    const revoked = [...assigned].filter((p) => !next.has(p));
    for (const p of revoked) initialised.delete(p);
    assigned = next;
    log.info({ partitions: [...next].sort((a, b) => a - b), revoked }, "partitions assigned");
    handlers.onRevoked(revoked);
  });
  /** Aborted by `disconnect`: ends a restart that is waiting out an outage. */
  const lifetime = new AbortController();
  consumer.on(consumer.events.CRASH, (event) => {
    const error = toKafkaError(event.payload.error, "consumer");
    if (event.payload.restart) {
      log.warn({ err: error }, "consumer crashed; kafkajs restarts it");
      return;
    }
    if (!error.retriable) {
      handlers.onFatal(error);
      return;
    }
    if (halted) return;
    // kafkajs does not restart after every outage error (a group coordinator still missing after its own retries
    // ends the consumer); an outage is waited out, so start again with backoff, as kafkajs's own restart would.
    log.warn({ err: error }, "consumer stopped by a Kafka outage; restarting it with backoff");
    retry(runConsumer, {
      signal: lifetime.signal,
      maxDelayMs: 10_000,
      ...(options.sleep ? { sleep: options.sleep } : {}),
      onRetry: (e) =>
        limited("restart", (suppressed) => log.warn({ err: e, suppressed }, "Kafka still unavailable; retrying")),
    }).catch((e: unknown) => {
      if (!halted) handlers.onFatal(toKafkaError(e, "restarting the consumer"));
    });
  });

  async function runConsumer(): Promise<void> {
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: config.kafka.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => {
          const run = handleBatch(payload);
          inFlight = run.catch(() => undefined);
          return run;
        },
      });
    } catch (error) {
      throw toKafkaError(error, "starting the consumer");
    }
  }

  async function fetchPositions(partitions: number[]): Promise<PartitionPosition[]> {
    const [offsets] = await admin.fetchOffsets({ groupId: config.kafka.groupId, topics: [topic] });
    const byPartition = new Map((offsets?.partitions ?? []).map((p) => [p.partition, p]));
    return partitions.map((partition) => {
      const p = byPartition.get(partition);
      const offset = p === undefined ? -1 : Number(p.offset);
      return {
        partition,
        offset: offset >= 0 ? offset : null,
        metadata: p?.metadata ?? null,
      };
    });
  }

  async function handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const partition = batch.partition;
    if (halted || !assigned.has(partition)) return;
    if (!initialised.has(partition)) {
      const fresh = [...assigned].filter((p) => !initialised.has(p));
      const positions = await fetchPositions(fresh);
      await handlers.onAssigned(positions, payload.heartbeat);
      for (const p of fresh) initialised.add(p);
    }
    const records: ConsumedRecord[] = [];
    let last: string | null = null;
    const t = now();
    for (const m of batch.messages) {
      if (halted || !payload.isRunning() || payload.isStale()) break;
      const decoded = decodeRecord(m.value, t, config);
      if (decoded.ok) {
        records.push({ offset: Number(m.offset), partial: decoded.partial, poison: null });
      } else {
        metrics.decodeErrors.inc({ reason: decoded.reason });
        limited(`poison:${decoded.reason}`, (suppressed) =>
          log.warn(
            { partition, offset: m.offset, reason: decoded.reason, suppressed },
            `skipping poison record: ${decoded.message}`,
          ),
        );
        records.push({ offset: Number(m.offset), partial: null, poison: decoded.reason });
      }
      last = m.offset;
    }
    if (records.length > 0) handlers.onRecords(partition, records);
    if (last !== null) payload.resolveOffset(last);
    metrics.consumerLag.set({ partition: String(partition) }, Number(batch.offsetLag()));
    await payload.heartbeat();
  }

  return {
    async start() {
      try {
        await admin.connect();
        const topics = await admin.listTopics();
        if (!topics.includes(topic)) {
          throw new CentralError(
            CentralErrorCode.KafkaRequest,
            `topic ${topic} does not exist (create it with npm run provision, or fix kafka.topic)`,
          );
        }
      } catch (error) {
        throw toKafkaError(error, "starting the consumer");
      }
      await runConsumer();
    },
    async commit(requests) {
      if (requests.length === 0) return;
      await consumer.commitOffsets(
        requests.map((r) => ({ topic, partition: r.partition, offset: String(r.offset), metadata: r.metadata })),
      );
    },
    assigned: () => assigned,
    pause: () => consumer.pause([{ topic }]),
    resume: () => consumer.resume([{ topic }]),
    idle: () => inFlight,
    halt: () => {
      halted = true;
    },
    async disconnect() {
      halted = true;
      lifetime.abort();
      await consumer.disconnect().catch((error: unknown) => log.warn({ err: error }, "consumer disconnect failed"));
      await admin.disconnect().catch(() => undefined);
    },
  };
}
