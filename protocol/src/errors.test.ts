import { describe, expect, it } from "vitest";
import { CodedError, retry } from "./errors.js";

const noSleep = async () => {};

describe("retry", () => {
  it("retries retriable errors with growing, capped delays until success", async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await retry(
      async () => {
        calls++;
        if (calls < 5) throw new CodedError("ERR_X", "down", { retriable: true });
        return "ok";
      },
      { initialDelayMs: 100, maxDelayMs: 400, sleep: noSleep, random: () => 1, onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(result).toBe("ok");
    expect(calls).toBe(5);
    expect(delays).toEqual([100, 200, 400, 400]);
  });

  it("throws a non-retriable error at once", async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new CodedError("ERR_BAD", "bad input");
        },
        { sleep: noSleep },
      ),
    ).rejects.toMatchObject({ code: "ERR_BAD" });
    expect(calls).toBe(1);
  });

  it("gives up after maxAttempts", async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new CodedError("ERR_X", "down", { retriable: true });
        },
        { maxAttempts: 3, sleep: noSleep },
      ),
    ).rejects.toMatchObject({ code: "ERR_X" });
    expect(calls).toBe(3);
  });
});
