/**
 * Child-process probe for the bounded-memory test (needs `--expose-gc`):
 *
 *   node --expose-gc --import tsx protocol/scripts/memory-probe.ts [lines]
 *
 * Folds `lines` requests with all-distinct client IPs and all-distinct paths into one partial and
 * prints JSON: heap + array-buffer growth after a full GC, the encoded size, the table sizes and the ns per line.
 */
import { emptyLogRecord } from "../src/model.js";
import { addRecord, createPartial } from "../src/partial/index.js";
import { encodePartial } from "../src/wire/index.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");
const lines = Number(process.argv[2] ?? 1_000_000);

/** JS heap plus typed-array backing stores (the HDR counts and sketch tables live there). */
const used = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
gc();
const before = used();
const p = createPartial({ host: "web-1", service: "web", windowStartMs: 0, windowMs: 10_000, seq: 0 });
const rec = emptyLogRecord();
rec.method = "GET";
rec.latencyUs = 1500;
const cpu0 = process.cpuUsage();
for (let i = 0; i < lines; i++) {
  rec.timeMs = i % 10_000;
  rec.status = i % 3 === 0 ? 404 : 200;
  rec.bytes = i % 5000;
  rec.ip = `${(i >>> 24) & 255}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
  rec.path = `/content/${i}/index.html`;
  addRecord(p, rec);
}
const cpu = process.cpuUsage(cpu0);
gc();
const after = used();
const encoded = encodePartial(p);
console.log(
  JSON.stringify({
    lines,
    heapGrowthBytes: after - before,
    encodedBytes: encoded.length,
    ipKeys: p.ips.size,
    urlKeys: p.urls.size,
    requests: p.requests,
    cpuNsPerLine: ((cpu.user + cpu.system) * 1000) / lines,
  }),
);
