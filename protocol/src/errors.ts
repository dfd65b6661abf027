/**
 * Coded errors shared by every package. Each package has its own `errors.ts` that lists its codes
 * and builds on `CodedError`; `retry` is the one place that decides whether to try again, and it
 * decides by the error's `retriable` flag alone.
 */
export class CodedError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CodedError";
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Protocol error codes: wire decoding and format compilation. */
export const ProtocolErrorCode = {
  /** The record is larger than the decoder accepts. */
  Oversize: "ERR_WIRE_OVERSIZE",
  /** The bytes are not msgpack, or a field has the wrong type or size. */
  Malformed: "ERR_WIRE_MALFORMED",
  /** The record's version is newer or older than this decoder understands. */
  UnsupportedVersion: "ERR_WIRE_VERSION",
  /** A log_format string could not be compiled into a parser. */
  BadLogFormat: "ERR_LOG_FORMAT",
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

export class ProtocolError extends CodedError {
  constructor(code: ProtocolErrorCode, message: string, cause?: unknown) {
    super(code, message, { retriable: false, cause });
    this.name = "ProtocolError";
  }
}

/** True when the error says trying again may succeed. Unknown errors are not retried. */
export function isRetriable(error: unknown): boolean {
  return error instanceof CodedError && error.retriable;
}

export interface RetryOptions {
  /** First delay; doubles each attempt up to `maxDelayMs`, with full jitter. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Give up after this many attempts (default: never, for outages that must be waited out). */
  maxAttempts?: number;
  /** Called before each wait, e.g. to log (rate-limited) or count the failure. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops waiting early (shutdown); the last error is then thrown. */
  signal?: AbortSignal;
  /** Injected for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/**
 * Runs `fn` until it succeeds. A retriable error is retried with capped exponential backoff;
 * any other error is thrown at once.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 10_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const exhausted = options.maxAttempts !== undefined && attempt >= options.maxAttempts;
      if (!isRetriable(error) || exhausted || options.signal?.aborted) throw error;
      const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
      const delayMs = Math.round(ceiling / 2 + (random() * ceiling) / 2);
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, options.signal);
      if (options.signal?.aborted) throw error;
    }
  }
}
