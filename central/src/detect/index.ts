/**
 * Anomaly detection (pure): `ip_spike`, `error_surge` and `url_scan` over one merged window, with baselines from a
 * bounded history of earlier windows.
 *
 * Baselines (see central/README.md, "Baselines"): a window starting at `t` compares itself with the windows that
 * start in [t - allowedLatenessMs - baselineHistoryMs, t - allowedLatenessMs]. Any window in that range is final
 * by the time `t` is computed (in the same partition, `t`'s arrival moved the watermark past it), so its written
 * values no longer change. History holds those written values: recorded as central writes them (`observe`) and
 * hydrated from InfluxDB at start and periodically (`hydrate`, which never overrides a locally observed window).
 * After a crash, the history of final windows comes back from InfluxDB, non-final ones are rebuilt, so the same
 * window yields the same anomalies as in a run without the crash.
 */
import type { ScanCandidate } from "@rla/protocol";

export type AnomalyType = "ip_spike" | "error_surge" | "url_scan";

export interface AnomalyOptions {
  maxAnomaliesPerType: number;
  baselineHistoryMs: number;
  ipSpike: { enabled: boolean; minRequests: number; baselineFactor: number };
  errorSurge: { enabled: boolean; minShare: number; minErrors: number; baselineFactor: number };
  urlScan: { enabled: boolean; minDistinctUrls: number; minNotFound: number };
}

export interface DetectorOptions {
  windowMs: number;
  allowedLatenessMs: number;
  anomalies: AnomalyOptions;
}

export interface RowStats {
  /** Agent host id, or "all" for the fleet. */
  host: string;
  requests: number;
  errors5xx: number;
}

/** What detection needs from one merged window of one service. */
export interface WindowFacts {
  service: string;
  windowStartMs: number;
  /** One row per reporting host plus the fleet row (host "all"). */
  rows: RowStats[];
  /** Fleet-wide heaviest clients (count-min estimates over the merged top-K candidates), descending. */
  topIps: { ip: string; requests: number }[];
  /** Fleet-wide per-IP distinct URLs (HLL merged over hosts) and 404s. */
  scanCandidates: ScanCandidate[];
}

export interface Anomaly {
  type: AnomalyType;
  host: string;
  service: string;
  windowStartMs: number;
  /** 1..maxAnomaliesPerType within (window, type, host, service), by value descending. */
  rank: number;
  /** The offending client IP (ip_spike, url_scan) or the host row ("all" or a host id) for error_surge. */
  key: string;
  value: number;
  threshold: number;
  baseline: number;
  message: string;
}

/** Rows read back from InfluxDB: `http_stats` (per host and "all") and the fleet's `top_ip`. */
export type HistoryRow =
  | { kind: "stats"; service: string; host: string; windowStartMs: number; requests: number; errors5xx: number }
  | { kind: "top_ip"; service: string; windowStartMs: number; ip: string; requests: number };

export interface Detector {
  detect(facts: WindowFacts): Anomaly[];
  /** Records the values central writes for a window (overrides anything hydrated for it). */
  observe(facts: WindowFacts): void;
  /** Fills windows not observed locally from rows read back from InfluxDB. */
  hydrate(rows: Iterable<HistoryRow>): void;
}

interface StatsEntry {
  requests: number;
  errors5xx: number;
  local: boolean;
}

interface TopEntry {
  ips: Map<string, number>;
  local: boolean;
}

