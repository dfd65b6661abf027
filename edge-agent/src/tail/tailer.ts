import type { BigIntStats } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { glob, isDynamicPattern } from "tinyglobby";
import { AgentError, AgentErrorCode } from "../errors.js";
import { type Fingerprint, fingerprintLength, fnv1a64Hex, formatFileKey, parseFileKey } from "./fingerprint.js";
import type { FilePosition, RotatedSiblingPattern, TailEvent, Tailer, TailerOptions } from "./index.js";
import { defaultRotatedSiblingPattern, rotatedSiblings } from "./siblings.js";
import { splitLines } from "./split-lines.js";

/** One content stream, read through an open fd that follows the file across renames and deletion. */
interface Stream {
  /** Creation order: of two streams with the same key, only the older one is read. */
  seq: number;
  /** `null` until the file has a complete line (see fingerprint.ts). */
  key: string | null;
  fingerprint: Fingerprint | null;
  fh: FileHandle;
  /** The file `fh` reads; after a copytruncate that is the copy, while `key` keeps the original inode. */
  dev: bigint;
  ino: bigint;
  path: string;
  /** End of the last emitted byte: the position the agent checkpoints. */
  offset: number;
  /** Next byte to read; `[offset, readOffset)` is `carry`, or the oversize line being skipped. */
  readOffset: number;
  carry: Buffer | null;
  skipping: boolean;
  /** At a glob match as of the last poll; a stream that is not is closed once drained and idle. */
  live: boolean;
  /** There may be bytes past `readOffset`: set by a poll that saw growth, cleared by a read at the end. */
  maybeMore: boolean;
  /** `eof` was emitted and nothing was read since. */
  atEof: boolean;
  knownSize: number;
  lastChangeAt: number;
}

interface FoundFile {
  path: string;
  dev: bigint;
  ino: bigint;
}

interface OpenedFile {
  fh: FileHandle;
  path: string;
  dev: bigint;
  ino: bigint;
  size: number;
}

/** Identities of closed streams remembered (a few hundred bytes each). */
const RECENTLY_CLOSED_MAX = 1024;

const physicalId = (f: { dev: bigint; ino: bigint }): string => `${f.dev}:${f.ino}`;

const isMissing = (error: unknown): boolean => {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
};

const defaultWait = (ms: number, signal: AbortSignal): Promise<void> =>
  delay(ms, undefined, { signal }).catch(() => undefined);

function positiveInt(value: number | undefined, fallback: number, key: string, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new AgentError(AgentErrorCode.BadConfig, `tail.${key}: expected an integer ≥ ${min}, got ${String(value)}`);
  }
  return v;
}

export function createTailer(options: TailerOptions): Tailer {
  return new FileTailer(options);
}

class FileTailer implements Tailer {
  /** The globs without wildcards, as absolute paths. */
  private readonly literalPaths: string[];
  /** The globs with wildcards (expanded with tinyglobby). */
  private readonly patterns: string[];
  private readonly positions: FilePosition[];
  private readonly startAtEnd: boolean;
  private readonly readChunkBytes: number;
  private readonly maxLineBytes: number;
  private readonly pollIntervalMs: number;
  private readonly fingerprintBytes: number;
  private readonly rotateWaitMs: number;
  private readonly siblingPattern: RotatedSiblingPattern;
  private readonly onError: (error: Error) => void;
  private readonly now: () => number;
  private readonly wait: (ms: number, signal: AbortSignal) => Promise<void>;

