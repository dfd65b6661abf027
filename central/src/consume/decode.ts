/**
 * Decoding and validation of one Kafka record (pure). A record that fails is poison: the caller counts it by reason,
 * logs it rate-limited and skips it; nothing here throws.
 */
import { decodePartial, ProtocolError, ProtocolErrorCode, type WindowPartial } from "@rla/protocol";

export const POISON_REASONS = [
  "empty", // no value (tombstone) or zero bytes
  "oversize", // above maxPartialBytes
  "malformed", // not a valid wire record
  "version", // a wire version this central does not read
  "window_length", // windowMs differs from central's
  "misaligned", // window start not on the windowMs grid
  "future", // window starts further than maxFutureMs ahead of the wall clock
] as const;
export type PoisonReason = (typeof POISON_REASONS)[number];

export interface DecodeOptions {
  windowMs: number;
  maxPartialBytes: number;
  maxFutureMs: number;
}

export type DecodeResult = { ok: true; partial: WindowPartial } | { ok: false; reason: PoisonReason; message: string };

const BY_CODE: Record<string, PoisonReason> = {
  [ProtocolErrorCode.Oversize]: "oversize",
  [ProtocolErrorCode.UnsupportedVersion]: "version",
  [ProtocolErrorCode.Malformed]: "malformed",
};

export function decodeRecord(value: Uint8Array | null, nowMs: number, options: DecodeOptions): DecodeResult {
  if (value === null || value.length === 0) return { ok: false, reason: "empty", message: "record has no value" };
  let partial: WindowPartial;
  try {
    partial = decodePartial(value, { maxRecordBytes: options.maxPartialBytes });
  } catch (error) {
    const reason = error instanceof ProtocolError ? (BY_CODE[error.code] ?? "malformed") : "malformed";
    return { ok: false, reason, message: error instanceof Error ? error.message : String(error) };
  }
  if (partial.windowMs !== options.windowMs) {
    return {
      ok: false,
      reason: "window_length",
      message: `partial of ${partial.host} has windowMs ${partial.windowMs}, central expects ${options.windowMs}`,
    };
  }
  if (partial.windowStartMs % options.windowMs !== 0) {
    return {
      ok: false,
      reason: "misaligned",
      message: `partial of ${partial.host} starts at ${partial.windowStartMs}, not a multiple of ${options.windowMs}`,
    };
  }
  if (partial.windowStartMs > nowMs + options.maxFutureMs) {
    return {
      ok: false,
      reason: "future",
      message: `partial of ${partial.host} starts at ${new Date(partial.windowStartMs).toISOString()}, more than ${options.maxFutureMs} ms ahead`,
    };
  }
  return { ok: true, partial };
}
