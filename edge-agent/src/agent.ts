/**
 * Wiring: tail → parse → window → outbox → Kafka, plus checkpoint compaction, metrics and shutdown.
 *
 * Two loops share the event loop and never interleave inside a step (every step is synchronous):
 * - the reader pulls tailer events, splits `lines` chunks on "\n", parses each line into one reused LineRecord
 *   (a LogRecord whose ip / path stay byte ranges of the chunk, so aggregation makes no string for a key it
 *   already holds) and hands it to the windower, which folds it in before the next line; when the event
 *   clock passes a window's close point it commits;
 * - the ticker runs a close check every `tickMs` of wall time (idle close, heartbeats, supplements).
 * A commit is `collect()` → encode → outbox append (fsync); every `checkpointEveryRecords` records the committed
 * state is compacted into checkpoint.json. While the outbox holds `maxSpoolBytes` unacknowledged bytes the reader
 * stops (the log files are the buffer) until the shipper drains it.
 */
import { mkdirSync, statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { createLineRecord, createParser, encodePartial, type LineParser, type LogFormatSpec } from "@rla/protocol";
import type { Logger } from "pino";
import { lockStateDir, readCheckpoint, writeCheckpoint } from "./checkpoint/index.js";
import type { AgentConfig } from "./config.js";
import { AgentError, AgentErrorCode } from "./errors.js";
import type { AgentSnapshot, Health, MetricsServer } from "./metrics/index.js";
import { RateLimitedLog } from "./metrics/rate-limited-log.js";
import type { PartialSink } from "./ship/kafka.js";
import { Outbox } from "./ship/outbox.js";
import { Shipper } from "./ship/shipper.js";
import { createTailer, type TailEvent, type Tailer } from "./tail/index.js";
import { applyDelta, type CloseMode, type Commit, type FileCursor, Windower } from "./window/index.js";

const BUSY_COMMIT_MS = 250;
const BUSY_COMMIT_WINDOWS = 16;

export interface AgentOptions {
  config: AgentConfig;
  /** Replay to the end of every file, flush every window, wait for Kafka, stop. */
  once: boolean;
  sink: PartialSink;
  logger: Logger;
  /** Wall-clock close-check period (default min(1 s, windowMs / 4)). */
  tickMs?: number;
  /** Compact into checkpoint.json after this many outbox records (default 50) or on stop. */
  checkpointEveryRecords?: number;
  pollIntervalMs?: number;
  now?: () => number;
}

export interface AgentTotals {
  linesRead: number;
  bytesRead: number;
  partialsOutboxed: number;
  partialsShipped: number;
}

export class Agent {
  private readonly config: AgentConfig;
  private readonly options: AgentOptions;
  private readonly log: Logger;
  private readonly limited: RateLimitedLog;
  private readonly now: () => number;
  private readonly stopController = new AbortController();
  private readonly release: () => void;
  private readonly outbox: Outbox;
  private readonly windower: Windower;
  private readonly shipper: Shipper;
  private readonly tailer: Tailer;
  private readonly parsers = new Map<string, LineParser>();
  private readonly format: LogFormatSpec;
  private readonly record = createLineRecord();
  private metricsServer: MetricsServer | null = null;
  private idle = false;
  private onIdle: (() => void) | null = null;
  private lastBusyTarget = Number.NEGATIVE_INFINITY;
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  private recordsSinceCheckpoint = 0;
  private readonly counters = { linesRead: 0, bytesRead: 0, partialsShipped: 0, kafkaErrors: 0 };
  private spoolWaiter: (() => void) | null = null;

  /** Opens the state dir (lock, checkpoint, outbox replay). Throws AgentError(StateDir) when it is unusable. */
  constructor(options: AgentOptions) {
    this.options = options;
    this.config = options.config;
    this.log = options.logger;
    this.now = options.now ?? Date.now;
    this.limited = new RateLimitedLog(this.log, 60_000, this.now);
    const c = this.config;
    this.format = c.format as LogFormatSpec;
    createParser(this.format); // a bad custom format fails here, at start
    try {
      mkdirSync(c.stateDir, { recursive: true });
    } catch (error) {
      throw new AgentError(AgentErrorCode.StateDir, `cannot create ${c.stateDir}: ${(error as Error).message}`, error);
    }
    this.release = lockStateDir(c.stateDir);
    try {
      const checkpoint = readCheckpoint(c.stateDir);
      const { outbox, deltas } = Outbox.open(c.stateDir, c.spool, checkpoint.appliedThrough);
      for (const delta of deltas) applyDelta(checkpoint.state, delta);
      this.outbox = outbox;
      this.windower = new Windower(
        {
          host: c.hostId,
          service: c.service,
          windowMs: c.windowMs,
          closeLatenessMs: c.closeLatenessMs,
          idleCloseMs: c.idleCloseMs,
          windowHorizonMs: c.windowHorizonMs,
        },
        checkpoint.state,
      );
      this.log.info(
        { stateDir: c.stateDir, files: Object.keys(checkpoint.state.files).length, replayedRecords: deltas.length },
        "state restored",
      );
    } catch (error) {
      this.release();
      throw error;
    }
    this.shipper = new Shipper(this.outbox, options.sink, {
      now: this.now,
      onRetry: (error, attempt, delayMs) => {
        this.counters.kafkaErrors++;
        this.limited.log(
          "warn",
          "kafka",
          { err: (error as Error).message, attempt, delayMs },
          "Kafka send failed; retrying",
        );
      },
      onShipped: (n) => {
        this.counters.partialsShipped += n;
        if (this.spoolWaiter && this.outbox.unackedBytes < c.spool.maxSpoolBytes) this.spoolWaiter();
      },
    });
    this.tailer = createTailer({
      globs: c.files,
      positions: this.windower.positions(),
      startAt: options.once ? "beginning" : c.startAt,
      readChunkBytes: c.readChunkBytes,
      maxLineBytes: c.maxLineBytes,
      // A replay needs no quick discovery of new files; fewer glob scans leave more CPU for the lines.
      pollIntervalMs: options.pollIntervalMs ?? (options.once ? 2_000 : 250),
      onError: (error) => this.limited.log("warn", `tail:${error.message}`, { err: error.message }, "tail error"),
      wait: (ms, signal) => {
        // The tailer waits only when every file is at its end: that is what "idle" means for closing windows.
        this.idle = true;
        this.onIdle?.();
        return sleep(ms, undefined, { signal }).catch(() => undefined);
      },
    });
  }

  /** Stops a running agent (SIGTERM): open windows are not flushed; their lines are re-read after restart. */
  stop(): void {
    this.stopController.abort();
  }

  /** Runs until stopped (or, with `once`, until everything is read, flushed and acknowledged). */
  async run(): Promise<AgentTotals> {
    const signal = this.stopController.signal;
    const c = this.config;
    if (c.metrics.port !== 0) {
      // prom-client costs start-up time; a `--once` replay with the endpoint off does not load it.
      const { createAgentMetrics, startMetricsServer } = await import("./metrics/index.js");
      this.metricsServer = await startMetricsServer(
        c.metrics,
        createAgentMetrics(() => this.snapshot()),
        () => this.health(),
      );
      this.log.info({ host: c.metrics.host, port: this.metricsServer.port }, "metrics listening");
    }
    const shipping = this.shipper.run(signal);
    // A non-retriable Kafka error ends the agent (exit 1); the outbox keeps everything for the next start.
    const shippingFailed = shipping.then(
      () => undefined,
      (error: unknown) => {
        this.stop();
        throw error;
      },
    );
    const ticking = this.tickLoop(signal);
    try {
      const startedAt = this.now();
      await Promise.race([this.readLoop(signal), shippingFailed]);
      if (this.options.once && !signal.aborted) {
        this.finishOnce();
        this.log.info(
          { linesRead: this.counters.linesRead, seconds: (this.now() - startedAt) / 1000 },
          "--once: read to the end of every file; waiting for Kafka to acknowledge",
        );
        await Promise.race([this.shipper.waitDrained(signal), shippingFailed]);
      }
    } finally {
      this.stop();
      await this.tailer.stop();
      await ticking;
      await shipping.catch(() => undefined);
      this.writeCheckpointNow();
      await this.options.sink.close();
      this.outbox.close();
      await this.metricsServer?.close();
      this.release();
    }
    const stats = this.windower.stats;
    return {
      linesRead: this.counters.linesRead,
      bytesRead: this.counters.bytesRead,
      partialsOutboxed: stats.partials,
      partialsShipped: this.counters.partialsShipped,
    };
  }

  private async readLoop(signal: AbortSignal): Promise<void> {
    // `--once` ends when the tailer first waits (every file read to its end): that aborts the pending next().
    const idle = new AbortController();
    if (this.options.once) this.onIdle = () => idle.abort();
    const readSignal = AbortSignal.any([signal, idle.signal]);
    while (!readSignal.aborted) {
      if (this.outbox.unackedBytes >= this.config.spool.maxSpoolBytes) {
        this.limited.log(
          "warn",
          "spool-full",
          { outboxBytes: this.outbox.unackedBytes },
          "outbox full: reading paused until Kafka acknowledges",
        );
        await new Promise<void>((resolve) => {
          this.spoolWaiter = resolve;
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
        this.spoolWaiter = null;
        continue;
      }
      let event: TailEvent;
      try {
        event = await this.tailer.next(readSignal);
      } catch (error) {
        if (readSignal.aborted) return;
        throw error;
      }
      this.handle(event);
    }
  }

  private async tickLoop(signal: AbortSignal): Promise<void> {
    const tickMs = this.options.tickMs ?? Math.min(1_000, Math.max(10, Math.floor(this.config.windowMs / 4)));
    while (!signal.aborted) {
      await sleep(tickMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      // --once closes on the event clock only: the wall clock says nothing about a replayed log.
      this.commit(this.idle && !this.options.once ? "idle" : "busy");
    }
  }

  /** Hot path for `lines`: one indexOf and one parse per line, no allocation here. */
  private handle(event: TailEvent): void {
    const w = this.windower;
    switch (event.kind) {
      case "lines": {
        this.idle = false;
        const file = w.file(event.fileKey, event.path, event.startOffset);
        const parser = this.parserFor(event.fileKey);
        const rec = this.record;
        const data = event.data;
        const base = event.startOffset;
        w.observe(this.now());
        let pos = 0;
        let lines = 0;
        while (pos < data.length) {
          let nl = data.indexOf(10, pos);
          if (nl < 0) nl = data.length; // the tailer promises whole lines; be safe anyway
          const reason = parser.parse(data, pos, nl, rec);
          if (reason === null) w.record(file, rec, base + pos, base + nl + 1);
          else w.reject(file, reason, base + pos, base + nl + 1);
          pos = nl + 1;
          lines++;
        }
        this.counters.linesRead += lines;
        this.counters.bytesRead += data.length;
        this.maybeCloseOnEventClock();
        return;
      }
      case "oversize": {
        this.idle = false;
        const file = w.file(event.fileKey, event.path, event.startOffset);
        w.reject(file, "too_long", event.startOffset, event.endOffset);
        this.counters.linesRead++;
        this.counters.bytesRead += event.endOffset - event.startOffset;
        return;
      }
      case "truncated": {
        const file = w.file(event.fileKey, event.path, event.startOffset);
        w.reject(file, "truncated", event.startOffset, event.startOffset + event.data.length);
        this.counters.linesRead++;
        this.counters.bytesRead += event.data.length;
        return;
      }
      case "eof":
        w.advance(w.file(event.fileKey, event.path, event.offset), event.offset);
        return;
      case "closed":
        w.close(w.file(event.fileKey, event.path, event.offset), event.offset);
        this.parsers.delete(event.fileKey);
        return;
    }
  }

  private parserFor(fileKey: string): LineParser {
    let parser = this.parsers.get(fileKey);
    if (parser === undefined) {
      parser = createParser(this.format);
      this.parsers.set(fileKey, parser);
    }
    return parser;
  }

  /**
   * Commits when the event clock has passed a window's close point, without waiting for the next tick — but at
   * most every `BUSY_COMMIT_MS` while reading fast (a replay), unless `BUSY_COMMIT_WINDOWS` windows are waiting:
   * each commit costs an fsync, and a few more open windows cost little.
   */
  private maybeCloseOnEventClock(): void {
    const clock = this.windower.eventClock;
    if (clock === null) return;
    const windowMs = this.config.windowMs;
    const bound = clock - this.config.closeLatenessMs;
    const target = bound - (((bound % windowMs) + windowMs) % windowMs);
    if (target <= this.lastBusyTarget) return;
    const now = this.now();
    const waiting = (target - this.lastBusyTarget) / windowMs;
    if (now - this.lastCommitAt < BUSY_COMMIT_MS && waiting < BUSY_COMMIT_WINDOWS) return;
    this.lastBusyTarget = target;
    this.commit("busy");
  }

  private commit(mode: CloseMode): void {
    const now = this.now();
    this.lastCommitAt = now;
    const commit: Commit | null = this.windower.collect(now, mode);
    if (commit === null) return;
    const encoded = commit.partials.map((p) => encodePartial(p));
    this.outbox.append(
      commit.partials.map((p) => p.windowStartMs),
      encoded,
      commit.delta,
    );
    this.recordsSinceCheckpoint++;
    if (this.recordsSinceCheckpoint >= (this.options.checkpointEveryRecords ?? 50)) this.writeCheckpointNow();
  }

  /** checkpoint.json = the committed state after every record in the outbox (the state only changes on commit). */
  private writeCheckpointNow(): void {
    const appliedThrough = this.outbox.end;
    writeCheckpoint(this.config.stateDir, { version: 1, state: this.windower.committed, appliedThrough });
    this.outbox.checkpointedThrough(appliedThrough);
    this.recordsSinceCheckpoint = 0;
  }

  /**
   * `--once` end: an unterminated last line is read as `truncated` (the replay covers the file to its end), then
   * every window is flushed.
   */
  private finishOnce(): void {
    for (const file of this.windower.cursors()) {
      if (file.closed) continue;
      const size = this.sizeOf(file);
      if (size > file.readOffset) {
        this.windower.reject(file, "truncated", file.readOffset, size);
        this.counters.linesRead++;
        this.counters.bytesRead += size - file.readOffset;
      }
    }
    this.commit("flush");
  }

  /** The size of the file a cursor reads, if the path still holds that file (same device and inode). */
  private sizeOf(file: FileCursor): number {
    try {
      const st = statSync(file.path, { bigint: true });
      const [dev, ino] = file.key.split(":");
      return `${st.dev}` === dev && `${st.ino}` === ino ? Number(st.size) : -1;
    } catch {
      return -1;
    }
  }

  private snapshot(): AgentSnapshot {
    const stats = this.windower.stats;
    const now = this.now();
    return {
      linesRead: this.counters.linesRead,
      bytesRead: this.counters.bytesRead,
      linesParsed: stats.accepted,
      linesSkipped: stats.skipped,
      rejects: stats.rejects,
      partialsOutboxed: stats.partials,
      supplements: stats.supplements,
      partialsShipped: this.counters.partialsShipped,
      kafkaErrors: this.counters.kafkaErrors,
      outboxBytes: this.outbox.unackedBytes,
      outboxRecords: this.outbox.unackedRecords,
      files: this.windower
        .cursors()
        .filter((f) => !f.closed)
        .map((f) => {
          const bytes = Math.max(0, this.sizeOf(f) - f.readOffset);
          const seconds = bytes > 0 && f.clockMs !== null ? Math.max(0, (now - f.clockMs) / 1000) : 0;
          return { path: f.path, bytes, seconds };
        }),
    };
  }

  private health(): Health {
    const reasons: string[] = [];
    const max = this.config.spool.maxSpoolBytes;
    if (this.outbox.unackedBytes >= max) {
      reasons.push(`outbox full: ${this.outbox.unackedBytes} unacknowledged bytes (max ${max}); reading is paused`);
    }
    const since = this.shipper.unreachableSince;
    const limit = this.config.metrics.kafkaUnreachableAfterMs;
    if (since !== null && this.now() - since > limit) {
      const why = this.shipper.lastError instanceof Error ? `: ${this.shipper.lastError.message}` : "";
      reasons.push(`Kafka unreachable for ${Math.round((this.now() - since) / 1000)} s${why}`);
    }
    return { ok: reasons.length === 0, reasons };
  }
}
