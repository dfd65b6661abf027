/**
 * Parses access logs written by the real nginx (committed fixtures; regenerate with
 * `npx tsx protocol/scripts/capture-nginx-fixtures.ts`). Every field is checked against what the
 * capture sent and what its client saw on the socket (status, body length), never against the log.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { emptyLogRecord, type LogRecord } from "../model.js";
import { createParser, type LogFormatSpec } from "./index.js";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

interface Sent {
  name: string;
  ip: string;
  sent: string;
  status: number | null;
  bodyBytes: number;
}
const manifest = JSON.parse(fixture("nginx-requests.json").toString("utf8")) as {
  nginx: string;
  startMs: number;
  endMs: number;
  requests: Sent[];
};

/** Written by hand from the requests in capture-nginx-fixtures.ts. */
const EXPECTED: Record<string, { method: string; path: string; status: number }> = {
  get_root: { method: "GET", path: "/", status: 200 },
  head_root: { method: "HEAD", path: "/", status: 200 },
  post_submit: { method: "POST", path: "/submit", status: 201 },
  not_found_query: { method: "GET", path: "/missing/page", status: 404 },
  quote_backslash: { method: "GET", path: '/q"uote\\back', status: 404 },
  non_utf8: { method: "GET", path: "/caf\uFFFD/\uFFFD", status: 404 },
  utf8: { method: "GET", path: "/café", status: 404 },
  garbage: { method: "", path: "", status: 400 },
  spaces: { method: "GET", path: "/a b c", status: 400 },
  tls_hello: { method: "", path: "", status: 400 },
  ipv6: { method: "GET", path: "/v6/path", status: 404 },
  delete: { method: "DELETE", path: "/items/7", status: 404 },
  http10: { method: "GET", path: "/old", status: 404 },
  proxy_retry: { method: "GET", path: "/proxy/a", status: 200 },
  proxy: { method: "GET", path: "/proxy/b", status: 200 },
  long_query: { method: "GET", path: "/", status: 200 },
};

function lines(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let start = 0; start < buf.length; ) {
    const nl = buf.indexOf(10, start);
    const end = nl < 0 ? buf.length : nl;
    out.push([start, end]);
    start = end + 1;
  }
  return out;
}

const LOGS: { file: string; format: LogFormatSpec; latency: boolean; msPrecision: boolean }[] = [
  { file: "nginx-combined.log", format: "nginx_combined", latency: false, msPrecision: false },
  { file: "nginx-rt.log", format: "nginx_combined_rt", latency: true, msPrecision: false },
  { file: "nginx-json.log", format: "json", latency: true, msPrecision: true },
];

describe(`real ${manifest.nginx} access logs`, () => {
  it("the capture covers every expected request and the client saw the expected statuses", () => {
    expect(manifest.requests.map((r) => r.name)).toEqual(Object.keys(EXPECTED));
    for (const r of manifest.requests) expect(r.status, r.name).toBe(EXPECTED[r.name]!.status);
  });

  it("the fixtures hold the hard cases as nginx really writes them", () => {
    const rt = fixture("nginx-rt.log").toString("latin1");
    expect(rt).toContain('"GET /q\\x22uote\\x5Cback?q=\\x22a\\x22\\x5Cb HTTP/1.1"');
    expect(rt).toContain('"Agent \\x22quoted\\x22 \\x5C backslash"');
    expect(rt).toContain('"GET /caf\\xE9/\\xFF HTTP/1.1"');
    expect(rt).toMatch(/"GET \/proxy\/a HTTP\/1.1" 200 8 "-" "fixture\/1.0" \d+\.\d{3} \d+\.\d{3}, \d+\.\d{3}\n/);
    expect(rt).toMatch(/^::1 - - /m);
    const json = fixture("nginx-json.log");
    expect(json.includes(Buffer.from("/caf\xe9/\xff", "latin1"))).toBe(true);
  });

  for (const log of LOGS) {
    it(`${log.file} parses to exactly what was sent`, () => {
      const buf = fixture(log.file);
      const parser = createParser(log.format);
      const ranges = lines(buf).filter(([s, e]) => e > s);
      expect(ranges).toHaveLength(manifest.requests.length);
      ranges.forEach(([start, end], i) => {
        const sent = manifest.requests[i]!;
        const expected = EXPECTED[sent.name]!;
        const rec: LogRecord = emptyLogRecord();
        expect(parser.parse(buf, start, end, rec), sent.name).toBeNull();
        expect(
          { ip: rec.ip, method: rec.method, path: rec.path, status: rec.status, bytes: rec.bytes },
          sent.name,
        ).toEqual({
          ip: sent.ip,
          method: expected.method,
          path: expected.path,
          status: expected.status,
          bytes: sent.bodyBytes,
        });
        // Log times are the request's end, within the capture run (second precision except $msec).
        const slackMs = log.msPrecision ? 0 : 999;
        expect(rec.timeMs, sent.name).toBeGreaterThanOrEqual(manifest.startMs - slackMs);
        expect(rec.timeMs, sent.name).toBeLessThanOrEqual(manifest.endMs);
        if (log.latency) {
          expect(rec.latencyUs, sent.name).toBeGreaterThanOrEqual(0);
          expect(rec.latencyUs, sent.name).toBeLessThan(10_000_000);
          expect(rec.latencyUs % 1000, sent.name).toBe(0);
        } else {
          expect(rec.latencyUs, sent.name).toBe(-1);
        }
      });
    });
  }
});
