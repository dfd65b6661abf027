/**
 * The merge engine: pure window state of every assigned partition, driven by `ingest` (one Kafka record) and
 * `flush(now)` (firing decisions and commit bookkeeping). No I/O, no clock of its own.
 *
 * Contracts (see central/README.md, "Exactly once"):
 * - All partials of a window live in one partition (Kafka key = String(windowStartMs)), so each partition's state
 *   is independent: its own windows, identities and watermark.
 * - Watermark of a partition = newest window end accepted in it − allowedLatenessMs (monotone). A partial whose
 *   window ends at or before the watermark is late: dropped, or, if the window was already final under the watermark
 *   restored from the commit metadata, a replay of a window written fully before (`replayed_final`).
 * - Outage hold: when no record at all arrived for a gap of at least allowedLatenessMs / 4 (wall clock: Kafka was
 *   down, central was down or paused, or the fleet was silent), every agent may be sitting on partials as old as the
 *   gap. Each partition then extends its lateness by the gap (capped at outageHoldMaxMs) until its newest window end
 *   passes the wall clock of the recovery + allowedLatenessMs: agents draining spools at different speeds after a
 *   fleet-wide Kafka outage get allowedLatenessMs after the recovery, not after their windows ended. A (re)start
 *   counts the time since the last ingest recorded in the commit metadata as such a gap, and the metadata carries
 *   the hold, so a replay holds at least as long as the original run did and accepts at least what it accepted.
 *   Apart from the gap itself, acceptance depends on the partition's record order alone.
 * - Partials are merged in offset order, so a window rebuilt after a restart is bit-identical to the original.
 * - The commit intent of a partition is the smallest offset of any partial of a window still held (or the next
 *   offset when none), with the watermark in the metadata. It is only valid once every emission returned by the
 *   same and earlier flushes is durably written; the caller guarantees that.
 */
import { createPartial, mergePartial, partialIdentity, type WindowPartial } from "@rla/protocol";
import { LivenessRegistry } from "./liveness.js";

export { LivenessRegistry } from "./liveness.js";

export interface MergeOptions {
  windowMs: number;
  allowedLatenessMs: number;
  agentLivenessMs: number;
  incompleteFireAfterMs: number;
  /** Largest extension of allowedLatenessMs after a gap without records (see "Outage hold"). */
  outageHoldMaxMs: number;
}

/**
 * What became of one record:
 * - `accepted`: merged into a window not written yet; `late`: merged into a window already written (it is rewritten);
 * - `duplicate`: its identity was seen before for this window (an exact redelivery), dropped;
 * - `dropped_late`: its window is final (behind the watermark), dropped;
 * - `replayed_final`: its window was final under the restored watermark, i.e. written fully before a restart;
 * - `poison`: the caller could not decode it; `already_processed`: offset below one already ingested (redelivery
 *   after a rebalance that kept the partition here).
 */
export type IngestOutcome =
  | "accepted"
  | "late"
  | "duplicate"
  | "dropped_late"
  | "replayed_final"
  | "poison"
  | "already_processed";

/**
 * Why a window (one service of it) is written: `early` every live agent reported; `timeout` incompleteFireAfterMs
 * passed without that; `watermark` it turned final before either; `rewrite` a late partial changed it; `settle` it
 * turned final and the number of expected agents changed since it was written.
 */
export type FiringKind = "early" | "timeout" | "watermark" | "rewrite" | "settle";

export interface WindowEmission {
  windowStartMs: number;
  windowMs: number;
  service: string;
  partition: number;
  /** Per-host merged partials, sorted by host. Valid until the next `ingest`. */
  hosts: [host: string, partial: WindowPartial][];
  /** All hosts merged (host "all"). Valid until the next `ingest`. */
  fleet: WindowPartial;
  agentsReported: number;
  agentsExpected: number;
  kind: FiringKind;
  /** The window is final: this is its last emission. */
  final: boolean;
  /** An earlier owner of the partition may have written this window (so series it wrote may need clearing). */
  mayHaveBeenWritten: boolean;
}

export interface CommitIntent {
  partition: number;
  /** Assignment epoch the intent belongs to; a commit for an older epoch must be discarded. */
  epoch: number;
  offset: number;
  metadata: string;
}

export interface FlushResult {
  /** Sorted by window start, then service. */
  emissions: WindowEmission[];
  /** One per partition that has ingested anything since assignment. */
  commits: CommitIntent[];
  finalized: number;
}

