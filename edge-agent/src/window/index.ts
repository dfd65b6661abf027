/**
 * Window assignment and closing — pure: no I/O, no timers; the caller passes `now`.
 *
 * Exactly-once, in short (the outbox is the commit point):
 * - A good line goes to the window of its own timestamp. A reject (parse failure, too_long, truncated, too_old,
 *   bad_time) goes to the window of its file's event clock — or to the global floor if that is higher — so a
 *   re-read classifies it the same way; rejects before a file's first good line wait for that line's window.
 * - A window closes when the event clock (max event time accepted) is `closeLatenessMs` past its end, or — only
 *   while every file is at its end (`idle`) — when the wall clock is `idleCloseMs` past it. Every window from the
 *   first on yields a partial, empty ones too (heartbeats), except empty windows more than `windowHorizonMs`
 *   behind the close point. A line for a closed window goes into a supplement (same window, seq = next) that
 *   closes at the next close check.
 * - `collect` returns the closed partials together with the checkpoint delta they imply (see state.ts). Seqs are
 *   taken from the committed `nextSeq`, and only one partial per window is open at a time, so an identity
 *   (host, service, window, seq) is fixed when its partial is outboxed and never carries other content.
 * - After a restart each file resumes at its resume offset with its saved clock; a re-read line of window W at
 *   offset o is skipped iff o < shippedUpTo[file][W] (it is already in an outboxed partial).
 * - A line more than `futureToleranceMs` ahead of the wall clock is rejected as `bad_time`: it would otherwise
 *   drag the event clock forward and close every real window early.
 */
import {
  addRecord,
  addReject,
  createPartial,
  type LogRecord,
  REJECT_REASONS,
  type RejectReason,
  type WindowPartial,
} from "@rla/protocol";
import {
  applyDelta,
  type CheckpointDelta,
  type CommittedState,
  type FileResume,
  lowestShippedWindow,
} from "./state.js";

export * from "./state.js";

export interface WindowerOptions {
  host: string;
  service: string;
  windowMs: number;
  closeLatenessMs: number;
  idleCloseMs: number;
  windowHorizonMs: number;
  /** Lines further ahead of the wall clock are `bad_time` (default 1 h). */
  futureToleranceMs?: number;
  /** A finished file's resume entry is forgotten once its clock is this far behind the event clock (default 24 h). */
  closedFileRetentionMs?: number;
}

/** How a close check may close windows. */
export type CloseMode =
  /** Reading: only the event clock closes windows. */
  | "busy"
  /** Every file is at its end: the wall clock closes windows too, and waiting rejects of files without a clock are assigned. */
  | "idle"
  /** `--once` end: close every window (through the event clock's) and assign every waiting reject. */
  | "flush";

export interface Commit {
  partials: WindowPartial[];
  delta: CheckpointDelta;
}

export interface WindowerStats {
  /** Lines counted into a partial as requests. */
  accepted: number;
  /** Re-read lines already in an outboxed partial. */
  skipped: number;
  rejects: Record<RejectReason, number>;
  /** Supplementary partials (seq ≥ 1 or for a window closed before its first line) emitted. */
  supplements: number;
  /** Partials emitted, heartbeats included. */
  partials: number;
}

/** Lines of one file in one open partial. */
interface Span {
  firstOffset: number;
  /** The file's clock just before `firstOffset` (the resume clock if reading restarts there). */
  clockBefore: number | null;
  lastEnd: number;
}

interface OpenPartial {
  partial: WindowPartial;
  spans: Map<string, Span>;
}

interface PendingRejects {
  counts: Map<RejectReason, number>;
  firstOffset: number;
  lastEnd: number;
}

/** Per-file reading state; the agent holds it between events so the hot path does no lookup by key. */
export interface FileCursor {
  readonly key: string;
  path: string;
  clockMs: number | null;
  readOffset: number;
  closed: boolean;
  /** At the end of the file as of its last event (eof). A file with a backlog holds the floor at its own. */
  atEnd: boolean;
  /** Lowest window this file may still add to (too_old below). */
  floorW: number;
  /** Committed shippedUpTo entries of this file from before the restart; lines at or past maxShipped never skip. */
  shipped: Record<string, number> | undefined;
  maxShipped: number;
  pending: PendingRejects | null;
  // One-entry cache of the open partial lines of this file went to last.
  curW: number;
  curOpen: OpenPartial | null;
  curSpan: Span | null;
}

const HOUR = 3_600_000;

