import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { encodeFixture, FIXTURE_TOP_K, fixtureSources, fixturesDir } from "../../scripts/gen-wire-fixtures.js";
import { ProtocolError, ProtocolErrorCode } from "../errors.js";
import { emptyLogRecord } from "../model.js";
import { createLineRecord, createParser } from "../parse/index.js";
import {
  addRecord,
  createPartial,
  estimateIpRequests,
  IP_CAPACITY,
  summarizePartial,
  URL_CAPACITY,
  type WindowPartial,
} from "../partial/index.js";
import { decodePartial, encodePartial } from "./index.js";

const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  throw new Error("expected a ProtocolError, nothing was thrown");
}

/** The comparable content of a partial (what central reads from it). */
function view(p: WindowPartial) {
  return {
    key: [p.host, p.service, p.windowStartMs, p.windowMs, p.seq],
    summary: summarizePartial(p, { topK: 5000, scanLimit: 5000 }),
    latency: p.latency.buckets(),
    methods: [p.methods, p.methodCounts],
    ips: [p.ips.exact, p.ips.exact ? null : p.ips.countMinSketch().counts, p.ips.keys.slice(0, p.ips.size)],
    urls: [p.urls.exact, p.urls.exact ? null : p.urls.countMinSketch().counts, p.urls.keys.slice(0, p.urls.size)],
  };
}

function typical(): WindowPartial {
  return fixtureSources.find((s) => s.name === "typical")!.build();
}

/** `bytes` are exactly what msgpackr writes for the values they decode to (the writer's contract). */
function expectMsgpackrBytes(bytes: Buffer): void {
  expect(Buffer.compare(Buffer.from(packr.pack(packr.unpack(bytes))), bytes)).toBe(0);
}

/** Re-encodes a decoded record map after `edit`, bypassing the encoder's guarantees. */
function tampered(edit: (map: Record<string, unknown>) => void): Buffer {
  const map = packr.unpack(encodePartial(typical())) as Record<string, unknown>;
  edit(map);
  return Buffer.from(packr.pack(map));
}

describe("wire v1 golden fixtures", () => {
  const files = readdirSync(fixturesDir).filter((f) => f.endsWith(".bin"));

  it("has a fixture for every source and no stray ones", () => {
    expect(files.map((f) => f.replace(/\.bin$/, "")).sort()).toEqual(fixtureSources.map((s) => s.name).sort());
  });

  it.each(files)("decodes %s to the recorded summary", (file) => {
    const bytes = readFileSync(`${fixturesDir}${file}`);
    const expected = JSON.parse(readFileSync(`${fixturesDir}${file.replace(/\.bin$/, ".json")}`, "utf8"));
    const summary = summarizePartial(decodePartial(bytes), { topK: FIXTURE_TOP_K });
    // Reasons added after the fixture was written must decode as 0.
    for (const reason of Object.keys(summary.rejects)) expected.rejects[reason] ??= 0;
    expect(summary).toEqual(expected);
  });

  it.each(fixtureSources.map((s) => [s.name, s] as const))(
    "encoding the source of %s still yields the committed bytes",
    (name, source) => {
      const committed = readFileSync(`${fixturesDir}${name}.bin`);
      expect(Buffer.compare(encodeFixture(source), committed)).toBe(0);
    },
  );
});

