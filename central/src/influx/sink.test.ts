import { describe, expect, it } from "vitest";
import { CentralError, CentralErrorCode } from "../errors.js";
import type { InfluxClient } from "./client.js";
import { type InfluxPoint, int, type SeriesDelete } from "./points.js";
import { createInfluxSink } from "./sink.js";

const point = (n: number): InfluxPoint => ({ measurement: "m", tags: { host: "h" }, fields: { v: int(n) }, timeMs: n });
const del = (n: number): SeriesDelete => ({ measurement: "anomaly", tags: { service: "web" }, timeMs: n });

/** A client that records calls and fails the way the test scripts. */
function fakeClient(fail: (call: string, n: number) => CentralError | null = () => null) {
  const calls: string[] = [];
  let n = 0;
  const client: InfluxClient = {
    toLines: (points) => points.map((p) => `p${p.timeMs}`),
    writeLines: async (lines) => {
      const error = fail("write", n++);
      calls.push(`${error ? "FAIL " : ""}write ${lines.join(",")}`);
      if (error) throw error;
    },
    deleteSeries: async (deletes) => {
      const error = fail("delete", n++);
      calls.push(`${error ? "FAIL " : ""}delete ${deletes.map((d) => d.timeMs).join(",")}`);
      if (error) throw error;
    },
    databaseExists: async () => true,
    createDatabase: async () => undefined,
    readHistory: async () => [],
    close: async () => undefined,
  };
  return { client, calls };
}

const noSleep = { sleep: async () => undefined, random: () => 1 };
const down = () => new CentralError(CentralErrorCode.InfluxUnavailable, "connection refused");

describe("InfluxDB sink", () => {
  it("writes in submission order, deletes before points, coalescing delete-free batches", async () => {
    const { client, calls } = fakeClient();
    const sink = createInfluxSink({ client, batchSize: 3, retryOptions: noSleep });
    const done = await Promise.all([
      sink.submit({ deletes: [], points: [point(1)] }),
      sink.submit({ deletes: [], points: [point(2), point(3)] }),
      sink.submit({ deletes: [], points: [point(4), point(5)] }),
      sink.submit({ deletes: [del(9)], points: [point(6)] }),
      sink.submit({ deletes: [], points: [point(7)] }),
    ]);
    expect(done).toEqual([true, true, true, true, true]);
    // The first batch was sent alone (nothing else was queued yet); then 2+3 coalesce into chunks of 3.
    expect(calls).toEqual(["write p1", "write p2,p3,p4", "write p5", "delete 9", "write p6,p7"]);
  });

  it("waits out an outage with backoff, reports it, and resolves only once written", async () => {
    const { client, calls } = fakeClient((call, n) => (call === "write" && n < 3 ? down() : null));
    const outages: boolean[] = [];
    const errors: string[] = [];
    const sink = createInfluxSink({
      client,
      batchSize: 10,
      retryOptions: noSleep,
      onOutage: (isDown) => outages.push(isDown),
      onError: (e) => errors.push(e.code),
    });
    let settled = false;
    const durable = sink.submit({ deletes: [], points: [point(1)] }).then((v) => {
      settled = true;
      return v;
    });
    expect(settled).toBe(false);
    expect(await durable).toBe(true);
    expect(calls).toEqual(["FAIL write p1", "FAIL write p1", "FAIL write p1", "write p1"]);
    expect(outages).toEqual([true, false]);
    expect(errors).toEqual(["ERR_INFLUX_UNAVAILABLE", "ERR_INFLUX_UNAVAILABLE", "ERR_INFLUX_UNAVAILABLE"]);
    expect(sink.failingSince()).toBeNull();
  });

  it("counts a rejected batch (400) and moves on instead of blocking", async () => {
    const bad = new CentralError(CentralErrorCode.InfluxRejected, "400 partial write: field type conflict");
    const { client, calls } = fakeClient((call, n) => (call === "write" && n === 0 ? bad : null));
    const errors: boolean[] = [];
    const sink = createInfluxSink({
      client,
      batchSize: 10,
      retryOptions: noSleep,
      onError: (e) => errors.push(e.retriable),
    });
    expect(await sink.submit({ deletes: [], points: [point(1)] })).toBe(true);
    expect(await sink.submit({ deletes: [], points: [point(2)] })).toBe(true);
    expect(calls).toEqual(["FAIL write p1", "write p2"]);
    expect(errors).toEqual([false]);
  });

  it("abort abandons pending batches: they resolve false and are never written", async () => {
    const { client, calls } = fakeClient(() => down());
    let sleeping: () => void = () => undefined;
    const sink = createInfluxSink({
      client,
      batchSize: 10,
      retryOptions: { random: () => 1, sleep: () => new Promise<void>((r) => (sleeping = r)) },
    });
    const first = sink.submit({ deletes: [], points: [point(1)] });
    const second = sink.submit({ deletes: [], points: [point(2)] });
    await Promise.resolve();
    expect(await sink.drain(0)).toBe(false);
    sink.abort();
    sleeping();
    expect(await first).toBe(false);
    expect(await second).toBe(false);
    expect(await sink.submit({ deletes: [], points: [point(3)] })).toBe(false);
    expect(calls.every((c) => c.startsWith("FAIL"))).toBe(true);
  });
});
