/**
 * The window partial: what one agent knows about one (host, service, window, seq), small enough to
 * ship every 10 s and mergeable across hosts and deliveries.
 *
 * ## Contents
 * - `lines` (requests + rejects), `requests`, `bytes` (exact sums).
 * - Exact counts per status code 0..999 (`statusCounts[code]`); status classes are derived
 *   (100..599 → 1xx..5xx, anything else → "other").
 * - Methods: at most `MAX_METHODS` (16) distinct names counted exactly; later new names (and names
 *   longer than 24 characters) count as `OTHER`. A line without a request line counts as `-`.
 * - Rejects by reason (`rejectCounts[i]` for `REJECT_REASONS[i]`).
 * - `firstEventMs` / `lastEventMs`: min / max record time (+Infinity / -Infinity while empty).
 * - Latency: HDR histogram in µs (1 µs .. 1 h, 3 significant digits, clamped above; see
 *   sketch/latency.ts); `latencyMissing` counts requests whose format carries no duration.
 * - Client IPs (`ips`) and URL paths without query (`urls`): a HeavyKeys table each (see
 *   sketch/heavy-keys.ts). Exact counts while a window has at most `IP_CAPACITY` (2048) distinct IPs
 *   / `URL_CAPACITY` (1024) distinct paths; beyond that a count-min sketch (4096 x 4) over all keys
 *   plus that many heavy-hitter candidates. Keys are cut to 64 (IP) / 256 (path) characters; an empty
 *   IP or path is not tracked.
 * - URL scans: every IP entry also has a 404 count and a distinct-path counter (HyperLogLog with
 *   256 registers: ±6.5 %, and nearly exact for small counts through linear counting), so central can
 *   find one IP that hit ≥ N distinct paths across all hosts: merging takes the register max, so a
 *   path seen on two hosts counts once.
 *
 * ## Error bounds
 * With N = requests in the (merged) window, ε = e/4096 ≈ 0.066 % and δ = e^-4 ≈ 1.8 %:
 * - While exact (≤ capacity distinct keys, also after merging): every count is exact.
 * - In sketch mode: `estimateIpRequests` and every top-K count satisfy true ≤ reported ≤ true + εN
 *   with probability ≥ 1 - δ per key. The smallest candidate count never decreases and stays below
 *   N/capacity + εN, so every key with more occurrences than that (≈ 0.12 % of N for IPs) is held;
 *   every IP with ≥ 1 % of the traffic is found after merging hosts, too (tested).
 * - Scan data of an IP first seen in sketch mode is a lower bound (counted from its promotion).
 *
 * ## Merge laws
 * `mergePartial(into, from)` mutates `into` only. For everything exact (lines, requests, bytes, codes,
 * methods while ≤ 16 distinct, rejects, first/last time, the HDR histogram, exact-mode IP / path
 * tables, distinct-path registers) it is associative and commutative with `createPartial(key)` as the
 * identity. Count-min sketches add element-wise (order-independent); sketch-mode candidate sets are
 * merged commutatively (union, a side's count-min estimate added for a key it does not hold, top
 * capacity kept) but not exactly associatively. The key of `into` is kept; keys are not compared
 * (central merges partials of many hosts into a fleet partial).
 *
 * ## Cost and size
 * `npx tsx protocol/scripts/bench-partial.ts` measures CPU time (user + system, so other processes on
 * the shared machine inflate it less than wall time; the figures below were taken at load average
 * ~11 on 2 cores and are upper bounds). `addRecord` on realistic records (flat strings as the parser
 * makes them, 500 client IPs, 300 paths per window): ~200 ns/line; with 2000 paths per 10 k-line
 * window, so that the path table runs in sketch mode: ~290–420 ns/line; 1 M all-distinct IPs and
 * paths: ~450–560 ns/line. Encoded sizes: see the wire module; a 10 k-line window with 500 IPs is
 * ~18 KB (300 paths) to ~72 KB (≥ 1024 paths), 1 M distinct IPs + paths ~134–173 KB.
 *
 * The agent parses into a `LineRecord` (parse/record.ts): its plain ip and path are hashed straight
 * from the line's bytes (`hashLatin1Int32`, equal to the string hash) and compared with the held
 * keys' bytes, so no string is made per line, nor for a new or promoted key until the partial is
 * read. Results are identical to plain records (line-record.test.ts compares the encodings). Parse +
 * aggregate of `npm run bench:parse`'s 1 M-line log (both tables in sketch mode in every window),
 * CPU time at load average 4–5 on 2 cores: ~0.9–1.2 µs/line in all, the parse ~0.4–0.55 µs of it;
 * with plain records and before these changes, ~1.55–1.7 µs/line in the same runs. What remains is
 * mostly cache misses in the tables (probe slots, key bytes, registers, count-min rows).
 *
 * Memory is bounded whatever the input: tables that grow only to their capacity, keys cut to a
 * maximum length, one 256-byte register array per held IP, the HDR counts (94 KB, allocated on the
 * first latency) and a 64 KB count-min sketch per table in sketch mode; 1 M distinct IPs and paths
 * grow heap + array buffers by ~1.7 MB (memory.test.ts).
 */