  /** Chunks are read behind the carried partial line, so one buffer serves every file in turn. */
  private readonly buf: Buffer;
  private head: Buffer;
  private streams: Stream[] = [];
  private cursor = 0;
  private nextSeq = 0;
  private readonly queue: TailEvent[] = [];
  private started = false;
  private stopped = false;
  private readonly stopController = new AbortController();
  private lastPollAt = Number.NEGATIVE_INFINITY;
  private busy: Promise<unknown> = Promise.resolve();
  /** path → errno last reported, so a persistent failure is reported once, not at every poll. */
  private readonly ioFailures = new Map<string, string>();
  /**
   * Streams closed because they left the globs, by file identity: if such a file comes back (a glob match that
   * briefly listed nothing, a rotated file renamed back) it resumes where it was closed instead of being re-read.
   */
  private readonly recentlyClosed = new Map<string, { key: string; fingerprint: Fingerprint; offset: number }>();

  constructor(options: TailerOptions) {
    // A plain path needs no directory listing at every poll (the stat below finds it or not); only patterns do.
    this.literalPaths = options.globs.filter((g) => !isDynamicPattern(g)).map((g) => resolve(g));
    this.patterns = options.globs.filter((g) => isDynamicPattern(g));
    this.positions = options.positions;
    this.startAtEnd = options.startAt === "end";
    this.readChunkBytes = positiveInt(options.readChunkBytes, 1024 * 1024, "readChunkBytes");
    this.maxLineBytes = positiveInt(options.maxLineBytes, 64 * 1024, "maxLineBytes");
    this.pollIntervalMs = positiveInt(options.pollIntervalMs, 250, "pollIntervalMs", 0);
    this.fingerprintBytes = positiveInt(options.fingerprintBytes, 1024, "fingerprintBytes");
    this.rotateWaitMs = positiveInt(options.rotateWaitMs, 5000, "rotateWaitMs", 0);
    this.siblingPattern = options.rotatedSiblingPattern ?? defaultRotatedSiblingPattern;
    this.onError = options.onError ?? ((error) => process.emitWarning(error));
    this.now = options.now ?? Date.now;
    this.wait = options.wait ?? defaultWait;
    this.buf = Buffer.allocUnsafe(this.readChunkBytes + this.maxLineBytes);
    this.head = Buffer.allocUnsafe(this.fingerprintBytes);
  }

  next(signal?: AbortSignal): Promise<TailEvent> {
    // One consumer is expected; concurrent calls are served one after the other.
    const run = this.busy.then(() => this.nextEvent(signal));
    this.busy = run.catch(() => undefined);
    return run;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopController.abort();
    await this.busy;
    const streams = this.streams;
    this.streams = [];
    await Promise.all(streams.map((s) => s.fh.close().catch(() => undefined)));
  }

  private async nextEvent(signal: AbortSignal | undefined): Promise<TailEvent> {
    for (;;) {
      if (this.stopped) throw new AgentError(AgentErrorCode.TailStopped, "tailer stopped");
      signal?.throwIfAborted();
      const queued = this.queue.shift();
      if (queued) return queued;
      if (!this.started) {
        this.started = true;
        await this.poll(true);
        continue;
      }
      if (this.now() - this.lastPollAt >= this.pollIntervalMs) {
        await this.poll(false);
        continue;
      }
      if (await this.readRoundRobin()) continue;
      const waitMs = Math.max(0, this.pollIntervalMs - (this.now() - this.lastPollAt));
      await this.wait(
        waitMs,
        signal ? AbortSignal.any([signal, this.stopController.signal]) : this.stopController.signal,
      );
      if (this.stopped || signal?.aborted) continue;
      await this.poll(false);
    }
  }

  // ---- reading -------------------------------------------------------------------------------------------------

  /** Gives each stream with data one chunk in turn until one yields an event; false when nothing could be read. */
  private async readRoundRobin(): Promise<boolean> {
    const count = this.streams.length;
    if (count === 0) return false;
    const order = [...this.streams.slice(this.cursor % count), ...this.streams.slice(0, this.cursor % count)];
    let progressed = false;
    for (const s of order) {
      if (!s.maybeMore || !this.streams.includes(s) || this.blocked(s)) continue;
      this.cursor = this.streams.indexOf(s) + 1;
      progressed = (await this.readChunk(s)) || progressed;
      if (this.queue.length > 0) return true;
    }
    return progressed;
  }

