/**
 * The outbox: an append-only, fsynced log of commit records in `stateDir/outbox/` — the agent's commit point.
 *
 * A record holds the encoded partials closed by one close check TOGETHER with the checkpoint delta they imply,
 * so a record is either durable whole (partials and bookkeeping) or absent. Frame: u32 payload length, u32
 * CRC32 of the payload, payload = u32 header length, header JSON `{ w: windowStarts, d: delta }`, then per
 * partial u32 length + bytes. A torn frame at the tail (crash mid-write) is cut off at open.
 *
 * Segments `<20-digit number>.seg` roll at `segmentBytes`. `ack.json` is the shipper's cursor: every record
 * before it is acknowledged by Kafka. A segment is deleted once it lies wholly before both the ack cursor and
 * the checkpoint's `appliedThrough` (its deltas are then in checkpoint.json).
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { fsyncDir, type OutboxPosition } from "../checkpoint/index.js";
import { AgentError, AgentErrorCode } from "../errors.js";
import type { CheckpointDelta } from "../window/state.js";

export interface OutboxRecord {
  position: OutboxPosition;
  /** Position just after this record. */
  next: OutboxPosition;
  windowStarts: number[];
  partials: Buffer[];
  delta: CheckpointDelta;
  bytes: number;
}

export interface OutboxOptions {
  segmentBytes: number;
}

const FRAME_HEADER = 8;
const SEGMENT_RE = /^(\d{20})\.seg$/;

export function comparePositions(a: OutboxPosition, b: OutboxPosition): number {
  return a.segment - b.segment || a.offset - b.offset;
}

function segmentName(segment: number): string {
  return `${String(segment).padStart(20, "0")}.seg`;
}

function stateDirError(message: string, cause?: unknown): AgentError {
  return new AgentError(AgentErrorCode.StateDir, message, cause);
}

export function encodeRecord(windowStarts: number[], partials: Buffer[], delta: CheckpointDelta): Buffer {
  const header = Buffer.from(JSON.stringify({ w: windowStarts, d: delta }));
  let size = 4 + header.length;
  for (const p of partials) size += 4 + p.length;
  const frame = Buffer.allocUnsafe(FRAME_HEADER + size);
  let at = FRAME_HEADER;
  frame.writeUInt32BE(header.length, at);
  at += 4;
  at += header.copy(frame, at);
  for (const p of partials) {
    frame.writeUInt32BE(p.length, at);
    at += 4;
    at += p.copy(frame, at);
  }
  frame.writeUInt32BE(size, 0);
  frame.writeUInt32BE(crc32(frame.subarray(FRAME_HEADER)), 4);
  return frame;
}

