/**
 * The old design's shipping, as an anchor: every raw log line becomes one Kafka message, the way Flume's Kafka sink
 * ships a channel's events. Run as its own process by kafka-bytes.ts:
 *
 *   node --import tsx benchmarks/lib/raw-ship.ts --file access.log --topic T --compression gzip|none
 *     [--batch 100] [--partitions 6]
 *
 * Like the Flume sink with its defaults: one transaction of `--batch` events (flumeBatchSize 100) is sent and
 * acknowledged (acks=1) before the next; no message key. The Java producer's sticky partitioner puts a keyless
 * batch on one partition, so each batch goes to one partition, round-robin (kafkajs' default would spread a batch
 * message by message and compress worse than Flume does). Prints one JSON line: lines, payload bytes, sends.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { parseArgs } from "node:util";
import { stackEndpoints } from "@rla/deploy";
import kafkajs from "kafkajs";

const { Kafka, CompressionTypes, Partitioners, logLevel } = kafkajs;

const { values: args } = parseArgs({
  options: {
    file: { type: "string" },
    topic: { type: "string" },
    compression: { type: "string", default: "gzip" },
    batch: { type: "string", default: "100" },
    partitions: { type: "string", default: "6" },
  },
});
if (!args.file || !args.topic) throw new Error("expected --file and --topic");
if (args.compression !== "gzip" && args.compression !== "none") throw new Error("expected --compression gzip|none");
const compression = args.compression === "gzip" ? CompressionTypes.GZIP : CompressionTypes.None;
const batchSize = Number(args.batch);
const partitions = Number(args.partitions);

const producer = new Kafka({
  clientId: "rla-bench-raw-ship",
  brokers: stackEndpoints().kafkaBrokers,
  logLevel: logLevel.WARN,
}).producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();

let lines = 0;
let payloadBytes = 0;
let sends = 0;
const batch: { value: Buffer; partition: number }[] = [];
const sendBatch = async () => {
  if (batch.length === 0) return;
  await producer.send({ topic: args.topic!, acks: 1, compression, messages: batch.splice(0) });
  sends++;
};

const CHUNK = 1 << 20;
const chunk = Buffer.allocUnsafe(CHUNK);
const fd = openSync(args.file, "r");
let carry = 0;
for (;;) {
  const n = readSync(fd, chunk, carry, CHUNK - carry, null);
  const length = carry + n;
  let start = 0;
  for (;;) {
    const nl = chunk.indexOf(10, start);
    if (nl < 0 || nl >= length) break;
    // A copy: the chunk buffer is reused for the next read while kafkajs may still hold the message.
    batch.push({ value: Buffer.from(chunk.subarray(start, nl)), partition: sends % partitions });
    lines++;
    payloadBytes += nl - start;
    start = nl + 1;
    if (batch.length === batchSize) await sendBatch();
  }
  if (n === 0) break;
  carry = length - start;
  chunk.copy(chunk, 0, start, length);
}
closeSync(fd);
await sendBatch();
await producer.disconnect();
console.log(
  JSON.stringify({ lines, payload_bytes: payloadBytes, sends, batch: batchSize, compression: args.compression }),
);
