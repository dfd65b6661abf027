import { build, initWebAssembly } from "hdr-histogram-js";
await initWebAssembly();
const lat: number[] = [];
let s = 1;
const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
for (let i = 0; i < 10_000; i++) lat.push(Math.floor(200 + rnd() ** 3 * 2e6));
for (let round = 0; round < 3; round++)
for (const useWebAssembly of [false, true]) for (const bitBucketSize of [32, "packed"] as const) {
  const opts = { lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 as const, bitBucketSize, autoResize: false, useWebAssembly };
  let rec = 0, merge = 0, enc = 0;
  const total = build(opts);
  for (let rep = 0; rep < 50; rep++) {
    let t = performance.now();
    const h = build(opts);
    for (const v of lat) h.recordValue(v);
    rec += performance.now() - t;
    t = performance.now(); total.add(h); merge += performance.now() - t;
    t = performance.now(); (h as any).encodeIntoCompressedBase64(); enc += performance.now() - t;
    h.destroy();
  }
  total.destroy();
  console.log(`${useWebAssembly ? "wasm" : "js  "} ${bitBucketSize}: record ${(rec / 50 / 10_000 * 1e6).toFixed(1)} ns/value, merge ${(merge / 50 * 1000).toFixed(0)} µs, compressed encode ${(enc / 50 * 1000).toFixed(0)} µs`);
}
