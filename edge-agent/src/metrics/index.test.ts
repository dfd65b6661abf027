import { REJECT_REASONS } from "@rla/protocol";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { type AgentSnapshot, createAgentMetrics } from "./index.js";
import { RateLimitedLog } from "./rate-limited-log.js";

describe("RateLimitedLog", () => {
  it("logs one line per key per interval, then reports how many it suppressed", () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "warn" }, { write: (s: string) => lines.push(JSON.parse(s)) });
    let now = 0;
    const log = new RateLimitedLog(logger, 1_000, () => now);
    log.log("warn", "kafka", { err: "down" }, "send failed");
    log.log("warn", "kafka", { err: "down" }, "send failed");
    log.log("warn", "other", {}, "other failed");
    now = 500;
    log.log("warn", "kafka", { err: "down" }, "send failed");
    now = 1_200;
    log.log("warn", "kafka", { err: "down" }, "send failed");
    expect(lines.map((l) => [l.key, l.suppressed])).toEqual([
      ["kafka", undefined],
      ["other", undefined],
      ["kafka", 2],
    ]);
  });
});

describe("agent metrics", () => {
  it("exposes the snapshot's counters, rejects by reason and per-file lag", async () => {
    const snapshot: AgentSnapshot = {
      linesRead: 10,
      bytesRead: 1_000,
      linesParsed: 7,
      linesSkipped: 1,
      rejects: Object.fromEntries(REJECT_REASONS.map((r) => [r, r === "syntax" ? 2 : 0])) as AgentSnapshot["rejects"],
      partialsOutboxed: 3,
      supplements: 1,
      partialsShipped: 2,
      kafkaErrors: 4,
      outboxBytes: 512,
      outboxRecords: 1,
      files: [{ path: "/var/log/a.log", bytes: 100, seconds: 2.5 }],
    };
    const text = await createAgentMetrics(() => snapshot).metrics();
    expect(text).toContain("rla_agent_lines_read_total 10");
    expect(text).toContain('rla_agent_lines_rejected_total{reason="syntax"} 2');
    expect(text).toContain('rla_agent_file_lag_seconds{path="/var/log/a.log"} 2.5');
    expect(text).toContain("rla_agent_outbox_bytes 512");
    expect(text).toContain("rla_agent_windows_shipped_total 2");
  });
});
