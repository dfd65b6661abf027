import type { Logger } from "pino";

/**
 * Logs one line per key per interval; the next line after a quiet spell carries how many were suppressed.
 * For errors that repeat while an outage lasts (Kafka down, a file unreadable).
 */
export class RateLimitedLog {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  log(level: "error" | "warn", key: string, fields: Record<string, unknown>, message: string): void {
    const t = this.now();
    const entry = this.seen.get(key);
    if (entry !== undefined && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.seen.set(key, { at: t, suppressed: 0 });
    this.logger[level](suppressed > 0 ? { ...fields, key, suppressed } : { ...fields, key }, message);
  }
}
