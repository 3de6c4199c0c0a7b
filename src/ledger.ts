// The memory ledger: every buffer the engine owns is allocated here, so the bytes the engine
// uses are known exactly (by category and by owning layer) instead of guessed.

export const CATEGORIES = ['weights', 'weight-grads', 'optimizer', 'retained', 'workspace', 'input'] as const;
export type Category = (typeof CATEGORIES)[number];

export type Floats = Float32Array | Float64Array;
export type FloatArrayCtor = Float32ArrayConstructor | Float64ArrayConstructor;

export interface LedgerEntry {
  owner: string;
  what: string;
  category: Category;
  bytes: number;
}

type Block = { buffer: ArrayBufferLike; byteOffset: number };

type Typed = Floats | Uint8Array | Int8Array | Uint16Array | Uint32Array | Int32Array;

/** Where buffers live when not in ordinary JS memory (e.g. a WebAssembly linear memory). */
export interface Arena {
  /** Reserve `bytes` (zero-filled), 16-byte aligned. */
  allocate(bytes: number): { buffer: ArrayBufferLike; byteOffset: number };
}

export class MemoryLedger {
  private readonly live = new Map<Typed, LedgerEntry>();
  private current = 0;
  private peakBytes = 0;
  /** Float buffers are float32 in the engine; tests may ask for float64 to check gradients. */
  readonly FloatArray: FloatArrayCtor;

  private readonly arena: Arena | null;
  /**
   * While a network is built: buffers of a category placed in a planned block instead of
   * allocated, each owner's from the start of its slot (kept tensors: src/model/activation-region.ts;
   * weight gradients applied during backward: every owner's slot starts at 0, and the block is
   * counted once instead of each buffer).
   */
  private readonly placements = new Map<Category, { block: Block; slots: Map<string, { at: number; end: number }>; counted: boolean }>();

  constructor(opts: { float64?: boolean; arena?: Arena } = {}) {
    if (opts.float64 && opts.arena) throw new Error('ledger: float64 buffers cannot live in a kernel arena');
    this.FloatArray = opts.float64 ? Float64Array : Float32Array;
    this.arena = opts.arena ?? null;
  }

  private make<T extends Typed>(
    Ctor: { new (n: number): T; new (b: ArrayBufferLike, off: number, n: number): T; BYTES_PER_ELEMENT: number },
    n: number,
    category?: Category,
    owner?: string,
  ): T {
    const placed = category !== undefined ? this.placements.get(category) : undefined;
    const slot = owner !== undefined ? placed?.slots.get(owner) : undefined;
    if (placed && slot) {
      const bytes = n * Ctor.BYTES_PER_ELEMENT;
      if (slot.at + bytes > slot.end) throw new Error(`ledger: ${owner}'s ${category} buffers outgrow their planned place (memory plan and layer disagree)`);
      const buf = new Ctor(placed.block.buffer, placed.block.byteOffset + slot.at, n);
      slot.at = Math.ceil((slot.at + bytes) / 16) * 16;
      return buf;
    }
    if (!this.arena) return new Ctor(n);
    const { buffer, byteOffset } = this.arena.allocate(n * Ctor.BYTES_PER_ELEMENT);
    return new Ctor(buffer, byteOffset, n);
  }

  floats(n: number, category: Category, owner: string, what: string): Floats {
    return this.track(this.make<Floats>(this.FloatArray as never, n, category, owner), category, owner, what);
  }
  /** Always float64 (scalar state that must survive a checkpoint exactly). */
  f64(n: number, category: Category, owner: string, what: string): Float64Array {
    return this.track(this.make(Float64Array, n, category, owner), category, owner, what);
  }
  u8(n: number, category: Category, owner: string, what: string): Uint8Array {
    return this.track(this.make(Uint8Array, n, category, owner), category, owner, what);
  }
  i8(n: number, category: Category, owner: string, what: string): Int8Array {
    return this.track(this.make(Int8Array, n, category, owner), category, owner, what);
  }
  u16(n: number, category: Category, owner: string, what: string): Uint16Array {
    return this.track(this.make(Uint16Array, n, category, owner), category, owner, what);
  }
  u32(n: number, category: Category, owner: string, what: string): Uint32Array {
    return this.track(this.make(Uint32Array, n, category, owner), category, owner, what);
  }
  i32(n: number, category: Category, owner: string, what: string): Int32Array {
    return this.track(this.make(Int32Array, n, category, owner), category, owner, what);
  }

  private track<T extends Typed>(buf: T, category: Category, owner: string, what: string): T {
    const shared = this.placements.get(category)?.counted === false && this.placements.get(category)?.slots.has(owner);
    this.account(buf, shared ? 0 : buf.byteLength, category, owner, what);
    return buf;
  }

  /** An untracked block of `bytes` (zero-filled): the caller accounts for what it holds. */
  block(bytes: number): Block {
    return this.arena ? this.arena.allocate(bytes) : { buffer: new ArrayBuffer(bytes), byteOffset: 0 };
  }

  /**
   * Until endPlacement(): `category` buffers of the owners in `slots` are placed at those byte
   * ranges of `block` instead of allocated; counted at their own bytes, or (counted false: slots
   * that overlap, the caller accounts for the block) at none.
   */
  placeIn(category: Category, block: Block, slots: Map<string, { offset: number; end: number }>, counted = true): void {
    this.placements.set(category, { block, slots: new Map([...slots].map(([o, s]) => [o, { at: s.offset, end: s.end }])), counted });
  }

  endPlacement(): void {
    this.placements.clear();
  }

  /** Count `bytes` held inside a block (from block()) under this entry; `key` identifies it. */
  account(key: Typed, bytes: number, category: Category, owner: string, what: string): void {
    const entry = { owner, what, category, bytes };
    this.live.set(key, entry);
    this.current += bytes;
    if (this.current > this.peakBytes) this.peakBytes = this.current;
  }

  /** Release a buffer; its bytes leave the total, the peak stays. */
  free(buf: Typed): void {
    const entry = this.live.get(buf);
    if (!entry) throw new Error('ledger: freeing a buffer the ledger does not own');
    this.live.delete(buf);
    this.current -= entry.bytes;
  }

  get totalBytes(): number {
    return this.current;
  }
  get peak(): number {
    return this.peakBytes;
  }
  /** Start a new peak window (e.g. per training step). */
  resetPeak(): void {
    this.peakBytes = this.current;
  }

  entries(): LedgerEntry[] {
    return [...this.live.values()];
  }

  byCategory(): Record<Category, number> {
    const out = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
    for (const e of this.live.values()) out[e.category] += e.bytes;
    return out;
  }

  byOwner(): Map<string, Record<Category, number>> {
    const out = new Map<string, Record<Category, number>>();
    for (const e of this.live.values()) {
      let row = out.get(e.owner);
      if (!row) {
        row = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
        out.set(e.owner, row);
      }
      row[e.category] += e.bytes;
    }
    return out;
  }
}
