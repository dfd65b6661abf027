/**
 * Wire format v1 of a window partial: one msgpack map per Kafka record, using plain maps, arrays,
 * strings, numbers, nil and bin only (no msgpackr records/extensions), so any msgpack implementation
 * can read it. Written by `MsgpackWriter` straight from the partial's tables (byte for byte what
 * msgpackr writes for the same values; see msgpack-writer.ts), read with msgpackr.
 *
 * Compatibility: `v` is the format version; a decoder rejects any other version
 * (`UnsupportedVersion`) and ignores fields it does not know, so a newer agent may add optional
 * fields without breaking an older central during a rolling upgrade. Changing the meaning, type or
 * sketch parameters of an existing field (capacities, count-min dimensions, HDR configuration, hash
 * function) needs a new version.
 *
 * | key  | type                    | meaning                                                              |
 * |------|-------------------------|----------------------------------------------------------------------|
 * | v    | uint                    | format version, 1                                                    |
 * | h    | str (1..256)            | host id                                                              |
 * | s    | str (1..256)            | service                                                              |
 * | w    | int                     | window start, ms since epoch                                         |
 * | wm   | uint ≥ 1                | window length, ms                                                    |
 * | q    | uint                    | seq (0 primary, 1.. supplementary)                                   |
 * | n    | uint                    | lines (requests + rejects, including reasons unknown to the reader)  |
 * | r    | uint                    | requests                                                             |
 * | b    | uint                    | response bytes                                                       |
 * | t0   | int / nil               | first record time, ms (nil when r = 0)                               |
 * | t1   | int / nil               | last record time, ms (nil when r = 0)                                |
 * | sc   | [code, count, …]        | requests per status code 0..999, count ≥ 1, codes ascending; Σ = r    |
 * | m    | [name, count, …]        | requests per method (≤ 17 names of ≤ 24 chars, incl. OTHER); Σ = r    |
 * | rj   | {reason: count}         | rejected lines per reason; unknown reasons are skipped               |
 * |      |                         | (every map, this one included, has at most 64 entries)               |
 * | lh   | bin (≤ 256 KiB)         | HDR latency counts in µs, see sketch/latency.ts; count + lm = r       |
 * | lm   | uint                    | requests without a latency                                           |
 * | ip   | heavy-keys map (below)  | client IPs, with scan data                                           |
 * | u    | heavy-keys map (below)  | URL paths                                                            |
 *
 * Heavy-keys map (sketch/heavy-keys.ts):
 *
 * | key  | type                    | meaning                                                              |
 * |------|-------------------------|----------------------------------------------------------------------|
 * | k    | [str, …]                | held keys (≤ 2048 IPs of ≤ 64 chars / ≤ 1024 paths of ≤ 256 chars)   |
 * | c    | [uint, …]               | their counts, same length, each ≥ 1                                  |
 * | nf   | [uint, …]               | IPs only: their 404 counts                                           |
 * | d    | [bin, …]                | IPs only: distinct-path HyperLogLog (256 registers of 1..15): empty, |
 * |      |                         | (index, rank) byte pairs for < 64 set registers (ascending index),   |
 * |      |                         | or 128 bytes of packed 4-bit registers (high nibble first)           |
 * | cw   | uint                    | count-min width, 4096; present only in sketch mode                   |
 * | cd   | uint                    | count-min depth, 4; present only in sketch mode                      |
 * | cm   | bin                     | count-min counters, cw·cd unsigned LEB128 varints, row-major         |
 *
 * Sizes (measured by the tests and `protocol/scripts/bench-partial.ts`): empty partial 105 B; 10 k
 * lines from 500 IPs over 300 paths ~18 KB, over 2000 paths (path table in sketch mode, so with its
 * count-min sketch) ~72 KB; 1 M all-distinct IPs and paths 134–173 KB; every table full of 64- and
 * 256-character non-ASCII keys ~808 KB after cutting (see `encodePartial`).
 *
 * Decoding checks every field's type and size and the cross-field sums noted above, and throws
 * `ProtocolError` with `Oversize` (record above `maxRecordBytes`, default 1 MiB), `UnsupportedVersion`
 * or `Malformed`; it never throws anything else. Encoding is deterministic (fixed field order), so
 * the golden fixtures in `fixtures/` pin the format. The encoder keeps a record within the decoder's
 * default limit (see `encodePartial`).
 */
