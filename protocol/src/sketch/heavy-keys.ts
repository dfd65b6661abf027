import { latin1String } from "../parse/text.js";
import { CMS_DEFAULT_DEPTH, CMS_DEFAULT_WIDTH, CountMinSketch } from "./count-min.js";
import { DistinctCounter, estimatePacked, HLL_REGISTERS, registerIndex, registerRank } from "./distinct.js";

/**
 * Per-key request counts with bounded memory: exact while few keys, heavy hitters + count-min after.
 *
 * Exact mode: every key seen has an exact count, up to `capacity` distinct keys. No count-min sketch
 * exists in this mode: a plain count-min sketch is a linear function of the exact counts, so it is
 * built from them only when needed (on overflow, for a merge, or never).
 *
 * Sketch mode (entered when key number capacity+1 arrives): every occurrence updates the count-min
 * sketch; the table keeps at most `capacity` candidate keys. A key that is not a candidate is promoted
 * when its count-min estimate exceeds the smallest candidate count (a min-heap finds it), evicting that
 * candidate; its count starts at the estimate and then counts exactly. Hence for a candidate
 * `true <= count <= count-min estimate <= true + εN` (see count-min.ts for ε and the probability), and
 * a key with more than εN occurrences beyond the smallest candidate is always a candidate.
 *
 * Per-key scan data (`trackScan`: 404 count and distinct-URL counter) is exact in exact mode; for a
 * key promoted in sketch mode it covers the requests since promotion (a lower bound).
 *
 * Memory: entry arrays (one buffer) are empty until the first key, then 16 entries doubling up to
 * `capacity` (`reserve` sizes a decoded table at once); the count-min sketch
 * (4096 x 4 x 4 B = 64 KB) and the heap exist only in sketch mode. With `trackScan`, the entries'
 * distinct-URL registers are slices of one array that grows with the entry arrays, so a new or
 * evicted key allocates nothing for them; registers hold at most 15, so two share a byte (128 B per
 * entry, half the memory the hot path touches at random). `distinctOf` unpacks a copy.
 *
 * Hot path: `addBytes` takes a key as latin1 bytes of a buffer (see parse/record.ts). A key stored
 * that way is kept as bytes (one `maxKeyBytes` slot per entry, compared four bytes at a time) and
 * becomes a string only when read (`keyOf`, `keys`, encoding, ranking), so counting allocates
 * nothing for new or promoted keys. Keys added as strings are kept as strings. Hashes are passed as
 * int32 (hashStringInt32 / hashLatin1Int32): V8 boxes an unsigned value above 2^31 on every call.
 *
 * Merge: exact + exact stays exact while the union fits. Otherwise the result is in sketch mode: the
 * count-min sketches add (materialised from exact counts where needed); candidates are the union, a
 * key absent from one side's table gets that side's count-min estimate added (0 if that side is exact,
 * since there it truly is 0), counts are capped by the merged estimate, and the top `capacity` by
 * (count desc, key asc) stay. That is commutative; exactly associative only while exact.
 * Central's case, an exact table merged into one that overflows or is in sketch mode, runs in place
 * with the same result (`mergeExactIntoSketch`); other sketch merges rebuild the table.
 */
export interface HeavyKeysOptions {
  /** Most keys held (exact mode: distinct keys counted exactly; sketch mode: candidates). */
  capacity: number;
  /** Keep a 404 count and a distinct-URL counter per key (client IPs). */
  trackScan: boolean;
  cmsWidth?: number;
  cmsDepth?: number;
  /** Longest key `addBytes` keeps as bytes (longer ones are kept as strings); default 64. */
  maxKeyBytes?: number;
}

export interface KeyCount {
  key: string;
  count: number;
}

export class HeavyKeys {
  readonly capacity: number;
  readonly trackScan: boolean;
  readonly cmsWidth: number;
  readonly cmsDepth: number;
  size = 0;
  /**
   * Entry arrays, indexed by entry id 0..size-1. They start small and double up to `capacity` (a
   * window with few keys stays small), so read them through the table; do not keep references.
   */
  /** Keys as strings; null for a key held as bytes that nobody has read yet (see `keyOf`). */
  private readonly keyText: (string | null)[] = [];
  /** Per entry, the length of its key bytes at `keyBytes[id * keyStride]`, or -1 for a string-only key. */
  private keyLengths: Int32Array;
  private keyBytes: Buffer;
  private keyView: DataView;
  private readonly keyStride: number;
  /** A view of the last buffer `addBytes` read, to compare keys four bytes at a time. */
  private sourceBuf: Buffer = EMPTY_BYTES;
  private sourceView: DataView = new DataView(EMPTY_BYTES.buffer, EMPTY_BYTES.byteOffset, 0);
  /** Key hashes as signed 32-bit integers (hashStringInt32); methods take either form of a hash. */
  hashes: Int32Array;
  counts: Float64Array;
  notFound: Float64Array | null;
  /**
   * The distinct-URL registers of every entry (trackScan), entry id `i` at `[i * 128, (i + 1) * 128)`,
   * two 4-bit registers a byte, the even-numbered one in the high nibble.
   */
  private scanRegisters: Uint8Array;
  /** `scanRegisters` as 32-bit words (merges take the max eight registers at a time). */
  private scanWords: Uint32Array;
  /** Entry ids below this may have been used (their scan data may be non-zero). */
  private usedIds = 0;
  /** Null while exact. Held keys' increments since promotion wait in `pending` (see `add`). */
  private cms: CountMinSketch | null = null;
  private pending: Float64Array;

