import { PackedHistogram, Int32Histogram } from "hdr-histogram-js";
import { hashString } from "/work/main/protocol/src/sketch/hash.ts";
import { HeavyKeys } from "/work/main/protocol/src/sketch/heavy-keys.ts";
const N = 2_000_000;
const ips: string[] = [], paths: string[] = [], lat: number[] = [];
let s = 1;
const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
for (let i = 0; i < 200_000; i++) { const a = Math.floor(500 * rnd() ** 2); ips.push(`10.0.${a >> 8}.${a & 255}`); paths.push(`/shop/item/${Math.floor(2000 * rnd() ** 2)}/details`); lat.push(Math.floor(200 + rnd() ** 3 * 2e6)); }
function t(label: string, fn: () => void) { const t0 = performance.now(); fn(); console.log(label, ((performance.now() - t0) * 1e6 / N).toFixed(1), "ns/op"); }
for (let r = 0; r < 2; r++) {
let x = 0;
t("hash ip", () => { for (let i = 0; i < N; i++) x ^= hashString(ips[i % 200_000]!); });
t("hash path", () => { for (let i = 0; i < N; i++) x ^= hashString(paths[i % 200_000]!); });
t("heavy ip add", () => { let h = new HeavyKeys({ capacity: 2048, trackScan: true }); for (let i = 0; i < N; i++) { if (i % 10000 === 0) h = new HeavyKeys({ capacity: 2048, trackScan: true }); const ip = ips[i % 200_000]!; x ^= h.add(ip, hashString(ip)); } });
t("heavy url add", () => { let h = new HeavyKeys({ capacity: 1024, trackScan: false }); for (let i = 0; i < N; i++) { if (i % 10000 === 0) h = new HeavyKeys({ capacity: 1024, trackScan: false }); const p = paths[i % 200_000]!; x ^= h.add(p, hashString(p)); } });
t("packed record", () => { let h = new PackedHistogram(1, 3.6e9, 3); for (let i = 0; i < N; i++) { if (i % 10000 === 0) h = new PackedHistogram(1, 3.6e9, 3); h.recordValue(lat[i % 200_000]!); } });
t("int32 record", () => { let h = new Int32Histogram(1, 3.6e9, 3); for (let i = 0; i < N; i++) { if (i % 10000 === 0) h = new Int32Histogram(1, 3.6e9, 3); h.recordValue(lat[i % 200_000]!); } });
console.log(x);
}
