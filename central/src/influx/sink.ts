/**
 * The write queue in front of InfluxDB: writes submitted batches strictly in order, one request at a time, and tells
 * each submitter when its batch is durable, which is when the caller may commit the Kafka offsets it covers.
 *
 * - Order: a batch's deletes run before its points, and no later batch starts before an earlier one is done, so a
 *   delete never removes a point written after it. Consecutive batches without deletes are coalesced into larger
 *   requests (batching under load costs nothing when idle).
 * - Outage: a retriable failure is retried with `retry()`'s capped backoff, forever; `onOutage(true)` fires on the
 *   first failure (the caller pauses the Kafka consumer) and `onOutage(false)` after the next success.
 * - Rejection: a non-retriable failure (400 bad point, …) is logged and counted, and the batch counts as done: a bad
 *   point must never block the pipeline (InfluxDB 1.x writes the good points of a partially bad batch).
 */
import { type RetryOptions, retry } from "@rla/protocol";
import type { CentralError } from "../errors.js";
import type { InfluxClient } from "./client.js";
import { classifyInfluxError } from "./client.js";
import type { InfluxPoint, SeriesDelete } from "./points.js";

export interface SinkBatch {
  deletes: SeriesDelete[];
  points: InfluxPoint[];
}

export interface InfluxSinkOptions {
  client: InfluxClient;
  /** Most lines per write request. */
  batchSize: number;
  /** Most bytes per write request. */
  maxRequestBytes?: number;
  onOutage?: (down: boolean, error: CentralError | null) => void;
  onWritten?: (lines: number, seconds: number) => void;
  /** A retriable failure about to be retried, or a rejection (`retriable` false) that dropped data. */
  onError?: (error: CentralError) => void;
  retryOptions?: Pick<RetryOptions, "initialDelayMs" | "maxDelayMs" | "sleep" | "random">;
  now?: () => number;
}

export interface InfluxSink {
  /** Resolves true once the batch is durable (or rejected for good), false if the sink was aborted first. */
  submit(batch: SinkBatch): Promise<boolean>;
  /** Batches not yet done. */
  pending(): number;
  /** Wall-clock ms since which writes have been failing, or null. */
  failingSince(): number | null;
  /** Waits until every submitted batch is done; false at the deadline. */
  drain(timeoutMs: number): Promise<boolean>;
  /** Stops at once: pending batches are abandoned (their submit resolves false). */
  abort(): void;
}

interface Entry {
  deletes: SeriesDelete[];
  lines: string[];
  done: (durable: boolean) => void;
}

export function createInfluxSink(options: InfluxSinkOptions): InfluxSink {
  const { client } = options;
  const now = options.now ?? Date.now;
  const maxBytes = options.maxRequestBytes ?? 8 * 1024 * 1024;
  const queue: Entry[] = [];
  const aborter = new AbortController();
  let running = false;
  let failingSince: number | null = null;
  let idleWaiters: (() => void)[] = [];

  const retryOptions: RetryOptions = {
    initialDelayMs: 200,
    maxDelayMs: 10_000,
    ...options.retryOptions,
    signal: aborter.signal,
    onRetry: (error) => {
      const coded = classifyInfluxError(error, "InfluxDB");
      options.onError?.(coded);
      if (failingSince === null) {
        failingSince = now();
        options.onOutage?.(true, coded);
      }
    },
  };

  async function attempt(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await retry(fn, retryOptions);
    } catch (error) {
      if (aborter.signal.aborted) throw error;
      options.onError?.(classifyInfluxError(error, what));
    }
  }

  function chunks(lines: string[]): string[][] {
    const out: string[][] = [];
    let current: string[] = [];
    let bytes = 0;
    for (const line of lines) {
      const size = Buffer.byteLength(line) + 1;
      if (current.length > 0 && (current.length >= options.batchSize || bytes + size > maxBytes)) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(line);
      bytes += size;
    }
    if (current.length > 0) out.push(current);
    return out;
  }

  async function pump(): Promise<void> {
    running = true;
    try {
      while (queue.length > 0 && !aborter.signal.aborted) {
        // Head batch plus following delete-free batches: their order relative to each other does not matter.
        let n = 1;
        while (n < queue.length && queue[n]!.deletes.length === 0) n++;
        const group = queue.slice(0, n);
        const deletes = group[0]!.deletes;
        const lines = group.flatMap((e) => e.lines);
        if (deletes.length > 0) await attempt("deleting stale series", () => client.deleteSeries(deletes));
        for (const chunk of chunks(lines)) {
          const started = now();
          await attempt(`writing ${chunk.length} points`, () => client.writeLines(chunk));
          options.onWritten?.(chunk.length, (now() - started) / 1000);
        }
        if (failingSince !== null) {
          failingSince = null;
          options.onOutage?.(false, null);
        }
        queue.splice(0, n);
        for (const e of group) e.done(true);
      }
    } catch {
      // Only an abort ends the loop with an error; abort() resolved every waiter.
    } finally {
      running = false;
      if (queue.length === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  return {
    submit(batch) {
      if (aborter.signal.aborted) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        queue.push({ deletes: batch.deletes, lines: client.toLines(batch.points), done: resolve });
        if (!running) void pump();
      });
    },
    pending: () => queue.length,
    failingSince: () => failingSince,
    drain(timeoutMs) {
      if (queue.length === 0 && !running) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        idleWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    abort() {
      aborter.abort();
      for (const e of queue.splice(0)) e.done(false);
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    },
  };
}
