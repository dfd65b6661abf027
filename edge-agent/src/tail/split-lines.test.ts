import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { splitLines } from "./split-lines.js";

/** Line by line, the obvious way: what splitLines must produce, runs of short lines merged. */
function reference(chunk: Buffer, from: number, max: number) {
  const pieces: { kind: "lines" | "oversize"; start: number; end: number }[] = [];
  let start = from;
  for (;;) {
    const nl = chunk.indexOf(10, start);
    if (nl < 0) break;
    const kind = nl - start > max ? "oversize" : "lines";
    const last = pieces.at(-1);
    if (kind === "lines" && last?.kind === "lines") last.end = nl + 1;
    else pieces.push({ kind, start, end: nl + 1 });
    start = nl + 1;
  }
  return { pieces, rest: start, restOversize: chunk.length - start > max };
}

describe("splitLines", () => {
  it("keeps runs of short lines together and cuts out a long one", () => {
    const chunk = Buffer.from("ab\ncd\nLONGLONG\nef\ngh");
    expect(splitLines(chunk, 0, 4)).toEqual({
      pieces: [
        { kind: "lines", start: 0, end: 6 },
        { kind: "oversize", start: 6, end: 15 },
        { kind: "lines", start: 15, end: 18 },
      ],
      rest: 18,
      restOversize: false,
    });
  });

  it("a line of exactly maxLineBytes is not oversize; an unterminated remainder longer than it is", () => {
    expect(splitLines(Buffer.from("abcd\n"), 0, 4).pieces).toEqual([{ kind: "lines", start: 0, end: 5 }]);
    expect(splitLines(Buffer.from("ab\nabcde"), 0, 4)).toEqual({
      pieces: [{ kind: "lines", start: 0, end: 3 }],
      rest: 3,
      restOversize: true,
    });
  });

  it("agrees with a line-by-line reference on arbitrary chunks", () => {
    const chunkArb = fc
      .array(fc.oneof(fc.constant(10), fc.constant(120), fc.integer({ min: 0, max: 255 })), { maxLength: 400 })
      .map((bytes) => Buffer.from(bytes));
    fc.assert(
      fc.property(chunkArb, fc.integer({ min: 1, max: 40 }), fc.nat(), (chunk, max, f) => {
        const from = chunk.length === 0 ? 0 : f % chunk.length;
        expect(splitLines(chunk, from, max)).toEqual(reference(chunk, from, max));
      }),
      { numRuns: 500 },
    );
  });
});
