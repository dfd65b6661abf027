import { promisify } from "node:util";
import { gzip, unzip } from "node:zlib";
import kafkajs, { type KafkaConfig, type Producer, type SASLOptions } from "kafkajs";
import type { AgentConfig } from "../config.js";
import { toKafkaError } from "../errors.js";

const { Kafka, CompressionCodecs, CompressionTypes, Partitioners, logLevel } = kafkajs;
const gzipAsync = promisify(gzip);
const unzipAsync = promisify(unzip);

export interface PartialMessage {
  /** `String(windowStartMs)`: every host's partial for a window lands on the same partition (one central instance). */
  key: string;
  value: Buffer;
}

/** Where the shipper sends; the Kafka implementation below, a fake in unit tests. */
export interface PartialSink {
  /** Resolves once every message is acknowledged by all in-sync replicas; throws a CodedError. */
  send(messages: PartialMessage[]): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaSinkOptions {
  kafka: AgentConfig["kafka"];
  ssl: KafkaConfig["ssl"];
  password: string | undefined;
  /** kafkajs' own error/warn logs, for the caller to rate-limit. */
  onLog: (level: "error" | "warn", message: string, extra: Record<string, unknown>) => void;
}

/**
 * A kafkajs producer with acks=-1 and gzip (at `kafka.gzipLevel`). kafkajs retries briefly itself; longer outages are waited out by the
 * shipper's `retry()`, which decides by the `retriable` flag `toKafkaError` sets. The idempotent producer is not
 * used: kafkajs marks it experimental, and a resent partial is already dropped by central by its identity.
 */
export function createKafkaSink(options: KafkaSinkOptions): PartialSink {
  const { kafka: k } = options;
  // kafkajs's own gzip codec always uses zlib's default level; codecs live in one process-wide table, and an agent
  // process has one sink. Still gzip on the wire, so central and any Kafka client read it unchanged.
  CompressionCodecs[CompressionTypes.GZIP] = () => ({
    compress: (encoder: { buffer: Buffer }) => gzipAsync(encoder.buffer, { level: k.gzipLevel }),
    decompress: (buffer: Buffer) => unzipAsync(buffer),
  });
  const config: KafkaConfig = {
    clientId: k.clientId,
    brokers: k.brokers,
    ssl: options.ssl,
    connectionTimeout: k.connectionTimeoutMs,
    requestTimeout: k.requestTimeoutMs,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const { message, timestamp: _t, ...extra } = entry.log;
      options.onLog(entry.level === logLevel.ERROR ? "error" : "warn", `kafkajs ${entry.namespace}: ${message}`, extra);
    },
  };
  if (k.sasl) {
    config.sasl = {
      mechanism: k.sasl.mechanism,
      username: k.sasl.username,
      password: options.password ?? "",
    } as SASLOptions;
  }
  const producer: Producer = new Kafka(config).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  let connected = false;
  return {
    async send(messages) {
      try {
        if (!connected) {
          await producer.connect();
          connected = true;
        }
        await producer.send({ topic: k.topic, acks: -1, compression: CompressionTypes.GZIP, messages });
      } catch (error) {
        throw toKafkaError(error, `sending ${messages.length} partial(s) to ${k.topic}`);
      }
    },
    async close() {
      if (connected) await producer.disconnect().catch(() => {});
      connected = false;
    },
  };
}