export interface RestoredPosition {
  /** Committed offset of the partition, or null when the group never committed it. */
  offset: number | null;
  /** Commit metadata as stored by `encodeCommitMetadata`, or null. */
  metadata: string | null;
}

export interface AssignResult {
  /** Windows ending at or before this were written fully by an earlier owner (-Infinity: none). */
  restoredWatermarkMs: number;
  /** False when the commit metadata was not central's (the watermark then starts empty). */
  metadataReadable: boolean;
}

export interface PartitionSnapshot {
  partition: number;
  watermarkMs: number;
  openWindows: number;
}

export interface MergeEngine {
  /** Starts tracking a partition (no-op if already assigned). */
  assign(partition: number, restored: RestoredPosition, nowMs: number): AssignResult;
  /** Forgets a partition; its uncommitted work is the next owner's. */
  revoke(partition: number): void;
  isAssigned(partition: number): boolean;
  epochOf(partition: number): number | undefined;
  assigned(): number[];
  ingest(partition: number, offset: number, partial: WindowPartial | null, nowMs: number): IngestOutcome;
  flush(nowMs: number): FlushResult;
  /** Reports hydrated from InfluxDB (`http_stats` rows of single hosts). */
  hydrateLiveness(rows: Iterable<{ service: string; host: string; windowStartMs: number }>): void;
  snapshot(): PartitionSnapshot[];
  /** The largest extra lateness an outage hold adds to any partition now (0: none). */
  outageHoldMs(): number;
}

interface Cell {
  readonly service: string;
  readonly hosts: Map<string, WindowPartial>;
  readonly fleet: WindowPartial;
  fired: boolean;
  dirty: boolean;
  agentsExpected: number;
}

interface WindowState {
  readonly startMs: number;
  readonly endMs: number;
  readonly minOffset: number;
  readonly identities: Set<string>;
  readonly cells: Map<string, Cell>;
  readonly mayHaveBeenWritten: boolean;
}

interface PartitionState {
  readonly partition: number;
  readonly epoch: number;
  readonly assignedAtMs: number;
  readonly restoredWatermarkMs: number;
  /** True when the group had committed this partition before (someone may have written its windows). */
  readonly resumed: boolean;
  watermarkMs: number;
  /** Newest window end accepted; the watermark trails it by allowedLatenessMs (plus the hold while one is on). */
  newestEndMs: number;
  hold: OutageHold | null;
  nextOffset: number | null;
  readonly windows: Map<number, WindowState>;
}

const METADATA_VERSION = 2;

/** Extra lateness of a partition until its newest window end reaches `releaseEndMs` (see "Outage hold"). */
export interface OutageHold {
  extraMs: number;
  releaseEndMs: number;
}

export interface CommitMetadata {
  /** Windows ending at or before this are final (-Infinity: none). */
  watermarkMs: number;
  /** Wall clock of the newest record ingested before the commit; null if none or metadata version 1. */
  lastIngestAtMs: number | null;
  hold: OutageHold | null;
}

/**
 * Commit metadata: the partition's watermark, so a restart knows which windows were written fully; when the last
 * record was ingested, so a restart knows how long nothing was processed; the outage hold in force.
 */
export function encodeCommitMetadata(meta: CommitMetadata): string {
  return JSON.stringify({
    v: METADATA_VERSION,
    watermarkMs: Number.isFinite(meta.watermarkMs) ? meta.watermarkMs : null,
    lastIngestAtMs: meta.lastIngestAtMs,
    hold: meta.hold,
  });
}

const NOTHING_FINAL: CommitMetadata = { watermarkMs: Number.NEGATIVE_INFINITY, lastIngestAtMs: null, hold: null };

/** What `encodeCommitMetadata` stored (version 1 too); nothing final for none; null if unreadable. */
export function decodeCommitMetadata(metadata: string | null): CommitMetadata | null {
  if (metadata === null || metadata === "") return NOTHING_FINAL;
  let parsed: { v?: unknown; watermarkMs?: unknown; lastIngestAtMs?: unknown; hold?: unknown };
  try {
    parsed = JSON.parse(metadata) as typeof parsed;
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== "object" || (parsed.v !== 1 && parsed.v !== METADATA_VERSION)) return null;
  const isTime = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x);
  let watermarkMs: number;
  if (parsed.watermarkMs === null) watermarkMs = Number.NEGATIVE_INFINITY;
  else if (isTime(parsed.watermarkMs)) watermarkMs = parsed.watermarkMs;
  else return null;
  if (parsed.v === 1) return { ...NOTHING_FINAL, watermarkMs };
  if (parsed.lastIngestAtMs !== null && !isTime(parsed.lastIngestAtMs)) return null;
  const hold = parsed.hold as Partial<OutageHold> | null | undefined;
  if (hold !== null && (typeof hold !== "object" || !isTime(hold.extraMs) || !isTime(hold.releaseEndMs))) return null;
  return {
    watermarkMs,
    lastIngestAtMs: parsed.lastIngestAtMs,
    hold: hold === null ? null : { extraMs: hold.extraMs!, releaseEndMs: hold.releaseEndMs! },
  };
}

