import * as z from "zod";
import { DEFAULT_INFLUX_DATABASE, DEFAULT_PARTIALS_TOPIC, DEFAULT_RETENTION_POLICY, parseOptions } from "../config.js";
import { influxQuery, influxRows, quoteIdent } from "../influx.js";
import { adminClient } from "../kafka.js";

/**
 * Default freshness bound. central stamps a point with its window's start and writes it once the window fires:
 * early when every live agent reported, at the latest when the watermark passes (window 10 s + agent close lateness
 * + 120 s allowed lateness), so a healthy pipeline's newest point is well under 180 s old.
 */
export const DEFAULT_SMOKE_MAX_AGE_MS = 180_000;

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, "expected host:port, e.g. 127.0.0.1:19092");
const httpUrl = z.url({ protocol: /^https?$/, error: "expected an http(s) URL" });

export const smokeOptionsSchema = z.strictObject({
  kafka: z.strictObject({
    brokers: z.array(hostPort).min(1, "expected at least one broker"),
    topic: z.string().min(1).default(DEFAULT_PARTIALS_TOPIC),
    /** When set, the group's lag on the topic is reported (informational: lag alone never fails the smoke). */
    groupId: z.string().min(1).optional(),
  }),
  influx: z.strictObject({
    url: httpUrl,
    database: z.string().min(1).default(DEFAULT_INFLUX_DATABASE),
    retentionPolicy: z.string().min(1).default(DEFAULT_RETENTION_POLICY),
    /** `user:password` when InfluxDB has auth on. Never printed. */
    token: z.string().optional(),
  }),
  /** Grafana base URL; its /api/health is checked only when given. */
  grafanaUrl: httpUrl.optional(),
  /** The newest `http_stats` point must be at most this old. */
  maxAgeMs: z.int().positive().default(DEFAULT_SMOKE_MAX_AGE_MS),
  /** Per-request timeout. */
  timeoutMs: z.int().positive().default(10_000),
});
export type SmokeOptions = z.input<typeof smokeOptionsSchema>;
type ParsedSmokeOptions = z.output<typeof smokeOptionsSchema>;

export type SmokeCheckName = "kafka" | "influxdb" | "grafana" | "http_stats";

export interface SmokeCheck {
  name: SmokeCheckName;
  ok: boolean;
  /** What was seen, or why the check failed (never contains the token). */
  detail: string;
}

export interface SmokeReport {
  ok: boolean;
  checks: SmokeCheck[];
}

class CheckFailed extends Error {}

/**
 * Runs every check once, independently (one failing server does not hide the state of the others), and reports
 * each. `now` is the clock the freshness bound is measured against. Never throws for a failing server; throws
 * only for invalid options.
 */
export async function runSmoke(options: SmokeOptions, now: () => number = Date.now): Promise<SmokeReport> {
  const o = parseOptions(smokeOptionsSchema, options, "smoke options");
  const run = async (name: SmokeCheckName, check: () => Promise<string>): Promise<SmokeCheck> => {
    try {
      return { name, ok: true, detail: await check() };
    } catch (error) {
      return { name, ok: false, detail: error instanceof Error ? error.message : String(error) };
    }
  };
  const checks = await Promise.all([
    run("kafka", () => checkKafka(o)),
    run("influxdb", () => checkInflux(o)),
    ...(o.grafanaUrl === undefined ? [] : [run("grafana", () => checkGrafana(o.grafanaUrl!, o.timeoutMs))]),
    run("http_stats", () => checkFreshStats(o, now())),
  ]);
  return { ok: checks.every((c) => c.ok), checks };
}

