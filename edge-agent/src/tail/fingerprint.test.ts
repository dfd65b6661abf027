import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fingerprintLength, fnv1a64Hex, formatFileKey, parseFileKey } from "./fingerprint.js";

/** Reference FNV-1a 64 with BigInt, straight from the definition. */
function fnvReference(bytes: Uint8Array): string {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, "0");
}

describe("fnv1a64Hex", () => {
  it("matches the published FNV-1a 64 test vectors", () => {
    expect(fnv1a64Hex(Buffer.from(""))).toBe("cbf29ce484222325");
    expect(fnv1a64Hex(Buffer.from("a"))).toBe("af63dc4c8601ec8c");
    expect(fnv1a64Hex(Buffer.from("foobar"))).toBe("85944171f73967e8");
  });

  it("equals a BigInt implementation on arbitrary bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => fnv1a64Hex(bytes) === fnvReference(bytes)));
  });
});

describe("fingerprintLength", () => {
  it("covers fingerprintBytes once the file has them, else its complete lines, else nothing yet", () => {
    expect(fingerprintLength(Buffer.alloc(8, 120), 8)).toBe(8);
    expect(fingerprintLength(Buffer.from("ab\ncd\nef"), 16)).toBe(6);
    expect(fingerprintLength(Buffer.from("abc"), 16)).toBeNull();
    expect(fingerprintLength(Buffer.from(""), 16)).toBeNull();
  });
});

describe("file keys", () => {
  it("round-trip, including inode numbers beyond 2^53", () => {
    const key = formatFileKey(64769n, 18446744073709551557n, { hex: "85944171f73967e8", length: 1024 });
    expect(key).toBe("64769:18446744073709551557:85944171f73967e8-1024");
    expect(parseFileKey(key)).toEqual({
      dev: 64769n,
      ino: 18446744073709551557n,
      fingerprint: { hex: "85944171f73967e8", length: 1024 },
    });
  });

  it("rejects anything else", () => {
    for (const bad of ["", "1:2:3", "1:2:85944171f73967e8", "a:2:85944171f73967e8-3", "1:2:85944171F73967E8-3"]) {
      expect(parseFileKey(bad)).toBeNull();
    }
  });
});
