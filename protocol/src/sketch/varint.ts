/**
 * Unsigned LEB128 varints for the sketches' binary wire blobs (counters are small integers, mostly
 * one or two bytes each). Values must be integers in 0..2^53-1.
 */
export class VarintWriter {
  private buf: Uint8Array;
  length = 0;

  constructor(initialBytes = 256) {
    this.buf = new Uint8Array(initialBytes);
  }

  write(value: number): void {
    this.reserve(8);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }

  writeByte(byte: number): void {
    this.reserve(1);
    this.buf[this.length++] = byte;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return;
    const next = new Uint8Array(this.buf.length * 2 + bytes);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
}

/** Reads varints; `next()` returns -1 on truncated or over-long input (callers turn that into Malformed). */
export class VarintReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** The next raw byte, or -1 at the end. */
  nextByte(): number {
    return this.pos < this.buf.length ? this.buf[this.pos++]! : -1;
  }

  next(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) return -1;
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result <= Number.MAX_SAFE_INTEGER ? result : -1;
      scale *= 0x80;
    }
    return -1;
  }
}
