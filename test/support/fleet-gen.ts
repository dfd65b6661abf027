/**
 * Seeded multi-host access-log generator with labelled anomalies — the old design's "Python log
 * generator", used by end-to-end tests, the reliability suite, benchmarks and the demo.
 *
 * Output is nginx `combined` + ` $request_time $upstream_response_time` (our `nginx_combined_rt`), each
 * host with its own time-zone offset so parsers are exercised on more than UTC. Lines are in time order
 * except for an optional share of late lines (timestamps `lateByMs` behind), which real fleets produce
 * when a slow request is logged at its end. Everything is a pure function of the options: the same seed
 * gives byte-identical logs.
 */

export interface PlantedAnomaly {
  type: "ip_spike" | "error_surge" | "url_scan";
  /** Hosts that carry the anomaly's traffic (a url_scan spread over hosts lists several). */
  hosts: string[];
  startMs: number;
  durationMs: number;
  /** Extra requests per second (summed over the listed hosts). */
  ratePerSec: number;
  /** The client that floods or scans; error_surge uses random normal clients. */
  ip?: string;
}

export interface FleetOptions {
  seed: number;
  hosts: string[];
  startMs: number;
  durationMs: number;
  /** Normal traffic per host per second. */
  ratePerHostPerSec: number;
  /** Number of distinct normal clients (fleet-wide). */
  clients?: number;
  anomalies?: PlantedAnomaly[];
  /** Share of normal lines written late (0..1) and by how much. */
  lateShare?: number;
  lateByMs?: number;
}

export interface GeneratedLine {
  host: string;
  /** Event time of the line (what its timestamp says). */
  timeMs: number;
  text: string;
  label: "normal" | PlantedAnomaly["type"];
}

/** mulberry32: tiny, fast, good enough for test data, and stable across Node versions. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const ZONES = [0, 7 * 60, -(3 * 60 + 30), 5 * 60 + 45, -8 * 60];
const PATHS = ["/", "/index.html", "/api/items", "/api/cart", "/login", "/search", "/static/app.js", "/static/app.css"];
const AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0", "curl/8.5.0", "Go-http-client/1.1"];

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** `$time_local` for `timeMs` written in a zone `offsetMin` minutes east of UTC. */
export function formatTimeLocal(timeMs: number, offsetMin: number): string {
  const d = new Date(timeMs + offsetMin * 60_000);
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(
    d.getUTCMinutes(),
  )}:${pad(d.getUTCSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
}

function line(
  ip: string,
  timeMs: number,
  zone: number,
  method: string,
  uri: string,
  status: number,
  bytes: number,
  latencyMs: number,
  ua: string,
): string {
  const rt = (latencyMs / 1000).toFixed(3);
  const upstream = status === 304 ? "-" : rt;
  return `${ip} - - [${formatTimeLocal(timeMs, zone)}] "${method} ${uri} HTTP/1.1" ${status} ${bytes} "-" "${ua}" ${rt} ${upstream}`;
}

function normalStatus(r: () => number): number {
  const x = r();
  if (x < 0.82) return 200;
  if (x < 0.88) return 304;
  if (x < 0.9) return 301;
  if (x < 0.96) return 404;
  if (x < 0.985) return 403;
  return x < 0.995 ? 500 : 502;
}

/** Generates every host's lines in file order. */
export function generateFleet(options: FleetOptions): Map<string, GeneratedLine[]> {
  const r = seededRandom(options.seed);
  const clients = options.clients ?? 500;
  const lateShare = options.lateShare ?? 0;
  const lateByMs = options.lateByMs ?? 25_000;
  const out = new Map<string, GeneratedLine[]>();
  options.hosts.forEach((host, h) => {
    const zone = ZONES[h % ZONES.length]!;
    const lines: GeneratedLine[] = [];
    const emit = (timeMs: number, text: string, label: GeneratedLine["label"]) =>
      lines.push({ host, timeMs, text, label });
    const normalCount = Math.round((options.durationMs / 1000) * options.ratePerHostPerSec);
    const events: { t: number; kind: "normal" | PlantedAnomaly }[] = [];
    for (let i = 0; i < normalCount; i++)
      events.push({ t: options.startMs + (i * options.durationMs) / normalCount, kind: "normal" });
    for (const a of options.anomalies ?? []) {
      if (!a.hosts.includes(host)) continue;
      const n = Math.round(((a.durationMs / 1000) * a.ratePerSec) / a.hosts.length);
      for (let i = 0; i < n; i++) events.push({ t: a.startMs + (i * a.durationMs) / n, kind: a });
    }
    events.sort((x, y) => x.t - y.t);
    let scanSeq = h * 1_000_000;
    for (const e of events) {
      const t = Math.floor(e.t);
      if (e.kind === "normal") {
        const ip = `10.${(h * 37) % 256}.${Math.floor(r() * clients) % 256}.${1 + (Math.floor(r() * clients) % 250)}`;
        const status = normalStatus(r);
        const path = PATHS[Math.floor(r() * PATHS.length)]!;
        const uri = r() < 0.3 ? `${path}?q=${Math.floor(r() * 1000)}` : path;
        const late = r() < lateShare;
        const ts = late ? t - lateByMs : t;
        const latency = Math.max(1, Math.round(-Math.log(1 - r()) * 40));
        const bytes = status === 304 ? 0 : Math.floor(200 + r() * 20_000);
        emit(
          ts,
          line(ip, ts, zone, r() < 0.9 ? "GET" : "POST", uri, status, bytes, latency, AGENTS[h % AGENTS.length]!),
          "normal",
        );
      } else if (e.kind.type === "ip_spike") {
        emit(t, line(e.kind.ip!, t, zone, "GET", "/api/items", 200, 512, 5, "flood/1.0"), "ip_spike");
      } else if (e.kind.type === "error_surge") {
        const ip = `10.${(h * 37) % 256}.9.${1 + Math.floor(r() * 250)}`;
        emit(t, line(ip, t, zone, "GET", "/api/cart", r() < 0.5 ? 500 : 503, 150, 900, "Mozilla/5.0"), "error_surge");
      } else {
        scanSeq++;
        emit(t, line(e.kind.ip!, t, zone, "GET", `/admin/probe-${scanSeq}.php`, 404, 0, 2, "scanner/2.0"), "url_scan");
      }
    }
    out.set(host, lines);
  });
  return out;
}

/** The demo/e2e scenario: normal load, then an IP spike, an error surge and a URL scan spread over hosts. */
export function standardScenario(startMs: number, seed = 42): FleetOptions {
  const hosts = ["web1", "web2", "web3"];
  return {
    seed,
    hosts,
    startMs,
    durationMs: 180_000,
    ratePerHostPerSec: 40,
    lateShare: 0.01,
    lateByMs: 25_000,
    anomalies: [
      {
        type: "ip_spike",
        hosts: ["web1", "web2"],
        startMs: startMs + 60_000,
        durationMs: 10_000,
        ratePerSec: 300,
        ip: "203.0.113.7",
      },
      { type: "error_surge", hosts: ["web3"], startMs: startMs + 100_000, durationMs: 10_000, ratePerSec: 60 },
      { type: "url_scan", hosts, startMs: startMs + 140_000, durationMs: 10_000, ratePerSec: 30, ip: "198.51.100.23" },
    ],
  };
}