export function createMergeEngine(options: MergeOptions): MergeEngine {
  const { windowMs, allowedLatenessMs, incompleteFireAfterMs, outageHoldMaxMs } = options;
  const holdAfterGapMs = allowedLatenessMs / 4;
  const horizonMs = Math.max(3_600_000, 2 * (options.agentLivenessMs + allowedLatenessMs + windowMs));
  const liveness = new LivenessRegistry(windowMs, options.agentLivenessMs, horizonMs);
  const partitions = new Map<number, PartitionState>();
  let epochs = 0;
  /** Wall clock of the last record ingested (null: none since this engine started). */
  let lastIngestAtMs: number | null = null;

  /** No record for `gapMs`: the partition's records may be up to that much older than usual (see "Outage hold"). */
  function holdAfterGap(ps: PartitionState, gapMs: number, nowMs: number): void {
    if (gapMs < holdAfterGapMs || outageHoldMaxMs === 0) return;
    const extraMs = Math.min(gapMs, outageHoldMaxMs);
    const releaseEndMs = nowMs + allowedLatenessMs;
    ps.hold =
      ps.hold === null
        ? { extraMs, releaseEndMs }
        : { extraMs: Math.max(ps.hold.extraMs, extraMs), releaseEndMs: Math.max(ps.hold.releaseEndMs, releaseEndMs) };
  }

  function assign(partition: number, restored: RestoredPosition, nowMs: number): AssignResult {
    const existing = partitions.get(partition);
    if (existing !== undefined) return { restoredWatermarkMs: existing.restoredWatermarkMs, metadataReadable: true };
    const decoded = decodeCommitMetadata(restored.metadata);
    // Unreadable metadata (another tool committed) is treated as "nothing final": every window from the committed
    // offset on is rebuilt, complete only for windows whose partials all follow that offset. The caller warns.
    const watermark = decoded?.watermarkMs ?? Number.NEGATIVE_INFINITY;
    const ps: PartitionState = {
      partition,
      epoch: ++epochs,
      assignedAtMs: nowMs,
      restoredWatermarkMs: watermark,
      resumed: restored.offset !== null,
      watermarkMs: watermark,
      newestEndMs: Number.NEGATIVE_INFINITY,
      hold: decoded?.hold ?? null,
      nextOffset: null,
      windows: new Map(),
    };
    if (decoded?.lastIngestAtMs != null) holdAfterGap(ps, nowMs - decoded.lastIngestAtMs, nowMs);
    partitions.set(partition, ps);
    return { restoredWatermarkMs: watermark, metadataReadable: decoded !== null };
  }

  function ingest(partition: number, offset: number, partial: WindowPartial | null, nowMs: number): IngestOutcome {
    const ps = partitions.get(partition);
    if (ps === undefined) throw new RangeError(`partition ${partition} is not assigned`);
    if (ps.nextOffset !== null && offset < ps.nextOffset) return "already_processed";
    ps.nextOffset = offset + 1;
    if (lastIngestAtMs !== null && nowMs - lastIngestAtMs >= holdAfterGapMs) {
      for (const other of partitions.values()) holdAfterGap(other, nowMs - lastIngestAtMs, nowMs);
    }
    lastIngestAtMs = nowMs;
    if (partial === null) return "poison";

    const startMs = partial.windowStartMs;
    const endMs = startMs + windowMs;
    if (endMs <= ps.watermarkMs) return endMs <= ps.restoredWatermarkMs ? "replayed_final" : "dropped_late";

    let w = ps.windows.get(startMs);
    if (w === undefined) {
      w = {
        startMs,
        endMs,
        minOffset: offset,
        identities: new Set(),
        cells: new Map(),
        mayHaveBeenWritten: ps.resumed && startMs < ps.assignedAtMs,
      };
      ps.windows.set(startMs, w);
    }
    const identity = partialIdentity(partial);
    if (w.identities.has(identity)) return "duplicate";
    w.identities.add(identity);

    let cell = w.cells.get(partial.service);
    if (cell === undefined) {
      cell = {
        service: partial.service,
        hosts: new Map(),
        fleet: createPartial({ host: "all", service: partial.service, windowStartMs: startMs, windowMs, seq: 0 }),
        fired: false,
        dirty: false,
        agentsExpected: 0,
      };
      w.cells.set(partial.service, cell);
    }
    const own = cell.hosts.get(partial.host);
    if (own === undefined) cell.hosts.set(partial.host, partial);
    else mergePartial(own, partial);
    mergePartial(cell.fleet, partial);
    liveness.report(partial.service, partial.host, startMs);

    if (endMs > ps.newestEndMs) {
      ps.newestEndMs = endMs;
      if (ps.hold !== null && endMs >= ps.hold.releaseEndMs) ps.hold = null;
      const watermark = endMs - allowedLatenessMs - (ps.hold?.extraMs ?? 0);
      if (watermark > ps.watermarkMs) ps.watermarkMs = watermark;
    }
    if (!cell.fired) return "accepted";
    cell.dirty = true;
    return "late";
  }

  function expectedAgents(cell: Cell, startMs: number): number {
    let n = cell.hosts.size;
    for (const host of liveness.live(cell.service, startMs)) if (!cell.hosts.has(host)) n++;
    return n;
  }

  function decide(cell: Cell, w: WindowState, final: boolean, expected: number, nowMs: number): FiringKind | null {
    if (!cell.fired) {
      if (expected === cell.hosts.size) return "early";
      if (nowMs >= w.endMs + incompleteFireAfterMs) return "timeout";
      return final ? "watermark" : null;
    }
    if (cell.dirty) return "rewrite";
    return final && expected !== cell.agentsExpected ? "settle" : null;
  }

  function flush(nowMs: number): FlushResult {
    const emissions: WindowEmission[] = [];
    const commits: CommitIntent[] = [];
    let finalized = 0;
    for (const ps of partitions.values()) {
      const starts = [...ps.windows.keys()].sort((a, b) => a - b);
      for (const start of starts) {
        const w = ps.windows.get(start)!;
        const final = w.endMs <= ps.watermarkMs;
        const services = [...w.cells.keys()].sort();
        for (const service of services) {
          const cell = w.cells.get(service)!;
          // A written, unchanged, open window needs no decision (and no liveness lookup).
          if (cell.fired && !cell.dirty && !final) continue;
          const expected = expectedAgents(cell, w.startMs);
          const kind = decide(cell, w, final, expected, nowMs);
          if (kind === null) continue;
          cell.fired = true;
          cell.dirty = false;
          cell.agentsExpected = expected;
          emissions.push({
            windowStartMs: w.startMs,
            windowMs,
            service,
            partition: ps.partition,
            hosts: [...cell.hosts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
            fleet: cell.fleet,
            agentsReported: cell.hosts.size,
            agentsExpected: expected,
            kind,
            final,
            mayHaveBeenWritten: w.mayHaveBeenWritten,
          });
        }
        if (final) {
          ps.windows.delete(start);
          finalized++;
        }
      }
      if (ps.nextOffset !== null) {
        let offset = ps.nextOffset;
        for (const w of ps.windows.values()) if (w.minOffset < offset) offset = w.minOffset;
        commits.push({
          partition: ps.partition,
          epoch: ps.epoch,
          offset,
          metadata: encodeCommitMetadata({ watermarkMs: ps.watermarkMs, lastIngestAtMs, hold: ps.hold }),
        });
      }
    }
    liveness.prune();
    emissions.sort(
      (a, b) => a.windowStartMs - b.windowStartMs || (a.service < b.service ? -1 : a.service > b.service ? 1 : 0),
    );
    return { emissions, commits, finalized };
  }

  return {
    assign,
    revoke: (partition) => {
      partitions.delete(partition);
    },
    isAssigned: (partition) => partitions.has(partition),
    epochOf: (partition) => partitions.get(partition)?.epoch,
    assigned: () => [...partitions.keys()].sort((a, b) => a - b),
    ingest,
    flush,
    hydrateLiveness: (rows) => {
      for (const row of rows) liveness.hydrate(row.service, row.host, row.windowStartMs);
    },
    outageHoldMs: () => Math.max(0, ...[...partitions.values()].map((ps) => ps.hold?.extraMs ?? 0)),
    snapshot: () =>
      [...partitions.values()].map((ps) => ({
        partition: ps.partition,
        watermarkMs: ps.watermarkMs,
        openWindows: ps.windows.size,
      })),
  };
}