export const FLEET_HOST = "all";

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function createDetector(options: DetectorOptions): Detector {
  const { windowMs, allowedLatenessMs } = options;
  const a = options.anomalies;
  const stats = new Map<string, Map<number, StatsEntry>>();
  const tops = new Map<string, Map<number, TopEntry>>();
  let newestStartMs = Number.NEGATIVE_INFINITY;
  // A window can still be (re)computed until its partition's watermark passes it, i.e. up to about
  // allowedLatenessMs behind the newest window, and it looks back allowedLatenessMs + baselineHistoryMs more;
  // partitions lag each other, hence the generous floor.
  const keepMs = Math.max(3_600_000, 2 * allowedLatenessMs + a.baselineHistoryMs + 2 * windowMs);

  const seriesKey = (service: string, host: string) => `${service}\u0000${host}`;

  /** Window starts of the baseline range of `startMs`, newest first. */
  function baselineStarts(startMs: number): number[] {
    const newest = startMs - allowedLatenessMs;
    const first = newest - (((newest % windowMs) + windowMs) % windowMs);
    const out: number[] = [];
    for (let s = first; s >= newest - a.baselineHistoryMs; s -= windowMs) out.push(s);
    return out;
  }

  function noteStart(startMs: number): void {
    if (startMs <= newestStartMs) return;
    const previous = newestStartMs;
    newestStartMs = startMs;
    if (startMs - previous < windowMs) return;
    const oldest = newestStartMs - keepMs;
    for (const m of [stats, tops] as Map<string, Map<number, unknown>>[]) {
      for (const [k, byStart] of m) {
        for (const s of byStart.keys()) if (s < oldest) byStart.delete(s);
        if (byStart.size === 0) m.delete(k);
      }
    }
  }

  function putStats(service: string, host: string, startMs: number, entry: StatsEntry): void {
    const key = seriesKey(service, host);
    let byStart = stats.get(key);
    if (byStart === undefined) {
      byStart = new Map();
      stats.set(key, byStart);
    }
    if (!entry.local && byStart.get(startMs)?.local) return;
    byStart.set(startMs, entry);
  }

  function putTop(service: string, startMs: number, entry: TopEntry): void {
    let byStart = tops.get(service);
    if (byStart === undefined) {
      byStart = new Map();
      tops.set(service, byStart);
    }
    if (!entry.local && byStart.get(startMs)?.local) return;
    byStart.set(startMs, entry);
  }

  /** 5xx share over the baseline range (0 with no history). */
  function errorBaseline(service: string, host: string, startMs: number): number {
    const byStart = stats.get(seriesKey(service, host));
    if (byStart === undefined) return 0;
    let requests = 0;
    let errors = 0;
    for (const s of baselineStarts(startMs)) {
      const e = byStart.get(s);
      if (e === undefined) continue;
      requests += e.requests;
      errors += e.errors5xx;
    }
    return requests === 0 ? 0 : errors / requests;
  }

  /**
   * Mean requests per window of `ip` over the baseline windows the fleet row exists for; an IP outside a window's
   * written top list counts 0 there (it was below the K-th heaviest client).
   */
  function ipBaselines(service: string, startMs: number, ips: string[]): Map<string, number> {
    const out = new Map<string, number>(ips.map((ip) => [ip, 0]));
    const fleet = stats.get(seriesKey(service, FLEET_HOST));
    const top = tops.get(service);
    if (fleet === undefined) return out;
    let windows = 0;
    for (const s of baselineStarts(startMs)) {
      if (!fleet.has(s)) continue;
      windows++;
      const entry = top?.get(s);
      if (entry === undefined) continue;
      for (const ip of ips) out.set(ip, out.get(ip)! + (entry.ips.get(ip) ?? 0));
    }
    if (windows > 0) for (const ip of ips) out.set(ip, out.get(ip)! / windows);
    return out;
  }

  function detect(facts: WindowFacts): Anomaly[] {
    const found: Omit<Anomaly, "rank">[] = [];
    const seconds = windowMs / 1000;
    const base = { service: facts.service, windowStartMs: facts.windowStartMs };

    if (a.ipSpike.enabled) {
      const baselines = ipBaselines(
        facts.service,
        facts.windowStartMs,
        facts.topIps.map((t) => t.ip),
      );
      for (const { ip, requests } of facts.topIps) {
        const baseline = baselines.get(ip) ?? 0;
        const threshold = Math.max(a.ipSpike.minRequests, a.ipSpike.baselineFactor * baseline);
        if (requests < threshold) continue;
        found.push({
          ...base,
          type: "ip_spike",
          host: FLEET_HOST,
          key: ip,
          value: requests,
          threshold,
          baseline,
          message: `client ${ip} sent ${requests} requests in ${seconds} s across all hosts (threshold ${round(threshold)}, baseline ${round(baseline)} per window)`,
        });
      }
    }

    if (a.errorSurge.enabled) {
      for (const row of facts.rows) {
        if (row.requests === 0 || row.errors5xx < a.errorSurge.minErrors) continue;
        const share = row.errors5xx / row.requests;
        const baseline = errorBaseline(facts.service, row.host, facts.windowStartMs);
        const threshold = Math.max(a.errorSurge.minShare, a.errorSurge.baselineFactor * baseline);
        if (share < threshold) continue;
        const where = row.host === FLEET_HOST ? "across all hosts" : `on ${row.host}`;
        found.push({
          ...base,
          type: "error_surge",
          host: row.host,
          key: row.host,
          value: share,
          threshold,
          baseline,
          message: `5xx share ${pct(share)} (${row.errors5xx} of ${row.requests}) ${where} (threshold ${pct(threshold)}, baseline ${pct(baseline)})`,
        });
      }
    }

    if (a.urlScan.enabled) {
      for (const c of facts.scanCandidates) {
        const byUrls = c.distinctUrls >= a.urlScan.minDistinctUrls;
        if (!byUrls && c.notFound < a.urlScan.minNotFound) continue;
        found.push({
          ...base,
          type: "url_scan",
          host: FLEET_HOST,
          key: c.ip,
          value: byUrls ? c.distinctUrls : c.notFound,
          threshold: byUrls ? a.urlScan.minDistinctUrls : a.urlScan.minNotFound,
          baseline: 0,
          message: `client ${c.ip} requested ${c.distinctUrls} distinct URLs and got ${c.notFound} 404s in ${seconds} s across all hosts`,
        });
      }
    }
    return rank(found, a.maxAnomaliesPerType);
  }

  function observe(facts: WindowFacts): void {
    noteStart(facts.windowStartMs);
    for (const row of facts.rows) {
      putStats(facts.service, row.host, facts.windowStartMs, {
        requests: row.requests,
        errors5xx: row.errors5xx,
        local: true,
      });
    }
    putTop(facts.service, facts.windowStartMs, {
      ips: new Map(facts.topIps.map((t) => [t.ip, t.requests])),
      local: true,
    });
  }

  function hydrate(rows: Iterable<HistoryRow>): void {
    const hydratedTops = new Map<string, TopEntry>();
    // Hydrated rows do not move the pruning horizon: they may run ahead of the windows being rebuilt.
    for (const row of rows) {
      if (row.kind === "stats") {
        putStats(row.service, row.host, row.windowStartMs, {
          requests: row.requests,
          errors5xx: row.errors5xx,
          local: false,
        });
        continue;
      }
      const key = `${row.service}\u0000${row.windowStartMs}`;
      let entry = hydratedTops.get(key);
      if (entry === undefined) {
        entry = { ips: new Map(), local: false };
        hydratedTops.set(key, entry);
        putTop(row.service, row.windowStartMs, entry);
      }
      entry.ips.set(row.ip, row.requests);
    }
  }

  return { detect, observe, hydrate };
}

function round(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

/** Keeps the `max` largest values per (type, host), ties by key, and numbers them 1..n. */
function rank(found: Omit<Anomaly, "rank">[], max: number): Anomaly[] {
  const groups = new Map<string, Omit<Anomaly, "rank">[]>();
  for (const f of found) {
    const g = `${f.type}\u0000${f.host}`;
    let list = groups.get(g);
    if (list === undefined) {
      list = [];
      groups.set(g, list);
    }
    list.push(f);
  }
  const out: Anomaly[] = [];
  for (const list of groups.values()) {
    list.sort((x, y) => y.value - x.value || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    list.slice(0, max).forEach((f, i) => {
      out.push({ ...f, rank: i + 1 });
    });
  }
  return out;
}
