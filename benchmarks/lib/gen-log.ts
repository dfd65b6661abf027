/**
 * Seeded generator of realistic nginx access logs in the `nginx_combined_rt` format
 * (`combined` + ` $request_time $upstream_response_time`), shared by the benchmarks and by tests that
 * need volume. The same (host, seed, options) always yields the same bytes.
 *
 * The mix: a power-law client population (a few heavy IPs, a long tail, ~5 % IPv6), one scanner
 * probing many distinct URLs that mostly 404, API/static/page endpoints with their own status,
 * size and latency profiles (log-normal latencies, retried upstreams written as `0.004, 0.120`,
 * `-` upstream time for static files), query strings, occasional `\x22`-escaped user agents, and
 * time advancing evenly across the span (default 10 minutes) in one zone offset per host.
 *
 * The returned stats are counted while generating, independently of any parser, so callers can check
 * parse/aggregate results for exactness.
 */
import { closeSync, openSync, writeSync } from "node:fs";

export interface GenLogOptions {
  /** Number of lines. */
  lines: number;
  /** Host id; different hosts get different client populations and zones. Default "web1". */
  host?: string;
  seed?: number;
  /** Event time of the first line (ms since epoch). Default 2024-05-01T12:00:00Z. */
  startMs?: number;
  /** Time the lines span; lines are spread evenly across it. Default 600 000 (10 min). */
  durationMs?: number;
  /** Zone offset written in `$time_local`, e.g. "+0700". Default: derived from the host. */
  zone?: string;
}

export interface GenLogStats {
  lines: number;
  bytes: number;
  /** Lines per status code. */
  statusCounts: Record<string, number>;
  /** Sum of $body_bytes_sent. */
  bodyBytes: number;
  /** Sum of $request_time in whole microseconds. */
  latencyUsSum: number;
  firstMs: number;
  lastMs: number;
}

/** sfc32: small, fast, good enough statistical quality for synthetic traffic. */
function prng(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const ZONES = ["+0000", "+0700", "-0500", "+0530", "-0330", "+0100"];

const USER_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
  "curl/8.5.0",
  "python-requests/2.31.0",
  "Go-http-client/1.1",
  "kube-probe/1.29",
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "Mozilla/5.0 \\x22quoted\\x22 agent \\x5Cbackslash\\x5C",
];
const REFERERS = [
  "-",
  "-",
  "-",
  "https://www.example.com/",
  "https://www.example.com/products",
  "https://www.google.com/",
];
const SCAN_PATHS = ["/wp-admin/", "/.env", "/phpmyadmin/", "/.git/config", "/admin.php", "/backup.zip", "/cgi-bin/"];

interface Endpoint {
  weight: number;
  kind: "page" | "api" | "static" | "health";
  path: (r: () => number) => string;
}
const ENDPOINTS: Endpoint[] = [
  { weight: 10, kind: "page", path: () => "/" },
  { weight: 8, kind: "page", path: (r) => `/products/${Math.floor(r() * 500)}` },
  { weight: 3, kind: "page", path: () => "/login" },
  { weight: 14, kind: "api", path: (r) => `/api/v1/users/${Math.floor(r() * 20000)}` },
  { weight: 10, kind: "api", path: (r) => `/api/v1/orders/${Math.floor(r() * 50000)}?expand=items` },
  {
    weight: 8,
    kind: "api",
    path: (r) => `/api/v1/search?q=term${Math.floor(r() * 300)}&page=${1 + Math.floor(r() * 5)}`,
  },
  { weight: 6, kind: "api", path: () => "/api/v1/cart" },
  { weight: 20, kind: "static", path: (r) => `/static/js/app.${(Math.floor(r() * 4) + 0xa1b2).toString(16)}.js` },
  { weight: 10, kind: "static", path: (r) => `/static/css/site.${Math.floor(r() * 3)}.css` },
  { weight: 12, kind: "static", path: (r) => `/images/p${Math.floor(r() * 2000)}.jpg` },
  { weight: 4, kind: "health", path: () => "/healthz" },
];
const ENDPOINT_TOTAL = ENDPOINTS.reduce((sum, e) => sum + e.weight, 0);

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `dd/Mon/yyyy:HH:MM:SS ±hhmm` for `timeMs` shown in `zone`. */
function timeLocal(timeMs: number, zone: string): string {
  const sign = zone[0] === "-" ? -1 : 1;
  const offsetMin = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)));
  const d = new Date(timeMs + offsetMin * 60_000);
  return (
    `${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} ${zone}`
  );
}

/** Log-normal sample with the given median (seconds) and shape. */
function logNormal(r: () => number, median: number, sigma: number): number {
  const u = Math.max(r(), 1e-12);
  const v = r();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return median * Math.exp(sigma * z);
}

function seconds3(s: number): string {
  return (Math.round(s * 1000) / 1000).toFixed(3);
}

