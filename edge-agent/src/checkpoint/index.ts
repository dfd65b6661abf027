/**
 * The compacted state file `stateDir/checkpoint.json` and the state-dir lock.
 *
 * checkpoint.json = the committed state after applying every outbox record before `appliedThrough`. It is
 * written atomically (temp file, fsync, rename, fsync dir), so a crash leaves the old or the new file, never a
 * torn one. Outbox segments are deleted only once a checkpoint covers them, so "checkpoint + the deltas of the
 * outbox records from appliedThrough on" is always the complete state.
 */
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import { AgentError, AgentErrorCode } from "../errors.js";
import { type CommittedState, emptyState } from "../window/state.js";

export interface OutboxPosition {
  segment: number;
  offset: number;
}

export interface Checkpoint {
  version: 1;
  state: CommittedState;
  /** Every outbox record before this position is reflected in `state`. */
  appliedThrough: OutboxPosition;
}

const CHECKPOINT_FILE = "checkpoint.json";
const LOCK_FILE = "agent.lock";

const nullableMs = z.number().nullable();
const checkpointSchema = z.strictObject({
  version: z.literal(1),
  state: z.strictObject({
    eventClockMs: nullableMs,
    nextToCloseMs: nullableMs,
    floorMs: nullableMs,
    nextSeq: z.record(z.string(), z.int().nonnegative()),
    shippedUpTo: z.record(z.string(), z.record(z.string(), z.int().nonnegative())),
    files: z.record(
      z.string(),
      z.strictObject({ path: z.string(), offset: z.int().nonnegative(), fileClockMs: nullableMs, closed: z.boolean() }),
    ),
  }),
  appliedThrough: z.strictObject({ segment: z.int().nonnegative(), offset: z.int().nonnegative() }),
});

/** The saved checkpoint, or an empty one for a fresh state dir. A file this agent cannot read is an error (exit 3). */
export function readCheckpoint(stateDir: string): Checkpoint {
  const file = join(stateDir, CHECKPOINT_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return { version: 1, state: emptyState(), appliedThrough: { segment: 0, offset: 0 } };
    }
    throw new AgentError(AgentErrorCode.StateDir, `cannot read ${file}: ${(error as Error).message}`, error);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AgentError(AgentErrorCode.StateDir, `${file} is not JSON: ${(error as Error).message}`, error);
  }
  const result = checkpointSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new AgentError(
      AgentErrorCode.StateDir,
      `${file} is not a checkpoint this agent understands: ${issue?.path.join(".")}: ${issue?.message}`,
    );
  }
  return result.data as Checkpoint;
}

/** Atomic replace; returns when the new file and its directory entry are durable. */
export function writeCheckpoint(stateDir: string, checkpoint: Checkpoint): void {
  const file = join(stateDir, CHECKPOINT_FILE);
  const temp = `${file}.tmp`;
  try {
    const fd = openSync(temp, "w");
    try {
      writeSync(fd, JSON.stringify(checkpoint));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
    fsyncDir(stateDir);
  } catch (error) {
    throw new AgentError(AgentErrorCode.StateDir, `cannot write ${file}: ${(error as Error).message}`, error);
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the state dir for this process (two agents on one state dir would interleave outbox records). A lock
 * left by a dead process (kill -9) is taken over. Returns the release function.
 */
export function lockStateDir(stateDir: string): () => void {
  const file = join(stateDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx" });
      return () => {
        try {
          unlinkSync(file);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new AgentError(AgentErrorCode.StateDir, `cannot create ${file}: ${(error as Error).message}`, error);
      }
      const owner = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new AgentError(AgentErrorCode.StateDir, `state dir ${stateDir} is in use by process ${owner} (${file})`);
      }
      unlinkSync(file);
    }
  }
  throw new AgentError(AgentErrorCode.StateDir, `cannot lock ${file}`);
}