import { Packr } from "msgpackr";
import { ProtocolError, ProtocolErrorCode } from "../errors.js";
import { REJECT_REASONS } from "../model.js";
import {
  createPartial,
  MAX_IP_LENGTH,
  MAX_METHOD_LENGTH,
  MAX_METHODS,
  MAX_URL_LENGTH,
  STATUS_CODE_LIMIT,
  type WindowPartial,
} from "../partial/index.js";
import { CMS_DEFAULT_DEPTH, CMS_DEFAULT_WIDTH, CountMinSketch } from "../sketch/count-min.js";
import { HLL_MAX_RANK, HLL_REGISTERS } from "../sketch/distinct.js";
import { hashStringInt32 } from "../sketch/hash.js";
import type { HeavyKeys } from "../sketch/heavy-keys.js";
import { VarintReader } from "../sketch/varint.js";
import { MsgpackWriter } from "./msgpack-writer.js";

export const WIRE_VERSION = 1;
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;
const MAX_NAME_LENGTH = 256;
const MAX_MAP_ENTRIES = 64;
const MAX_HISTOGRAM_BYTES = 256 * 1024;
const MAX_CMS_BYTES = CMS_DEFAULT_WIDTH * CMS_DEFAULT_DEPTH * 5;
const PACKED_REGISTER_BYTES = HLL_REGISTERS / 2;

export interface DecodeLimits {
  /** Largest record accepted (default 1 MiB). */
  maxRecordBytes?: number;
}

const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true, int64AsType: "number" });

export interface EncodeOptions {
  /** Largest record to produce (default 1 MiB, the decoder's default limit). */
  maxRecordBytes?: number;
}

/**
 * Encodes a partial (wire v1). The record never exceeds `maxRecordBytes`: if the full encoding would
 * (only possible with tables full of long non-ASCII keys), the IP and URL tables are cut to their
 * heaviest keys, halving until it fits; a cut table is sent in sketch mode (its count-min sketch
 * covers every key), so every count and estimate stays an upper bound within the stated error.
 */
export function encodePartial(p: WindowPartial, options: EncodeOptions = {}): Buffer {
  const maxBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  writeRecord(p, p.ips.size, p.urls.size);
  for (let keep = Math.max(p.ips.size, p.urls.size) >> 1; writer.length > maxBytes && keep > 0; keep >>= 1) {
    writeRecord(p, Math.min(keep, p.ips.size), Math.min(keep, p.urls.size));
  }
  return writer.toBuffer();
}

/** One writer for every record (encoding is synchronous); it keeps the largest buffer it needed. */
const writer = new MsgpackWriter();