function decodePayload(payload: Buffer): Pick<OutboxRecord, "windowStarts" | "partials" | "delta"> {
  const headerLength = payload.readUInt32BE(0);
  const header = JSON.parse(payload.toString("utf8", 4, 4 + headerLength)) as { w: number[]; d: CheckpointDelta };
  const partials: Buffer[] = [];
  let at = 4 + headerLength;
  while (at < payload.length) {
    const length = payload.readUInt32BE(at);
    partials.push(payload.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return { windowStarts: header.w, partials, delta: header.d };
}

/** Reads whole valid frames of one segment from `offset`; stops at the end or at the first torn/corrupt frame. */
function readFrames(
  fd: number,
  segment: number,
  offset: number,
  size: number,
  maxBytes: number,
): { records: OutboxRecord[]; end: number; torn: boolean } {
  const records: OutboxRecord[] = [];
  const header = Buffer.alloc(FRAME_HEADER);
  let at = offset;
  let taken = 0;
  while (at < size && taken < maxBytes) {
    if (size - at < FRAME_HEADER || readSync(fd, header, 0, FRAME_HEADER, at) < FRAME_HEADER) {
      return { records, end: at, torn: true };
    }
    const length = header.readUInt32BE(0);
    const crc = header.readUInt32BE(4);
    if (length < 4 || at + FRAME_HEADER + length > size) return { records, end: at, torn: true };
    const payload = Buffer.allocUnsafe(length);
    readSync(fd, payload, 0, length, at + FRAME_HEADER);
    if (crc32(payload) !== crc) return { records, end: at, torn: true };
    const next = at + FRAME_HEADER + length;
    records.push({
      position: { segment, offset: at },
      next: { segment, offset: next },
      bytes: FRAME_HEADER + length,
      ...decodePayload(payload),
    });
    taken += FRAME_HEADER + length;
    at = next;
  }
  return { records, end: at, torn: false };
}

export class Outbox {
  readonly dir: string;
  private readonly segmentBytes: number;
  /** Live segments in order, with their sizes. */
  private readonly segments = new Map<number, number>();
  private fd: number | null = null;
  private writeSegment: number;
  private ackCursor: OutboxPosition;
  private checkpointed: OutboxPosition;
  private unackedBytesCount = 0;
  private unackedRecordsCount = 0;
  private waiters: (() => void)[] = [];

  private constructor(dir: string, options: OutboxOptions, checkpointed: OutboxPosition) {
    this.dir = dir;
    this.segmentBytes = options.segmentBytes;
    this.checkpointed = checkpointed;
    this.ackCursor = { segment: 0, offset: 0 };
    this.writeSegment = 0;
  }

  /**
   * Opens (creating) the outbox, cuts a torn tail, and returns the deltas of every record at or after
   * `appliedThrough` (to re-apply over the checkpoint).
   */
  static open(
    stateDir: string,
    options: OutboxOptions,
    appliedThrough: OutboxPosition,
  ): { outbox: Outbox; deltas: CheckpointDelta[] } {
    const dir = join(stateDir, "outbox");
    const outbox = new Outbox(dir, options, appliedThrough);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw stateDirError(`cannot create ${dir}: ${(error as Error).message}`, error);
    }
    const deltas = outbox.recover(appliedThrough);
    return { outbox, deltas };
  }

  get unackedBytes(): number {
    return this.unackedBytesCount;
  }

  get unackedRecords(): number {
    return this.unackedRecordsCount;
  }

  /** Position after the last record (where the next one goes). */
  get end(): OutboxPosition {
    return { segment: this.writeSegment, offset: this.segments.get(this.writeSegment) ?? 0 };
  }

  get acked(): OutboxPosition {
    return { ...this.ackCursor };
  }

  /** Appends one record and fsyncs it; when this returns the record is committed. */
  append(windowStarts: number[], partials: Buffer[], delta: CheckpointDelta): void {
    const frame = encodeRecord(windowStarts, partials, delta);
    let size = this.segments.get(this.writeSegment) ?? 0;
    if (size > 0 && size + frame.length > this.segmentBytes) {
      this.openSegment(this.writeSegment + 1);
      size = 0;
    }
    const fd = this.writeFd();
    try {
      let written = 0;
      while (written < frame.length) written += writeSync(fd, frame, written, frame.length - written, size + written);
      fsyncSync(fd);
    } catch (error) {
      throw stateDirError(`cannot append to the outbox in ${this.dir}: ${(error as Error).message}`, error);
    }
    this.segments.set(this.writeSegment, size + frame.length);
    this.unackedBytesCount += frame.length;
    this.unackedRecordsCount++;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Records from `from` on, up to about `maxBytes` (at least one record when there is one). */
  read(from: OutboxPosition, maxBytes: number): OutboxRecord[] {
    const out: OutboxRecord[] = [];
    let taken = 0;
    for (const [segment, size] of [...this.segments].sort((a, b) => a[0] - b[0])) {
      if (segment < from.segment) continue;
      const offset = segment === from.segment ? from.offset : 0;
      if (offset >= size) continue;
      const fd = openSync(join(this.dir, segmentName(segment)), "r");
      try {
        const { records } = readFrames(fd, segment, offset, size, Math.max(1, maxBytes - taken));
        for (const r of records) {
          out.push(r);
          taken += r.bytes;
        }
      } finally {
        closeSync(fd);
      }
      if (taken >= maxBytes) break;
    }
    return out;
  }

  /** Resolves on the next append (or when `signal` aborts). */
  waitForAppend(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Marks every record before `next` acknowledged (durably) and deletes segments nothing needs any more. */
  ack(records: OutboxRecord[]): void {
    const last = records.at(-1);
    if (last === undefined) return;
    const cursor = last.next;
    const file = join(this.dir, "ack.json");
    try {
      const fd = openSync(`${file}.tmp`, "w");
      try {
        writeSync(fd, JSON.stringify(cursor));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(`${file}.tmp`, file);
      fsyncDir(this.dir);
    } catch (error) {
      throw stateDirError(`cannot write ${file}: ${(error as Error).message}`, error);
    }
    this.ackCursor = cursor;
    for (const r of records) this.unackedBytesCount -= r.bytes;
    this.unackedRecordsCount -= records.length;
    this.deleteObsolete();
  }

  /** A checkpoint now covers every record before `position`. */
  checkpointedThrough(position: OutboxPosition): void {
    this.checkpointed = position;
    this.deleteObsolete();
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    for (const wake of this.waiters.splice(0)) wake();
  }

  private writeFd(): number {
    if (this.fd === null) this.fd = openSync(join(this.dir, segmentName(this.writeSegment)), "r+");
    return this.fd;
  }

  private openSegment(segment: number): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = openSync(join(this.dir, segmentName(segment)), "w+");
    fsyncDir(this.dir);
    this.writeSegment = segment;
    this.segments.set(segment, 0);
  }

  private deleteObsolete(): void {
    for (const segment of [...this.segments.keys()]) {
      if (segment < this.ackCursor.segment && segment < this.checkpointed.segment && segment < this.writeSegment) {
        unlinkSync(join(this.dir, segmentName(segment)));
        this.segments.delete(segment);
      }
    }
  }

  private recover(appliedThrough: OutboxPosition): CheckpointDelta[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      throw stateDirError(`cannot list ${this.dir}: ${(error as Error).message}`, error);
    }
    const found = names
      .map((n) => SEGMENT_RE.exec(n)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    try {
      const ack = JSON.parse(readFileSync(join(this.dir, "ack.json"), "utf8")) as OutboxPosition;
      this.ackCursor = { segment: ack.segment, offset: ack.offset };
    } catch {
      this.ackCursor = { segment: found[0] ?? 0, offset: 0 };
    }
    const deltas: CheckpointDelta[] = [];
    for (const [i, segment] of found.entries()) {
      const path = join(this.dir, segmentName(segment));
      const fd = openSync(path, "r+");
      try {
        const size = fstatSync(fd).size;
        const { records, end, torn } = readFrames(fd, segment, 0, size, Number.POSITIVE_INFINITY);
        if (torn) {
          if (i !== found.length - 1) {
            throw stateDirError(`outbox segment ${path} is corrupt at byte ${end} (not at its tail); move it away`);
          }
          ftruncateSync(fd, end);
          fsyncSync(fd);
        }
        this.segments.set(segment, end);
        for (const r of records) {
          if (comparePositions(r.position, appliedThrough) >= 0) deltas.push(r.delta);
          if (comparePositions(r.position, this.ackCursor) >= 0) {
            this.unackedBytesCount += r.bytes;
            this.unackedRecordsCount++;
          }
        }
      } finally {
        closeSync(fd);
      }
    }
    const last = found.at(-1);
    // A fresh segment number past anything the ack cursor or the checkpoint mention keeps positions increasing.
    if (last === undefined) this.openSegment(Math.max(this.ackCursor.segment, appliedThrough.segment) + 1);
    else this.writeSegment = last;
    return deltas;
  }
}