export class Windower {
  readonly stats: WindowerStats;
  private readonly o: Required<WindowerOptions>;
  private readonly state: CommittedState;
  private readonly files = new Map<string, FileCursor>();
  /** Primary partials of windows ≥ nextToClose. */
  private readonly primaries = new Map<number, OpenPartial>();
  /** Supplements of windows < nextToClose. */
  private readonly supplements = new Map<number, OpenPartial>();
  private eventClockMs: number | null;
  private nextToCloseMs: number | null;
  private futureLimitMs = Number.POSITIVE_INFINITY;

  /** `state` is the restored committed state; the windower keeps it current as it emits commits. */
  constructor(options: WindowerOptions, state: CommittedState) {
    this.o = { futureToleranceMs: HOUR, closedFileRetentionMs: 24 * HOUR, ...options };
    this.state = state;
    this.eventClockMs = state.eventClockMs;
    this.nextToCloseMs = state.nextToCloseMs;
    this.stats = {
      accepted: 0,
      skipped: 0,
      rejects: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
      supplements: 0,
      partials: 0,
    };
    for (const [key, resume] of Object.entries(state.files)) this.addCursor(key, resume);
  }

  /** Where each known file should be read from (for the tailer), finished files included. */
  positions(): { fileKey: string; path: string; offset: number }[] {
    return [...this.files.values()].map((f) => ({ fileKey: f.key, path: f.path, offset: f.readOffset }));
  }

  get eventClock(): number | null {
    return this.eventClockMs;
  }

  /** The committed state (what checkpoint.json holds): changes only inside `collect`. */
  get committed(): CommittedState {
    return this.state;
  }

  cursors(): FileCursor[] {
    return [...this.files.values()];
  }

  /** Sets the wall clock for the `bad_time` check of the lines that follow. */
  observe(now: number): void {
    this.futureLimitMs = now + this.o.futureToleranceMs;
  }

  /** The cursor of a file, created at `offset` for a file seen for the first time. */
  file(key: string, path: string, offset: number): FileCursor {
    let cursor = this.files.get(key);
    if (cursor === undefined) {
      cursor = this.addCursor(key, { path, offset, fileClockMs: null, closed: false });
    } else {
      cursor.path = path;
      cursor.closed = false;
    }
    cursor.atEnd = false;
    return cursor;
  }

  /** The reader reached the end of the file at `offset` (eof). */
  advance(file: FileCursor, offset: number): void {
    if (offset > file.readOffset) file.readOffset = offset;
    file.atEnd = true;
  }

  close(file: FileCursor, offset: number): void {
    this.advance(file, offset);
    file.closed = true;
  }

  /** A parsed line [start, end) (end includes the newline). Hot path: no allocation unless a partial opens. */
  record(file: FileCursor, rec: LogRecord, start: number, end: number): void {
    const t = rec.timeMs;
    if (t > this.futureLimitMs) {
      this.reject(file, "bad_time", start, end);
      return;
    }
    const windowMs = this.o.windowMs;
    const w = t - (((t % windowMs) + windowMs) % windowMs);
    if (w < file.floorW) {
      this.reject(file, "too_old", start, end);
      return;
    }
    const clockBefore = file.clockMs;
    if (clockBefore === null || t > clockBefore) {
      file.clockMs = t;
      this.refreshFloor(file);
      if (this.eventClockMs === null || t > this.eventClockMs) this.eventClockMs = t;
    }
    file.readOffset = end;
    // Waiting rejects go with the file's first good line (and are skipped with it if it is already outboxed).
    if (file.pending !== null) this.assignPending(file, w);
    if (start < file.maxShipped && start < (file.shipped?.[w] ?? -1)) {
      this.stats.skipped++;
      return;
    }
    let open = file.curOpen;
    let span = file.curSpan;
    if (w !== file.curW || open === null || span === null) {
      open = this.openFor(w);
      span = this.spanFor(file, open, w, start, clockBefore);
    }
    addRecord(open.partial, rec);
    span.lastEnd = end;
    this.stats.accepted++;
  }

  /** A line that is counted as a reject, not a request. */
  reject(file: FileCursor, reason: RejectReason, start: number, end: number): void {
    file.readOffset = end;
    if (file.clockMs === null) {
      const pending = file.pending ?? { counts: new Map(), firstOffset: start, lastEnd: end };
      pending.counts.set(reason, (pending.counts.get(reason) ?? 0) + 1);
      pending.lastEnd = end;
      file.pending = pending;
      return;
    }
    const w = this.rejectWindow(file.clockMs);
    if (start < file.maxShipped && start < (file.shipped?.[w] ?? -1)) {
      this.stats.skipped++;
      return;
    }
    let open = file.curOpen;
    let span = file.curSpan;
    if (w !== file.curW || open === null || span === null) {
      open = this.openFor(w);
      span = this.spanFor(file, open, w, start, file.clockMs);
    }
    addReject(open.partial, reason);
    span.lastEnd = end;
    this.stats.rejects[reason]++;
  }