  /**
   * Open-addressing table, linear probing, load <= 1/2: slot i is `slots[2i]` = entry id + 1 (0 =
   * empty) and `slots[2i + 1]` = the entry's hash, so a probe reads one cache line, not two arrays.
   */
  private slots: Int32Array;
  /** Slot count - 1. */
  private mask: number;
  /** Min-heap of entry ids by count and each id's heap position; allocated on entering sketch mode. */
  private heap = new Int32Array(0);
  private heapPos = new Int32Array(0);
  /** Scratch for `idsOf`. */
  private mergeIds = EMPTY_INT32;

  constructor(options: HeavyKeysOptions) {
    const { capacity } = options;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be >= 1, got ${capacity}`);
    this.capacity = capacity;
    this.trackScan = options.trackScan;
    this.cmsWidth = options.cmsWidth ?? CMS_DEFAULT_WIDTH;
    this.cmsDepth = options.cmsDepth ?? CMS_DEFAULT_DEPTH;
    // Empty until the first key (then INITIAL_ENTRIES, or what `reserve` asks for): a decoded table
    // is sized once.
    this.keyStride = (Math.max(options.maxKeyBytes ?? 64, 0) + 3) & ~3;
    // Allocated on the first key stored as bytes (a decoded table holds strings only).
    this.keyBytes = EMPTY_BYTES;
    this.keyView = new DataView(EMPTY_BYTES.buffer, EMPTY_BYTES.byteOffset, 0);
    // Zero-length until `grow` (nothing is written to an entry array before it).
    this.keyLengths = EMPTY_INT32;
    this.hashes = EMPTY_INT32;
    this.counts = EMPTY_FLOAT64;
    this.pending = EMPTY_FLOAT64;
    this.notFound = options.trackScan ? EMPTY_FLOAT64 : null;
    this.scanRegisters = EMPTY_BYTES;
    this.scanWords = EMPTY_UINT32;
    this.slots = new Int32Array(2 * slotCountFor(0));
    this.mask = (this.slots.length >> 1) - 1;
  }

  get exact(): boolean {
    return this.cms === null;
  }

  /** Held key `id` (0..size-1) as a string (made from its bytes on first read). */
  keyOf(id: number): string {
    let text = this.keyText[id]!;
    if (text === null) {
      const at = id * this.keyStride;
      text = latin1String(this.keyBytes, at, at + this.keyLengths[id]!);
      this.keyText[id] = text;
    }
    return text;
  }

  /**
   * For writers that copy keys without making strings: key `id` is the latin1 bytes
   * `keyByteStore[keyByteStart(id), keyByteStart(id) + keyByteLength(id))`, or, when the length is -1,
   * held only as a string (`keyOf`). Read-only; valid until the table next changes.
   */
  keyByteLength(id: number): number {
    return this.keyLengths[id]!;
  }

  keyByteStart(id: number): number {
    return id * this.keyStride;
  }

  get keyByteStore(): Buffer {
    return this.keyBytes;
  }

  /**
   * For writers (trackScan): entry `id`'s distinct-value registers in packed form (see `restoreEntry`)
   * are `scanRegisterStore[id * 128, (id + 1) * 128)`. Read-only; valid until the table next changes.
   */
  get scanRegisterStore(): Uint8Array {
    if (!this.trackScan) throw new RangeError("scanRegisterStore: this table keeps no scan data");
    return this.scanRegisters;
  }

  /** All held keys, by entry id (index < size). Makes every key a string: loops should use `keyOf`. */
  get keys(): readonly string[] {
    for (let id = 0; id < this.size; id++) this.keyOf(id);
    return this.keyText as string[];
  }

  /** Entry id of `key`, or -1. */
  find(key: string, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const h = hash | 0;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const s = slots[2 * i]!;
      if (s === 0) return -1;
      if (slots[2 * i + 1] === h && this.keyOf(s - 1) === key) return s - 1;
    }
  }

  /** Entry id of the key spelt by the latin1 bytes `buf[start, end)` (hash: `hashLatin1Int32`), or -1. */
  findBytes(buf: Buffer, start: number, end: number, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const length = end - start;
    const h = hash | 0;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const s = slots[2 * i]!;
      if (s === 0) return -1;
      if (slots[2 * i + 1] === h && this.sameKey(s - 1, buf, start, length)) return s - 1;
    }
  }

  /** Whether held key `id` is spelt by the latin1 bytes `buf[start, start + length)`. */
  private sameKey(id: number, buf: Buffer, start: number, length: number): boolean {
    const held = this.keyLengths[id]!;
    if (held < 0) {
      const key = this.keyText[id]!;
      if (key.length !== length) return false;
      let j = 0;
      while (j < length && key.charCodeAt(j) === buf[start + j]) j++;
      return j === length;
    }
    if (held !== length) return false;
    if (buf !== this.sourceBuf) {
      this.sourceBuf = buf;
      this.sourceView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    const source = this.sourceView;
    const keys = this.keyView;
    const at = id * this.keyStride;
    let j = 0;
    for (; j + 4 <= length; j += 4) if (keys.getInt32(at + j, true) !== source.getInt32(start + j, true)) return false;
    const bytes = this.keyBytes;
    for (; j < length; j++) if (bytes[at + j] !== buf[start + j]) return false;
    return true;
  }

  /**
   * Counts one occurrence of `key` (whose `hashString` is `hash`). Returns the key's entry id when the
   * key is held (so the caller can update per-key scan data), or -1 when it is only in the sketch.
   *
   * In sketch mode a held key's occurrences are counted exactly and only added to the count-min
   * sketch when it is evicted or the sketch is read (`flush`), which saves the hot path d counter
   * updates per held-key hit. Estimates of other keys stay upper bounds: every key's own occurrences
   * are in the sketch whenever it is not held, and pending ones only ever add to other cells.
   */
  add(key: string, hash: number): number {
    const h = hash | 0;
    const id = this.find(key, h);
    return id >= 0 ? this.hit(id) : this.miss(key, h, EMPTY_BYTES, 0, 0);
  }

  /**
   * `add` for the key spelt by the latin1 bytes `buf[start, end)`, whose `hashLatin1Int32` is `hash`
   * (equal to the hash of that text). The key's string is made only if the table stores it.
   */
  addBytes(buf: Buffer, start: number, end: number, hash: number): number {
    const h = hash | 0;
    const id = this.findBytes(buf, start, end, h);
    return id >= 0 ? this.hit(id) : this.miss(null, h, buf, start, end);
  }

  /** A copy of entry `id`'s distinct-value counter (trackScan only). */
  distinctOf(id: number): DistinctCounter {
    if (!this.trackScan) throw new RangeError("distinctOf: this table keeps no scan data");
    const packed = this.scanRegisters;
    const registers = new Uint8Array(HLL_REGISTERS);
    for (let i = 0, at = id * PACKED_REGISTERS; i < HLL_REGISTERS; i += 2, at++) {
      registers[i] = packed[at]! >> 4;
      registers[i + 1] = packed[at]! & 0x0f;
    }
    return new DistinctCounter(registers);
  }

  /** `distinctOf(id).estimate()` without the copy (trackScan only). */
  distinctEstimateOf(id: number): number {
    if (!this.trackScan) throw new RangeError("distinctEstimateOf: this table keeps no scan data");
    return estimatePacked(this.scanRegisters, id * PACKED_REGISTERS);
  }

  /** One more occurrence of the distinct value with hash `hash` for held entry `id` (trackScan only). */
  addDistinct(id: number, hash: number): void {
    const regs = this.scanRegisters;
    const index = registerIndex(hash);
    const rank = registerRank(hash);
    const at = id * PACKED_REGISTERS + (index >> 1);
    const byte = regs[at]!;
    if ((index & 1) === 0) {
      if (rank > byte >> 4) regs[at] = (rank << 4) | (byte & 0x0f);
    } else if (rank > (byte & 0x0f)) {
      regs[at] = (byte & 0xf0) | rank;
    }
  }

  private hit(id: number): number {
    this.counts[id] = this.counts[id]! + 1;
    if (this.cms !== null) {
      this.pending[id] = this.pending[id]! + 1;
      this.siftDown(this.heapPos[id]!);
    }
    return id;
  }

  /** A key the table does not hold: `key`, or when null the latin1 text of `buf[start, end)`. */
  private miss(key: string | null, hash: number, buf: Buffer, start: number, end: number): number {
    let cms = this.cms;
    if (cms === null) {
      if (this.size < this.capacity) return this.insert(key, hash, 1, buf, start, end);
      cms = this.enterSketchMode();
    }
    const estimate = cms.add(hash, 1);
    let id: number;
    if (this.size < this.capacity) {
      id = this.insert(key, hash, estimate, buf, start, end);
      this.heapPush(id);
      return id;
    }
    id = this.heap[0]!;
    if (estimate <= this.counts[id]!) return -1;
    if (this.pending[id]! > 0) cms.add(this.hashes[id]!, this.pending[id]!);
    this.pending[id] = 0;
    this.unlink(id);
    this.setKey(id, key, buf, start, end);
    this.hashes[id] = hash;
    this.counts[id] = estimate;
    this.resetScan(id);
    this.link(id, hash);
    this.siftDown(0);
    return id;
  }

  /** Estimated occurrences of `key`: exact in exact mode, an upper bound within εN in sketch mode. */
  estimate(key: string, hash: number): number {
    const id = this.find(key, hash | 0);
    if (this.cms === null) return id >= 0 ? this.counts[id]! : 0;
    const sketched = this.countMinSketch().estimate(hash);
    return id >= 0 ? Math.min(this.counts[id]!, sketched) : sketched;
  }

  /** The `k` held keys with the highest counts, by count desc then key asc (deterministic). */
  top(k: number): KeyCount[] {
    return this.rankedIds(k).map((id) => ({ key: this.keyOf(id), count: this.counts[id]! }));
  }

  /** Entry ids sorted by count desc, key asc, at most `k`. */
  rankedIds(k: number): number[] {
    const before = (a: number, b: number) =>
      this.counts[b]! - this.counts[a]! || compareStrings(this.keyOf(a), this.keyOf(b));
    if (k <= 0) return [];
    if (k * 8 < this.size) {
      // Few wanted (central's top-K lists): keep the best k in order; most ids lose to the last one on count alone.
      const best: number[] = [];
      for (let id = 0; id < this.size; id++) {
        if (best.length === k && before(id, best[k - 1]!) >= 0) continue;
        let at = best.length === k ? k - 1 : best.length;
        while (at > 0 && before(id, best[at - 1]!) < 0) {
          best[at] = best[at - 1]!;
          at--;
        }
        best[at] = id;
      }
      return best;
    }
    const ids = Array.from({ length: this.size }, (_, i) => i);
    ids.sort(before);
    return ids.length > k ? ids.slice(0, k) : ids;
  }

  /**
   * Adds one held entry as decoded from the wire (caller validated it). `restoreSketch` must come first
   * when the table was in sketch mode; there a count is capped at the key's count-min estimate (a
   * candidate never counts more than its sketch says: merges rely on that). Duplicate keys add up.
   * `packedRegisters`: the entry's distinct-value registers in the table's packed form (128 bytes, two
   * 4-bit registers a byte, the even-numbered one in the high nibble), or null for none; only read.
   */
  restoreEntry(key: string, hash: number, count: number, notFound: number, packedRegisters: Uint8Array | null): void {
    const h = hash | 0;
    let id = this.find(key, h);
    const fresh = id < 0;
    if (fresh) {
      if (this.size >= this.capacity) throw new RangeError(`more than ${this.capacity} keys`);
      id = this.insert(key, h, 0, EMPTY_BYTES, 0, 0);
      if (this.cms !== null) this.heapPush(id);
    }
    let total = this.counts[id]! + count;
    if (this.cms !== null) total = Math.min(total, this.cms.estimate(h));
    this.counts[id] = total;
    if (this.cms !== null) this.siftDown(this.heapPos[id]!);
    if (this.notFound !== null) this.notFound[id] = this.notFound[id]! + notFound;
    if (this.trackScan && packedRegisters !== null) {
      if (packedRegisters.length !== PACKED_REGISTERS)
        throw new RangeError(`expected ${PACKED_REGISTERS} packed registers`);
      // A fresh entry's registers are zero, so the max is a copy.
      if (fresh) this.scanRegisters.set(packedRegisters, id * PACKED_REGISTERS);
      else this.maxRegisters(id, packedRegisters, 0);
    }
  }

  /** Makes room for `entries` entries (at most capacity) at once, so a decoder fills a table without regrowing it. */
  reserve(entries: number): void {
    const wanted = Math.min(this.capacity, entries);
    if (wanted > this.hashes.length) this.grow(wanted);
  }

  /** Puts a decoded count-min sketch in place (switches an empty table to sketch mode). */
  restoreSketch(cms: CountMinSketch): void {
    if (this.size !== 0 || cms.width !== this.cmsWidth || cms.depth !== this.cmsDepth) {
      throw new RangeError("restoreSketch: needs an empty table and matching dimensions");
    }
    this.cms = cms;
    this.allocateHeap();
  }

  merge(from: HeavyKeys): void {
    if (from.capacity !== this.capacity || from.trackScan !== this.trackScan) {
      throw new RangeError("cannot merge heavy-key tables of different shapes");
    }
    if (this.cms === null && from.cms === null) {
      const ids = this.idsOf(from, this.capacity);
      if (ids !== null) {
        for (let j = 0; j < from.size; j++) {
          let id = ids[j]!;
          const fresh = id < 0;
          if (fresh) id = this.insert(from.keyOf(j), from.hashes[j]!, 0, EMPTY_BYTES, 0, 0);
          this.counts[id] = this.counts[id]! + from.counts[j]!;
          this.mergeScan(id, from, j, fresh);
        }
        return;
      }
    }
    if (from.cms === null && from.cmsWidth === this.cmsWidth && from.cmsDepth === this.cmsDepth) {
      // An exact table that does not fit: in place, entering sketch mode first if still exact.
      const intoExact = this.cms === null;
      if (intoExact) this.enterSketchMode();
      this.mergeExactIntoSketch(from, intoExact);
      return;
    }
    this.mergeSketched(from);
  }

  /**
   * `mergeSketched` for the common case at central (the fleet table takes an exact host table that
   * does not fit), in place: held entries keep their ids and strings, and only the ranking near the
   * bottom is computed. Same result as `mergeSketched`: `from` is exact, so a key it lacks gains
   * nothing; a held key's count stays at most its estimate (an invariant of sketch mode, see
   * `restoreEntry`) and the merged estimate only grows, so only the keys of `from` need capping; when
   * the union exceeds capacity, the same keys go, the last by (count desc, key asc) — a total order,
   * so the choice does not depend on entry ids. `intoWasExact`: this table was exact until now (its
   * sketch is made from its exact counts), so a key it lacks truly had 0 here. Both tables must have
   * the same count-min dimensions.
   */
  private mergeExactIntoSketch(from: HeavyKeys, intoWasExact: boolean): void {
    const cms = this.countMinSketch();
    const ids = this.idsOf(from, Number.POSITIVE_INFINITY)!;
    // A key new to this table starts at this side's estimate, taken before `from`'s counts go in.
    const added: number[] = [];
    const addedCounts: number[] = [];
    for (let j = 0; j < from.size; j++) {
      if (ids[j]! >= 0) continue;
      added.push(j);
      addedCounts.push((intoWasExact ? 0 : cms.estimate(from.hashes[j]!)) + from.counts[j]!);
    }
    for (let j = 0; j < from.size; j++) cms.add(from.hashes[j]!, from.counts[j]!);
    for (let j = 0; j < from.size; j++) {
      const id = ids[j]!;
      if (id < 0) continue;
      this.counts[id] = Math.min(this.counts[id]! + from.counts[j]!, cms.estimate(from.hashes[j]!));
      this.mergeScan(id, from, j, false);
    }
    for (let k = 0; k < added.length; k++) {
      addedCounts[k] = Math.min(addedCounts[k]!, cms.estimate(from.hashes[added[k]!]!));
    }

    // Drop the `excess` last candidates: those below the excess-th smallest count, then among the
    // ties at that count the greatest keys.
    const excess = this.size + added.length - this.capacity;
    const dropAdded = new Uint8Array(added.length);
    const freeIds: number[] = [];
    if (excess > 0) {
      const all = new Float64Array(this.size + added.length);
      all.set(this.counts.subarray(0, this.size));
      for (let k = 0; k < added.length; k++) all[this.size + k] = addedCounts[k]!;
      all.sort();
      const threshold = all[excess - 1]!;
      /** Ties at the threshold: held ids as is, added ones as -1 - k. */
      const ties: number[] = [];
      let dropped = 0;
      for (let id = 0; id < this.size; id++) {
        const c = this.counts[id]!;
        if (c < threshold) {
          freeIds.push(id);
          dropped++;
        } else if (c === threshold) ties.push(id);
      }
      for (let k = 0; k < added.length; k++) {
        const c = addedCounts[k]!;
        if (c < threshold) {
          dropAdded[k] = 1;
          dropped++;
        } else if (c === threshold) ties.push(-1 - k);
      }
      const keyOfTie = (t: number) => (t >= 0 ? this.keyOf(t) : from.keyOf(added[-1 - t]!));
      ties.sort((x, y) => compareStrings(keyOfTie(y), keyOfTie(x)));
      for (let i = 0; dropped < excess; i++, dropped++) {
        const t = ties[i]!;
        if (t >= 0) freeIds.push(t);
        else dropAdded[-1 - t] = 1;
      }
      for (const id of freeIds) {
        this.unlink(id);
        this.pending[id] = 0;
      }
    }
    let free = 0;
    for (let k = 0; k < added.length; k++) {
      if (dropAdded[k] === 1) continue;
      const j = added[k]!;
      const hash = from.hashes[j]!;
      let id: number;
      if (free < freeIds.length) {
        id = freeIds[free++]!;
        this.setKey(id, from.keyOf(j), EMPTY_BYTES, 0, 0);
        this.hashes[id] = hash;
        this.resetScan(id);
        this.link(id, hash);
      } else {
        id = this.insert(from.keyOf(j), hash, 0, EMPTY_BYTES, 0, 0);
      }
      this.counts[id] = addedCounts[k]!;
      this.mergeScan(id, from, j, true);
    }
    for (let id = 0; id < this.size; id++) {
      this.heap[id] = id;
      this.heapPos[id] = id;
    }
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /**
   * The entry id here of each of `from`'s keys (-1 when absent), in a scratch array valid until the
   * next call; null when the union would exceed `limit` keys.
   */
  private idsOf(from: HeavyKeys, limit: number): Int32Array | null {
    if (this.mergeIds.length < from.size) this.mergeIds = new Int32Array(from.capacity);
    const ids = this.mergeIds;
    let added = 0;
    for (let j = 0; j < from.size; j++) {
      const id = this.find(from.keyOf(j), from.hashes[j]!);
      ids[j] = id;
      if (id < 0 && this.size + ++added > limit) return null;
    }
    return ids;
  }

  private mergeSketched(from: HeavyKeys): void {
    const intoCms = this.cms === null ? null : this.countMinSketch();
    const fromCms = from.cms === null ? null : from.countMinSketch();
    const merged = intoCms ?? this.materialize();
    if (merged.width !== from.cmsWidth || merged.depth !== from.cmsDepth) {
      throw new RangeError("cannot merge heavy-key tables with different count-min dimensions");
    }
    const keys: string[] = [];
    const hashes: number[] = [];
    const counts: number[] = [];
    const notFound: number[] = [];
    /** Register copies: the rebuild below reassigns entry ids, and with them the register slices. */
    const distinct: Uint8Array[] = [];
    for (let id = 0; id < this.size; id++) {
      const key = this.keyOf(id);
      const hash = this.hashes[id]!;
      const j = from.find(key, hash);
      let count = this.counts[id]!;
      let nf = this.notFound?.[id] ?? 0;
      if (j >= 0) {
        count += from.counts[j]!;
        nf += from.notFound?.[j] ?? 0;
        if (this.trackScan) this.mergeScanRegisters(id, from, j);
      } else if (fromCms !== null) {
        count += fromCms.estimate(hash);
      }
      keys.push(key);
      hashes.push(hash);
      counts.push(count);
      notFound.push(nf);
      if (this.trackScan) distinct.push(this.packedOf(id).slice());
    }
    for (let j = 0; j < from.size; j++) {
      const key = from.keyOf(j);
      const hash = from.hashes[j]!;
      if (this.find(key, hash) >= 0) continue;
      keys.push(key);
      hashes.push(hash);
      counts.push(from.counts[j]! + (intoCms === null ? 0 : intoCms.estimate(hash)));
      notFound.push(from.notFound?.[j] ?? 0);
      if (this.trackScan) distinct.push(from.packedOf(j).slice());
    }
    merged.merge(fromCms ?? from.materialize());
    for (let i = 0; i < counts.length; i++) counts[i] = Math.min(counts[i]!, merged.estimate(hashes[i]!));

    const order = Array.from({ length: keys.length }, (_, i) => i);
    order.sort((a, b) => counts[b]! - counts[a]! || compareStrings(keys[a]!, keys[b]!));
    if (order.length > this.capacity) order.length = this.capacity;

    this.slots.fill(0);
    this.size = 0;
    this.keyText.length = 0;
    this.cms = merged;
    this.allocateHeap();
    for (const i of order) {
      const id = this.insert(keys[i]!, hashes[i]!, counts[i]!, EMPTY_BYTES, 0, 0);
      if (this.notFound !== null) this.notFound[id] = notFound[i]!;
      if (this.trackScan) this.scanRegisters.set(distinct[i]!, id * PACKED_REGISTERS);
    }
    for (let id = 0; id < this.size; id++) {
      this.heap[id] = id;
      this.heapPos[id] = id;
    }
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /**
   * The table's count-min sketch, complete: its own in sketch mode (pending held-key counts flushed
   * in first), else a new one built from the exact counts. Do not modify it.
   */
  countMinSketch(): CountMinSketch {
    const cms = this.cms;
    if (cms === null) return this.materialize();
    for (let id = 0; id < this.size; id++) {
      const n = this.pending[id]!;
      if (n > 0) {
        cms.add(this.hashes[id]!, n);
        this.pending[id] = 0;
      }
    }
    return cms;
  }

  /** The count-min sketch of this table's exact counts (exact mode only). */
  private materialize(): CountMinSketch {
    const cms = new CountMinSketch(this.cmsWidth, this.cmsDepth);
    for (let id = 0; id < this.size; id++) cms.add(this.hashes[id]!, this.counts[id]!);
    return cms;
  }

  private enterSketchMode(): CountMinSketch {
    const cms = this.materialize();
    this.cms = cms;
    this.allocateHeap();
    for (let id = 0; id < this.size; id++) {
      this.heap[id] = id;
      this.heapPos[id] = id;
    }
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i);
    return cms;
  }

  /** Adds `from`'s entry `j`'s scan data to entry `id`'s (`fresh`: just inserted, so all zero). */
  private mergeScan(id: number, from: HeavyKeys, j: number, fresh: boolean): void {
    if (this.notFound !== null && from.notFound !== null) this.notFound[id] = this.notFound[id]! + from.notFound[j]!;
    if (!this.trackScan) return;
    if (fresh) this.scanRegisters.set(from.packedOf(j), id * PACKED_REGISTERS);
    else this.mergeScanRegisters(id, from, j);
  }

  /**
   * Register-wise max of entry `id`'s registers and `from`'s entry `j`'s, eight 4-bit registers at a
   * time: in each byte lane of `(a | 0x10) - b` (a, b in 0..15, so no borrow crosses lanes) bit 4 is
   * set iff a >= b, which becomes a 0x0f mask choosing a or b; once for the low nibbles, once for
   * the high ones.
   */
  private mergeScanRegisters(id: number, from: HeavyKeys, j: number): void {
    const into = this.scanWords;
    const other = from.scanWords;
    for (let k = 0, a = id * PACKED_WORDS, b = j * PACKED_WORDS; k < PACKED_WORDS; k++, a++, b++) {
      const x = into[a]!;
      const y = other[b]!;
      if (x === y) continue;
      into[a] =
        (nibbleMax(x & LOW_NIBBLES, y & LOW_NIBBLES) |
          (nibbleMax((x >>> 4) & LOW_NIBBLES, (y >>> 4) & LOW_NIBBLES) << 4)) >>>
        0;
    }
  }

  /** Register-wise max of entry `id`'s registers and the packed registers at `other[at, at + 128)`. */
  private maxRegisters(id: number, other: Uint8Array, at: number): void {
    const into = this.scanRegisters;
    for (let k = 0, a = id * PACKED_REGISTERS, b = at; k < PACKED_REGISTERS; k++, a++, b++) {
      const x = into[a]!;
      const y = other[b]!;
      if (x !== y) into[a] = Math.max(x & 0xf0, y & 0xf0) | Math.max(x & 0x0f, y & 0x0f);
    }
  }

  private packedOf(id: number): Uint8Array {
    return this.scanRegisters.subarray(id * PACKED_REGISTERS, (id + 1) * PACKED_REGISTERS);
  }

  private resetScan(id: number): void {
    if (this.notFound !== null) this.notFound[id] = 0;
    if (this.trackScan) this.scanRegisters.fill(0, id * PACKED_REGISTERS, (id + 1) * PACKED_REGISTERS);
  }

  /** Stores `key`, or when null the latin1 bytes `buf[start, end)`, as entry `id`'s key. */
  private setKey(id: number, key: string | null, buf: Buffer, start: number, end: number): void {
    const length = end - start;
    if (key === null && length <= this.keyStride) {
      if (this.keyBytes.length === 0) this.allocateKeyBytes(this.hashes.length);
      // A loop: Buffer#copy's argument checks and subarray cost more than these few bytes.
      const bytes = this.keyBytes;
      const at = id * this.keyStride - start;
      for (let i = start; i < end; i++) bytes[at + i] = buf[i]!;
      this.keyLengths[id] = length;
      this.keyText[id] = null;
    } else {
      this.keyLengths[id] = -1;
      this.keyText[id] = key ?? latin1String(buf, start, end);
    }
  }

  private insert(key: string | null, hash: number, count: number, buf: Buffer, start: number, end: number): number {
    if (this.size === this.hashes.length) this.grow();
    const id = this.size++;
    this.setKey(id, key, buf, start, end);
    this.hashes[id] = hash;
    this.counts[id] = count;
    this.pending[id] = 0;
    // Scan data past every id used so far is still zero (fresh from the constructor or grow).
    if (id < this.usedIds) this.resetScan(id);
    else this.usedIds = id + 1;
    this.link(id, hash);
    return id;
  }

  /** Grows the entry arrays (by default double, up to capacity) and rebuilds the probe table for the new size. */
  private grow(entries = Math.min(this.capacity, Math.max(INITIAL_ENTRIES, this.hashes.length * 2))): void {
    // One buffer for every per-entry array (a decoded table allocates once, not once per array).
    const scanBytes = this.trackScan ? PACKED_REGISTERS : 0;
    const buffer = new ArrayBuffer(entries * (3 * 8 + 2 * 4 + scanBytes));
    let at = 0;
    const counts = new Float64Array(buffer, at, entries);
    counts.set(this.counts);
    this.counts = counts;
    at += 8 * entries;
    const pending = new Float64Array(buffer, at, entries);
    pending.set(this.pending);
    this.pending = pending;
    at += 8 * entries;
    if (this.notFound !== null) {
      const notFound = new Float64Array(buffer, at, entries);
      notFound.set(this.notFound);
      this.notFound = notFound;
    }
    at += 8 * entries;
    const hashes = new Int32Array(buffer, at, entries);
    hashes.set(this.hashes);
    this.hashes = hashes;
    at += 4 * entries;
    const keyLengths = new Int32Array(buffer, at, entries);
    keyLengths.set(this.keyLengths);
    this.keyLengths = keyLengths;
    at += 4 * entries;
    if (this.keyBytes.length > 0) this.allocateKeyBytes(entries);
    if (this.trackScan) {
      const registers = new Uint8Array(buffer, at, entries * PACKED_REGISTERS);
      registers.set(this.scanRegisters);
      this.scanRegisters = registers;
      this.scanWords = new Uint32Array(buffer, at, entries * PACKED_WORDS);
    }
    this.slots = new Int32Array(2 * slotCountFor(entries));
    this.mask = (this.slots.length >> 1) - 1;
    for (let id = 0; id < this.size; id++) this.link(id, this.hashes[id]!);
  }

  /** Key-byte slots for `entries` entries, keeping the ones held. */
  private allocateKeyBytes(entries: number): void {
    const keyBytes = Buffer.alloc(entries * this.keyStride);
    this.keyBytes.copy(keyBytes);
    this.keyBytes = keyBytes;
    this.keyView = new DataView(keyBytes.buffer, keyBytes.byteOffset, keyBytes.byteLength);
  }

  private allocateHeap(): void {
    if (this.heap.length < this.capacity) {
      this.heap = new Int32Array(this.capacity);
      this.heapPos = new Int32Array(this.capacity);
    }
  }

  private link(id: number, hash: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = hash & mask;
    while (slots[2 * i]! !== 0) i = (i + 1) & mask;
    slots[2 * i] = id + 1;
    slots[2 * i + 1] = hash;
  }

  /** Removes `id` from the probe table (backward-shift deletion keeps probe chains intact). */
  private unlink(id: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = this.hashes[id]! & mask;
    while (slots[2 * i]! !== id + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; slots[2 * j]! !== 0; j = (j + 1) & mask) {
      const home = slots[2 * j + 1]! & mask;
      // Move slots[j] back to the hole at i unless its home lies cyclically in (i, j].
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        slots[2 * i] = slots[2 * j]!;
        slots[2 * i + 1] = slots[2 * j + 1]!;
        i = j;
      }
    }
    slots[2 * i] = 0;
  }

  private heapPush(id: number): void {
    // Called right after insert(), so the heap holds size - 1 ids.
    let pos = this.size - 1;
    const heap = this.heap;
    const count = this.counts[id]!;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      const p = heap[parent]!;
      if (this.counts[p]! <= count) break;
      heap[pos] = p;
      this.heapPos[p] = pos;
      pos = parent;
    }
    heap[pos] = id;
    this.heapPos[id] = pos;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const counts = this.counts;
    const n = this.size;
    let pos = start;
    const id = heap[pos]!;
    const count = counts[id]!;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && counts[heap[child + 1]!]! < counts[heap[child]!]!) child++;
      const c = heap[child]!;
      if (counts[c]! >= count) break;
      heap[pos] = c;
      this.heapPos[c] = pos;
      pos = child;
    }
    heap[pos] = id;
    this.heapPos[id] = pos;
  }
}

const INITIAL_ENTRIES = 16;
const PACKED_WORDS = HLL_REGISTERS / 8;
const LOW_NIBBLES = 0x0f0f0f0f;

/** Byte-lane max of `a` and `b`, whose lanes each hold 0..15 (see `mergeScanRegisters`). */
function nibbleMax(a: number, b: number): number {
  const mask = ((((a | 0x10101010) - b) >>> 4) & 0x01010101) * 0x0f;
  return (a & mask) | (b & ~mask & LOW_NIBBLES);
}
/** Bytes of an entry's packed distinct-URL registers (two 4-bit registers a byte). */
const PACKED_REGISTERS = HLL_REGISTERS / 2;
const EMPTY_BYTES = Buffer.alloc(0);
const EMPTY_INT32 = new Int32Array(0);
const EMPTY_UINT32 = new Uint32Array(0);
const EMPTY_FLOAT64 = new Float64Array(0);

/** Probe-table size for `entries` entries: a power of two with load factor <= 1/2. */
function slotCountFor(entries: number): number {
  let n = 2;
  while (n < entries * 2) n *= 2;
  return n;
}

/** Code-unit order, independent of locale (so merge and ranking are deterministic everywhere). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
