/**
 * The committed state: everything a restarted agent needs to continue without losing or double-counting a line.
 * It changes only through `applyDelta`, and a delta is written to the outbox in the same framed record as the
 * partials that imply it, so "state as of outbox record N" is exactly "checkpoint + deltas up to N".
 *
 * Contracts:
 * - `shippedUpTo[fileKey][W]` is the end offset of the last line of window W from that file that is in some
 *   outboxed partial; every line of W in that file before it is outboxed, none after it.
 * - `nextSeq[W]` is exact for every W ≥ `floorMs` (a missing entry means 0); windows below the floor are never
 *   reopened (their lines are `too_old`), which is what makes pruning their entries safe.
 * - `files[fileKey]` is where reading resumes: the first line still in an open window (or pending), with the
 *   file's event clock as it was just before that line, so a re-read classifies every line exactly as before.
 * - Pruning is a pure function of the delta, so checkpoint + replayed deltas always reproduce the same state.
 */

export interface FileResume {
  path: string;
  offset: number;
  /** The file's event clock (max accepted event time) just before `offset`; null before its first good line. */
  fileClockMs: number | null;
  /** The tailer reported the file finished; kept so a restart does not read it again. */
  closed: boolean;
}

export interface CommittedState {
  /** Max event time accepted from any file. */
  eventClockMs: number | null;
  /** Start of the earliest window whose primary (seq 0) partial is not yet outboxed; null before the first window. */
  nextToCloseMs: number | null;
  /** Windows below this are too old for every file; their seq/shipped entries are pruned. */
  floorMs: number | null;
  nextSeq: Record<string, number>;
  shippedUpTo: Record<string, Record<string, number>>;
  files: Record<string, FileResume>;
}

export interface CheckpointDelta {
  eventClockMs: number | null;
  nextToCloseMs: number | null;
  floorMs: number | null;
  /** [windowStartMs, next seq] for every window that got a partial in this record. */
  nextSeq: [number, number][];
  /** [fileKey, windowStartMs, end offset] for every (file, window) with lines in this record. */
  shippedUpTo: [string, number, number][];
  /** The complete resume map (small: one entry per followed file); replaces the previous one. */
  files: Record<string, FileResume>;
}

export function emptyState(): CommittedState {
  return { eventClockMs: null, nextToCloseMs: null, floorMs: null, nextSeq: {}, shippedUpTo: {}, files: {} };
}

/** Applies a delta in place and prunes what can never matter again. */
export function applyDelta(state: CommittedState, delta: CheckpointDelta): void {
  state.eventClockMs = delta.eventClockMs;
  state.nextToCloseMs = delta.nextToCloseMs;
  state.floorMs = delta.floorMs;
  state.files = delta.files;
  for (const [w, seq] of delta.nextSeq) state.nextSeq[w] = seq;
  for (const [fileKey, w, end] of delta.shippedUpTo) {
    const perFile = state.shippedUpTo[fileKey] ?? {};
    perFile[w] = end;
    state.shippedUpTo[fileKey] = perFile;
  }
  prune(state);
}

/**
 * A shipped entry matters only while a re-read can reach a line below it, i.e. while it lies past the file's
 * resume offset; a seq entry only while its window may still receive lines (at or above the floor).
 */
function prune(state: CommittedState): void {
  for (const [fileKey, perFile] of Object.entries(state.shippedUpTo)) {
    const resume = state.files[fileKey];
    for (const [w, end] of Object.entries(perFile)) {
      if (resume === undefined || end <= resume.offset) delete perFile[w];
    }
    if (Object.keys(perFile).length === 0) delete state.shippedUpTo[fileKey];
  }
  const floor = state.floorMs;
  if (floor === null) return;
  for (const w of Object.keys(state.nextSeq)) if (Number(w) < floor) delete state.nextSeq[w];
}

/** The lowest window that still has a shipped entry a re-read could hit (the floor may not pass it). */
export function lowestShippedWindow(state: CommittedState): number {
  let lowest = Number.POSITIVE_INFINITY;
  for (const perFile of Object.values(state.shippedUpTo)) {
    for (const w of Object.keys(perFile)) lowest = Math.min(lowest, Number(w));
  }
  return lowest;
}
