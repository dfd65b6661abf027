// kafkajs 2.2.4 (its last release) wakes every process that used a connection once per millisecond forever: after each
// fulfilled request its RequestQueue schedules a pending-request check with a negative delay even when nothing is
// pending, and that check schedules the next one (tulios/kafkajs#1556, #1604, #1704). Measured here on an idle edge
// agent: ~820 main-thread wakeups/s and 3.2 % of a core. patches/kafkajs+2.2.4.patch (applied by `patch-package` on
// every npm install, and so also inside the agent's bundle) schedules a check only while requests wait, and runs the
// 100 ms request-timeout check only while requests are in flight (not on every idle connection); this test fails
// when the patch is not applied.
import { createRequire } from "node:module";
import { afterEach, describe, expect, it, vi } from "vitest";

interface RequestEntry {
  correlationId: number;
  resolve?: (response: unknown) => void;
  reject?: (error: Error) => void;
}

interface RequestQueue {
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  requestTimeoutIntervalId: NodeJS.Timeout | null | undefined;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleRequestTimeoutCheck(): void;
  maybeThrottle(ms: number): void;
  push(request: { entry: RequestEntry; expectResponse: boolean; sendRequest: () => void }): void;
  fulfillRequest(response: { correlationId: number; payload: Buffer; size: number }): void;
  destroy(): void;
}

const RequestQueueClass = createRequire(import.meta.url)("kafkajs/src/network/requestQueue/index.js") as new (
  options: Record<string, unknown>,
) => RequestQueue;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const queues: RequestQueue[] = [];

function queue(enforceRequestTimeout = false): RequestQueue {
  const q = new RequestQueueClass({
    maxInFlightRequests: null,
    requestTimeout: 30_000,
    enforceRequestTimeout,
    clientId: "test",
    broker: "127.0.0.1:9",
    logger: quiet,
  });
  queues.push(q);
  return q;
}

afterEach(() => {
  for (const q of queues.splice(0)) q.destroy();
  vi.useRealTimers();
});

describe("kafkajs request queue (patched)", () => {
  it("schedules no check when nothing is pending (a fulfilled request no longer starts a 1 ms timer loop)", () => {
    const q = queue();
    q.checkPendingRequests();
    expect(q.throttleCheckTimeoutId).toBeNull();
  });

  it("still schedules the check for a request waiting out a broker's throttle", () => {
    const q = queue();
    q.maybeThrottle(60_000);
    q.push({ entry: { correlationId: 1 }, expectResponse: true, sendRequest: () => {} });
    expect(q.pending).toHaveLength(1);
    expect(q.throttleCheckTimeoutId).not.toBeNull();
  });

  it("runs the request-timeout check only while a request is in flight (an idle connection wakes nobody)", () => {
    vi.useFakeTimers();
    const q = queue(true);
    q.scheduleRequestTimeoutCheck(); // on connect
    expect(q.requestTimeoutIntervalId ?? null).toBeNull();

    q.push({ entry: { correlationId: 1, resolve() {}, reject() {} }, expectResponse: true, sendRequest: () => {} });
    expect(q.requestTimeoutIntervalId).not.toBeNull();
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    vi.advanceTimersByTime(100);
    expect(q.requestTimeoutIntervalId).toBeNull();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("still times out a request the broker never answers", () => {
    vi.useFakeTimers();
    const q = queue(true);
    q.scheduleRequestTimeoutCheck();
    const errors: Error[] = [];
    q.push({
      entry: { correlationId: 7, resolve() {}, reject: (error) => errors.push(error) },
      expectResponse: true,
      sendRequest: () => {},
    });
    vi.advanceTimersByTime(29_900);
    expect(errors).toHaveLength(0);
    vi.advanceTimersByTime(300);
    expect(errors.map((e) => e.name)).toEqual(["KafkaJSRequestTimeoutError"]);
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(0);
  });
});