describe("wire v1 round trip", () => {
  it.each(fixtureSources.filter((s) => s.extraFields === undefined).map((s) => [s.name, s] as const))(
    "decode(encode(p)) has the same content as p (%s)",
    (_name, source) => {
      const p = source.build();
      const back = decodePartial(encodePartial(p));
      expect(view(back)).toEqual(view(p));
      // And it re-encodes to the same bytes, which are msgpackr's for the same values.
      expect(Buffer.compare(encodePartial(back), encodePartial(p))).toBe(0);
      expectMsgpackrBytes(encodePartial(p));
    },
  );

  it("round-trips arbitrary records, including the extremes of every field", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            timeMs: fc.integer({ min: 0, max: 2 ** 45 }),
            status: fc.integer({ min: 0, max: 999 }),
            bytes: fc.integer({ min: 0, max: 2 ** 40 }),
            latencyUs: fc.integer({ min: -1, max: 2 ** 33 }),
            ip: fc.string({ maxLength: 80 }),
            method: fc.string({ maxLength: 30 }),
            path: fc.string({ maxLength: 300 }),
          }),
          { maxLength: 60 },
        ),
        (records) => {
          const p = createPartial({ host: "h".repeat(256), service: "s", windowStartMs: -10_000, windowMs: 1, seq: 7 });
          for (const r of records) addRecord(p, r);
          const bytes = encodePartial(p);
          expect(view(decodePartial(bytes))).toEqual(view(p));
          expectMsgpackrBytes(bytes);
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);

  it("writes what msgpackr writes for the same values (keys held as bytes, non-ASCII, sketch mode)", () => {
    const parser = createParser("nginx_combined_rt");
    const rec = createLineRecord();
    const pathArb = fc.oneof(
      fc.integer({ min: 0, max: 3000 }).map((n) => `/p/${n}`),
      fc.string({ unit: "grapheme", maxLength: 300 }).map((s) => `/${s.replace(/[\s"\\?]/g, "_")}`),
    );
    const lineArb = fc.tuple(fc.integer({ min: 0, max: 5000 }), pathArb, fc.integer({ min: 100, max: 599 }));
    fc.assert(
      fc.property(
        fc.array(lineArb, { minLength: 1, maxLength: 4000, size: "max" }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (entries, bodyBytes) => {
          const p = createPartial({ host: "web-1", service: "wéb", windowStartMs: 0, windowMs: 10_000, seq: 0 });
          const log = Buffer.from(
            entries
              .map(
                ([ip, path, status]) =>
                  `10.1.${ip >> 8}.${ip & 255} - - [01/May/2024:12:00:00 +0000] "GET ${path} HTTP/1.1" ${status} ${bodyBytes} "-" "ua" 0.010 -`,
              )
              .join("\n"),
          );
          for (let start = 0; start < log.length; ) {
            let nl = log.indexOf(10, start);
            if (nl < 0) nl = log.length;
            if (parser.parse(log, start, nl, rec) === null) addRecord(p, rec);
            start = nl + 1;
          }
          expectMsgpackrBytes(encodePartial(p));
          // Cut tables (ranked keys) too.
          expectMsgpackrBytes(encodePartial(p, { maxRecordBytes: 20_000 }));
        },
      ),
      { numRuns: 30 },
    );
  }, 60_000);

  it("ignores fields it does not know (a newer writer), at the top level and nested", () => {
    const source = fixtureSources.find((s) => s.name === "newer-writer")!;
    const bytes = encodeFixture(source);
    expect(Object.keys(packr.unpack(bytes) as object)).toContain("zz");
    expect(view(decodePartial(bytes))).toEqual(view(source.build()));
  });
});

describe("wire v1 decoding errors", () => {
  it("rejects a record above the size limit before parsing it", () => {
    const bytes = encodePartial(typical());
    expect(codeOf(() => decodePartial(bytes, { maxRecordBytes: bytes.length - 1 }))).toBe(ProtocolErrorCode.Oversize);
    expect(decodePartial(bytes, { maxRecordBytes: bytes.length }).requests).toBe(typical().requests);
    expect(codeOf(() => decodePartial(new Uint8Array(1024 * 1024 + 1)))).toBe(ProtocolErrorCode.Oversize);
  });

  it("rejects other versions with UnsupportedVersion", () => {
    for (const v of [0, 2, 99]) {
      expect(codeOf(() => decodePartial(tampered((m) => (m.v = v))))).toBe(ProtocolErrorCode.UnsupportedVersion);
    }
    expect(codeOf(() => decodePartial(tampered((m) => delete m.v)))).toBe(ProtocolErrorCode.Malformed);
  });

  it("rejects every truncation of a valid record as Malformed", () => {
    const bytes = encodePartial(typical());
    for (let n = 0; n < bytes.length; n += Math.max(1, Math.floor(bytes.length / 400))) {
      expect(codeOf(() => decodePartial(bytes.subarray(0, n)))).toBe(ProtocolErrorCode.Malformed);
    }
  });

  it("never throws anything but a coded ProtocolError on garbage bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        let result: WindowPartial | undefined;
        try {
          result = decodePartial(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
          expect(Object.values(ProtocolErrorCode)).toContain((error as ProtocolError).code);
        }
        expect(result).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  }, 60_000);

  it("rejects single-byte corruptions of a valid record with a coded error or decodes consistently", () => {
    const bytes = encodePartial(typical());
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const copy = Buffer.from(bytes);
        copy[at] = value;
        try {
          const p = decodePartial(copy);
          // A corruption that still decodes must still satisfy the cross-field invariants.
          expect(p.latency.count + p.latencyMissing).toBe(p.requests);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 500 },
    );
  }, 60_000);

  const wrongFields: [string, (m: Record<string, unknown>) => void][] = [
    ["top level is an array", (m) => Object.assign(m, { __array: true })],
    ["host not a string", (m) => (m.h = 7)],
    ["host too long", (m) => (m.h = "x".repeat(257))],
    ["empty service", (m) => (m.s = "")],
    ["window start a float", (m) => (m.w = 1.5)],
    ["window length 0", (m) => (m.wm = 0)],
    ["seq negative", (m) => (m.q = -1)],
    ["requests as string", (m) => (m.r = "2080")],
    ["more requests than lines", (m) => (m.n = 5)],
    ["bytes as bigint-sized float", (m) => (m.b = 2 ** 60)],
    ["status codes not pairs", (m) => (m.sc = [200])],
    ["status code out of range", (m) => (m.sc = [1000, m.r])],
    ["status counts not summing to requests", (m) => (m.sc = [200, 1])],
    ["methods map instead of array", (m) => (m.m = { GET: 1 })],
    ["method name too long", (m) => (m.m = ["X".repeat(25), m.r])],
    ["rejects as array", (m) => (m.rj = [1, 2])],
    ["too many reject reasons", (m) => (m.rj = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`r${i}`, 1])))],
    ["reject count negative", (m) => (m.rj = { syntax: -1 })],
    ["latency not bin", (m) => (m.lh = "abc")],
    ["latency bucket beyond range", (m) => (m.lh = new Uint8Array([0, 0xff, 0xff, 0x03, 1]))],
    ["latency missing wrong", (m) => (m.lm = (m.lm as number) + 1)],
    ["times reversed", (m) => ([m.t0, m.t1] = [m.t1, m.t0])],
    ["times missing", (m) => (m.t0 = null)],
    ["ip table missing", (m) => delete m.ip],
    ["ip keys not strings", (m) => ((m.ip as Record<string, unknown>).k = [1])],
    ["ip counts length mismatch", (m) => ((m.ip as Record<string, unknown>).c = [])],
    ["ip key too long", (m) => (((m.ip as Record<string, unknown>).k as string[])[0] = "1".repeat(65))],
    ["too many url keys", (m) => Object.assign(m.u as object, { k: Array(1025).fill("/"), c: Array(1025).fill(1) })],
    ["distinct counter odd length", (m) => (((m.ip as Record<string, unknown>).d as unknown[])[0] = new Uint8Array(3))],
    [
      "count-min of other dimensions",
      (m) => Object.assign(m.ip as object, { cw: 1024, cd: 4, cm: new Uint8Array(4096) }),
    ],
    ["count-min counters truncated", (m) => Object.assign(m.ip as object, { cw: 4096, cd: 4, cm: new Uint8Array(10) })],
  ];
  it.each(wrongFields)("rejects a record with %s as Malformed", (_label, edit) => {
    const bytes = _label === "top level is an array" ? Buffer.from(packr.pack([1, 2, 3])) : tampered(edit);
    expect(codeOf(() => decodePartial(bytes))).toBe(ProtocolErrorCode.Malformed);
  });

  it("rejects msgpack extension types (no msgpackr-only encodings)", () => {
    const withDate = Buffer.from(
      new Packr({ useRecords: false }).pack({ ...(packr.unpack(encodePartial(typical())) as object), h: new Date(0) }),
    );
    expect(codeOf(() => decodePartial(withDate))).toBe(ProtocolErrorCode.Malformed);
  });
});

