/**
 * Live traffic for the reliability suite: a fast seeded nginx_combined_rt line maker, a log file that rotates the
 * two ways logrotate does, and a writer that appends at a target rate while the caller injects faults, counting
 * every line it writes into the reference as it goes (the suite's lines are too many to keep).
 *
 * The writer behaves like nginx: it appends through an O_APPEND fd. Rename rotation = logrotate `create`: shift the
 * kept siblings, `mv access.log access.log.1`, create an empty access.log; the writer goes on writing to the renamed
 * file for a few batches before it reopens the path (as nginx does until USR1 reaches every worker). Copytruncate =
 * shift, copy, truncate, done between two writes (real copytruncate loses what is written between its copy and its
 * truncate; that loss is logrotate's, not the agent's, so it is left out here).
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
import { formatTimeLocal, seededRandom } from "./fleet-gen.js";
import { type Expected, expectLine } from "./harness.js";

const ZONES = [0, 7 * 60, -(3 * 60 + 30), 5 * 60 + 45, -8 * 60];
const PATHS = ["/", "/index.html", "/api/items", "/api/cart", "/login", "/search", "/static/app.js", "/static/app.css"];

export interface LineMakerOptions {
  seed: number;
  /** Picks the time zone (as fleet-gen does per host). */
  hostIndex: number;
  /** Distinct normal clients. */
  clients?: number;
}

/** `(timeMs, ip?) → line` (no newline). The timestamp text is cached per second: the maker runs at 50 k lines/s. */
export function createLineMaker(o: LineMakerOptions): (timeMs: number, ip?: string) => string {
  const r = seededRandom(o.seed);
  const zone = ZONES[o.hostIndex % ZONES.length]!;
  const clients = o.clients ?? 5_000;
  let second = Number.NaN;
  let stamp = "";
  return (timeMs, ip) => {
    const s = Math.floor(timeMs / 1000);
    if (s !== second) {
      second = s;
      stamp = formatTimeLocal(s * 1000, zone);
    }
    const c = Math.floor(r() * clients);
    const client = ip ?? `10.${o.hostIndex}.${c >> 8}.${c & 255}`;
    const x = r();
    const status =
      x < 0.8 ? 200 : x < 0.87 ? 304 : x < 0.9 ? 301 : x < 0.96 ? 404 : x < 0.985 ? 403 : x < 0.995 ? 500 : 503;
    const path = PATHS[Math.floor(r() * PATHS.length)]!;
    const bytes = status === 304 ? 0 : 200 + Math.floor(r() * 20_000);
    const rt = (Math.max(1, Math.round(-Math.log(1 - r()) * 40)) / 1000).toFixed(3);
    return `${client} - - [${stamp}] "GET ${path} HTTP/1.1" ${status} ${bytes} "-" "loadgen/1.0" ${rt} ${status === 304 ? "-" : rt}`;
  };
}

/** An access log written like nginx writes it, rotated like logrotate rotates it. */
export class LiveLog {
  private fd: number;
  private reopenAfterWrites = 0;
  rotations = { rename: 0, copytruncate: 0 };

  constructor(
    readonly path: string,
    /** Rotated files kept (`rotate N`); the oldest is deleted at each rotation. */
    readonly keep = 5,
    /** Writes that still go to a renamed file before the writer reopens the path. */
    readonly lateWrites = 3,
  ) {
    this.fd = openSync(path, "a");
  }

  /** Appends bytes as given (strings are latin1: one char per byte). */
  write(data: string | Buffer): void {
    if (typeof data === "string") writeSync(this.fd, data, null, "latin1");
    else writeSync(this.fd, data);
    if (this.reopenAfterWrites > 0 && --this.reopenAfterWrites === 0) {
      closeSync(this.fd);
      this.fd = openSync(this.path, "a");
    }
  }

  /** A rotation may start once the writer writes to the current file (a rename's late writes are done). */
  get canRotate(): boolean {
    return this.reopenAfterWrites === 0;
  }

  /** True while writes still go to a renamed file. */
  get writingToRenamed(): boolean {
    return this.reopenAfterWrites > 0;
  }

  private shift(): void {
    for (let i = this.keep; i >= 1; i--) {
      const from = `${this.path}.${i}`;
      if (!existsSync(from)) continue;
      if (i === this.keep) unlinkSync(from);
      else renameSync(from, `${this.path}.${i + 1}`);
    }
  }

  rotateRename(): void {
    this.shift();
    renameSync(this.path, `${this.path}.1`);
    closeSync(openSync(this.path, "a"));
    this.reopenAfterWrites = this.lateWrites;
    this.rotations.rename++;
  }

  rotateCopyTruncate(): void {
    this.shift();
    copyFileSync(this.path, `${this.path}.1`);
    truncateSync(this.path, 0);
    this.rotations.copytruncate++;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface LiveSource {
  host: string;
  log: LiveLog;
  make: (timeMs: number) => string;
}

export interface WriteLiveOptions {
  sources: LiveSource[];
  /** Target rate per source. */
  linesPerSec: number;
  expected: Expected;
  /** Stop once this returns true (checked every tick). */
  until: (elapsedMs: number) => boolean;
  /** Called after every tick's writes (fault injection); may start async work, which is not awaited. */
  onTick?: (elapsedMs: number) => void;
  /** Share of lines stamped `lateByMs` in the past (slow requests logged at their end). */
  lateShare?: number;
  lateByMs?: number;
  tickMs?: number;
  seed?: number;
}

export interface WriteLiveResult {
  lines: number;
  elapsedMs: number;
  /** Lines per second over all sources. */
  rate: number;
}

/**
 * Appends lines at the target rate (per source) with event time = now, in one write per source and tick, until
 * `until` says stop. A tick that falls behind catches up by at most five seconds of lines, so a stalled machine
 * lowers the achieved rate (reported) rather than writing one giant burst.
 */
export async function writeLive(o: WriteLiveOptions): Promise<WriteLiveResult> {
  const tickMs = o.tickMs ?? 25;
  const r = seededRandom(o.seed ?? 1);
  const lateShare = o.lateShare ?? 0;
  const lateByMs = o.lateByMs ?? 20_000;
  const written = o.sources.map(() => 0);
  const started = Date.now();
  let total = 0;
  for (;;) {
    const elapsed = Date.now() - started;
    if (o.until(elapsed)) break;
    const due = Math.floor((o.linesPerSec * elapsed) / 1000);
    const now = Date.now();
    o.sources.forEach((s, i) => {
      // More than five seconds behind (a stalled machine): the rest of the backlog is skipped, not burst out.
      if (due - written[i]! > 5 * o.linesPerSec) written[i] = due - 5 * o.linesPerSec;
      const n = due - written[i]!;
      if (n <= 0) return;
      written[i] = due;
      let chunk = "";
      for (let k = 0; k < n; k++) {
        const t = lateShare > 0 && r() < lateShare ? now - lateByMs : now;
        const text = s.make(t);
        expectLine(o.expected, s.host, text);
        chunk += `${text}\n`;
      }
      s.log.write(chunk);
      total += n;
    });
    o.onTick?.(elapsed);
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  const elapsedMs = Date.now() - started;
  return { lines: total, elapsedMs, rate: total / (elapsedMs / 1000) };
}
