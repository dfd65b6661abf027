import { type Logger, pino } from "pino";

export type { Logger } from "pino";

/** JSON logs on stderr (stdout stays free for command output such as `validate`). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "rla-central" } }, pino.destination(2));
}

/**
 * At most one log line per key and interval; the next one says how many were suppressed. Poison records or an
 * InfluxDB outage can fail thousands of times a second, and the log must stay readable.
 */
export function rateLimited(intervalMs: number, now: () => number = Date.now) {
  const state = new Map<string, { lastMs: number; suppressed: number }>();
  return (key: string, log: (suppressed: number) => void): void => {
    const t = now();
    const s = state.get(key);
    if (s !== undefined && t - s.lastMs < intervalMs) {
      s.suppressed++;
      return;
    }
    log(s?.suppressed ?? 0);
    state.set(key, { lastMs: t, suppressed: 0 });
  };
}
