import { emptyLogRecord, type LogRecord } from "../src/model.js";
import { createPartial, type WindowPartial } from "../src/partial/index.js";
import { hashString } from "../src/sketch/hash.js";
const key = { host: "web-1", service: "web", windowStartMs: 1_700_000_000_000, windowMs: 10_000, seq: 0 };
let s = 1;
const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const recs: LogRecord[] = [];
const flat = (x: string) => Buffer.from(x, 'latin1').toString('latin1');
const M = ["GET", "GET", "POST"];
for (let i = 0; i < 200_000; i++) { const r = emptyLogRecord(); const a = Math.floor(500 * rnd() ** 2); r.ip = flat(`10.0.${a >> 8}.${a & 255}`); r.path = flat(`/shop/item/${Math.floor(900 * rnd() ** 2)}/details`); r.latencyUs = Math.floor(200 + rnd() ** 3 * 2e6); r.status = 200; r.method = `${M[i % 3]}`; r.timeMs = key.windowStartMs + i % 10000; r.bytes = 100; recs.push(r); }
type F = (p: WindowPartial, r: LogRecord) => void;
const variants: Record<string, F> = {
  empty: (p, r) => { p.requests++; p.bytes += r.bytes; },
  hashes: (p, r) => { p.bytes += hashString(r.ip) ^ hashString(r.path); },
  latency: (p, r) => { p.latency.record(r.latencyUs); },
  ipTable: (p, r) => { p.ips.add(r.ip, hashString(r.ip)); },
  ipTableDistinct: (p, r) => { const id = p.ips.add(r.ip, hashString(r.ip)); if (id >= 0) p.ips.distinct![id]!.add(hashString(r.path)); },
  urlTable: (p, r) => { p.urls.add(r.path, hashString(r.path)); },
  status: (p, r) => { p.statusCounts[r.status]! += 1; const t = r.timeMs; if (t < p.firstEventMs) p.firstEventMs = t; if (t > p.lastEventMs) p.lastEventMs = t; },
};
for (let round = 0; round < 3; round++) for (const [name, f] of Object.entries(variants)) {
  const c0 = process.cpuUsage();
  let p = createPartial(key);
  for (let rep = 0; rep < 5; rep++) for (let i = 0; i < recs.length; i++) { if (i % 10000 === 0) p = createPartial(key); f(p, recs[i]!); }
  console.log(name.padEnd(16), ((process.cpuUsage(c0).user) * 1e3 / 1e6).toFixed(1), "ns/line");
}