  /** A stream whose key an older stream still uses waits for that one to close (see the module comment). */
  private blocked(s: Stream): boolean {
    return s.key !== null && this.streams.some((o) => o.seq < s.seq && o.key === s.key);
  }

  /** Reads one chunk of `s` and queues its events; true when bytes were consumed. */
  private async readChunk(s: Stream): Promise<boolean> {
    try {
      if (!s.fingerprint && !(await this.identify(s))) {
        s.maybeMore = false;
        return false;
      }
      if (this.blocked(s)) return false;
      const carryLen = s.carry?.length ?? 0;
      if (s.carry) s.carry.copy(this.buf, 0);
      const { bytesRead } = await s.fh.read(this.buf, carryLen, this.readChunkBytes, s.readOffset);
      this.ioFailures.delete(s.path);
      if (bytesRead === 0) {
        s.maybeMore = false;
        if (!s.atEof) {
          s.atEof = true;
          this.queue.push({ kind: "eof", fileKey: s.key!, path: s.path, offset: s.offset });
        }
        return false;
      }
      // The file may have been truncated and refilled since the last check; then these bytes are not ours.
      if ((await this.hashHead(s.fh, s.fingerprint!.length)) !== s.fingerprint!.hex) {
        await this.replaced(s);
        return true;
      }
      this.consume(s, carryLen, bytesRead);
      return true;
    } catch (error) {
      this.reportIo(s.path, error);
      s.maybeMore = false;
      return false;
    }
  }

  private consume(s: Stream, carryLen: number, bytesRead: number): void {
    const key = s.key!;
    const chunkStart = s.readOffset - carryLen; // file offset of buf[0]
    s.readOffset += bytesRead;
    s.atEof = false;
    const view = this.buf.subarray(0, carryLen + bytesRead);
    let from = 0;
    if (s.skipping) {
      const newline = view.indexOf(10);
      if (newline < 0) return;
      const endOffset = chunkStart + newline + 1;
      this.queue.push({ kind: "oversize", fileKey: key, path: s.path, startOffset: s.offset, endOffset });
      s.skipping = false;
      s.offset = endOffset;
      from = newline + 1;
    }
    const { pieces, rest, restOversize } = splitLines(view, from, this.maxLineBytes);
    for (const p of pieces) {
      const startOffset = chunkStart + p.start;
      this.queue.push(
        p.kind === "lines"
          ? { kind: "lines", fileKey: key, path: s.path, startOffset, data: view.subarray(p.start, p.end) }
          : { kind: "oversize", fileKey: key, path: s.path, startOffset, endOffset: chunkStart + p.end },
      );
    }
    s.offset = chunkStart + rest;
    s.skipping = restOversize;
    s.carry = restOversize || rest === view.length ? null : Buffer.from(view.subarray(rest));
  }

  /** Keys the stream once its file has a complete line (or `fingerprintBytes` bytes). */
  private async identify(s: Stream): Promise<boolean> {
    const { bytesRead } = await s.fh.read(this.head, 0, this.fingerprintBytes, 0);
    const length = fingerprintLength(this.head.subarray(0, bytesRead), this.fingerprintBytes);
    if (length === null) return false;
    s.fingerprint = { hex: fnv1a64Hex(this.head.subarray(0, length)), length };
    s.key = formatFileKey(s.dev, s.ino, s.fingerprint);
    return true;
  }

  /** FNV of the file's first `length` bytes, `null` when it has fewer. */
  private async hashHead(fh: FileHandle, length: number): Promise<string | null> {
    if (this.head.length < length) this.head = Buffer.allocUnsafe(length);
    const { bytesRead } = await fh.read(this.head, 0, length, 0);
    return bytesRead < length ? null : fnv1a64Hex(this.head.subarray(0, length));
  }

  // ---- polling -------------------------------------------------------------------------------------------------

