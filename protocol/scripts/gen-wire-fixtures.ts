/**
 * Regenerates the golden wire fixtures in protocol/src/wire/fixtures/: for every source below a
 * `<name>.bin` (the encoded partial) and a `<name>.json` (its expected decoded summary).
 *
 *   npx tsx protocol/scripts/gen-wire-fixtures.ts
 *
 * Only run this for an intended format change (together with a version bump, see wire/index.ts): the
 * wire tests check that today's encoder still yields these exact bytes from the same sources.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Packr } from "msgpackr";
import { emptyLogRecord, type RejectReason } from "../src/model.js";
import { addRecord, addReject, createPartial, summarizePartial, type WindowPartial } from "../src/partial/index.js";
import { encodePartial } from "../src/wire/index.js";

const WINDOW = 1_767_268_800_000; // 2026-01-01T12:00:00Z
/** Spelled out (not REJECT_REASONS) so that adding a reason does not change these sources. */
const V1_REJECT_REASONS: RejectReason[] = [
  "empty",
  "too_long",
  "binary",
  "syntax",
  "bad_time",
  "bad_status",
  "bad_number",
  "truncated",
];
const key = (seq = 0) => ({ host: "web-01", service: "shop", windowStartMs: WINDOW, windowMs: 10_000, seq });

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** `lines` requests from `ips` clients over `paths` paths (skewed), plus a few rejects; all deterministic. */
function traffic(p: WindowPartial, seed: number, lines: number, ips: number, paths: number): WindowPartial {
  const rnd = lcg(seed);
  const statuses = [200, 200, 200, 200, 200, 304, 301, 404, 500, 503];
  const methods = ["GET", "GET", "GET", "POST", "HEAD"];
  const rec = emptyLogRecord();
  for (let i = 0; i < lines; i++) {
    const ip = Math.floor(ips * rnd() ** 2);
    rec.timeMs = WINDOW + Math.floor(rnd() * 10_000);
    rec.status = statuses[Math.floor(rnd() * statuses.length)]!;
    rec.bytes = Math.floor(rnd() * 40_000);
    rec.latencyUs = i % 17 === 0 ? -1 : Math.floor(300 + rnd() ** 4 * 3_000_000);
    rec.ip = `10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`;
    rec.method = methods[Math.floor(rnd() * methods.length)]!;
    rec.path = `/catalog/${Math.floor(paths * rnd() ** 2)}`;
    addRecord(p, rec);
  }
  for (let i = 0; i < lines / 100; i++) addReject(p, V1_REJECT_REASONS[i % 4]!);
  return p;
}

/** One IP requesting `distinct` different paths, mostly 404s (a URL scan). */
function scan(p: WindowPartial, ip: string, distinct: number): WindowPartial {
  const rec = { ...emptyLogRecord(), ip, method: "GET", timeMs: WINDOW + 5_000, latencyUs: 800 };
  for (let i = 0; i < distinct; i++)
    addRecord(p, { ...rec, status: i % 10 === 0 ? 200 : 404, path: `/admin/${i}.php` });
  return p;
}

export interface FixtureSource {
  name: string;
  build(): WindowPartial;
  /** Fields a newer writer might add (the reader must ignore them); merged into the encoded map. */
  extraFields?: Record<string, unknown>;
}

export const fixtureSources: FixtureSource[] = [
  { name: "empty", build: () => createPartial(key()) },
  {
    name: "rejects-only",
    build: () => {
      const p = createPartial(key(3));
      for (const reason of V1_REJECT_REASONS) addReject(p, reason);
      addReject(p, "syntax");
      return p;
    },
  },
  { name: "typical", build: () => scan(traffic(createPartial(key()), 1, 2_000, 60, 150), "203.0.113.7", 80) },
  {
    name: "sketch-mode",
    build: () => scan(traffic(createPartial(key(1)), 2, 12_000, 6_000, 3_000), "203.0.113.66", 300),
  },
  {
    name: "newer-writer",
    build: () => traffic(createPartial(key()), 3, 300, 10, 20),
    extraFields: { zz: "a field from a newer agent", x2: { nested: [1, 2, 3] } },
  },
];

/** The encoding of a fixture source: encodePartial, plus any extra fields a newer writer would add. */
export function encodeFixture(source: FixtureSource): Buffer {
  const bytes = encodePartial(source.build());
  if (source.extraFields === undefined) return bytes;
  const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });
  const map = packr.unpack(bytes) as Record<string, unknown>;
  const ip = map.ip as Record<string, unknown>;
  ip.future = true;
  return Buffer.from(packr.pack({ ...map, ...source.extraFields }));
}

export const FIXTURE_TOP_K = 5;
export const fixturesDir = fileURLToPath(new URL("../src/wire/fixtures/", import.meta.url));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const source of fixtureSources) {
    const bytes = encodeFixture(source);
    const summary = summarizePartial(source.build(), { topK: FIXTURE_TOP_K });
    writeFileSync(`${fixturesDir}${source.name}.bin`, bytes);
    writeFileSync(`${fixturesDir}${source.name}.json`, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`${source.name}: ${bytes.length} bytes`);
  }
}
