/**
 * Rotation stress harness, shared by the tailer's unit test and the reliability suite: an in-process writer appends
 * numbered lines at a target rate while the log is rotated the two ways logrotate does it, and a consumer reads it
 * all back through the tailer. A correct tailer reads every number exactly once.
 *
 * The writer behaves like nginx: it appends through an O_APPEND fd. Rename rotation = logrotate `create`: shift the
 * old siblings, `mv access.log access.log.1`, create an empty access.log, and the writer goes on writing to the
 * renamed file for a few more batches before it "reopens" (as nginx does until USR1 reaches every worker).
 * Copytruncate = shift, copy, truncate, done between two writes (real copytruncate loses the lines written between
 * its copy and its truncate; that loss is logrotate's, not the tailer's, so the harness leaves it out).
 * A rotation waits until the consumer has seen a line of the current generation: real rotations are hours apart,
 * and a file created and rotated away twice before anyone opened it cannot be followed by any tailer.
 * With `restarts`, the agent "crashes" now and then: the tailer is dropped with only the positions of the events
 * consumed so far (what a checkpoint holds after kill -9), one rotation happens while it is down (if the current
 * generation has reached the checkpoint: a file rotated away before any of its lines were checkpointed is not in the
 * checkpoint and not at the glob, so nothing can tell it belongs to us), and a new tailer resumes from the positions.
 */
