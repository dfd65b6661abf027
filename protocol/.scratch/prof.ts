import { emptyLogRecord, type LogRecord } from "../src/model.js";
import { addRecord, createPartial } from "../src/partial/index.js";
const key = { host: "web-1", service: "web", windowStartMs: 1_700_000_000_000, windowMs: 10_000, seq: 0 };
let s = 1;
const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const recs: LogRecord[] = [];
const M = ["GET", "GET", "POST"];
for (let i = 0; i < 200_000; i++) { const r = emptyLogRecord(); const a = Math.floor(500 * rnd() ** 2); r.ip = `10.0.${a >> 8}.${a & 255}`; r.path = `/shop/item/${Math.floor(2000 * rnd() ** 2)}/details`; r.latencyUs = Math.floor(200 + rnd() ** 3 * 2e6); r.status = 200; r.method = `${M[i % 3]}`; r.timeMs = key.windowStartMs + i % 10000; r.bytes = 100; recs.push(r); }
const mode = process.argv[2] ?? "all";
for (let round = 0; round < 5; round++) {
  const t0 = performance.now();
  let p = createPartial(key);
  for (let rep = 0; rep < 10; rep++) for (let i = 0; i < recs.length; i++) { if (i % 10000 === 0) p = createPartial(key); addRecord(p, recs[i]!); }
  console.log(mode, ((performance.now() - t0) * 1e6 / 2e6).toFixed(1), "ns/line");
}