/** Writes the record map, fields in the table's order, keeping the heaviest `keepIps`/`keepUrls` keys. */
function writeRecord(p: WindowPartial, keepIps: number, keepUrls: number): void {
  const w = writer;
  w.reset();
  w.map(18);
  numberField(w, "v", WIRE_VERSION);
  w.str("h");
  w.str(p.host);
  w.str("s");
  w.str(p.service);
  numberField(w, "w", p.windowStartMs);
  numberField(w, "wm", p.windowMs);
  numberField(w, "q", p.seq);
  numberField(w, "n", p.lines);
  numberField(w, "r", p.requests);
  numberField(w, "b", p.bytes);
  const empty = p.firstEventMs > p.lastEventMs;
  numberField(w, "t0", empty ? null : p.firstEventMs);
  numberField(w, "t1", empty ? null : p.lastEventMs);

  w.str("sc");
  let codes = 0;
  for (let code = 0; code < STATUS_CODE_LIMIT; code++) if (p.statusCounts[code]! > 0) codes++;
  w.array(2 * codes);
  for (let code = 0; code < STATUS_CODE_LIMIT; code++) {
    const n = p.statusCounts[code]!;
    if (n === 0) continue;
    w.number(code);
    w.number(n);
  }
  w.str("m");
  w.array(2 * p.methods.length);
  for (let i = 0; i < p.methods.length; i++) {
    w.str(p.methods[i]!);
    w.number(p.methodCounts[i]!);
  }
  w.str("rj");
  let reasons = 0;
  for (let i = 0; i < REJECT_REASONS.length; i++) if (p.rejectCounts[i]! > 0) reasons++;
  w.map(reasons);
  for (let i = 0; i < REJECT_REASONS.length; i++) {
    const n = p.rejectCounts[i]!;
    if (n === 0) continue;
    w.str(REJECT_REASONS[i]!);
    w.number(n);
  }
  w.str("lh");
  w.bin(p.latency.encode());
  numberField(w, "lm", p.latencyMissing);
  w.str("ip");
  writeHeavyKeys(w, p.ips, keepIps);
  w.str("u");
  writeHeavyKeys(w, p.urls, keepUrls);
}

/** A map entry whose value is a number, or nil. */
function numberField(w: MsgpackWriter, key: string, value: number | null): void {
  w.str(key);
  if (value === null) w.nil();
  else w.number(value);
}

/** The table's map with at most `keep` keys (the heaviest); fewer than held means sketch mode. */
function writeHeavyKeys(w: MsgpackWriter, t: HeavyKeys, keep: number): void {
  const n = Math.min(keep, t.size);
  const ranked = keep >= t.size ? null : t.rankedIds(keep);
  const cms = t.exact && keep >= t.size ? null : t.countMinSketch();
  w.map(2 + (t.notFound !== null ? 2 : 0) + (cms !== null ? 3 : 0));
  w.str("k");
  w.array(n);
  const store = t.keyByteStore;
  for (let i = 0; i < n; i++) {
    const id = ranked === null ? i : ranked[i]!;
    const length = t.keyByteLength(id);
    if (length < 0) w.str(t.keyOf(id));
    else {
      const at = t.keyByteStart(id);
      w.latin1(store, at, at + length);
    }
  }
  w.str("c");
  w.array(n);
  for (let i = 0; i < n; i++) w.number(t.counts[ranked === null ? i : ranked[i]!]!);
  if (t.notFound !== null) {
    const { notFound } = t;
    w.str("nf");
    w.array(n);
    for (let i = 0; i < n; i++) w.number(notFound[ranked === null ? i : ranked[i]!]!);
    w.str("d");
    w.array(n);
    const registers = t.scanRegisterStore;
    const words = new Uint32Array(registers.buffer, registers.byteOffset, registers.length >> 2);
    for (let i = 0; i < n; i++) {
      writeDistinct(w, registers, words, (ranked === null ? i : ranked[i]!) * PACKED_REGISTER_BYTES);
    }
  }
  if (cms !== null) {
    numberField(w, "cw", cms.width);
    numberField(w, "cd", cms.depth);
    w.str("cm");
    writeVarints(w, cms.counts);
  }
}

