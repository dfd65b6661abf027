import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { IP_CAPACITY, URL_CAPACITY } from "./index.js";

const probe = fileURLToPath(new URL("../../scripts/memory-probe.ts", import.meta.url));

function runProbe(lines: number) {
  // A child process, so `--expose-gc` gives exact heap figures without affecting the test worker.
  const child = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", probe, String(lines)], {
    encoding: "utf8",
    timeout: 170_000,
  });
  expect(child.stderr).toBe("");
  expect(child.status).toBe(0);
  return JSON.parse(child.stdout) as {
    heapGrowthBytes: number;
    encodedBytes: number;
    ipKeys: number;
    urlKeys: number;
    requests: number;
    cpuNsPerLine: number;
  };
}

describe("bounded memory", () => {
  it("1 M distinct IPs and 1 M distinct URLs keep the heap and the encoding bounded", () => {
    const r = runProbe(1_000_000);
    console.log(`1 M distinct IPs + URLs: ${JSON.stringify(r)}`);
    expect(r.requests).toBe(1_000_000);
    expect(r.ipKeys).toBe(IP_CAPACITY);
    expect(r.urlKeys).toBe(URL_CAPACITY);
    expect(r.heapGrowthBytes).toBeLessThan(64 * 1024 * 1024);
    expect(r.encodedBytes).toBeLessThan(256 * 1024);
  }, 180_000);
});
