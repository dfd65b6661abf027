/**
 * Micro-benchmark of the partial hot path and of the HDR histogram build options.
 * Run: `npx tsx protocol/scripts/bench-partial.ts` (takes ~20 s; uses one core).
 *
 * Prints: addRecord ns/line on typical traffic (500 IPs, 2000 paths) and on 1 M distinct IPs/paths,
 * mergePartial and encodePartial/decodePartial times, encoded sizes, and record+merge+encode times of
 * the hdr-histogram-js variants (JS packed, JS 32-bit, WASM packed, WASM 32-bit).
 */
import { build, encodeIntoCompressedBase64, initWebAssembly } from "hdr-histogram-js";
import { emptyLogRecord, type LogRecord } from "../src/model.js";
import { addRecord, createPartial, mergePartial } from "../src/partial/index.js";
import { LatencyHistogram } from "../src/sketch/latency.js";
import { decodePartial, encodePartial } from "../src/wire/index.js";

const key = { host: "web-1", service: "web", windowStartMs: 1_700_000_000_000, windowMs: 10_000, seq: 0 };
const METHODS = ["GET", "GET", "GET", "POST", "HEAD"];
const STATUSES = [200, 200, 200, 200, 304, 301, 404, 500, 503];

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Records with freshly built strings (like a parser's), `ips`/`paths` distinct values (Zipf-ish). */
function makeRecords(n: number, ips: number, paths: number, seed: number): LogRecord[] {
  const rnd = lcg(seed);
  const out: LogRecord[] = [];
  for (let i = 0; i < n; i++) {
    const ipN = ips >= n ? i : Math.floor(ips * rnd() ** 2);
    const pathN = paths >= n ? i : Math.floor(paths * rnd() ** 2);
    const r = emptyLogRecord();
    r.timeMs = key.windowStartMs + Math.floor(rnd() * 10_000);
    r.status = STATUSES[Math.floor(rnd() * STATUSES.length)]!;
    r.bytes = Math.floor(rnd() * 50_000);
    r.latencyUs = Math.floor(200 + rnd() ** 3 * 2_000_000);
    r.ip = flat(`10.${(ipN >> 16) & 255}.${(ipN >> 8) & 255}.${ipN & 255}`);
    r.method = flat(METHODS[Math.floor(rnd() * METHODS.length)]!);
    r.path = flat(`/shop/item/${pathN}/details`);
    out.push(r);
  }
  return out;
}

/** CPU time (user + system) rather than wall time: the machine is shared, CPU time is what a line costs. */
function cpuNs(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) * 1000;
}

function time(label: string, ops: number, unit: string, fn: () => void): void {
  const ns = cpuNs(fn) / ops;
  console.log(`${label}: ${ns < 10_000 ? `${ns.toFixed(1)} ns` : `${(ns / 1e6).toFixed(3)} ms`} per ${unit}`);
}

/** A flat one-byte string, as the parser's latin1Slice yields (template literals build slower cons strings). */
const flat = (s: string) => Buffer.from(s, "latin1").toString("latin1");

const typical = makeRecords(200_000, 500, 2_000, 1);
for (let round = 0; round < 3; round++) {
  let p = createPartial(key);
  time(`addRecord typical, round ${round}`, typical.length * 10, "line", () => {
    for (let rep = 0; rep < 10; rep++) {
      // A fresh partial per 10 k lines, like a 10 s window of a 1 k req/s host.
      for (let i = 0; i < typical.length; i++) {
        if (i % 10_000 === 0) p = createPartial(key);
        addRecord(p, typical[i]!);
      }
    }
  });
}

const tenK = createPartial(key);
for (let i = 0; i < 10_000; i++) addRecord(tenK, typical[i]!);
const enc = encodePartial(tenK);
console.log(`typical partial (10 k lines, ${tenK.ips.size} IPs, ${tenK.urls.size} paths): ${enc.length} bytes`);
time("encodePartial typical", 200, "partial", () => {
  for (let i = 0; i < 200; i++) encodePartial(tenK);
});
time("decodePartial typical", 200, "partial", () => {
  for (let i = 0; i < 200; i++) decodePartial(enc);
});
time("mergePartial typical into a fleet partial", 200, "merge", () => {
  const fleet = createPartial({ ...key, host: "all" });
  for (let i = 0; i < 200; i++) mergePartial(fleet, tenK);
});

const distinct = makeRecords(1_000_000, 1_000_000, 1_000_000, 2);
const worst = createPartial(key);
time("addRecord 1 M distinct IPs and paths", distinct.length, "line", () => {
  for (const r of distinct) addRecord(worst, r);
});
const worstEnc = encodePartial(worst);
console.log(`worst partial (1 M lines, 1 M distinct IPs and paths): ${worstEnc.length} bytes`);

// ---- HDR variants: record 10 k values, merge 10 such histograms, encode ----
async function hdrVariants(): Promise<void> {
  await initWebAssembly();
  const values = typical.slice(0, 10_000).map((r) => r.latencyUs);
  for (const useWebAssembly of [false, true]) {
    for (const bitBucketSize of ["packed", 32] as const) {
      const ns = cpuNs(() => {
        for (let rep = 0; rep < 20; rep++) {
          const opts = {
            lowestDiscernibleValue: 1,
            highestTrackableValue: 3_600_000_000,
            numberOfSignificantValueDigits: 3 as const,
            bitBucketSize,
            autoResize: false,
            useWebAssembly,
          };
          const total = build(opts);
          for (let h = 0; h < 10; h++) {
            const one = build(opts);
            for (const v of values) one.recordValue(v);
            total.add(one);
            one.destroy();
          }
          encodeIntoCompressedBase64(total);
          total.destroy();
        }
      });
      const ms = ns / 1e6 / 20;
      console.log(
        `hdr ${useWebAssembly ? "wasm" : "js"} ${bitBucketSize}: 10 x (record 10 k) + 10 merges + encode = ${ms.toFixed(2)} ms`,
      );
    }
  }
  const ours = cpuNs(() => {
    for (let rep = 0; rep < 20; rep++) {
      const total = new LatencyHistogram();
      for (let h = 0; h < 10; h++) {
        const one = new LatencyHistogram();
        for (const v of values) one.record(v);
        total.merge(one);
      }
      total.encode();
    }
  });
  console.log(
    `LatencyHistogram (js 32 + clz32 index, raw-count encoding): same workload = ${(ours / 1e6 / 20).toFixed(2)} ms`,
  );
  const h = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const v of values) h.recordValue(v);
  const compressed = Buffer.from(encodeIntoCompressedBase64(h), "base64").length;
  console.log(
    `hdr 10 k values: library compressed ${compressed} bytes, raw-count varints ${tenK.latency.encode().length} bytes`,
  );
}
await hdrVariants();