  /** Re-expands the globs, notices renames, deletions, truncation and growth, and opens new files. */
  private async poll(initial: boolean): Promise<void> {
    this.lastPollAt = this.now();
    const found = await this.expandGlobs();
    if (initial) await this.resolvePositions(found);
    for (const s of [...this.streams]) {
      if (found) {
        const id = physicalId(s);
        const hit = found.get(id);
        if (hit) {
          s.path = hit.path;
          s.live = true;
          found.delete(id);
        } else if (s.live) {
          s.live = false;
          s.lastChangeAt = this.now();
          await this.followRename(s);
        }
      }
      await this.check(s);
    }
    if (!found) return;
    for (const f of found.values()) {
      if (this.tracked(f)) continue;
      await this.openNew(f, initial && this.startAtEnd && !this.positions.some((p) => p.path === f.path));
    }
  }

  /** Regular files matching the globs by identity; `null` if globbing failed (then nothing counts as rotated away). */
  private async expandGlobs(): Promise<Map<string, FoundFile> | null> {
    let paths = [...this.literalPaths];
    if (this.patterns.length > 0) {
      try {
        const matched = await glob(this.patterns, {
          absolute: true,
          onlyFiles: true,
          dot: true,
          expandDirectories: false,
        });
        paths = [...new Set([...paths, ...matched])];
      } catch (error) {
        this.reportIo(this.patterns.join(","), error);
        return null;
      }
    }
    paths.sort();
    const stats = await Promise.all(paths.map((p) => this.statOrNull(p)));
    const found = new Map<string, FoundFile>();
    paths.forEach((path, i) => {
      const st = stats[i];
      if (!st?.isFile()) return;
      const id = physicalId(st);
      if (!found.has(id)) found.set(id, { path, dev: st.dev, ino: st.ino });
    });
    return found;
  }

  private async check(s: Stream): Promise<void> {
    let st: BigIntStats;
    try {
      st = await s.fh.stat({ bigint: true });
    } catch (error) {
      this.reportIo(s.path, error);
      return;
    }
    const size = Number(st.size);
    if (st.nlink === 0n) s.live = false;
    if (size !== s.knownSize) {
      s.knownSize = size;
      s.lastChangeAt = this.now();
    }
    if (s.fingerprint) {
      // Also when the size looks unchanged: truncated and refilled to the very same length between two polls.
      let head: string | null;
      try {
        head = await this.hashHead(s.fh, s.fingerprint.length);
      } catch (error) {
        this.reportIo(s.path, error);
        return;
      }
      if (size < s.readOffset || head !== s.fingerprint.hex) return this.replaced(s);
    } else if (size < s.readOffset) {
      Object.assign(s, { offset: 0, readOffset: 0, skipping: false }); // nothing of it was emitted
    }
    if (size > s.readOffset) s.maybeMore = true;
    const drained = s.key === null || (s.atEof && size === s.readOffset);
    if (!s.live && drained && this.now() - s.lastChangeAt >= this.rotateWaitMs) await this.close(s);
  }

  /** A stream that left the globs: remember its new name if it was renamed next to where it was. */
  private async followRename(s: Stream): Promise<void> {
    try {
      for (const path of await rotatedSiblings(s.path, this.siblingPattern)) {
        const st = await this.statOrNull(path);
        if (st && st.dev === s.dev && st.ino === s.ino) {
          s.path = path;
          return;
        }
      }
    } catch (error) {
      this.reportIo(s.path, error);
    }
  }

