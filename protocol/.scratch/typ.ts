import { emptyLogRecord, type LogRecord } from "../src/model.js";
import { addRecord, createPartial } from "../src/partial/index.js";
const key = { host: "web-1", service: "web", windowStartMs: 1_700_000_000_000, windowMs: 10_000, seq: 0 };
let s = 1;
const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const flat = (x: string) => Buffer.from(x, "latin1").toString("latin1");
const recs: LogRecord[] = [];
const M = ["GET", "GET", "POST"];
const paths = Number(process.argv[3] ?? 2000);
for (let i = 0; i < 200_000; i++) { const r = emptyLogRecord(); const a = Math.floor(500 * rnd() ** 2); r.ip = flat(`10.0.${a >> 8}.${a & 255}`); r.path = flat(`/shop/item/${Math.floor(paths * rnd() ** 2)}/details`); r.latencyUs = Math.floor(200 + rnd() ** 3 * 2e6); r.status = 200; r.method = flat(M[i % 3]!); r.timeMs = key.windowStartMs + i % 10000; r.bytes = 100; recs.push(r); }
const reps = Number(process.argv[2] ?? 0);
const c0 = process.cpuUsage();
let p = createPartial(key);
for (let rep = 0; rep < reps; rep++) for (let i = 0; i < recs.length; i++) { if (i % 10000 === 0) p = createPartial(key); addRecord(p, recs[i]!); }
const c = process.cpuUsage(c0);
if (reps) console.log(((c.user + c.system) * 1000 / (reps * recs.length)).toFixed(1), "ns/line cpu");
