import { retry } from "@rla/protocol";
import { type InfluxDatabaseOptions, influxDatabaseOptionsSchema, parseOptions } from "../config.js";
import { influxQuery, influxRows, quoteIdent } from "../influx.js";

export interface EnsureInfluxDatabaseResult {
  database: string;
  retentionPolicy: string;
  /** False when the retention policy already existed; it is then altered to the asked duration and made default. */
  retentionPolicyCreated: boolean;
}

/**
 * Creates the database and makes `retentionPolicy` (with `duration`, replication 1) its default. Idempotent:
 * `CREATE DATABASE` is a no-op on an existing database, and an existing policy is brought to the asked duration
 * with `ALTER RETENTION POLICY … DEFAULT`. An unavailable server is waited out with backoff for up to `timeoutMs`.
 */
export async function ensureInfluxDatabase(
  options: InfluxDatabaseOptions,
  { signal }: { signal?: AbortSignal } = {},
): Promise<EnsureInfluxDatabaseResult> {
  const o = parseOptions(influxDatabaseOptionsSchema, options, "ensureInfluxDatabase options");
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const db = quoteIdent(o.database);
  const rp = quoteIdent(o.retentionPolicy);

  return retry(
    async () => {
      await influxQuery(o.url, "", `CREATE DATABASE ${db}`);
      const policies = influxRows(await influxQuery(o.url, o.database, `SHOW RETENTION POLICIES ON ${db}`));
      const exists = policies.some((p) => p.name === o.retentionPolicy);
      const verb = exists ? "ALTER" : "CREATE";
      await influxQuery(
        o.url,
        "",
        `${verb} RETENTION POLICY ${rp} ON ${db} DURATION ${o.duration} REPLICATION 1 DEFAULT`,
      );
      return { database: o.database, retentionPolicy: o.retentionPolicy, retentionPolicyCreated: !exists };
    },
    { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, maxDelayMs: 5_000 },
  );
}