async function checkKafka(o: ParsedSmokeOptions): Promise<string> {
  const { brokers, topic, groupId } = o.kafka;
  const admin = adminClient(brokers, "rla-smoke").admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch((error: Error) => {
      throw new CheckFailed(`topic ${topic} is missing or unreadable (${error.message}); run provisioning`);
    });
    const partitions = metadata.topics[0]?.partitions ?? [];
    if (partitions.length === 0) throw new CheckFailed(`topic ${topic} has no partitions`);
    const leaderless = partitions.filter((p) => p.leader < 0).map((p) => p.partitionId);
    if (leaderless.length > 0)
      throw new CheckFailed(`topic ${topic}: partitions ${leaderless.join(",")} have no leader`);
    let detail =
      `${brokers.join(",")}: cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s), ` +
      `topic ${topic} with ${partitions.length} partitions, all led`;
    if (groupId !== undefined) {
      const [ends, committed] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId, topics: [topic] }),
      ]);
      const committedBy = new Map(
        (committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)] as const),
      );
      // A partition the group never committed counts as lagging by everything retained in it.
      const lag = ends.reduce((sum, end) => {
        const at = committedBy.get(end.partition) ?? -1;
        return sum + Number(end.high) - (at >= 0 ? at : Number(end.low));
      }, 0);
      detail += `; consumer group ${groupId} lag ${lag} record(s)`;
    }
    return detail;
  } catch (error) {
    if (error instanceof CheckFailed) throw error;
    throw new CheckFailed(`${brokers.join(",")} did not answer a metadata request: ${(error as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function checkInflux(o: ParsedSmokeOptions): Promise<string> {
  const { url, database, retentionPolicy, token } = o.influx;
  let ping: Response;
  try {
    ping = await fetch(`${url.replace(/\/+$/, "")}/ping`, { signal: AbortSignal.timeout(o.timeoutMs) });
  } catch (error) {
    throw new CheckFailed(`${url}/ping did not answer: ${(error as Error).message}`);
  }
  if (ping.status !== 204) throw new CheckFailed(`${url}/ping answered ${ping.status}, expected 204`);
  const q = { timeoutMs: o.timeoutMs, token };
  const databases = influxRows(await influxQuery(url, "", "SHOW DATABASES", q)).map((r) => r.name);
  if (!databases.includes(database)) {
    throw new CheckFailed(`${url}: database ${database} does not exist (have: ${databases.join(", ") || "none"})`);
  }
  const policies = influxRows(
    await influxQuery(url, database, `SHOW RETENTION POLICIES ON ${quoteIdent(database)}`, q),
  );
  const policy = policies.find((p) => p.name === retentionPolicy);
  if (policy === undefined)
    throw new CheckFailed(`${url}: retention policy ${retentionPolicy} on ${database} is missing`);
  const version = ping.headers.get("x-influxdb-version") ?? "?";
  return `${url}: version ${version}, database ${database}, retention policy ${retentionPolicy} (${String(policy.duration)}${policy.default === true ? ", default" : ""})`;
}

async function checkGrafana(url: string, timeoutMs: number): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${url.replace(/\/+$/, "")}/api/health`, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new CheckFailed(`${url}/api/health did not answer: ${(error as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { database?: string; version?: string };
  if (!res.ok || body.database !== "ok") {
    throw new CheckFailed(`${url}/api/health answered ${res.status} (database: ${body.database ?? "?"})`);
  }
  return `${url}: version ${body.version ?? "?"}, database ok`;
}

async function checkFreshStats(o: ParsedSmokeOptions, nowMs: number): Promise<string> {
  const { url, database, retentionPolicy, token } = o.influx;
  const where = `${database}.${retentionPolicy}.http_stats`;
  // last() picks the point with the greatest time across all hosts/services; its time is that window's start.
  const rows = influxRows(
    await influxQuery(
      url,
      database,
      `SELECT last("requests") FROM ${quoteIdent(database)}.${quoteIdent(retentionPolicy)}."http_stats"`,
      { timeoutMs: o.timeoutMs, token },
    ),
  );
  const newest = rows[0]?.time;
  if (typeof newest !== "number") {
    throw new CheckFailed(`no http_stats point at all in ${where}: is central running and are agents shipping?`);
  }
  const ageMs = nowMs - newest;
  const at = new Date(newest).toISOString();
  if (ageMs > o.maxAgeMs) {
    throw new CheckFailed(
      `no http_stats point newer than ${o.maxAgeMs} ms in ${where}: the newest is at ${at}, ${ageMs} ms old`,
    );
  }
  return `${where}: newest point at ${at}, ${ageMs} ms old (bound ${o.maxAgeMs} ms)`;
}