import {
  type LogRecord,
  type PartialKey,
  REJECT_REASONS,
  type RejectReason,
  STATUS_CLASSES,
  type StatusClass,
} from "../model.js";
import { LineRecord } from "../parse/record.js";
import { hashLatin1Int32, hashString, hashStringInt32 } from "../sketch/hash.js";
import { compareStrings, HeavyKeys } from "../sketch/heavy-keys.js";
import { LatencyHistogram } from "../sketch/latency.js";

export const IP_CAPACITY = 2048;
export const URL_CAPACITY = 1024;
export const MAX_IP_LENGTH = 64;
export const MAX_URL_LENGTH = 256;
export const MAX_METHODS = 16;
export const MAX_METHOD_LENGTH = 24;
export const STATUS_CODE_LIMIT = 1000;
export const OTHER_METHOD = "OTHER";
export const NO_METHOD = "-";

/** One partial. Fields are readable; change them only through the functions of this module. */
export interface WindowPartial extends PartialKey {
  lines: number;
  requests: number;
  bytes: number;
  /** Earliest / latest record time; +Infinity / -Infinity while the partial holds no record. */
  firstEventMs: number;
  lastEventMs: number;
  /** Requests per status code; index = code (0..999). */
  readonly statusCounts: Float64Array;
  /** Method names (at most MAX_METHODS, plus OTHER) and their counts, same index. */
  readonly methods: string[];
  readonly methodCounts: number[];
  /** Rejected lines per reason; index = position in REJECT_REASONS. */
  readonly rejectCounts: Float64Array;
  readonly latency: LatencyHistogram;
  /** Requests without a latency value (not in `latency`). */
  latencyMissing: number;
  readonly ips: HeavyKeys;
  readonly urls: HeavyKeys;
}

