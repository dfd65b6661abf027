import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { MsgpackWriter } from "./msgpack-writer.js";

// The wire's msgpackr options (wire/index.ts).
const packr = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });

type Value = null | number | string | Uint8Array | Value[] | { [key: string]: Value };

/** Writes `value` through the writer's methods, as the wire encoder does field by field. */
function write(w: MsgpackWriter, value: Value): void {
  if (value === null) w.nil();
  else if (typeof value === "number") w.number(value);
  else if (typeof value === "string") w.str(value);
  else if (value instanceof Uint8Array) w.bin(value);
  else if (Array.isArray(value)) {
    w.array(value.length);
    for (const item of value) write(w, item);
  } else {
    const keys = Object.keys(value);
    w.map(keys.length);
    for (const key of keys) {
      w.str(key);
      write(w, value[key]!);
    }
  }
}

function written(value: Value, initialBytes?: number): Buffer {
  const w = new MsgpackWriter(initialBytes);
  write(w, value);
  return w.toBuffer();
}

function expectSameAsMsgpackr(value: Value, initialBytes?: number): void {
  expect(written(value, initialBytes).toString("hex")).toBe(Buffer.from(packr.pack(value)).toString("hex"));
}

describe("MsgpackWriter writes msgpackr's bytes", () => {
  it("for numbers at every encoding boundary", () => {
    for (const n of [
      0,
      -0,
      1,
      0x7f,
      0x80,
      0xff,
      0x100,
      0xffff,
      0x10000,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 53 - 1,
      1_714_564_800_000,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -(2 ** 31),
      -(2 ** 31) - 1,
      0.5,
      -2.25,
      1e300,
      Number.NaN,
      Number.POSITIVE_INFINITY,
    ]) {
      expectSameAsMsgpackr(n);
    }
  });

  it("for strings, maps, arrays and bins at every header boundary, growing from a tiny buffer", () => {
    for (const length of [0, 15, 16, 31, 32, 255, 256, 65535, 65536]) {
      expectSameAsMsgpackr("x".repeat(length), 8);
      expectSameAsMsgpackr(new Uint8Array(length).fill(7), 8);
      expectSameAsMsgpackr(
        Array.from({ length }, (_, i) => i & 0x7f),
        8,
      );
      expectSameAsMsgpackr(Object.fromEntries(Array.from({ length }, (_, i) => [`k${i}`, i])), 8);
    }
    // Non-ASCII whose UTF-8 length crosses a header size the character count does not.
    expectSameAsMsgpackr("é".repeat(20));
    expectSameAsMsgpackr("€".repeat(100));
    expectSameAsMsgpackr("a\ud800b\udc00c😀"); // lone surrogates become U+FFFD
    expectSameAsMsgpackr("\ud800".repeat(40));
  });

  it("for latin1 bytes as the string of those characters", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (const [start, end] of [
      [0, 256],
      [0x61, 0x7b],
      [0x7f, 0x82],
      [200, 200],
    ] as const) {
      const w = new MsgpackWriter(4);
      w.latin1(all, start, end);
      const text = String.fromCharCode(...all.subarray(start, end));
      expect(w.toBuffer().toString("hex")).toBe(Buffer.from(packr.pack(text)).toString("hex"));
    }
  });

  it("for bins written before their length is known, whatever was reserved", () => {
    for (const [maxLength, length] of [
      [10, 0],
      [200, 200],
      [300, 255],
      [300, 256],
      [70_000, 65_535],
      [70_000, 65_536],
      [70_000, 100],
    ] as const) {
      const w = new MsgpackWriter(4);
      w.number(1);
      let o = w.startBin(maxLength);
      for (let i = 0; i < length; i++) w.target[o++] = i & 0xff;
      w.endBin(o);
      w.number(2);
      const bytes = Uint8Array.from({ length }, (_, i) => i & 0xff);
      expect(w.toBuffer().toString("hex")).toBe(
        Buffer.concat([packr.pack(1), packr.pack(bytes), packr.pack(2)]).toString("hex"),
      );
    }
  });

  it("for any mix of values (property)", () => {
    const value = fc.letrec<{ value: Value }>((tie) => ({
      value: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.constant(null),
        fc.integer({ min: -(2 ** 33), max: 2 ** 33 }),
        fc.double(),
        fc.string({ unit: "binary", maxLength: 80 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.array(tie("value"), { maxLength: 20 }),
        fc.dictionary(fc.string({ maxLength: 10 }), tie("value"), { maxKeys: 20 }),
      ),
    })).value;
    fc.assert(
      fc.property(value, (v) => expectSameAsMsgpackr(v, 16)),
      { numRuns: 500 },
    );
  });

  it("starts each record afresh after reset and keeps the buffer", () => {
    const w = new MsgpackWriter(4);
    write(w, "a long string that grows the buffer");
    w.reset();
    expect(w.length).toBe(0);
    w.number(5);
    expect(w.toBuffer()).toEqual(Buffer.from([5]));
  });
});