/** Unsigned LEB128 varints of 32-bit counters, as one bin. */
function writeVarints(w: MsgpackWriter, values: Uint32Array): void {
  let o = w.startBin(5 * values.length);
  const out = w.target;
  for (let i = 0; i < values.length; i++) {
    let v = values[i]!;
    while (v >= 0x80) {
      out[o++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[o++] = v;
  }
  w.endBin(o);
}

/**
 * The wire form of the packed registers at `registers[at, at + 128)` (the table's layout: even
 * register in the high nibble, which is also the wire's packed form), as a bin: empty, (index, rank)
 * pairs for fewer than 64 set registers, else the 128 bytes. `words` is the same memory as 32-bit
 * words: most IPs set few registers, so whole zero words are skipped.
 */
function writeDistinct(w: MsgpackWriter, registers: Uint8Array, words: Uint32Array, at: number): void {
  // Pairs while they are shorter than the packed form; a word adds at most 16 bytes, hence the slack.
  const start = w.startBin(PACKED_REGISTER_BYTES + 15);
  const out = w.target;
  let o = start;
  for (let k = at >> 2; k < (at + PACKED_REGISTER_BYTES) >> 2; k++) {
    if (words[k] === 0) continue;
    for (let i = 4 * k; i < 4 * k + 4; i++) {
      const byte = registers[i]!;
      if (byte >> 4 !== 0) {
        out[o++] = 2 * (i - at);
        out[o++] = byte >> 4;
      }
      if ((byte & 0x0f) !== 0) {
        out[o++] = 2 * (i - at) + 1;
        out[o++] = byte & 0x0f;
      }
    }
    if (o - start >= PACKED_REGISTER_BYTES) {
      out.set(registers.subarray(at, at + PACKED_REGISTER_BYTES), start);
      o = start + PACKED_REGISTER_BYTES;
      break;
    }
  }
  w.endBin(o);
}

/** Decodes and validates one wire record; throws ProtocolError (Oversize / UnsupportedVersion / Malformed). */
export function decodePartial(buf: Uint8Array, limits: DecodeLimits = {}): WindowPartial {
  const maxBytes = limits.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  if (!(buf instanceof Uint8Array)) throw malformed("record is not a byte array");
  if (buf.length > maxBytes) {
    throw new ProtocolError(ProtocolErrorCode.Oversize, `record of ${buf.length} bytes exceeds ${maxBytes}`);
  }
  let raw: unknown;
  try {
    raw = packr.unpack(buf);
  } catch (error) {
    throw new ProtocolError(ProtocolErrorCode.Malformed, `not a msgpack record: ${(error as Error).message}`, error);
  }
  const rec = asMap(raw, "record");
  const version = rec.v;
  if (typeof version !== "number") throw malformed("v: expected the format version number");
  if (version !== WIRE_VERSION) {
    throw new ProtocolError(
      ProtocolErrorCode.UnsupportedVersion,
      `wire version ${version} is not supported (this decoder reads ${WIRE_VERSION})`,
    );
  }
  const p = createPartial({
    host: str(rec, "h", 1, MAX_NAME_LENGTH),
    service: str(rec, "s", 1, MAX_NAME_LENGTH),
    windowStartMs: int(rec, "w"),
    windowMs: uint(rec, "wm", 1),
    seq: uint(rec, "q"),
  });
  p.lines = uint(rec, "n");
  p.requests = uint(rec, "r");
  p.bytes = uint(rec, "b");
  if (p.requests > p.lines) throw malformed("r: more requests than lines");

  const t0 = rec.t0;
  const t1 = rec.t1;
  if (t0 === null && t1 === null) {
    if (p.requests > 0) throw malformed("t0/t1: missing for a partial with requests");
  } else {
    p.firstEventMs = int(rec, "t0");
    p.lastEventMs = int(rec, "t1");
    if (p.firstEventMs > p.lastEventMs) throw malformed("t0/t1: first event after last event");
    if (p.requests === 0) throw malformed("t0/t1: event times for a partial without requests");
  }

  const sc = arr(rec, "sc", 2 * STATUS_CODE_LIMIT);
  if (sc.length % 2 !== 0) throw malformed("sc: expected [code, count, …] pairs");
  let statusSum = 0;
  let previousCode = -1;
  for (let i = 0; i < sc.length; i += 2) {
    const code = sc[i];
    const n = sc[i + 1];
    if (!isUint(code) || code <= previousCode || code >= STATUS_CODE_LIMIT) {
      throw malformed(`sc[${i}]: expected ascending status codes 0..${STATUS_CODE_LIMIT - 1}`);
    }
    if (!isUint(n) || n < 1) throw malformed(`sc[${i + 1}]: expected a count >= 1`);
    p.statusCounts[code] = n;
    statusSum += n;
    previousCode = code;
  }
  if (statusSum !== p.requests) throw malformed("sc: status counts do not add up to r");

  const m = arr(rec, "m", 2 * (MAX_METHODS + 1));
  if (m.length % 2 !== 0) throw malformed("m: expected [name, count, …] pairs");
  let methodSum = 0;
  for (let i = 0; i < m.length; i += 2) {
    const name = m[i];
    const n = m[i + 1];
    if (typeof name !== "string" || name.length < 1 || name.length > MAX_METHOD_LENGTH) {
      throw malformed(`m[${i}]: expected a method name of 1..${MAX_METHOD_LENGTH} characters`);
    }
    if (p.methods.includes(name)) throw malformed(`m[${i}]: duplicate method ${JSON.stringify(name)}`);
    if (!isUint(n) || n < 1) throw malformed(`m[${i + 1}]: expected a count >= 1`);
    p.methods.push(name);
    p.methodCounts.push(n);
    methodSum += n;
  }
  if (methodSum !== p.requests) throw malformed("m: method counts do not add up to r");

  const rj = asMap(rec.rj, "rj");
  let rejectSum = 0;
  REJECT_REASONS.forEach((reason, i) => {
    if (!Object.hasOwn(rj, reason)) return;
    const n = rj[reason];
    if (!isUint(n)) throw malformed(`rj.${reason}: expected an unsigned integer`);
    p.rejectCounts[i] = n;
    rejectSum += n;
  });
  if (p.requests + rejectSum > p.lines) throw malformed("rj: requests and rejects exceed n");

  if (!p.latency.restore(bin(rec, "lh", MAX_HISTOGRAM_BYTES))) {
    throw malformed("lh: not a valid latency histogram encoding");
  }
  p.latencyMissing = uint(rec, "lm");
  if (p.latency.count + p.latencyMissing !== p.requests) throw malformed("lh/lm: latency counts do not add up to r");

  decodeHeavyKeys(asMap(rec.ip, "ip"), p.ips, "ip", MAX_IP_LENGTH);
  decodeHeavyKeys(asMap(rec.u, "u"), p.urls, "u", MAX_URL_LENGTH);
  return p;
}

function decodeHeavyKeys(map: Record<string, unknown>, into: HeavyKeys, field: string, maxKeyLength: number): void {
  const capacity = into.capacity;
  const keys = arr(map, "k", capacity, field);
  const counts = arr(map, "c", capacity, field);
  if (counts.length !== keys.length) throw malformed(`${field}.c: expected one count per key`);
  let notFound: unknown[] = [];
  let distinct: unknown[] = [];
  if (into.trackScan) {
    notFound = arr(map, "nf", capacity, field);
    distinct = arr(map, "d", capacity, field);
    if (notFound.length !== keys.length || distinct.length !== keys.length) {
      throw malformed(`${field}.nf/d: expected one entry per key`);
    }
  }
  if (map.cw !== undefined || map.cd !== undefined || map.cm !== undefined) {
    const width = uint(map, "cw", 1, field);
    const depth = uint(map, "cd", 1, field);
    if (width !== CMS_DEFAULT_WIDTH || depth !== CMS_DEFAULT_DEPTH) {
      throw malformed(`${field}.cw/cd: count-min must be ${CMS_DEFAULT_WIDTH}x${CMS_DEFAULT_DEPTH}`);
    }
    const counters = new Uint32Array(width * depth);
    const reader = new VarintReader(bin(map, "cm", MAX_CMS_BYTES, field));
    for (let i = 0; i < counters.length; i++) {
      const c = reader.next();
      if (c < 0 || c > 0xffffffff) throw malformed(`${field}.cm: bad counter ${i}`);
      counters[i] = c;
    }
    if (!reader.done) throw malformed(`${field}.cm: trailing bytes after ${counters.length} counters`);
    into.restoreSketch(new CountMinSketch(width, depth, counters));
  }
  into.reserve(keys.length);
  const scratch = new Uint8Array(PACKED_REGISTER_BYTES);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const count = counts[i];
    if (typeof key !== "string" || key.length < 1 || key.length > maxKeyLength) {
      throw malformed(`${field}.k[${i}]: expected a key of 1..${maxKeyLength} characters`);
    }
    if (!isUint(count) || count < 1) throw malformed(`${field}.c[${i}]: expected a count >= 1`);
    let nf = 0;
    let registers: Uint8Array | null = null;
    if (into.trackScan) {
      const n = notFound[i];
      if (!isUint(n)) throw malformed(`${field}.nf[${i}]: expected an unsigned integer`);
      nf = n;
      registers = decodeDistinct(distinct[i], `${field}.d[${i}]`, scratch);
    }
    into.restoreEntry(key, hashStringInt32(key), count, nf, registers);
  }
}

/**
 * The wire registers `value` in the table's packed form (see `writeDistinct`), or null when empty.
 * The packed form is used as is (every nibble is a valid rank); pairs are checked and spread into
 * `scratch`, which is overwritten and returned.
 */
function decodeDistinct(value: unknown, path: string, scratch: Uint8Array): Uint8Array | null {
  if (!(value instanceof Uint8Array)) throw malformed(`${path}: expected bin`);
  if (value.length === 0) return null;
  if (value.length === PACKED_REGISTER_BYTES) return value;
  if (value.length % 2 !== 0 || value.length > PACKED_REGISTER_BYTES) {
    throw malformed(`${path}: expected ${PACKED_REGISTER_BYTES} packed registers or (index, rank) pairs`);
  }
  scratch.fill(0);
  let previous = -1;
  for (let i = 0; i < value.length; i += 2) {
    const index = value[i]!;
    const rank = value[i + 1]!;
    if (index <= previous || rank < 1 || rank > HLL_MAX_RANK) {
      throw malformed(`${path}: register pairs must have ascending indexes and ranks 1..${HLL_MAX_RANK}`);
    }
    scratch[index >> 1] = scratch[index >> 1]! | ((index & 1) === 0 ? rank << 4 : rank);
    previous = index;
  }
  return scratch;
}

// ---- typed field readers: each throws Malformed naming the field and the expected form ----

function malformed(message: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.Malformed, message);
}