  /**
   * Closes what `mode` allows and returns the closed partials with their checkpoint delta, or null when nothing
   * closed. The caller must write both to the outbox as one record before anything else is collected.
   */
  collect(now: number, mode: CloseMode): Commit | null {
    this.observe(now);
    const windowMs = this.o.windowMs;
    if (mode !== "busy") {
      const fallback = this.rejectWindow(this.eventClockMs ?? now);
      for (const file of this.files.values()) if (file.pending !== null) this.assignPending(file, fallback);
    }

    let bound = this.eventClockMs === null ? Number.NEGATIVE_INFINITY : this.eventClockMs - this.o.closeLatenessMs;
    if (mode === "idle") bound = Math.max(bound, now - this.o.idleCloseMs);
    if (mode === "flush") {
      if (this.eventClockMs !== null) bound = Math.max(bound, this.startOf(this.eventClockMs) + windowMs);
      for (const w of this.primaries.keys()) bound = Math.max(bound, w + windowMs);
    }
    const target = Number.isFinite(bound) ? this.startOf(bound) : null;
    if (this.nextToCloseMs === null && target !== null && mode === "idle") this.nextToCloseMs = target;

    const closed: OpenPartial[] = [...this.supplements.values()].sort(byWindow);
    this.supplements.clear();
    this.stats.supplements += closed.length;
    if (target !== null && this.nextToCloseMs !== null && target > this.nextToCloseMs) {
      // Empty windows far behind the close point are not worth a heartbeat (a replay across a long gap).
      const emitFrom = Math.max(this.nextToCloseMs, this.startOf(target - this.o.windowHorizonMs));
      const early = [...this.primaries.keys()].filter((w) => w < emitFrom).sort((a, b) => a - b);
      for (const w of early) closed.push(this.takePrimary(w));
      for (let w = emitFrom; w < target; w += windowMs) closed.push(this.takePrimary(w));
      this.nextToCloseMs = target;
    }
    if (closed.length === 0) return null;
    for (const file of this.files.values()) {
      file.curW = Number.NaN;
      file.curOpen = null;
      file.curSpan = null;
    }
    return this.commit(closed);
  }

  /** The resume map as of now (what the next commit would record). */
  resumeMap(): Record<string, FileResume> {
    const out: Record<string, FileResume> = {};
    const eventClock = this.eventClockMs;
    for (const file of this.files.values()) {
      let offset = file.readOffset;
      let clock = file.clockMs;
      if (file.pending !== null) {
        offset = file.pending.firstOffset;
        clock = null;
      }
      for (const open of [...this.primaries.values(), ...this.supplements.values()]) {
        const span = open.spans.get(file.key);
        if (span !== undefined && span.firstOffset < offset) {
          offset = span.firstOffset;
          clock = span.clockBefore;
        }
      }
      const finished = file.closed && offset === file.readOffset;
      const stale = eventClock !== null && (clock === null || clock < eventClock - this.o.closedFileRetentionMs);
      if (finished && stale) {
        this.files.delete(file.key);
        continue;
      }
      out[file.key] = { path: file.path, offset, fileClockMs: clock, closed: file.closed };
    }
    return out;
  }

  private commit(closed: OpenPartial[]): Commit {
    const nextSeq: [number, number][] = [];
    const shippedUpTo: [string, number, number][] = [];
    const partials: WindowPartial[] = [];
    for (const open of closed) {
      const p = open.partial;
      partials.push(p);
      nextSeq.push([p.windowStartMs, p.seq + 1]);
      for (const [fileKey, span] of open.spans) shippedUpTo.push([fileKey, p.windowStartMs, span.lastEnd]);
    }
    this.stats.partials += partials.length;
    const delta: CheckpointDelta = {
      eventClockMs: this.eventClockMs,
      nextToCloseMs: this.nextToCloseMs,
      floorMs: this.state.floorMs,
      nextSeq,
      shippedUpTo,
      files: this.resumeMap(),
    };
    applyDelta(this.state, delta);
    // The floor may rise to min(close point, event clock − horizon) but never past a shipped entry a re-read
    // could still hit (with this delta applied and pruned, that bound is known), nor past the own floor of a file
    // that still has a backlog: its lines are then judged by its own clock alone, whatever other files do.
    if (this.eventClockMs !== null && this.nextToCloseMs !== null) {
      let candidate = Math.min(
        this.nextToCloseMs,
        this.startOf(this.eventClockMs - this.o.windowHorizonMs),
        lowestShippedWindow(this.state),
      );
      for (const file of this.files.values()) {
        if (file.atEnd || file.closed) continue;
        // A backlog whose first good line is not read yet: its own floor is unknown, so the floor waits for it.
        if (file.clockMs === null) candidate = Number.NEGATIVE_INFINITY;
        else candidate = Math.min(candidate, this.startOf(file.clockMs - this.o.windowHorizonMs));
      }
      if (candidate > Number.NEGATIVE_INFINITY && (this.state.floorMs === null || candidate > this.state.floorMs)) {
        delta.floorMs = candidate;
        applyDelta(this.state, delta);
        for (const file of this.files.values()) this.refreshFloor(file);
      }
    }
    return { partials, delta };
  }

