/**
 * A msgpack writer for the wire encoder. It writes exactly the bytes msgpackr's `pack` writes for the
 * same values with the wire's options (`useRecords: false`, `variableMapSize: true`): the smallest
 * header for every map, array, string and bin; integers in their smallest form (positive fixint up to
 * 0x7f); any other number as float64; strings as UTF-8 with U+FFFD for a lone surrogate. The tests
 * hold it to that (golden fixtures, and re-packing decoded records with msgpackr).
 *
 * Why not msgpackr for encoding: it packs JS values, so a partial first had to become objects — a
 * string per held key and a small array per IP's registers, 3 000+ allocations per sketch-mode
 * partial — and the 60 partials of the 1 M-line benchmark log took 0.45 CPU-s in a fresh process
 * (README, design notes). This writes from the tables' own storage. msgpackr still decodes.
 */
export class MsgpackWriter {
  private buf: Buffer;
  private view: DataView;
  private pos = 0;
  /** The bin `startBin` opened: where its header starts and how many bytes were reserved for it. */
  private openBin = 0;
  private openBinHeader = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  /** Starts a new record; the buffer is kept (it only grows, to the largest record written). */
  reset(): void {
    this.pos = 0;
  }

  get length(): number {
    return this.pos;
  }

  /** A copy of what was written since `reset`. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  map(entries: number): void {
    this.room(5);
    this.lengthHeader(entries, 0x80, 0x10, NO_TAG, 0xde);
  }

  array(items: number): void {
    this.room(5);
    this.lengthHeader(items, 0x90, 0x10, NO_TAG, 0xdc);
  }

  nil(): void {
    this.room(1);
    this.buf[this.pos++] = 0xc0;
  }

  number(value: number): void {
    this.room(9);
    const b = this.buf;
    if (value >>> 0 === value) {
      if (value < 0x80) b[this.pos++] = value;
      else if (value < 0x100) {
        b[this.pos++] = 0xcc;
        b[this.pos++] = value;
      } else if (value < 0x10000) {
        b[this.pos++] = 0xcd;
        this.view.setUint16(this.pos, value);
        this.pos += 2;
      } else {
        b[this.pos++] = 0xce;
        this.view.setUint32(this.pos, value);
        this.pos += 4;
      }
    } else if (value >> 0 === value) {
      if (value >= -0x20) b[this.pos++] = 0x100 + value;
      else if (value >= -0x80) {
        b[this.pos++] = 0xd0;
        b[this.pos++] = value + 0x100;
      } else if (value >= -0x8000) {
        b[this.pos++] = 0xd1;
        this.view.setInt16(this.pos, value);
        this.pos += 2;
      } else {
        b[this.pos++] = 0xd2;
        this.view.setInt32(this.pos, value);
        this.pos += 4;
      }
    } else {
      b[this.pos++] = 0xcb;
      this.view.setFloat64(this.pos, value);
      this.pos += 8;
    }
  }

  str(value: string): void {
    const length = Buffer.byteLength(value, "utf8");
    this.strHeader(length);
    this.room(length);
    this.pos += this.buf.write(value, this.pos, length, "utf8");
  }

  /** The string whose characters are the bytes `src[start, end)` (latin1), as msgpack UTF-8 text. */
  latin1(src: Uint8Array, start: number, end: number): void {
    let length = end - start;
    for (let i = start; i < end; i++) if (src[i]! >= 0x80) length++;
    this.strHeader(length);
    this.room(length);
    const b = this.buf;
    let o = this.pos;
    if (length === end - start) {
      for (let i = start; i < end; i++) b[o++] = src[i]!;
    } else {
      for (let i = start; i < end; i++) {
        const c = src[i]!;
        if (c < 0x80) b[o++] = c;
        else {
          b[o++] = (c >> 6) | 0xc0;
          b[o++] = (c & 0x3f) | 0x80;
        }
      }
    }
    this.pos = o;
  }

  bin(bytes: Uint8Array): void {
    this.room(5 + bytes.length);
    this.binHeader(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /**
   * Opens a bin of at most `maxLength` bytes that the caller writes into `target` from the returned
   * offset, then closes with `endBin` (no other write in between). For bins whose length is only
   * known once written: no counting pass.
   */
  startBin(maxLength: number): number {
    const header = binHeaderBytes(maxLength);
    this.room(header + maxLength);
    this.openBin = this.pos;
    this.openBinHeader = header;
    return this.pos + header;
  }

  /** Closes the bin `startBin` opened, at `end` (the offset after its last byte); fits its header. */
  endBin(end: number): void {
    const at = this.openBin;
    const reserved = this.openBinHeader;
    const length = end - at - reserved;
    const header = binHeaderBytes(length);
    if (header < reserved) this.buf.copyWithin(at + header, at + reserved, end);
    this.pos = at;
    this.binHeader(length);
    this.pos += length;
  }

  get target(): Buffer {
    return this.buf;
  }

  /**
   * The smallest header for a `length`: `fixTag | length` below `fixLimit`, else `tag8` (NO_TAG: no
   * such form) with an 8-bit length, `tag16` with a 16-bit one, or the tag after it with a 32-bit one
   * (msgpack's layout for str, bin, array and map alike). The caller made room for 5 bytes.
   */
  private lengthHeader(length: number, fixTag: number, fixLimit: number, tag8: number, tag16: number): void {
    const b = this.buf;
    if (length < fixLimit) b[this.pos++] = fixTag | length;
    else if (length < 0x100 && tag8 !== NO_TAG) {
      b[this.pos++] = tag8;
      b[this.pos++] = length;
    } else if (length < 0x10000) {
      b[this.pos++] = tag16;
      this.view.setUint16(this.pos, length);
      this.pos += 2;
    } else {
      b[this.pos++] = tag16 + 1;
      this.view.setUint32(this.pos, length);
      this.pos += 4;
    }
  }

  private binHeader(length: number): void {
    this.lengthHeader(length, 0, 0, 0xc4, 0xc5);
  }

  private strHeader(length: number): void {
    this.room(5);
    this.lengthHeader(length, 0xa0, 0x20, 0xd9, 0xda);
  }

  private room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.length);
  }
}

const NO_TAG = -1;

function binHeaderBytes(length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}