/** A plain map of at most MAX_MAP_ENTRIES entries (room for fields a newer writer adds). */
function asMap(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw malformed(`${path}: expected a map`);
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw malformed(`${path}: expected a plain map`);
  let entries = 0;
  for (const _ in value) {
    if (++entries > MAX_MAP_ENTRIES) throw malformed(`${path}: more than ${MAX_MAP_ENTRIES} entries`);
  }
  return value as Record<string, unknown>;
}

function isUint(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function where(key: string, parent?: string): string {
  return parent === undefined ? key : `${parent}.${key}`;
}

function uint(map: Record<string, unknown>, key: string, min = 0, parent?: string): number {
  const value = map[key];
  if (!isUint(value) || value < min) throw malformed(`${where(key, parent)}: expected an integer >= ${min}`);
  return value;
}

function int(map: Record<string, unknown>, key: string): number {
  const value = map[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw malformed(`${key}: expected an integer`);
  return value;
}

function str(map: Record<string, unknown>, key: string, minLength: number, maxLength: number): string {
  const value = map[key];
  if (typeof value !== "string" || value.length < minLength || value.length > maxLength) {
    throw malformed(`${key}: expected a string of ${minLength}..${maxLength} characters`);
  }
  return value;
}

function arr(map: Record<string, unknown>, key: string, maxLength: number, parent?: string): unknown[] {
  const value = map[key];
  if (!Array.isArray(value) || value.length > maxLength) {
    throw malformed(`${where(key, parent)}: expected an array of at most ${maxLength} items`);
  }
  return value;
}

function bin(map: Record<string, unknown>, key: string, maxBytes: number, parent?: string): Uint8Array {
  const value = map[key];
  if (!(value instanceof Uint8Array) || value.length > maxBytes) {
    throw malformed(`${where(key, parent)}: expected bin of at most ${maxBytes} bytes`);
  }
  return value;
}