export interface LatencySummaryMs {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export interface ScanCandidate {
  ip: string;
  distinctUrls: number;
  notFound: number;
}

export interface PartialSummary {
  requests: number;
  bytes: number;
  statusClasses: Record<StatusClass, number>;
  /** Non-zero codes only, keyed by the code's decimal text ("200"). */
  statusCodes: Record<string, number>;
  /** Null when no request carried a latency. */
  latencyMs: LatencySummaryMs | null;
  topIps: { ip: string; requests: number }[];
  topUrls: { url: string; requests: number }[];
  /** IPs by distinct URLs desc (then 404s desc, ip asc). */
  scanCandidates: ScanCandidate[];
  rejects: Record<RejectReason, number>;
  lines: number;
  /** Null while the partial holds no record. */
  firstEventMs: number | null;
  lastEventMs: number | null;
}

export interface SummarizeOptions {
  /** Length of topIps / topUrls. */
  topK: number;
  /** Length of scanCandidates (default topK). */
  scanLimit?: number;
  /** Only IPs with at least this many distinct URLs are scan candidates (default 1). */
  minDistinctUrls?: number;
}

export function createPartial(key: PartialKey): WindowPartial {
  return {
    host: key.host,
    service: key.service,
    windowStartMs: key.windowStartMs,
    windowMs: key.windowMs,
    seq: key.seq,
    lines: 0,
    requests: 0,
    bytes: 0,
    firstEventMs: Number.POSITIVE_INFINITY,
    lastEventMs: Number.NEGATIVE_INFINITY,
    statusCounts: new Float64Array(STATUS_CODE_LIMIT),
    methods: [],
    methodCounts: [],
    rejectCounts: new Float64Array(REJECT_REASONS.length),
    latency: new LatencyHistogram(),
    latencyMissing: 0,
    ips: new HeavyKeys({ capacity: IP_CAPACITY, trackScan: true, maxKeyBytes: MAX_IP_LENGTH }),
    urls: new HeavyKeys({ capacity: URL_CAPACITY, trackScan: false, maxKeyBytes: MAX_URL_LENGTH }),
  };
}

/** Folds one parsed request into the partial (the agent's hot path: no allocation in the common case). */
export function addRecord(p: WindowPartial, rec: LogRecord): void {
  p.lines++;
  p.requests++;
  p.bytes += rec.bytes;
  const t = rec.timeMs;
  if (t < p.firstEventMs) p.firstEventMs = t;
  if (t > p.lastEventMs) p.lastEventMs = t;
  const status = rec.status;
  const code = status >= 0 && status < STATUS_CODE_LIMIT ? status : 0;
  p.statusCounts[code]! += 1;
  countMethod(p, rec.method === "" ? NO_METHOD : rec.method, 1);
  if (rec.latencyUs >= 0) p.latency.record(rec.latencyUs);
  else p.latencyMissing++;

  // A LineRecord's plain ip / path are byte ranges: hashed from the bytes (hashLatin1Int32 equals
  // hashStringInt32 of their text), and a string is made only for a key a table stores.
  const line = rec instanceof LineRecord ? rec : null;
  let urlHash = 0;
  let hasPath: boolean;
  if (line !== null && line.pathEnd >= 0) {
    const { buf, pathStart } = line;
    const end = Math.min(line.pathEnd, pathStart + MAX_URL_LENGTH);
    hasPath = end > pathStart;
    if (hasPath) {
      urlHash = hashLatin1Int32(buf, pathStart, end);
      p.urls.addBytes(buf, pathStart, end, urlHash);
    }
  } else {
    let path = rec.path;
    hasPath = path !== "";
    if (hasPath) {
      if (path.length > MAX_URL_LENGTH) path = path.slice(0, MAX_URL_LENGTH);
      urlHash = hashStringInt32(path);
      p.urls.add(path, urlHash);
    }
  }
  let id: number;
  if (line !== null && line.ipEnd >= 0) {
    const { buf, ipStart } = line;
    const end = Math.min(line.ipEnd, ipStart + MAX_IP_LENGTH);
    if (end === ipStart) return;
    id = p.ips.addBytes(buf, ipStart, end, hashLatin1Int32(buf, ipStart, end));
  } else {
    let ip = rec.ip;
    if (ip === "") return;
    if (ip.length > MAX_IP_LENGTH) ip = ip.slice(0, MAX_IP_LENGTH);
    id = p.ips.add(ip, hashStringInt32(ip));
  }
  if (id < 0) return;
  if (code === 404) p.ips.notFound![id]! += 1;
  if (hasPath) p.ips.addDistinct(id, urlHash);
}

export function addReject(p: WindowPartial, reason: RejectReason): void {
  p.lines++;
  const i = REJECT_REASONS.indexOf(reason);
  // An unknown reason (a newer agent's) still counts as a line; see the wire decoder.
  if (i >= 0) p.rejectCounts[i]! += 1;
}

/** Adds `from` into `into` (see the merge laws in the module comment); `from` is not changed. */
export function mergePartial(into: WindowPartial, from: WindowPartial): void {
  if (into === from) throw new RangeError("mergePartial: cannot merge a partial into itself");
  into.lines += from.lines;
  into.requests += from.requests;
  into.bytes += from.bytes;
  if (from.firstEventMs < into.firstEventMs) into.firstEventMs = from.firstEventMs;
  if (from.lastEventMs > into.lastEventMs) into.lastEventMs = from.lastEventMs;
  addArrays(into.statusCounts, from.statusCounts);
  addArrays(into.rejectCounts, from.rejectCounts);
  for (let i = 0; i < from.methods.length; i++) countMethod(into, from.methods[i]!, from.methodCounts[i]!);
  into.latency.merge(from.latency);
  into.latencyMissing += from.latencyMissing;
  into.ips.merge(from.ips);
  into.urls.merge(from.urls);
}

/** Stable identity of a partial, `host|service|windowStartMs|seq` (central drops duplicates by it). */
export function partialIdentity(p: PartialKey): string {
  return `${p.host}|${p.service}|${p.windowStartMs}|${p.seq}`;
}

/** Estimated requests from `ip` in this partial: exact while the IP table is exact, else within εN above. */
export function estimateIpRequests(p: WindowPartial, ip: string): number {
  const key = ip.length > MAX_IP_LENGTH ? ip.slice(0, MAX_IP_LENGTH) : ip;
  return p.ips.estimate(key, hashString(key));
}

export function summarizePartial(p: WindowPartial, options: SummarizeOptions): PartialSummary {
  const statusClasses = Object.fromEntries(STATUS_CLASSES.map((c) => [c, 0])) as Record<StatusClass, number>;
  const statusCodes: Record<string, number> = {};
  for (let code = 0; code < STATUS_CODE_LIMIT; code++) {
    const n = p.statusCounts[code]!;
    if (n === 0) continue;
    statusCodes[String(code)] = n;
    statusClasses[statusClassOf(code)] += n;
  }
  const rejects = Object.fromEntries(REJECT_REASONS.map((r, i) => [r, p.rejectCounts[i]!])) as Record<
    RejectReason,
    number
  >;
  const lat = p.latency;
  let latencyMs: LatencySummaryMs | null = null;
  if (lat.count > 0) {
    const [p50, p90, p95, p99] = lat.percentiles([50, 90, 95, 99]) as [number, number, number, number];
    latencyMs = {
      p50: p50 / 1000,
      p90: p90 / 1000,
      p95: p95 / 1000,
      p99: p99 / 1000,
      max: lat.max() / 1000,
      mean: lat.mean() / 1000,
    };
  }
  const empty = p.firstEventMs > p.lastEventMs;
  return {
    requests: p.requests,
    bytes: p.bytes,
    statusClasses,
    statusCodes,
    latencyMs,
    topIps: p.ips.top(options.topK).map(({ key, count }) => ({ ip: key, requests: count })),
    topUrls: p.urls.top(options.topK).map(({ key, count }) => ({ url: key, requests: count })),
    scanCandidates: scanCandidates(p.ips, options.scanLimit ?? options.topK, options.minDistinctUrls ?? 1),
    rejects,
    lines: p.lines,
    firstEventMs: empty ? null : p.firstEventMs,
    lastEventMs: empty ? null : p.lastEventMs,
  };
}

export function statusClassOf(code: number): StatusClass {
  return code >= 100 && code < 600 ? (STATUS_CLASSES[Math.floor(code / 100) - 1] as StatusClass) : "other";
}

function scanCandidates(ips: HeavyKeys, limit: number, minDistinctUrls: number): ScanCandidate[] {
  if (limit <= 0) return [];
  const notFound = ips.notFound!;
  const ids: number[] = [];
  const distinct: number[] = [];
  for (let id = 0; id < ips.size; id++) {
    const d = ips.distinctEstimateOf(id);
    if (d < minDistinctUrls) continue;
    ids.push(id);
    distinct.push(d);
  }
  // One sort by (distinct desc, 404s desc, ip asc): central asks for every held IP (limit = the table's capacity),
  // which an insertion into a sorted list made quadratic. Keys are made only for ties and for what is returned.
  const keys: (string | undefined)[] = [];
  const keyAt = (i: number) => (keys[i] ??= ips.keyOf(ids[i]!));
  const order = ids.map((_, i) => i);
  order.sort(
    (a, b) =>
      distinct[b]! - distinct[a]! || notFound[ids[b]!]! - notFound[ids[a]!]! || compareStrings(keyAt(a), keyAt(b)),
  );
  return order.slice(0, limit).map((i) => ({ ip: keyAt(i), distinctUrls: distinct[i]!, notFound: notFound[ids[i]!]! }));
}

function countMethod(p: WindowPartial, method: string, n: number): void {
  const names = p.methods;
  for (let i = 0; i < names.length; i++) {
    if (names[i] === method) {
      p.methodCounts[i]! += n;
      return;
    }
  }
  const name = names.length < MAX_METHODS && method.length <= MAX_METHOD_LENGTH ? method : OTHER_METHOD;
  if (name === OTHER_METHOD) {
    const i = names.indexOf(OTHER_METHOD);
    if (i >= 0) {
      p.methodCounts[i]! += n;
      return;
    }
  }
  names.push(name);
  p.methodCounts.push(n);
}

function addArrays(into: Float64Array, from: Float64Array): void {
  for (let i = 0; i < from.length; i++) {
    const v = from[i]!;
    if (v !== 0) into[i]! += v;
  }
}
