// Readiness probe for the local stack, used by stack.sh: Kafka must answer a real metadata request
// (admin describeCluster) and InfluxDB must answer /ping with 204.
//
//   node probe.mjs --kafka 127.0.0.1:19092 --influx http://127.0.0.1:18086 [--wait-ms 120000] [--watch-pid N ...]
//
// Without --wait-ms it probes once. With it, it polls until every target answers, the deadline passes, or a watched
// pid exits (the server died while starting: no point waiting). Prints one line per target; exit 0 only when all answer.
import { parseArgs } from "node:util";
import kafkajs from "kafkajs";

const { values } = parseArgs({
  options: {
    kafka: { type: "string" },
    influx: { type: "string" },
    "wait-ms": { type: "string" },
    "watch-pid": { type: "string", multiple: true },
    quiet: { type: "boolean" },
  },
});

async function probeKafka(broker) {
  const kafka = new kafkajs.Kafka({
    clientId: "rla-stack-probe",
    brokers: [broker],
    logLevel: kafkajs.logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 3_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error("no broker registered yet");
    return `kafka ${broker} up (cluster ${cluster.clusterId}, controller ${cluster.controller})`;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function probeInflux(url) {
  const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2_000) });
  if (res.status !== 204) throw new Error(`/ping answered ${res.status}`);
  return `influxdb ${url} up (version ${res.headers.get("x-influxdb-version") ?? "?"})`;
}

const targets = [];
if (values.kafka) targets.push({ name: `kafka ${values.kafka}`, probe: () => probeKafka(values.kafka) });
if (values.influx) targets.push({ name: `influxdb ${values.influx}`, probe: () => probeInflux(values.influx) });
if (targets.length === 0) {
  console.error("probe.mjs: give --kafka and/or --influx");
  process.exit(2);
}

const waitMs = values["wait-ms"] === undefined ? 0 : Number(values["wait-ms"]);
const deadline = Date.now() + waitMs;
const watched = (values["watch-pid"] ?? []).map(Number);
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const pending = new Map(targets.map((t) => [t.name, t]));
const lastError = new Map();
for (;;) {
  for (const [name, target] of pending) {
    try {
      const line = await target.probe();
      if (!values.quiet) console.log(line);
      pending.delete(name);
    } catch (error) {
      lastError.set(name, error instanceof Error ? error.message : String(error));
    }
  }
  if (pending.size === 0) process.exit(0);
  const dead = watched.filter((pid) => !alive(pid));
  if (Date.now() >= deadline || dead.length > 0) {
    for (const name of pending.keys()) console.log(`${name} NOT answering: ${lastError.get(name)}`);
    if (dead.length > 0) console.log(`process(es) ${dead.join(", ")} exited while starting`);
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
}
