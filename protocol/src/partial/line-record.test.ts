/**
 * The LineRecord fast path (plain ip / path kept as byte ranges, hashed from the bytes, a string made
 * only for a key a table stores) must give the same partials as parsing into a plain LogRecord:
 * compared as encoded wire bytes, over the real-nginx fixtures and a generated log that drives both
 * key tables deep into sketch mode.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emptyLogRecord, type LogRecord, windowStartOf } from "../model.js";
import { createLineRecord, createParser, type LogFormatSpec } from "../parse/index.js";
import { encodePartial } from "../wire/index.js";
import { addRecord, addReject, createPartial, type WindowPartial } from "./index.js";

const WINDOW_MS = 10_000;

/**
 * Folds every line of `log` into per-window partials and returns their encodings in window order.
 * Lines are copied in batches of whole lines into one reused chunk before parsing, as the agent and
 * the benchmark read them, so a LineRecord's ranges point into a buffer that is overwritten later.
 */
function fold(log: Buffer, format: LogFormatSpec, rec: LogRecord, chunkBytes: number): Buffer[] {
  const parser = createParser(format);
  const partials = new Map<number, WindowPartial>();
  let current: WindowPartial | undefined;
  const chunk = Buffer.alloc(chunkBytes);
  let pos = 0;
  while (pos < log.length) {
    // Whole lines that fit the chunk (a longer line goes alone, in its own buffer).
    let end = pos;
    while (end < log.length) {
      let nl = log.indexOf(10, end);
      if (nl < 0) nl = log.length - 1;
      if (nl + 1 - pos > chunkBytes && end > pos) break;
      end = nl + 1;
    }
    const data = end - pos <= chunkBytes ? chunk : Buffer.alloc(end - pos);
    const length = log.copy(data, 0, pos, end);
    for (let start = 0; start < length; ) {
      let nl = data.indexOf(10, start);
      if (nl < 0 || nl >= length) nl = length;
      const reason = parser.parse(data, start, nl, rec);
      if (reason !== null) {
        if (current !== undefined) addReject(current, reason);
      } else {
        const w = windowStartOf(rec.timeMs, WINDOW_MS);
        current = partials.get(w);
        if (current === undefined) {
          current = createPartial({ host: "web1", service: "web", windowStartMs: w, windowMs: WINDOW_MS, seq: 0 });
          partials.set(w, current);
        }
        addRecord(current, rec);
      }
      start = nl + 1;
    }
    data.fill(0x2a, 0, length); // a refill: ranges into it would now read garbage
    pos = end;
  }
  return [...partials.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => encodePartial(p));
}

function expectSamePartials(log: Buffer, format: LogFormatSpec, chunkBytes = 4096): Buffer[] {
  const plain = fold(log, format, emptyLogRecord(), chunkBytes);
  const fast = fold(log, format, createLineRecord(), chunkBytes);
  expect(fast.length).toBe(plain.length);
  for (let i = 0; i < plain.length; i++) expect(fast[i]!.equals(plain[i]!), `window ${i}`).toBe(true);
  return plain;
}

/** A small seeded PRNG (mulberry32), so the generated log is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `nginx_combined_rt` lines over 40 s of log: ~12 k client addresses (IPv4, IPv6, host names longer
 * than the 64-character key cut) and ~20 k paths (plain, `\x22`-escaped, UTF-8, longer than the
 * 256-character cut, with queries), so both tables run in sketch mode with heavy eviction; a heavy
 * hitter, a scanner with 404s, 20 methods (past the 16 kept), request lines without a path, and
 * garbage lines in between.
 */
function generatedLog(lines: number, seed: number): Buffer {
  const r = prng(seed);
  const pick = (n: number) => Math.floor(r() * n);
  const out: string[] = [];
  const start = Date.UTC(2024, 4, 1, 12, 0, 0);
  const methods = ["GET", "GET", "GET", "POST", "HEAD", ...Array.from({ length: 17 }, (_, i) => `M${i}X`)];
  const two = (n: number) => String(n).padStart(2, "0");
  for (let i = 0; i < lines; i++) {
    const t = new Date(start + Math.floor((i * 40_000) / lines));
    const time = `${two(t.getUTCDate())}/May/2024:${two(t.getUTCHours())}:${two(t.getUTCMinutes())}:${two(t.getUTCSeconds())} +0000`;
    const k = r();
    const ip =
      k < 0.2
        ? "10.0.0.1"
        : k < 0.25
          ? "198.51.100.7"
          : k < 0.3
            ? `2001:db8::${pick(4000).toString(16)}`
            : k < 0.32
              ? `host-${pick(3)}.${"long-domain-part.".repeat(5)}example.net`
              : `10.${pick(4)}.${pick(40)}.${pick(50)}`;
    const q = r();
    let path: string;
    if (ip === "198.51.100.7") path = `/scan/${pick(100_000)}`;
    else if (q < 0.5) path = `/api/items/${pick(15_000)}`;
    else if (q < 0.6) path = `/static/${pick(50)}.js?v=${pick(9)}`;
    else if (q < 0.7) path = `/q\\x22uote/${pick(500)}`;
    else if (q < 0.78) path = `/caf\u00e9/${pick(400)}`;
    else if (q < 0.8) path = `/long/${pick(200)}/${"x".repeat(300)}`;
    else path = `/p/${pick(3000)}`;
    const method = methods[pick(methods.length)]!;
    const request = r() < 0.01 ? "-" : `${method} ${path} HTTP/1.1`;
    const status = ip === "198.51.100.7" ? 404 : [200, 200, 200, 304, 404, 500][pick(6)]!;
    const latency = r() < 0.05 ? "-" : (r() * 2).toFixed(3);
    out.push(`${ip} - - [${time}] "${request}" ${status} ${pick(50_000)} "-" "agent/${pick(9)}" ${latency} -`);
    if (r() < 0.003) out.push(r() < 0.5 ? "garbage line" : "");
  }
  return Buffer.from(`${out.join("\n")}\n`, "utf8");
}

