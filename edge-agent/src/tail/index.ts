/**
 * The agent's file follower: turns the log files matching some globs into a pull stream of whole-line chunks with
 * exact byte positions, so that, with the positions the agent checkpoints, no line is lost or read twice across log
 * rotation, an agent crash (kill -9) or a restart.
 *
 * Contract
 * - Stream identity. `fileKey = "<dev>:<ino>:<fnv1a64 hex>-<length>"`: device, inode, and FNV-1a 64 of the file's
 *   first `length` bytes. When a stream is first fingerprinted, `length` is `fingerprintBytes` if the file is at least
 *   that long, else the file's complete lines up to its last "\n" (a short file is thus identified by the lines it
 *   has then, at least its first line); a file shorter than `fingerprintBytes` without any "\n" has no complete line,
 *   so nothing of it can be emitted yet and it is simply not keyed until it has one. The length is part of the key and
 *   never changes: the same content stream always gets the same key, also after a restart (or a change of
 *   `fingerprintBytes`). Nothing is ever emitted under a provisional key, except that a file closed (deleted, rotated
 *   away) while it still holds only an unterminated line is keyed over that line to report it as `truncated`.
 * - Events of one key are contiguous: each `lines`/`oversize`/`truncated` starts where the previous one ended, the
 *   first one at the checkpointed offset. The agent's position for a key is the end of its last such event
 *   (`startOffset + data.length`, or `endOffset`). The one exception is a file that shrank but still starts with the
 *   same fingerprinted bytes (not a rotation, e.g. `truncate -s`): it continues under the same key at its new size
 *   (`ERR_TAIL_SHRUNK`; lines appended between the shrink and the next poll are skipped). A file that shrank below
 *   its fingerprinted length counts as replaced: new stream from 0.
 * - `closed`: drop the key from the checkpoint once the event is processed; a position kept for a file that is gone
 *   is reported lost at the next start.
 * - `data` of `lines` is a view of the tailer's read buffer: valid until the next call of `next()`. Parse it (or copy
 *   it) before asking for the next event. (`truncated` data is owned by the event.)
 * - Rename rotation: the open fd follows the renamed file; it is drained to its end, including whatever the writer
 *   still appends to it until it reopens, and closed (`closed`) once it has not grown for `rotateWaitMs`; the new file
 *   at the path is a new stream read from offset 0. A deleted file is drained and closed the same way. A closed file that
 *   reappears at a glob match (renamed back, a glob that briefly listed nothing) resumes at its closed offset.
 * - Copytruncate (same inode shrinks below our read offset, or its first bytes change): the copy is looked for among
 *   the rotated siblings by fingerprint (same first bytes, size ≥ our offset), drained from our offset under the OLD
 *   key and closed; the truncated file is a NEW stream from 0. No copy → `truncated` for a pending partial line,
 *   `closed`, and `ERR_TAIL_STREAM_LOST` to `onError` (those bytes were destroyed by the rotation itself). Each read is
 *   followed by a re-check of the fingerprint, so data read from a file truncated and refilled in between is discarded
 *   and read from the copy instead.
 * - Restart: each position is looked up at its path (same dev+ino+fingerprint), else among the glob matches and the
 *   rotated siblings (renamed while the agent was down), else as a copy (same fingerprint, size ≥ offset, other inode:
 *   copytruncate while down); it is resumed at its offset, and drained and closed if it is no longer at a glob match.
 *   Not found → `closed` at its offset and `ERR_TAIL_STREAM_LOST`: a stream is never re-read from 0 under a new key.
 *   Files at a checkpointed path with another identity are new streams read from 0; files at other paths start at
 *   `startAt` (`"end"`: after the last complete line).
 * - Long lines: a line longer than `maxLineBytes` (newline excluded) is reported as `oversize` and skipped without
 *   being buffered; memory is one shared buffer of `readChunkBytes + maxLineBytes` plus at most `maxLineBytes` of
 *   partial line per file. An oversize line cut off at a stream's end is reported as `oversize` ending where the
 *   data ended.
 * - Backpressure and fairness: files are read only inside `next()`, one chunk at a time, round-robin over the files
 *   with data. Globs are re-expanded and open files re-checked every `pollIntervalMs` (also while busy; a glob
 *   without wildcards is only stat-ed, not listed: an idle agent then costs ~0.7 % of a core, 20 wakeups/s). Polling
 *   only, no fs.watch: 250 ms of latency is nothing against 10 s windows, and polling also works where inotify does
 *   not (NFS, some overlay mounts) without one watch per directory. `wait` is called only when every file has been
 *   read to its end, so `--once` can pass a `wait` that stops there.
 * - Errors: a file vanishing is normal and never throws; other I/O errors go to `onError` (`ERR_TAIL_IO`, once per
 *   file and errno until it recovers) and the file is retried at the next poll.
 * - Limits: globs should not match rotated names (`access.log.1`); if they do, a renamed file is still recognised
 *   (same identity), but a copytruncate copy seen before the truncation is a new file. Copies must stay in the same
 *   directory uncompressed until drained (logrotate `delaycompress`, no `olddir`). Two files whose first
 *   fingerprinted bytes are identical and share an inode (copytruncate of a log whose first line repeats) get the same
 *   key: the newer waits until the older is closed. A file rotated away while the agent is down before any of its
 *   lines reached the checkpoint is not read: it is neither checkpointed nor at a glob match.
 */