  private addCursor(key: string, resume: FileResume): FileCursor {
    const shipped = this.state.shippedUpTo[key];
    const cursor: FileCursor = {
      key,
      path: resume.path,
      clockMs: resume.fileClockMs,
      readOffset: resume.offset,
      closed: resume.closed,
      atEnd: false,
      floorW: Number.NEGATIVE_INFINITY,
      shipped,
      maxShipped: shipped === undefined ? -1 : Math.max(...Object.values(shipped)),
      pending: null,
      curW: Number.NaN,
      curOpen: null,
      curSpan: null,
    };
    this.refreshFloor(cursor);
    this.files.set(key, cursor);
    return cursor;
  }

  private refreshFloor(file: FileCursor): void {
    const global = this.state.floorMs ?? Number.NEGATIVE_INFINITY;
    const own = file.clockMs === null ? Number.NEGATIVE_INFINITY : this.startOf(file.clockMs - this.o.windowHorizonMs);
    file.floorW = Math.max(global, own);
  }

  private startOf(t: number): number {
    const m = this.o.windowMs;
    return t - (((t % m) + m) % m);
  }

  /** Rejects follow the file's clock, but never below the floor (that window's seq may be forgotten). */
  private rejectWindow(clockMs: number): number {
    return Math.max(this.startOf(clockMs), this.state.floorMs ?? Number.NEGATIVE_INFINITY);
  }

  /** The open partial lines of window w go to (primary or supplement), created on first use. */
  private openFor(w: number): OpenPartial {
    if (this.nextToCloseMs === null) this.nextToCloseMs = w;
    const map = w >= this.nextToCloseMs ? this.primaries : this.supplements;
    let open = map.get(w);
    if (open === undefined) {
      open = this.newPartial(w);
      map.set(w, open);
    }
    return open;
  }

  private newPartial(w: number): OpenPartial {
    const partial = createPartial({
      host: this.o.host,
      service: this.o.service,
      windowStartMs: w,
      windowMs: this.o.windowMs,
      seq: this.state.nextSeq[w] ?? 0,
    });
    return { partial, spans: new Map() };
  }

  private spanFor(file: FileCursor, open: OpenPartial, w: number, start: number, clockBefore: number | null): Span {
    let span = open.spans.get(file.key);
    if (span === undefined) {
      span = { firstOffset: start, clockBefore, lastEnd: start };
      open.spans.set(file.key, span);
    }
    file.curW = w;
    file.curOpen = open;
    file.curSpan = span;
    return span;
  }

  private takePrimary(w: number): OpenPartial {
    const open = this.primaries.get(w) ?? this.newPartial(w);
    this.primaries.delete(w);
    return open;
  }

  /** Waiting rejects go, all together, to window w — unless they are already in an outboxed partial. */
  private assignPending(file: FileCursor, w: number): void {
    const pending = file.pending;
    if (pending === null) return;
    file.pending = null;
    if (pending.firstOffset < file.maxShipped && pending.firstOffset < (file.shipped?.[w] ?? -1)) {
      for (const n of pending.counts.values()) this.stats.skipped += n;
      return;
    }
    const open = this.openFor(w);
    const span = this.spanFor(file, open, w, pending.firstOffset, null);
    for (const [reason, n] of pending.counts) {
      for (let i = 0; i < n; i++) addReject(open.partial, reason);
      this.stats.rejects[reason] += n;
    }
    span.lastEnd = Math.max(span.lastEnd, pending.lastEnd);
  }
}

function byWindow(a: OpenPartial, b: OpenPartial): number {
  return a.partial.windowStartMs - b.partial.windowStartMs;
}