describe("LineRecord fast path", () => {
  const fixture = (name: string) => readFileSync(new URL(`../parse/fixtures/${name}`, import.meta.url));

  it.each([
    ["nginx-combined.log", "nginx_combined"],
    ["nginx-rt.log", "nginx_combined_rt"],
    ["nginx-json.log", "json"],
  ] as const)("gives byte-identical partials on the real-nginx fixture %s", (file, format) => {
    const log = fixture(file);
    const partials = expectSamePartials(log, format, 512);
    expect(partials.length).toBeGreaterThan(0);
  });

  it("gives byte-identical partials on a generated log with many distinct IPs and paths", () => {
    const log = generatedLog(40_000, 7);
    const parser = createParser("nginx_combined_rt");
    const rec = emptyLogRecord();
    const plain = fold(log, "nginx_combined_rt", rec, 1 << 16);
    // The log does what it is for: both tables in sketch mode, keys cut, many methods.
    const window = createPartial({ host: "h", service: "s", windowStartMs: 0, windowMs: WINDOW_MS, seq: 0 });
    for (let start = 0; start < log.length; ) {
      let nl = log.indexOf(10, start);
      if (nl < 0) nl = log.length;
      if (parser.parse(log, start, nl, rec) === null && rec.timeMs < Date.UTC(2024, 4, 1, 12, 0, 10)) {
        addRecord(window, rec);
      }
      start = nl + 1;
    }
    expect(window.ips.exact).toBe(false);
    expect(window.urls.exact).toBe(false);
    expect(window.methods).toContain("OTHER");
    expect(window.ips.keys.some((k) => k.length === 64)).toBe(true);
    expect(plain.length).toBe(4);
    expectSamePartials(log, "nginx_combined_rt", 1 << 16);
  });

  it("reads back every field as the plain parse gives it", () => {
    const log = Buffer.concat([fixture("nginx-rt.log"), generatedLog(2_000, 11)]);
    const parser = createParser("nginx_combined_rt");
    const plain = emptyLogRecord();
    const line = createLineRecord();
    for (let start = 0; start < log.length; ) {
      let nl = log.indexOf(10, start);
      if (nl < 0) nl = log.length;
      const a = parser.parse(log, start, nl, plain);
      const b = parser.parse(log, start, nl, line);
      expect(b).toBe(a);
      if (a === null) {
        const { timeMs, status, bytes, latencyUs, ip, method, path } = line;
        expect({ timeMs, status, bytes, latencyUs, ip, method, path }).toEqual(plain);
      }
      start = nl + 1;
    }
  });

  it("agrees with the plain path for any mix of keys (property)", () => {
    const ipArb = fc.oneof(
      fc.constantFrom("10.0.0.1", "10.0.0.2", "::1", "2001:db8::7"),
      fc.integer({ min: 0, max: 3000 }).map((n) => `10.1.${n >> 8}.${n & 255}`),
      fc.stringMatching(/^[a-z0-9.-]{1,100}$/, { size: "max" }),
    );
    const pathArb = fc.oneof(
      fc.integer({ min: 0, max: 3000 }).map((n) => `/p/${n}`),
      fc.stringMatching(/^[a-zA-Z0-9/._~%-]{0,300}$/, { size: "max" }).map((s) => `/${s}`),
      fc.string({ unit: "grapheme", maxLength: 300 }).map((s) => `/${s.replace(/[\s"\\?]/g, "_")}`),
      fc.constantFrom("/a?b=1", "/%20x", "/x\\x22y", "/"),
    );
    const lineArb = fc.tuple(ipArb, pathArb, fc.constantFrom(200, 404, 500), fc.integer({ min: 0, max: 59 }));
    fc.assert(
      fc.property(fc.array(lineArb, { minLength: 1, maxLength: 3000, size: "max" }), (entries) => {
        const text = entries
          .map(
            ([ip, path, status, second]) =>
              `${ip} - - [01/May/2024:12:00:${String(second).padStart(2, "0")} +0000] "GET ${path} HTTP/1.1" ${status} 10 "-" "ua" 0.010 -`,
          )
          .join("\n");
        expectSamePartials(Buffer.from(text, "utf8"), "nginx_combined_rt", 2048);
      }),
      { numRuns: 25 },
    );
  }, 60_000);
});