export interface FilePosition {
  /** Stable identity of one file's content stream: `${dev}:${ino}:${fingerprint}`. */
  fileKey: string;
  /** Where it was last seen (may since have been renamed). */
  path: string;
  /** Next byte to read. */
  offset: number;
}

export type TailEvent =
  /** `data` = whole lines, each ending "\n"; `data[0]` is at `startOffset`. Valid until the next `next()`. */
  | { kind: "lines"; fileKey: string; path: string; startOffset: number; data: Buffer }
  /** One line longer than `maxLineBytes`, skipped without buffering it (`endOffset` is after its "\n"). */
  | { kind: "oversize"; fileKey: string; path: string; startOffset: number; endOffset: number }
  /** The unterminated last line of a file that was rotated away/deleted/truncated and will never be completed. */
  | { kind: "truncated"; fileKey: string; path: string; startOffset: number; data: Buffer }
  /** Reached the current end of this file (lag measurement, `--once`). Emitted once per catching up. */
  | { kind: "eof"; fileKey: string; path: string; offset: number }
  /** This stream is finished for good; its position can be forgotten once the agent no longer needs it. */
  | { kind: "closed"; fileKey: string; path: string; offset: number };

/** Decides whether `candidateName` (a file in the directory of `activePath`) may be a rotated copy of it. */
export type RotatedSiblingPattern = (activePath: string, candidateName: string) => boolean;

export interface TailerOptions {
  /** Absolute paths or globs, e.g. /var/log/nginx/*.access.log */
  globs: string[];
  /** From the checkpoint. */
  positions: FilePosition[];
  /** Where files first seen at agent start (not at a checkpointed path) begin; default "beginning". */
  startAt?: "beginning" | "end";
  /** Default 1 MiB. */
  readChunkBytes?: number;
  /** Default 64 KiB. */
  maxLineBytes?: number;
  /** Default 250. */
  pollIntervalMs?: number;
  /** Default 1024. */
  fingerprintBytes?: number;
  /** Default: same dir, name = base name + "." or "-" + anything, not compressed (.gz/.zst/.bz2/.xz/.lz4/.zip). */
  rotatedSiblingPattern?: RotatedSiblingPattern;
  /** A file no longer at a glob match (renamed, deleted, copy) is closed once drained and idle this long; default 5000. */
  rotateWaitMs?: number;
  /** Non-ENOENT I/O errors and lost streams (see errors.ts `ERR_TAIL_*`); default `process.emitWarning`. */
  onError?: (error: Error) => void;
  /** Clock, injected by tests; default `Date.now`. */
  now?: () => number;
  /** Waits between polls; called only when every file is at its end. Injected by tests; default a timer. */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface Tailer {
  /** Pull the next event; resolves when one is available. Rejects with `signal.reason` when aborted. */
  next(signal?: AbortSignal): Promise<TailEvent>;
  /** Closes every fd; a pending `next()` rejects with `ERR_TAIL_STOPPED`. */
  stop(): Promise<void>;
}

export { type RotationStressOptions, type RotationStressResult, runRotationStress } from "./rotation-stress.js";
export { defaultRotatedSiblingPattern } from "./siblings.js";
export { createTailer } from "./tailer.js";
