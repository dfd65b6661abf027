/** A run of whole lines `[start, end)` (each ending "\n") or one oversize line, as indices into the chunk. */
export interface LinePiece {
  kind: "lines" | "oversize";
  start: number;
  end: number;
}

export interface SplitResult {
  pieces: LinePiece[];
  /** Index where the unterminated remainder starts (`chunk.length` when the chunk ends with "\n"). */
  rest: number;
  /** The remainder is already longer than `maxLineBytes`: skip up to its "\n" instead of carrying it. */
  restOversize: boolean;
}

/**
 * Splits `chunk[from..]` (`from` is the start of a line) into runs of lines of at most `maxLineBytes` bytes
 * (newline excluded) and oversize lines. Every line inside a window of `maxLineBytes + 1` bytes ending on a "\n" is
 * short enough, so it jumps window by window with `lastIndexOf` instead of visiting each line: about
 * `chunk.length / maxLineBytes` native searches per chunk, whatever the line lengths.
 */
export function splitLines(chunk: Buffer, from: number, maxLineBytes: number): SplitResult {
  const pieces: LinePiece[] = [];
  const end = chunk.length;
  let runStart = from;
  let lineStart = from;
  while (lineStart < end) {
    const lastAllowedNewline = lineStart + maxLineBytes;
    if (lastAllowedNewline >= end) {
      const newline = chunk.lastIndexOf(10, end - 1);
      if (newline >= lineStart) lineStart = newline + 1;
      break;
    }
    const newline = chunk.lastIndexOf(10, lastAllowedNewline);
    if (newline >= lineStart) {
      lineStart = newline + 1;
      continue;
    }
    if (lineStart > runStart) pieces.push({ kind: "lines", start: runStart, end: lineStart });
    const oversizeEnd = chunk.indexOf(10, lastAllowedNewline + 1);
    if (oversizeEnd < 0) return { pieces, rest: lineStart, restOversize: true };
    pieces.push({ kind: "oversize", start: lineStart, end: oversizeEnd + 1 });
    runStart = lineStart = oversizeEnd + 1;
  }
  if (lineStart > runStart) pieces.push({ kind: "lines", start: runStart, end: lineStart });
  return { pieces, rest: lineStart, restOversize: false };
}
