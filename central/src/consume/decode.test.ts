import { encodePartial } from "@rla/protocol";
import { pack } from "msgpackr";
import { describe, expect, it } from "vitest";
import { partialOf } from "../testkit.js";
import { decodeRecord } from "./decode.js";

const T = 1_700_000_000_000;
const options = { windowMs: 10_000, maxPartialBytes: 64 * 1024, maxFutureMs: 300_000 };
const reason = (value: Uint8Array | null, now = T) => {
  const r = decodeRecord(value, now, options);
  return r.ok ? "ok" : r.reason;
};

describe("record decoding", () => {
  it("decodes a valid partial", () => {
    const r = decodeRecord(
      encodePartial(partialOf({ host: "web-1", windowStartMs: T }, [{ status: 404 }])),
      T,
      options,
    );
    expect(r.ok && [r.partial.host, r.partial.requests, r.partial.statusCounts[404]]).toEqual(["web-1", 1, 1]);
  });

  it("classifies every kind of poison instead of throwing", () => {
    expect(reason(null)).toBe("empty");
    expect(reason(new Uint8Array())).toBe("empty");
    expect(reason(Buffer.from("GET / HTTP/1.1"))).toBe("malformed");
    expect(reason(pack({ v: 1, h: "web-1" }))).toBe("malformed");
    expect(reason(pack({ v: 2 }))).toBe("version");
    expect(reason(Buffer.alloc(64 * 1024 + 1))).toBe("oversize");
    expect(reason(encodePartial(partialOf({ host: "a", windowStartMs: T, windowMs: 60_000 })))).toBe("window_length");
    expect(reason(encodePartial(partialOf({ host: "a", windowStartMs: T + 5 })))).toBe("misaligned");
    expect(reason(encodePartial(partialOf({ host: "a", windowStartMs: T + 310_000 })))).toBe("future");
    expect(reason(encodePartial(partialOf({ host: "a", windowStartMs: T + 300_000 })))).toBe("ok");
  });
});
