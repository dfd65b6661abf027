// Regression: one line with an invalid timestamp must not poison the minute cache for the good lines after it
// (it used to reset the cached value but keep the cached key, so the rest of that minute was rejected as bad_time).
import { describe, expect, it } from "vitest";
import { emptyLogRecord } from "../model.js";
import { createParser } from "./index.js";

const line = (time: string) =>
  Buffer.from(`10.0.0.1 - - [${time}] "GET / HTTP/1.1" 200 5 "-" "ua" 0.010 0.010`, "latin1");

describe("timestamp minute cache", () => {
  it.each([
    ["$time_local, bad month", "nginx_combined_rt", "28/Foo/2026:05:22:10 +0700"],
    ["$time_local, bad day", "nginx_combined_rt", "31/Nov/2026:05:22:10 +0700"],
  ] as const)("%s between good lines of the same minute", (_, format, bad) => {
    const parser = createParser(format);
    const rec = emptyLogRecord();
    const good = line("28/Nov/2026:05:22:10 +0700");
    expect(parser.parse(good, 0, good.length, rec)).toBeNull();
    const first = rec.timeMs;
    const b = line(bad);
    expect(parser.parse(b, 0, b.length, rec)).toBe("bad_time");
    expect(parser.parse(good, 0, good.length, rec)).toBeNull();
    expect(rec.timeMs).toBe(first);
  });

  it("$time_iso8601: a bad date between good lines of the same minute", () => {
    const parser = createParser({ nginx: '$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent' });
    const rec = emptyLogRecord();
    const text = (t: string) => Buffer.from(`10.0.0.1 [${t}] "GET / HTTP/1.1" 200 5`, "latin1");
    const good = text("2026-11-28T05:22:10+07:00");
    const bad = text("2026-11-31T05:22:10+07:00");
    expect(parser.parse(good, 0, good.length, rec)).toBeNull();
    const first = rec.timeMs;
    expect(parser.parse(bad, 0, bad.length, rec)).toBe("bad_time");
    expect(parser.parse(good, 0, good.length, rec)).toBeNull();
    expect(rec.timeMs).toBe(first);
  });
});