describe("wire v1 sizes", () => {
  it("stays within the default record limit even with every table full of long non-ASCII keys", () => {
    const p = createPartial({ host: "web-1", service: "web", windowStartMs: 0, windowMs: 10_000, seq: 0 });
    const rec = { ...emptyLogRecord(), method: "GET", status: 404, latencyUs: 100 };
    const longIp = (i: number) => `${i}`.padEnd(64, "é");
    const longPath = (i: number) => `/${i}`.padEnd(256, "ü");
    for (let i = 0; i < IP_CAPACITY; i++) {
      // ~100 distinct paths per IP fill its HyperLogLog densely.
      for (let j = 0; j < 100; j++) addRecord(p, { ...rec, ip: longIp(i), path: longPath((i * 7 + j) % URL_CAPACITY) });
    }
    for (let j = 0; j < 500; j++) addRecord(p, { ...rec, ip: longIp(5), path: longPath(3) });
    expect(p.ips.exact && p.urls.exact).toBe(true);
    const bytes = encodePartial(p);
    console.log(
      `encoded adversarial partial (2048 x 64-char IPs, 1024 x 256-char paths, non-ASCII): ${bytes.length} bytes`,
    );
    expect(bytes.length).toBeLessThanOrEqual(1024 * 1024);
    const back = decodePartial(bytes);
    expect(back.requests).toBe(p.requests);
    expect(back.ips.exact).toBe(false);
    const top = summarizePartial(back, { topK: 1 });
    expect(top.topIps[0]).toEqual({ ip: longIp(5), requests: 600 });
    expect(top.topUrls[0]!.url).toBe(longPath(3));
    // Every estimate is still an upper bound of the truth.
    for (const i of [0, 1000, 2047]) expect(estimateIpRequests(back, longIp(i))).toBeGreaterThanOrEqual(100);
  }, 60_000);

  it("keeps a 10 k-line, 500-IP partial small and reports it", () => {
    const p = createPartial({ host: "web-1", service: "web", windowStartMs: 0, windowMs: 10_000, seq: 0 });
    const rec = emptyLogRecord();
    for (let i = 0; i < 10_000; i++) {
      rec.timeMs = i;
      rec.status = i % 20 === 0 ? 404 : 200;
      rec.bytes = 1000 + (i % 777);
      rec.latencyUs = 1000 + ((i * 7919) % 200_000);
      rec.ip = `10.0.${(i % 500) >> 8}.${i % 250}`;
      rec.method = "GET";
      rec.path = `/item/${(i * 31) % 300}`;
      addRecord(p, rec);
    }
    const size = encodePartial(p).length;
    console.log(`encoded typical partial (10 k lines, 500 IPs, 300 paths): ${size} bytes`);
    expect(size).toBeLessThan(64 * 1024);
  });
});
