import { HttpError, RequestTimedOutError } from "@influxdata/influxdb-client";
import { summarizePartial } from "@rla/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CentralErrorCode } from "../errors.js";
import { partialOf } from "../testkit.js";
import { classifyInfluxError, createInfluxClient } from "./client.js";
import { buildPipelinePoint, buildWindowPoints, deleteStatement, float, type InfluxPoint, int } from "./points.js";

const T = 1_700_000_000_000;

function pointsFor(
  records: Parameters<typeof partialOf>[1],
  extra: Partial<Parameters<typeof buildWindowPoints>[0]> = {},
) {
  const p = partialOf({ host: "web-1", windowStartMs: T }, records);
  const summary = summarizePartial(p, { topK: 3 });
  return buildWindowPoints({
    windowMs: 10_000,
    service: "web",
    windowStartMs: T,
    topK: 3,
    fleet: { summary, agentsReported: 1, agentsExpected: 2 },
    hosts: [{ host: "web-1", summary }],
    anomalies: [],
    ...extra,
  });
}

const find = (points: InfluxPoint[], measurement: string, tags: Record<string, string>) =>
  points.filter((p) => p.measurement === measurement && Object.entries(tags).every(([k, v]) => p.tags[k] === v));

describe("point building", () => {
  it("writes http_stats with rps, fractions, ms latencies and agent counts", () => {
    const points = pointsFor([
      { status: 200, bytes: 100, latencyUs: 2_000 },
      { status: 200, bytes: 100, latencyUs: 4_000 },
      { status: 404, bytes: 50, latencyUs: 1_000 },
      { status: 503, bytes: 0, latencyUs: 8_000 },
    ]);
    const [fleet] = find(points, "http_stats", { host: "all" });
    expect(fleet).toMatchObject({ tags: { host: "all", service: "web" }, timeMs: T });
    expect(fleet?.fields).toMatchObject({
      requests: int(4),
      rps: float(0.4),
      status_2xx: int(2),
      status_4xx: int(1),
      status_5xx: int(1),
      status_1xx: int(0),
      bytes: int(250),
      error_rate: float(0.25),
      client_error_rate: float(0.25),
      agents_reported: int(1),
      agents_expected: int(2),
      parse_rejects: int(0),
    });
    const max = fleet?.fields.latency_max_ms;
    expect(max && "float" in max ? max.float : 0).toBeCloseTo(8, 1);
    expect(find(points, "http_stats", { host: "web-1" })[0]?.fields.agents_expected).toEqual(int(1));
    expect(find(points, "http_status", { host: "all" }).map((p) => [p.tags.code, p.fields.count])).toEqual([
      ["200", int(2)],
      ["404", int(1)],
      ["503", int(1)],
    ]);
  });

  it("omits latency fields when no request carried a latency, and handles an empty heartbeat window", () => {
    const [stats] = find(pointsFor([{ status: 200, latencyUs: -1 }]), "http_stats", { host: "all" });
    expect(Object.keys(stats?.fields ?? {}).filter((k) => k.startsWith("latency"))).toEqual([]);
    const empty = pointsFor([]);
    expect(empty.map((p) => p.measurement)).toEqual(["http_stats", "http_stats"]);
    expect(empty[0]?.fields).toMatchObject({ requests: int(0), rps: float(0), error_rate: float(0) });
  });

  it("writes top_ip / top_url ranks 1..K with the IP or URL as a field", () => {
    const records = [
      ...Array.from({ length: 5 }, () => ({ ip: "203.0.113.1", path: "/a" })),
      ...Array.from({ length: 3 }, () => ({ ip: "203.0.113.2", path: "/b" })),
      ...Array.from({ length: 2 }, () => ({ ip: "203.0.113.3", path: "/c" })),
      { ip: "203.0.113.4", path: "/d" },
    ];
    const points = pointsFor(records);
    expect(find(points, "top_ip", { host: "all" }).map((p) => [p.tags.rank, p.fields.ip, p.fields.requests])).toEqual([
      ["1", { str: "203.0.113.1" }, int(5)],
      ["2", { str: "203.0.113.2" }, int(3)],
      ["3", { str: "203.0.113.3" }, int(2)],
    ]);
    expect(find(points, "top_url", { host: "web-1", rank: "1" })[0]?.fields).toEqual({
      url: { str: "/a" },
      requests: int(5),
    });
  });

  it("writes anomalies with type/host/service/rank tags and key/value/threshold/baseline/message fields", () => {
    const points = pointsFor([], {
      anomalies: [
        {
          type: "ip_spike",
          host: "all",
          service: "web",
          windowStartMs: T,
          rank: 2,
          key: "203.0.113.9",
          value: 900,
          threshold: 500,
          baseline: 3,
          message: "m",
        },
      ],
    });
    expect(find(points, "anomaly", {})).toEqual([
      {
        measurement: "anomaly",
        tags: { type: "ip_spike", host: "all", service: "web", rank: "2" },
        fields: {
          key: { str: "203.0.113.9" },
          value: float(900),
          threshold: float(500),
          baseline: float(3),
          message: { str: "m" },
        },
        timeMs: T,
      },
    ]);
  });

  it("never puts a client IP or URL into a tag (property)", () => {
    const rec = fc.record({
      ip: fc.oneof(fc.ipV4(), fc.ipV6()),
      path: fc.webPath().map((p) => (p === "" ? "/" : p)),
      status: fc.integer({ min: 100, max: 599 }),
    });
    fc.assert(
      fc.property(fc.array(rec, { minLength: 1, maxLength: 40 }), (records) => {
        const points = pointsFor(records);
        const sensitive = new Set(records.flatMap((r) => [r.ip, r.path]));
        const allowed = new Set(["host", "service", "code", "rank", "type", "instance"]);
        for (const p of points) {
          for (const [k, v] of Object.entries(p.tags)) {
            expect(allowed.has(k)).toBe(true);
            expect(sensitive.has(v)).toBe(false);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it("serialises to ms-precision line protocol with integer and float fields", () => {
    const client = createInfluxClient({
      url: "http://127.0.0.1:1",
      token: "",
      database: "d",
      retentionPolicy: "r",
      timeoutMs: 1000,
      maxLinesPerRequest: 10,
    });
    const [line] = client.toLines([
      buildPipelinePoint("central a", T, {
        partials: 3,
        latePartials: 1,
        droppedLate: 0,
        duplicates: 2,
        decodeErrors: 1,
      }),
    ]);
    expect(line).toBe(
      `pipeline,instance=central\\ a decode_errors=1i,dropped_late=0i,duplicates=2i,late_partials=1i,partials=3i ${T}`,
    );
    const [stats] = client.toLines(pointsFor([{ status: 200, latencyUs: 1500 }]).slice(0, 1));
    expect(stats).toMatch(/^http_stats,host=all,service=web .*requests=1i.*rps=0\.1[,\s]/);
    void client.close();
  });

  it("builds exact-time DELETE statements with quoted tags", () => {
    expect(deleteStatement({ measurement: "anomaly", tags: { service: "we'b", host: "all" }, timeMs: T })).toBe(
      `DELETE FROM "anomaly" WHERE time = ${T}000000 AND "host" = 'all' AND "service" = 'we\\'b'`,
    );
  });
});

describe("InfluxDB error classification", () => {
  it.each([
    [new HttpError(500, "Internal Server Error"), true],
    [new HttpError(503, "Service Unavailable"), true],
    [new HttpError(429, "Too Many Requests"), true],
    [new HttpError(404, "Not Found", '{"error":"database not found"}'), true],
    [new HttpError(401, "Unauthorized"), true],
    [new HttpError(400, "Bad Request", "partial write: field type conflict"), false],
    [new HttpError(413, "Request Entity Too Large"), false],
    [new RequestTimedOutError(), true],
    [Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:18086"), { code: "ECONNREFUSED" }), true],
    [new TypeError("fetch failed", { cause: Object.assign(new Error("x"), { code: "ECONNRESET" }) }), true],
    [new Error("something else"), false],
  ])("%s → retriable %s", (error, retriable) => {
    const coded = classifyInfluxError(error, "writing");
    expect(coded.retriable).toBe(retriable);
    expect(coded.code).toBe(retriable ? CentralErrorCode.InfluxUnavailable : CentralErrorCode.InfluxRejected);
  });
});
