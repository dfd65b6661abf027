import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { emptyLogRecord, REJECT_REASONS } from "../model.js";
import { createParser, type LogFormatSpec } from "./index.js";

const FORMATS: LogFormatSpec[] = [
  "nginx_combined",
  "nginx_combined_rt",
  "apache_common",
  "apache_combined",
  "apache_combined_d",
  "json",
  { nginx: '$remote_addr [$time_iso8601] "$request_method $request_uri" $status $bytes_sent $upstream_addr $msec' },
];

const VALID_LINE =
  '10.0.0.1 - - [10/Oct/2023:13:55:36 +0700] "GET /a?b HTTP/1.1" 200 12 "-" "ua \\x22x\\x22" 0.004 0.001, 0.003';
const VALID_JSON = '{"msec":"1696920936.004","remote_addr":"::1","request":"GET /j HTTP/1.1","status":"200"}';

/** Buffers that are random, or valid lines with random bytes inserted, replaced or cut. */
const hostileLine = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .tuple(
      fc.constantFrom(VALID_LINE, VALID_JSON),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("insert", "replace", "cut")), {
        maxLength: 6,
      }),
    )
    .map(([line, edits]) => {
      const bytes = [...Buffer.from(line, "latin1")];
      for (const [at, byte, kind] of edits) {
        const i = at % (bytes.length + 1);
        if (kind === "insert") bytes.splice(i, 0, byte);
        else if (kind === "replace") bytes[i] = byte;
        else bytes.length = i;
      }
      return Uint8Array.from(bytes);
    }),
);

describe("parser robustness", () => {
  it("never throws and always answers null or a known reason, for every format", () => {
    const parsers = FORMATS.map((f) => createParser(f));
    const rec = emptyLogRecord();
    fc.assert(
      fc.property(hostileLine, fc.nat(8), fc.nat(8), (bytes, before, after) => {
        // The line sits inside a larger buffer, with junk around it that must not be read.
        const buf = Buffer.concat([Buffer.alloc(before, 0x22), bytes, Buffer.alloc(after, 0x22)]);
        for (const parser of parsers) {
          const reason = parser.parse(buf, before, before + bytes.length, rec);
          if (reason !== null) expect(REJECT_REASONS).toContain(reason);
          else {
            expect(Number.isFinite(rec.timeMs)).toBe(true);
            expect(rec.status).toBeGreaterThanOrEqual(0);
            expect(rec.status).toBeLessThanOrEqual(999);
            expect(rec.bytes).toBeGreaterThanOrEqual(0);
            expect(rec.latencyUs).toBeGreaterThanOrEqual(-1);
          }
        }
      }),
      { numRuns: 1500 },
    );
  });
});

interface Request {
  ip: string;
  timeMs: number;
  zoneMinutes: number;
  method: string;
  path: string;
  query: string;
  status: number;
  bytes: number;
  latencyMs: number;
  userAgent: string;
}

const text = (chars: string[], maxLength: number) =>
  fc.array(fc.constantFrom(...chars), { maxLength }).map((a) => a.join(""));
const PATH_CHARS = [..."abcXYZ019-._~/%+=&;:@!$'()*, ", '"', "\\", "é", "😀", "\u00ff"];

const request: fc.Arbitrary<Request> = fc.record({
  ip: fc.oneof(fc.ipV4(), fc.ipV6()),
  // Whole seconds (what $time_local and %t carry), 1971 .. 2100.
  timeMs: fc.integer({ min: 31_536_000, max: 4_102_444_800 }).map((s) => s * 1000),
  zoneMinutes: fc.integer({ min: -12 * 4, max: 14 * 4 }).map((q) => q * 15),
  method: fc.constantFrom("GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "M-SEARCH"),
  path: text(PATH_CHARS, 40).map((p) => `/${p}`),
  query: fc.option(text([...'abc=&?/"é '], 20), { nil: undefined }).map((q) => (q === undefined ? "" : `?${q}`)),
  status: fc.integer({ min: 100, max: 599 }),
  bytes: fc.integer({ min: 0, max: 1e12 }),
  latencyMs: fc.integer({ min: 0, max: 3_600_000 }),
  userAgent: text([...'Mozilla/5.0 (X11) "\\é'], 30),
});

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function timeLocal(r: Request): string {
  const d = new Date(r.timeMs + r.zoneMinutes * 60_000);
  const abs = Math.abs(r.zoneMinutes);
  const zone = `${r.zoneMinutes < 0 ? "-" : "+"}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${zone}`;
}

/** nginx's default log escaping: `"`, `\`, control and non-ASCII bytes as \xHH. */
function nginxEscape(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    out +=
      b === 0x22 || b === 0x5c || b < 0x20 || b >= 0x7f
        ? `\\x${b.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(b);
  }
  return out;
}

/** Apache's: `\"`, `\\`; other bytes raw. */
function apacheEscape(s: string): Buffer {
  return Buffer.from(
    s.replace(/[\\"]/g, (c) => `\\${c}`),
    "utf8",
  );
}

const seconds = (ms: number) => `${Math.floor(ms / 1000)}.${pad(ms % 1000, 3)}`;

const FORMATTERS: { format: LogFormatSpec; latency: boolean; write: (r: Request) => Buffer }[] = [
  {
    format: "nginx_combined_rt",
    latency: true,
    write: (r) =>
      Buffer.from(
        `${r.ip} - - [${timeLocal(r)}] "${r.method} ${nginxEscape(r.path + r.query)} HTTP/1.1" ${r.status} ${r.bytes} "-" ` +
          `"${nginxEscape(r.userAgent)}" ${seconds(r.latencyMs)} ${r.latencyMs % 2 ? "-" : `0.001, ${seconds(r.latencyMs)}`}`,
        "latin1",
      ),
  },
  {
    format: "apache_combined_d",
    latency: true,
    write: (r) =>
      Buffer.concat([
        Buffer.from(`${r.ip} - - [${timeLocal(r)}] "${r.method} `),
        apacheEscape(r.path + r.query),
        Buffer.from(` HTTP/1.1" ${r.status} ${r.bytes === 0 ? "-" : r.bytes} "-" "`),
        apacheEscape(r.userAgent),
        Buffer.from(`" ${r.latencyMs * 1000}`),
      ]),
  },
  {
    format: "json",
    latency: true,
    write: (r) =>
      Buffer.from(
        JSON.stringify({
          time_local: timeLocal(r),
          remote_addr: r.ip,
          request: `${r.method} ${r.path}${r.query} HTTP/1.1`,
          status: String(r.status),
          body_bytes_sent: r.bytes,
          request_time: seconds(r.latencyMs),
          http_user_agent: r.userAgent,
        }),
        "utf8",
      ),
  },
];

describe("format → parse round trip", () => {
  for (const { format, latency, write } of FORMATTERS) {
    it(`${typeof format === "string" ? format : "custom"} gives back every field`, () => {
      const parser = createParser(format);
      const rec = emptyLogRecord();
      fc.assert(
        fc.property(request, (r) => {
          const line = write(r);
          expect(parser.parse(line, 0, line.length, rec), line.toString("latin1")).toBeNull();
          expect(rec).toEqual({
            timeMs: r.timeMs,
            status: r.status,
            bytes: r.bytes,
            latencyUs: latency ? r.latencyMs * 1000 : -1,
            ip: r.ip,
            method: r.method,
            path: r.path,
          });
        }),
        { numRuns: 500 },
      );
    });
  }
});