/** Yields `options.lines` log lines (without newlines) and fills `stats` as it goes. */
export function* generateLogLines(options: GenLogOptions, stats?: GenLogStats): Generator<string> {
  const host = options.host ?? "web1";
  const r = prng(hashString(host) ^ (options.seed ?? 1));
  const startMs = options.startMs ?? Date.UTC(2024, 4, 1, 12, 0, 0);
  const durationMs = options.durationMs ?? 600_000;
  const zone = options.zone ?? ZONES[hashString(host) % ZONES.length]!;
  const hostOctet = 1 + (hashString(host) % 200);
  const clients = 5000;
  const scanner = `198.51.100.${hostOctet}`;

  let cachedSecond = -1;
  let cachedTime = "";
  for (let i = 0; i < options.lines; i++) {
    const timeMs = startMs + Math.floor((i * durationMs) / Math.max(1, options.lines));
    const second = Math.floor(timeMs / 1000);
    if (second !== cachedSecond) {
      cachedSecond = second;
      cachedTime = timeLocal(second * 1000, zone);
    }

    let ip: string;
    let method = "GET";
    let path: string;
    let status: number;
    let bytes: number;
    let latency: number;
    let upstream = "-";
    const ua = USER_AGENTS[Math.floor(r() * r() * USER_AGENTS.length)]!;
    const referer = REFERERS[Math.floor(r() * REFERERS.length)]!;

    if (r() < 0.005) {
      // The scanner: many distinct URLs, almost all 404.
      ip = scanner;
      path = `${SCAN_PATHS[Math.floor(r() * SCAN_PATHS.length)]}${Math.floor(r() * 100000)}`;
      status = r() < 0.95 ? 404 : 403;
      bytes = 150 + Math.floor(r() * 30);
      latency = logNormal(r, 0.001, 0.3);
    } else {
      // Power law over the client population: client 0 is the heaviest.
      const client = Math.floor(clients * r() ** 3);
      ip =
        client % 20 === 7
          ? `2001:db8:${hostOctet.toString(16)}::${client.toString(16)}`
          : `10.${hostOctet}.${client >> 8}.${client & 255}`;
      let pick = r() * ENDPOINT_TOTAL;
      let endpoint = ENDPOINTS[0]!;
      for (const e of ENDPOINTS) {
        pick -= e.weight;
        if (pick < 0) {
          endpoint = e;
          break;
        }
      }
      path = endpoint.path(r);
      const m = r();
      if (endpoint.kind === "api") method = m < 0.7 ? "GET" : m < 0.9 ? "POST" : m < 0.95 ? "PUT" : "DELETE";
      else if (m < 0.02) method = "HEAD";
      else if (m < 0.03 && endpoint.kind === "page") method = "POST";

      const s = r();
      if (endpoint.kind === "static") {
        status = s < 0.85 ? 200 : s < 0.98 ? 304 : 404;
        bytes = status === 200 ? 2000 + Math.floor(r() * 200000) : status === 304 ? 0 : 153;
        latency = logNormal(r, 0.0008, 0.5);
      } else if (endpoint.kind === "health") {
        status = 200;
        bytes = 2;
        latency = logNormal(r, 0.0005, 0.2);
      } else {
        status =
          s < 0.9
            ? 200
            : s < 0.93
              ? 201
              : s < 0.95
                ? 302
                : s < 0.97
                  ? 404
                  : s < 0.98
                    ? 401
                    : s < 0.988
                      ? 500
                      : s < 0.994
                        ? 502
                        : s < 0.997
                          ? 504
                          : 499;
        bytes = status >= 500 ? 497 + Math.floor(r() * 80) : status === 302 ? 0 : 200 + Math.floor(r() * 8000);
        latency = logNormal(r, endpoint.kind === "api" ? 0.03 : 0.012, 0.8) * (status >= 500 ? 4 : 1);
        if (status === 504) latency = 30 + r() * 0.05;
        const up = Math.max(0, latency - 0.001 * r());
        upstream = r() < 0.01 ? `${seconds3(0.004 + r() * 0.002)}, ${seconds3(up)}` : seconds3(up);
      }
      if (method === "HEAD") bytes = 0;
    }
    if (status === 499) upstream = "-";
    const requestTime = seconds3(latency);
    if (stats) {
      stats.statusCounts[status] = (stats.statusCounts[status] ?? 0) + 1;
      stats.bodyBytes += bytes;
      stats.latencyUsSum += Number(requestTime.replace(".", "")) * 1000;
      if (stats.lines === 0) stats.firstMs = second * 1000;
      stats.lastMs = second * 1000;
      stats.lines++;
    }
    yield `${ip} - - [${cachedTime}] "${method} ${path} HTTP/1.1" ${status} ${bytes} "${referer}" "${ua}" ${requestTime} ${upstream}`;
  }
}

export function emptyGenLogStats(): GenLogStats {
  return { lines: 0, bytes: 0, statusCounts: {}, bodyBytes: 0, latencyUsSum: 0, firstMs: 0, lastMs: 0 };
}

/** Writes `options.lines` lines of host `options.host` to `file` (replacing it); returns what was written. */
export function writeNginxLog(file: string, options: GenLogOptions): GenLogStats {
  const stats = emptyGenLogStats();
  const fd = openSync(file, "w");
  try {
    let batch: string[] = [];
    for (const line of generateLogLines(options, stats)) {
      batch.push(line);
      if (batch.length === 10_000) {
        stats.bytes += writeSync(fd, `${batch.join("\n")}\n`);
        batch = [];
      }
    }
    if (batch.length > 0) stats.bytes += writeSync(fd, `${batch.join("\n")}\n`);
  } finally {
    closeSync(fd);
  }
  return stats;
}