  /**
   * The file under `s` shrank below our read offset or no longer starts with our bytes: copytruncate (drain the
   * copy under the old key, the file itself becomes a new stream from 0), a shrink that kept the first bytes (go on
   * at the new end), or content replaced without a copy (that data is gone: close, new stream from 0).
   */
  private async replaced(s: Stream): Promise<void> {
    const file = { fh: s.fh, path: s.path, dev: s.dev, ino: s.ino };
    const wasLive = s.live;
    const copy = await this.findCopy(s);
    if (copy) {
      Object.assign(s, { fh: copy.fh, path: copy.path, dev: copy.dev, ino: copy.ino, live: false });
      Object.assign(s, { readOffset: s.offset, carry: null, skipping: false, maybeMore: true, atEof: false });
      Object.assign(s, { knownSize: copy.size, lastChangeAt: this.now() });
    } else {
      const fp = s.fingerprint!;
      if ((await this.hashHead(file.fh, fp.length).catch(() => null)) === fp.hex) {
        const size = Number((await file.fh.stat({ bigint: true })).size);
        if (size >= s.readOffset) return; // it changed back meanwhile: nothing to do
        this.onError(
          new AgentError(AgentErrorCode.TailShrunk, `${s.path} shrank from ${s.readOffset} to ${size} bytes`),
        );
        this.finishPartialLine(s);
        Object.assign(s, { offset: size, readOffset: size, maybeMore: true, atEof: false });
        return;
      }
      this.onError(
        new AgentError(
          AgentErrorCode.TailStreamLost,
          `${s.path} was truncated or replaced at offset ${s.offset} and no rotated copy of it was found; ` +
            "the bytes not yet read are lost",
        ),
      );
      this.finishPartialLine(s);
      this.queue.push({ kind: "closed", fileKey: s.key!, path: s.path, offset: s.offset });
      this.streams = this.streams.filter((o) => o !== s);
    }
    this.addStream({ ...file, size: -1 }, { offset: 0, live: wasLive });
  }

  /** The rotated sibling with our first bytes and at least our offset's length: a copytruncate copy. */
  private async findCopy(s: Stream): Promise<OpenedFile | null> {
    let candidates: { path: string; mtimeMs: bigint }[] = [];
    try {
      for (const path of await rotatedSiblings(s.path, this.siblingPattern)) {
        const st = await this.statOrNull(path);
        if (!st?.isFile() || (st.dev === s.dev && st.ino === s.ino) || this.tracked(st)) continue;
        if (Number(st.size) >= s.offset) candidates.push({ path, mtimeMs: st.mtimeMs });
      }
    } catch (error) {
      this.reportIo(s.path, error);
    }
    candidates = candidates.sort((a, b) => (a.mtimeMs > b.mtimeMs ? -1 : a.mtimeMs < b.mtimeMs ? 1 : 0));
    for (const c of candidates) {
      const copy = await this.openMatching(c.path, s.fingerprint!, s.offset);
      if (copy && !(copy.dev === s.dev && copy.ino === s.ino)) return copy;
      await copy?.fh.close();
    }
    return null;
  }

  /** Opens `path` if it starts with `fingerprint` and has at least `minSize` bytes. */
  private async openMatching(path: string, fingerprint: Fingerprint, minSize: number): Promise<OpenedFile | null> {
    const file = await this.openOrNull(path);
    if (!file) return null;
    try {
      if (file.size >= minSize && (await this.hashHead(file.fh, fingerprint.length)) === fingerprint.hex) return file;
    } catch (error) {
      this.reportIo(path, error);
    }
    await file.fh.close();
    return null;
  }

