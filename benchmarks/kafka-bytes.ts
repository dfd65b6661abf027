/**
 * Bytes sent to Kafka per log line (`npx tsx --tsconfig benchmarks/tsconfig.json benchmarks/kafka-bytes.ts [--lines N --seed S --batch B --cpu C]`).
 *
 * One seeded log (gen-log.ts, as parse.ts and agent-replay.ts), one broker, three fresh topics of 6 partitions:
 * - ours: `edge-agent run --once` ships one gzip'd msgpack partial per 10 s window;
 * - raw+gzip / raw: every line as one message, the old Flume design (benchmarks/lib/raw-ship.ts: batches of 100,
 *   acks=1, one partition per batch), with gzip (Flume's Kafka sink with compression on) and without.
 * Bytes are the sizes of the topic's log segments on the broker: record batches are stored exactly as the producer
 * sent them (compressed, batch and record headers included), so this is what each design puts on the wire and on
 * disk per line. Record counts are checked against the broker's offsets. Each shipper runs as its own process
 * pinned to one core and timed (wall, CPU), which also gives raw-line shipping's throughput.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { buildBinaries } from "../test/support/harness.js";
import {
  createTopic,
  deleteTopics,
  lastJsonLine,
  loadavg,
  logTail,
  pinPrefix,
  readTopicValues,
  round,
  runId,
  type Timed,
  timedRun,
  topicRecordCount,
  topicSegmentBytes,
  tsxArgv,
} from "./lib/bench.js";
import { writeNginxLog } from "./lib/gen-log.js";

const { values: args } = parseArgs({
  options: {
    lines: { type: "string", default: "1000000" },
    seed: { type: "string", default: "42" },
    batch: { type: "string", default: "100" },
    cpu: { type: "string", default: "0" },
  },
});
const LINES = Number(args.lines);
const SEED = Number(args.seed);
const BATCH = Number(args.batch);
const pin = pinPrefix(Number(args.cpu));

const AGENT_CLI = (await buildBinaries()).agent;
const id = runId();
const dir = mkdtempSync(path.join(os.tmpdir(), "rla-bench-kafka-bytes-"));
const topics = {
  ours: `rla-bench-bytes-${id}-ours`,
  gzip: `rla-bench-bytes-${id}-raw-gzip`,
  none: `rla-bench-bytes-${id}-raw`,
};
const load = [loadavg()];

interface Shipped extends Timed {
  segmentBytes: number;
  records: number;
}

async function shipped(topic: string, timed: Timed, logFile: string, what: string): Promise<Shipped> {
  if (timed.code !== 0) throw new Error(`${what} exited ${timed.code}:\n${logTail(logFile)}`);
  const segmentBytes = topicSegmentBytes(topic);
  if (segmentBytes === null) {
    throw new Error(`cannot find ${topic}'s log segments: is the broker the local stack (RLA_STATE_DIR)?`);
  }
  return { ...timed, segmentBytes, records: await topicRecordCount(topic) };
}

try {
  const file = path.join(dir, "access.log");
  const gen = writeNginxLog(file, { lines: LINES, host: "web1", seed: SEED });
  console.log(`generated ${gen.lines} lines, ${gen.bytes} bytes (${(gen.bytes / gen.lines).toFixed(1)} bytes/line)`);
  for (const topic of Object.values(topics)) await createTopic(topic);

  const agentConfig = path.join(dir, "agent.yaml");
  writeFileSync(
    agentConfig,
    JSON.stringify({
      hostId: "web1",
      files: [file],
      format: "nginx_combined_rt",
      stateDir: path.join(dir, "state"),
      kafka: { brokers: [process.env.RLA_KAFKA_BROKERS ?? "127.0.0.1:19092"], topic: topics.ours },
      metrics: { port: 0 },
    }),
  );
  const agentLog = path.join(dir, "agent.log");
  const ours = await shipped(
    topics.ours,
    await timedRun([...pin, process.execPath, AGENT_CLI, "run", "--once", "--config", agentConfig], agentLog),
    agentLog,
    "edge-agent --once",
  );
  const partialBytes = (await readTopicValues(topics.ours)).reduce((sum, v) => sum + v.length, 0);
  console.log(
    `ours: ${ours.records} partials, ${ours.segmentBytes} bytes on the broker (${(ours.segmentBytes / LINES).toFixed(3)} bytes/line; ` +
      `msgpack before gzip ${partialBytes} bytes), ${ours.wallSeconds.toFixed(2)} s wall, ${ours.cpuSeconds.toFixed(2)} cpu-s`,
  );

  const raw: Record<"gzip" | "none", Shipped & { payloadBytes: number }> = {} as never;
  for (const compression of ["gzip", "none"] as const) {
    const logFile = path.join(dir, `raw-${compression}.log`);
    const timed = await timedRun(
      [
        ...pin,
        ...tsxArgv("benchmarks/lib/raw-ship.ts", [
          "--file",
          file,
          "--topic",
          topics[compression],
          "--compression",
          compression,
          "--batch",
          String(BATCH),
        ]),
      ],
      logFile,
    );
    const s = await shipped(topics[compression], timed, logFile, `raw-ship --compression ${compression}`);
    const report = lastJsonLine(logTail(logFile, 5));
    if (s.records !== LINES || report?.lines !== LINES) {
      throw new Error(`raw shipping (${compression}) stored ${s.records} records for ${LINES} lines`);
    }
    raw[compression] = { ...s, payloadBytes: Number(report.payload_bytes) };
    console.log(
      `raw lines${compression === "gzip" ? " + gzip" : ""}: ${s.records} messages, ${s.segmentBytes} bytes on the broker ` +
        `(${(s.segmentBytes / LINES).toFixed(1)} bytes/line), ${(LINES / s.wallSeconds / 1e3).toFixed(0)} k lines/s wall, ` +
        `${(LINES / s.cpuSeconds / 1e3).toFixed(0)} k lines/cpu-s`,
    );
  }
  load.push(loadavg());

  const perLine = (s: Shipped) => s.segmentBytes / LINES;
  console.log(
    `bytes per line: ours ${perLine(ours).toFixed(3)}, raw+gzip ${perLine(raw.gzip).toFixed(1)} ` +
      `(${(perLine(raw.gzip) / perLine(ours)).toFixed(0)}x ours), raw ${perLine(raw.none).toFixed(1)} ` +
      `(${(perLine(raw.none) / perLine(ours)).toFixed(0)}x ours)`,
  );
  console.log(
    JSON.stringify({
      bench: "kafka-bytes",
      lines: LINES,
      seed: SEED,
      log_bytes_per_line: round(gen.bytes / LINES, 2),
      log_span_seconds: round((gen.lastMs - gen.firstMs) / 1000),
      ours_records: ours.records,
      ours_bytes: ours.segmentBytes,
      ours_bytes_per_line: round(perLine(ours), 4),
      ours_msgpack_bytes: partialBytes,
      raw_gzip_bytes: raw.gzip.segmentBytes,
      raw_gzip_bytes_per_line: round(perLine(raw.gzip), 2),
      raw_bytes: raw.none.segmentBytes,
      raw_bytes_per_line: round(perLine(raw.none), 2),
      raw_payload_bytes: raw.none.payloadBytes,
      ratio_raw_gzip_vs_ours: round(perLine(raw.gzip) / perLine(ours), 1),
      ratio_raw_vs_ours: round(perLine(raw.none) / perLine(ours), 1),
      batch: BATCH,
      pinned_cpu: pin.length > 0 ? Number(args.cpu) : null,
      ours_lines_per_sec: round(LINES / ours.wallSeconds),
      ours_lines_per_cpu_sec: round(LINES / ours.cpuSeconds),
      raw_gzip_lines_per_sec: round(LINES / raw.gzip.wallSeconds),
      raw_gzip_lines_per_cpu_sec: round(LINES / raw.gzip.cpuSeconds),
      raw_lines_per_sec: round(LINES / raw.none.wallSeconds),
      raw_lines_per_cpu_sec: round(LINES / raw.none.cpuSeconds),
      loadavg: load,
    }),
  );
} finally {
  await deleteTopics(Object.values(topics));
  rmSync(dir, { recursive: true, force: true });
}
