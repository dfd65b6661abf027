// The CI subset of the fault-injection suite (test/reliability/, npm run test:reliability), at sizes that finish
// in a few minutes: every scenario must lose and double nothing, and prints its one summary line.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fuzzScenario,
  killScenario,
  outageScenario,
  poisonScenario,
  report,
  rotationScenario,
  type ScenarioResult,
  type SeparateStack,
  startSeparateStack,
} from "../reliability/scenarios.js";

function check(r: ScenarioResult) {
  report(r);
  expect(r.mismatches.slice(0, 40)).toEqual([]);
  expect({ lost: r.summary.lost, doubled: r.summary.doubled }).toEqual({ lost: 0, doubled: 0 });
  expect(r.summary.lines_counted).toBe(r.summary.lines_written);
}

describe("reliability (CI subset): nothing lost, nothing doubled", () => {
  it("10 rotations, rename and copytruncate mixed, while following live", async () => {
    check(await rotationScenario({ rotations: 10, linesPerSec: 20_000, minIntervalMs: 300, timeoutMs: 120_000 }));
  }, 300_000);

  it("agent kill -9 x2 and central kill -9 x2", async () => {
    check(
      await killScenario({
        agentKills: 2,
        centralKills: 2,
        linesPerSec: 1_000,
        durationMs: 30_000,
        timeoutMs: 120_000,
      }),
    );
  }, 300_000);

  describe("Kafka outage on a separate instance", () => {
    let stack: SeparateStack | null = null;
    beforeAll(async () => {
      stack = await startSeparateStack();
    });
    afterAll(async () => {
      await stack?.down();
    });

    it("Kafka stopped for 15 s under load", async () => {
      check(
        await outageScenario({
          stack: stack!,
          server: "kafka",
          agents: 3,
          outageMs: 15_000,
          linesPerSec: 500,
          timeoutMs: 180_000,
        }),
      );
    }, 420_000);
  });

  it("50 k fuzzed lines in real traffic", async () => {
    check(await fuzzScenario({ fuzzLines: 50_000, goodLines: 50_000, hugeLines: 3, timeoutMs: 150_000 }));
  }, 360_000);

  it("poison records and duplicate partials in the topic", async () => {
    check(await poisonScenario({ perKind: 5, duplicates: 5, timeoutMs: 120_000 }));
  }, 300_000);
});
