/**
 * Sends outbox records to the sink in order and acknowledges them in the outbox once the sink confirmed them.
 * A crash between send and ack resends the batch on restart (central drops exact duplicates by identity).
 * Outages are waited out with `retry()` (capped exponential backoff); a non-retriable error ends `run()`.
 */
import { retry } from "@rla/protocol";
import type { OutboxPosition } from "../checkpoint/index.js";
import type { PartialMessage, PartialSink } from "./kafka.js";
import type { Outbox } from "./outbox.js";

export interface ShipperOptions {
  /** Upper bound of one send, in outbox bytes (at least one record is always sent). */
  maxBatchBytes?: number;
  maxRetryDelayMs?: number;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  onShipped?: (partials: number) => void;
  now?: () => number;
}

export class Shipper {
  private readonly outbox: Outbox;
  private readonly sink: PartialSink;
  private readonly options: ShipperOptions;
  private sendFrom: OutboxPosition;
  private drainWaiters: (() => void)[] = [];
  /** Since when sends have been failing; null while Kafka answers. */
  unreachableSince: number | null = null;
  lastError: unknown = null;

  constructor(outbox: Outbox, sink: PartialSink, options: ShipperOptions = {}) {
    this.outbox = outbox;
    this.sink = sink;
    this.options = options;
    this.sendFrom = outbox.acked;
  }

  get drained(): boolean {
    return this.outbox.unackedRecords === 0;
  }

  /** Resolves once every record written so far is acknowledged (or `signal` aborts). */
  waitDrained(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (this.drained || signal.aborted) return resolve();
      const done = () => {
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.drainWaiters.push(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Ships until `signal` aborts; rejects on a non-retriable sink error. */
  async run(signal: AbortSignal): Promise<void> {
    const now = this.options.now ?? Date.now;
    const maxBatchBytes = this.options.maxBatchBytes ?? 512 * 1024;
    while (!signal.aborted) {
      const records = this.outbox.read(this.sendFrom, maxBatchBytes);
      if (records.length === 0) {
        for (const wake of this.drainWaiters.splice(0)) wake();
        await this.outbox.waitForAppend(signal);
        continue;
      }
      const messages: PartialMessage[] = [];
      for (const r of records) {
        r.partials.forEach((value, i) => {
          messages.push({ key: String(r.windowStarts[i]), value });
        });
      }
      try {
        if (messages.length > 0) {
          await retry(() => this.sink.send(messages), {
            signal,
            maxDelayMs: this.options.maxRetryDelayMs ?? 30_000,
            onRetry: (error, attempt, delayMs) => {
              this.unreachableSince ??= now();
              this.lastError = error;
              this.options.onRetry?.(error, attempt, delayMs);
            },
          });
        }
      } catch (error) {
        if (signal.aborted) return;
        this.lastError = error;
        throw error;
      }
      this.unreachableSince = null;
      this.lastError = null;
      this.outbox.ack(records);
      this.sendFrom = records.at(-1)!.next;
      this.options.onShipped?.(messages.length);
    }
  }
}
