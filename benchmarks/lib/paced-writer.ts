/**
 * Paced log writer, run as its own process by the follow and freshness benchmarks so that writing does not share
 * an event loop with what is measured:
 *
 *   node --import tsx benchmarks/lib/paced-writer.ts --files a.log,b.log --hosts web1,web2 --rate 10000
 *     [--duration-ms 60000] [--tick-ms 100] [--seed 1]
 *
 * Appends `--rate` lines per second to each file (`nginx_combined_rt` lines from gen-log.ts, host i to file i),
 * stamped with the wall clock of the moment they are written, in one write per file every `--tick-ms`. It catches up
 * when a tick comes late (the count written always follows rate × elapsed). Runs for `--duration-ms` (0 = until
 * SIGTERM), then prints one JSON line: lines per file, seconds, achieved rate, and the worst tick lateness.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { generateLogLines } from "./gen-log.js";

const { values: args } = parseArgs({
  options: {
    files: { type: "string" },
    hosts: { type: "string" },
    rate: { type: "string", default: "10000" },
    "duration-ms": { type: "string", default: "0" },
    "tick-ms": { type: "string", default: "100" },
    seed: { type: "string", default: "1" },
  },
});
const files = (args.files ?? "").split(",").filter(Boolean);
const hosts = (args.hosts ?? "").split(",").filter(Boolean);
if (files.length === 0 || hosts.length !== files.length) {
  throw new Error("expected --files and --hosts, comma-separated lists of the same length");
}
const rate = Number(args.rate);
const durationMs = Number(args["duration-ms"]);
const tickMs = Number(args["tick-ms"]);
const seed = Number(args.seed);

const stop = new AbortController();
process.once("SIGTERM", () => stop.abort());
process.once("SIGINT", () => stop.abort());

const fds = files.map((f) => openSync(f, "a"));
const t0 = Date.now();
let written = 0;
let lastMs = t0;
let tick = 0;
let worstLateMs = 0;
while (!stop.signal.aborted) {
  const now = Date.now();
  worstLateMs = Math.max(worstLateMs, now - (t0 + tick * tickMs));
  const elapsed = durationMs > 0 ? Math.min(now - t0, durationMs) : now - t0;
  const due = Math.floor((rate * elapsed) / 1000);
  const n = due - written;
  if (n > 0) {
    fds.forEach((fd, i) => {
      const lines = [
        ...generateLogLines({
          lines: n,
          host: hosts[i]!,
          seed: seed + tick,
          startMs: lastMs,
          durationMs: now - lastMs,
        }),
      ];
      writeSync(fd, `${lines.join("\n")}\n`);
    });
    written = due;
  }
  lastMs = now;
  tick++;
  if (durationMs > 0 && now - t0 >= durationMs) break;
  const nextAt = t0 + tick * tickMs;
  await sleep(Math.max(0, nextAt - Date.now()), undefined, { signal: stop.signal }).catch(() => undefined);
}
for (const fd of fds) closeSync(fd);
const seconds = (Date.now() - t0) / 1000;
console.log(
  JSON.stringify({
    files: files.length,
    lines_per_file: written,
    seconds: Number(seconds.toFixed(3)),
    rate_per_file: Math.round(written / seconds),
    worst_tick_late_ms: worstLateMs,
  }),
);