import {
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  renameSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { FilePosition, TailerOptions } from "./index.js";
import { createTailer } from "./tailer.js";

export interface RotationStressOptions {
  /** An empty directory; the harness writes `access.log` and its rotated siblings there. */
  dir: string;
  lines: number;
  rotations: number;
  /** Target write rate; the result reports the rate achieved. */
  linesPerSecond: number;
  /** Share of rotations done by copytruncate (the rest by rename); default 0.5. */
  copytruncateShare?: number;
  /** Rotated files kept, the oldest deleted at each rotation (logrotate `rotate N`); default 4. */
  keepRotated?: number;
  /** Agent restarts spread over the run, each with one rotation while the tailer is down; default 0. */
  restarts?: number;
  /** Writer ticks (batches) it still appends to a renamed file before it reopens; default 3. */
  reopenAfterTicks?: number;
  seed?: number;
  /** Gives up (and reports the missing lines) after this long; default 120 s. */
  timeoutMs?: number;
  /** Overrides for the tailer under test (globs and positions are the harness's). */
  tailer?: Partial<TailerOptions>;
}

export interface RotationStressResult {
  written: number;
  /** Distinct numbered lines read. */
  distinctRead: number;
  missing: number;
  duplicates: number;
  /** Lines that are not exactly one numbered line as written (spliced or cut). */
  corrupt: number;
  /** Events whose startOffset is not where the previous event of the same key ended. */
  offsetGaps: number;
  renames: number;
  copytruncates: number;
  restarts: number;
  writerLinesPerSecond: number;
  elapsedMs: number;
  closedStreams: number;
  /** `code: message` of everything the tailer reported to onError. */
  errors: string[];
}

/** xorshift32: a reproducible sequence of rotation kinds. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

const FILLER = ' - - [01/Jan/2026:00:00:00 +0000] "GET /index.html HTTP/1.1" 200 612 "-" "stress/1.0"';

export async function runRotationStress(options: RotationStressOptions): Promise<RotationStressResult> {
  const path = join(options.dir, "access.log");
  const keep = options.keepRotated ?? 4;
  const reopenAfterTicks = options.reopenAfterTicks ?? 3;
  const random = rng(options.seed ?? 1);
  const total = options.lines;
  // Two generations of slack at the end, so a rotation the gate delays still happens before the writer is done.
  const rotateEvery = Math.floor(total / (options.rotations + 2));
  const errors: string[] = [];

  // Consumer state, also read by the writer's rotation gate.
  const seen = new Uint8Array(total);
  let distinct = 0;
  let duplicates = 0;
  let corrupt = 0;
  let maxSeen = -1;

  // Writer state.
  let fd = openSync(path, "a");
  /** Writer ticks left before the writer reopens the renamed log (0: it writes to the file at `path`). */
  let lateTicks = 0;
  let written = 0;
  let generationStart = 0;
  let renames = 0;
  let copytruncates = 0;
  let writerDoneAt = 0;
  const started = performance.now();
  /** Set when the consumer gives up (deadline): the writer stops too. */
  let abandoned = false;
  /** Set while the tailer is down: the writer rotates once, then resolves it. */
  let rotateWhileDown: (() => void) | null = null;

  const shiftRotated = () => {
    for (let k = keep; k >= 1; k--) {
      const from = `${path}.${k}`;
      if (!existsSync(from)) continue;
      if (k === keep) unlinkSync(from);
      else renameSync(from, `${path}.${k + 1}`);
    }
  };

  const rotate = () => {
    shiftRotated();
    if (random() < (options.copytruncateShare ?? 0.5)) {
      copyFileSync(path, `${path}.1`);
      truncateSync(path, 0);
      copytruncates++;
    } else {
      renameSync(path, `${path}.1`);
      closeSync(openSync(path, "wx"));
      lateTicks = reopenAfterTicks;
      renames++;
    }
    generationStart = written;
  };

  const writeBatch = (upTo: number) => {
    const parts: string[] = [];
    for (let n = written; n < upTo; n++) parts.push(`${n}${FILLER}\n`);
    writeSync(fd, parts.join(""));
    written = upTo;
  };

  /** Counted in writer ticks, not writes, so that a writer held back by a gated rotation still reopens. */
  const maybeReopen = () => {
    if (lateTicks > 0 && --lateTicks === 0) {
      // The writer reopens: its next line is the first of the new generation.
      closeSync(fd);
      fd = openSync(path, "a");
      generationStart = written;
    }
  };

  const writer = new Promise<void>((resolve, reject) => {
    const tick = () => {
      try {
        if (abandoned) {
          closeSync(fd);
          resolve();
          return;
        }
        const rotationsLeft = renames + copytruncates < options.rotations;
        const nextRotationAt = (renames + copytruncates + 1) * rotateEvery;
        // A gated rotation holds the writer back (half a generation into the current one at least), so that every
        // rotation happens before the writer is done.
        const halfGeneration = Math.floor(rotateEvery / 2);
        const limit = rotationsLeft ? Math.max(nextRotationAt, generationStart) + halfGeneration : total;
        const due = Math.min(limit, Math.floor(((performance.now() - started) / 1000) * options.linesPerSecond));
        if (due > written) writeBatch(Math.min(due, written + 5000));
        maybeReopen();
        const rotationDue = written >= nextRotationAt;
        if (rotateWhileDown && lateTicks === 0) {
          if (rotationsLeft && maxSeen >= generationStart) rotate();
          rotateWhileDown();
          rotateWhileDown = null;
        } else if (rotationDue && rotationsLeft && lateTicks === 0 && maxSeen >= generationStart) {
          rotate();
        }
        if (written < total || lateTicks > 0 || rotateWhileDown) {
          setImmediate(tick);
          return;
        }
        closeSync(fd);
        writerDoneAt = performance.now();
        resolve();
      } catch (error) {
        reject(error);
      }
    };
    setImmediate(tick);
  });

  const positions = new Map<string, FilePosition>();
  const startTailer = () =>
    createTailer({
      pollIntervalMs: 20,
      rotateWaitMs: 1000,
      wait: () => new Promise((resolve) => setImmediate(resolve)),
      ...options.tailer,
      globs: [path],
      positions: [...positions.values()],
      onError: (error) => errors.push(`${(error as { code?: string }).code}: ${error.message}`),
    });
  let tailer = startTailer();
  const restartEvery = Math.ceil(total / ((options.restarts ?? 0) + 1));
  let restarts = 0;

  const ends = new Map<string, number>();
  let offsetGaps = 0;
  let closedStreams = 0;
  const follow = (key: string, path: string, start: number, end: number) => {
    if (start !== (ends.get(key) ?? 0)) offsetGaps++;
    ends.set(key, end);
    positions.set(key, { fileKey: key, path, offset: end });
  };

  const signal = AbortSignal.timeout(options.timeoutMs ?? 120_000);
  let writerError: unknown = null;
  writer.catch((error) => {
    writerError = error;
  });
  try {
    while (distinct < total && !writerError) {
      let ev: Awaited<ReturnType<typeof tailer.next>>;
      try {
        ev = await tailer.next(signal);
      } catch (error) {
        if (signal.aborted) break;
        throw error;
      }
      if (ev.kind === "closed") {
        closedStreams++;
        positions.delete(ev.fileKey);
      }
      if (ev.kind === "oversize") follow(ev.fileKey, ev.path, ev.startOffset, ev.endOffset);
      if (ev.kind !== "lines" && ev.kind !== "truncated") continue;
      follow(ev.fileKey, ev.path, ev.startOffset, ev.startOffset + ev.data.length);
      const data = ev.data;
      for (let i = 0; i < data.length; ) {
        const lineStart = i;
        let n = 0;
        while (data[i]! >= 48 && data[i]! <= 57) n = n * 10 + data[i++]! - 48;
        const newline = data.indexOf(10, i);
        const end = newline < 0 ? data.length : newline;
        // A line spliced from two writes, or cut, has the wrong length.
        if (i === lineStart || end - i !== FILLER.length || n >= total) corrupt++;
        else if (seen[n]) duplicates++;
        else {
          seen[n] = 1;
          distinct++;
          if (n > maxSeen) maxSeen = n;
        }
        i = end + 1;
      }
      if (restarts < (options.restarts ?? 0) && distinct >= (restarts + 1) * restartEvery) {
        await tailer.stop(); // all it leaves behind is `positions`, as after kill -9
        if (!writerDoneAt) {
          await new Promise<void>((resolve) => {
            rotateWhileDown = resolve;
          });
        }
        tailer = startTailer();
        restarts++;
      }
    }
  } finally {
    await tailer.stop();
    abandoned = true;
  }
  if (writerError) throw writerError;
  await writer;
  return {
    written,
    distinctRead: distinct,
    missing: total - distinct,
    duplicates,
    corrupt,
    offsetGaps,
    renames,
    copytruncates,
    restarts,
    writerLinesPerSecond: Math.round(total / ((writerDoneAt - started) / 1000)),
    elapsedMs: Math.round(performance.now() - started),
    closedStreams,
    errors,
  };
}