  /**
   * Restart: finds each checkpointed stream at its path, renamed, or as a copytruncate copy (in that order of
   * preference over the glob matches, the checkpointed path and their rotated siblings), else reports it lost.
   */
  private async resolvePositions(found: Map<string, FoundFile> | null): Promise<void> {
    const globbed = found ? [...found.values()].map((f) => f.path) : [];
    const siblingsOf = new Map<string, string[]>();
    const candidatesFor = async (pos: FilePosition): Promise<string[]> => {
      const paths = new Set([pos.path, ...globbed]);
      for (const active of [pos.path, ...globbed]) {
        if (!siblingsOf.has(active)) {
          siblingsOf.set(active, await rotatedSiblings(active, this.siblingPattern).catch(() => []));
        }
        for (const p of siblingsOf.get(active)!) paths.add(p);
      }
      return [...paths];
    };
    const pending: { pos: FilePosition; dev: bigint; ino: bigint; fingerprint: Fingerprint }[] = [];
    const seenKeys = new Set<string>();
    for (const pos of this.positions) {
      const parsed = parseFileKey(pos.fileKey);
      if (!parsed || !Number.isSafeInteger(pos.offset) || pos.offset < 0) {
        this.onError(
          new AgentError(AgentErrorCode.TailBadPosition, `checkpoint position ${JSON.stringify(pos)} is malformed`),
        );
        this.queue.push({ kind: "closed", fileKey: pos.fileKey, path: pos.path, offset: pos.offset });
      } else if (!seenKeys.has(pos.fileKey)) {
        seenKeys.add(pos.fileKey);
        pending.push({ pos, ...parsed });
      }
    }
    // Same inode first (at its path or renamed), then copies, so a copy never takes a file that is someone's own.
    for (const exact of [true, false]) {
      for (const p of [...pending]) {
        for (const path of await candidatesFor(p.pos)) {
          const st = await this.statOrNull(path);
          if (!st?.isFile() || this.tracked(st) || (st.dev === p.dev && st.ino === p.ino) !== exact) continue;
          const file = await this.openMatching(path, p.fingerprint, exact ? 0 : p.pos.offset);
          if (!file) continue;
          if (this.tracked(file) || (file.dev === p.dev && file.ino === p.ino) !== exact) {
            await file.fh.close();
            continue;
          }
          pending.splice(pending.indexOf(p), 1);
          const live = found?.has(physicalId(file)) ?? false;
          const s = this.addStream(file, {
            offset: p.pos.offset,
            live,
            key: p.pos.fileKey,
            fingerprint: p.fingerprint,
          });
          if (file.size < p.pos.offset) await this.replaced(s);
          break;
        }
      }
    }
    for (const { pos } of pending) {
      this.onError(
        new AgentError(
          AgentErrorCode.TailStreamLost,
          `${pos.path} (${pos.fileKey}) is gone: neither at its path nor renamed nor copied next to it; ` +
            `its bytes after offset ${pos.offset} were not read`,
        ),
      );
      this.queue.push({ kind: "closed", fileKey: pos.fileKey, path: pos.path, offset: pos.offset });
    }
  }

  private async openNew(f: FoundFile, atEnd: boolean): Promise<void> {
    const file = await this.openOrNull(f.path);
    if (!file) return;
    if (this.tracked(file)) {
      await file.fh.close();
      return;
    }
    const closed = this.recentlyClosed.get(physicalId(file));
    if (closed && file.size >= closed.offset) {
      const head = await this.hashHead(file.fh, closed.fingerprint.length).catch(() => null);
      if (head === closed.fingerprint.hex) {
        this.addStream(file, { offset: closed.offset, live: true, key: closed.key, fingerprint: closed.fingerprint });
        return;
      }
    }
    const s = this.addStream(file, { offset: 0, live: true });
    if (atEnd) {
      try {
        await this.startAtLastLine(s, file.size);
      } catch (error) {
        this.reportIo(f.path, error);
      }
    }
  }

  /** `startAt: "end"`: begin after the last complete line, or skip to the end of a line too long to look back over. */
  private async startAtLastLine(s: Stream, size: number): Promise<void> {
    const from = Math.max(0, size - this.maxLineBytes - 1);
    const { bytesRead } = await s.fh.read(this.buf, 0, size - from, from);
    const newline = this.buf.subarray(0, bytesRead).lastIndexOf(10);
    if (newline >= 0) s.offset = s.readOffset = from + newline + 1;
    else if (from > 0) Object.assign(s, { offset: size, readOffset: size, skipping: true });
  }

  private addStream(
    file: OpenedFile,
    init: { offset: number; live: boolean; key?: string; fingerprint?: Fingerprint },
  ): Stream {
    const s: Stream = {
      seq: this.nextSeq++,
      key: init.key ?? null,
      fingerprint: init.fingerprint ?? null,
      fh: file.fh,
      dev: file.dev,
      ino: file.ino,
      path: file.path,
      offset: init.offset,
      readOffset: init.offset,
      carry: null,
      skipping: false,
      live: init.live,
      maybeMore: true,
      atEof: false,
      knownSize: file.size,
      lastChangeAt: this.now(),
    };
    this.streams.push(s);
    return s;
  }

  /** Reports what is left of an unfinished last line, which can no longer be completed. */
  private finishPartialLine(s: Stream): void {
    const base = { fileKey: s.key!, path: s.path, startOffset: s.offset };
    if (s.skipping) {
      this.queue.push({ kind: "oversize", ...base, endOffset: s.readOffset });
      s.offset = s.readOffset;
    } else if (s.carry) {
      this.queue.push({ kind: "truncated", ...base, data: s.carry });
      s.offset += s.carry.length;
    }
    s.carry = null;
    s.skipping = false;
  }

  /** Ends a drained stream that left the globs. One that never got a complete line is keyed over its bytes now. */
  private async close(s: Stream): Promise<void> {
    try {
      if (!s.fingerprint) {
        if (await this.identify(s)) {
          s.maybeMore = true; // it got a line meanwhile: read it first
          return;
        }
        const { bytesRead } = await s.fh.read(this.head, 0, this.fingerprintBytes, 0);
        if (bytesRead === 0) return this.forget(s);
        const fingerprint = { hex: fnv1a64Hex(this.head.subarray(0, bytesRead)), length: bytesRead };
        Object.assign(s, { fingerprint, key: formatFileKey(s.dev, s.ino, fingerprint) });
        s.carry = Buffer.from(this.head.subarray(0, bytesRead));
      }
    } catch (error) {
      this.reportIo(s.path, error);
      return;
    }
    this.finishPartialLine(s);
    this.queue.push({ kind: "closed", fileKey: s.key!, path: s.path, offset: s.offset });
    this.recentlyClosed.set(physicalId(s), { key: s.key!, fingerprint: s.fingerprint!, offset: s.offset });
    if (this.recentlyClosed.size > RECENTLY_CLOSED_MAX) {
      this.recentlyClosed.delete(this.recentlyClosed.keys().next().value!);
    }
    await this.forget(s);
  }

  private async forget(s: Stream): Promise<void> {
    this.streams = this.streams.filter((o) => o !== s);
    await s.fh.close().catch(() => undefined);
  }

  private tracked(f: { dev: bigint; ino: bigint }): boolean {
    return this.streams.some((s) => s.dev === f.dev && s.ino === f.ino);
  }

  // ---- file system helpers: a vanished file is not an error, anything else is reported once -----------------------

  private async statOrNull(path: string): Promise<BigIntStats | null> {
    try {
      return await stat(path, { bigint: true });
    } catch (error) {
      this.reportIo(path, error);
      return null;
    }
  }

  private async openOrNull(path: string): Promise<OpenedFile | null> {
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (error) {
      this.reportIo(path, error);
      return null;
    }
    try {
      const st = await fh.stat({ bigint: true });
      this.ioFailures.delete(path);
      return { fh, path, dev: st.dev, ino: st.ino, size: Number(st.size) };
    } catch (error) {
      this.reportIo(path, error);
      await fh.close().catch(() => undefined);
      return null;
    }
  }

  private reportIo(path: string, error: unknown): void {
    if (isMissing(error)) return;
    const code = (error as NodeJS.ErrnoException).code ?? "EUNKNOWN";
    if (this.ioFailures.get(path) === code) return;
    this.ioFailures.set(path, code);
    const message = error instanceof Error ? error.message : String(error);
    this.onError(new AgentError(AgentErrorCode.TailIo, `${path}: ${message}`, error));
  }
}
