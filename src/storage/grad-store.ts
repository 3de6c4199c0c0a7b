// Activation-gradient storage in the recipe's format (float32, float16, or packed power-of-two).
// Layers compute in float32 chunks of rows and move whole chunks in and out of a store, so a
// low-precision store never needs a full-size float32 twin.
import type { Floats, MemoryLedger } from '../ledger.js';
import { fromHalf, toHalf } from './fp16.js';
import { po2Bias, po2CodeOfScaled, po2Decode, po2DecodeTable, po2Get, po2Put, po2Recodable, po2RecodeTable, po2Words } from './po2.js';

export const GRAD_FORMATS = ['float32', 'float16', 'po2'] as const;
export type GradFormat = (typeof GRAD_FORMATS)[number];

export interface GradStore {
  readonly format: GradFormat;
  rows: number;
  cols: number;
  /** True when writing needs the tensor's max |value| first (per-tensor scale). */
  readonly needsMaxAbs: boolean;
  setShape(rows: number, cols: number): void;
  /** Copy rows [i0, i1), columns [c0, c1) into out, row-major. */
  read(i0: number, i1: number, c0: number, c1: number, out: Floats): void;
  /** Announce the max |value| of the tensor about to be written (for per-tensor scales). */
  beginWrite(maxAbs: number): void;
  /** Store rows [i0, i1) (all columns) from src. */
  write(i0: number, i1: number, src: Floats): void;
  /**
   * write, also returning src's max |value| and smallest non-zero one (absRangeOf's) from the
   * same pass, where the store has a fast way (else null, and nothing written).
   */
  writeRange?(i0: number, i1: number, src: Floats): { max: number; minNonzero: number } | null;
  /** max |x[k]| over k < n, NaN ignored, where the store has a fast way (else fillStore measures). */
  maxAbsOf?(x: Floats, n: number): number | null;
  /** Whether two max |values| give the same per-tensor scale (formats that have one). */
  sameScale?(a: number, b: number): boolean;
  /** max |x| and the smallest non-zero |x| over k < n (NaN ignored), for a chunk a fill may re-code. */
  absRangeOf?(x: Floats, n: number): { max: number; minNonzero: number };
  /**
   * Whether values in `range`, written under the scale of max |value| `from`, re-code exactly to the
   * scale of `to` (none saturated where the scale gets coarser, none flushed where it gets finer).
   */
  recodableFrom?(from: number, to: number, range: { max: number; minNonzero: number }): boolean;
  /** Re-code rows [i0, i1), written under the previous scale (before the last beginWrite), to the current one. */
  recode?(i0: number, i1: number): void;
  /** float32 stores: the rows × cols values themselves, so a layer can read or write the whole batch in one kernel call. */
  floatView?(): Floats;
  /** float16 stores whose codes the kernels hold: the rows × cols codes themselves (null where they are not the kernels'). */
  halfView?(): Uint16Array | null;
  /**
   * po2 stores whose codes the kernels hold, filled under one bias: the words (rows × cols codes
   * from element 0) and that bias (null where a fill is under way or the words are not the kernels').
   */
  po2View?(): { words: Uint32Array; bias: number } | null;
  /**
   * po2 stores whose words the kernels hold: `fill` writes every row's codes into the words (the
   * store's current shape) under the bias of the max |value| it returns, or returns null; the
   * store then holds that complete fill. False where the store cannot or `fill` returned null.
   */
  po2Fill?(fill: (words: Uint32Array) => number | null): boolean;
  /**
   * A sign's STE mask (rows × ⌈cols/32⌉ words, bit c of row r set where element (r, c) is kept)
   * applied to the whole stored batch in place, leaving exactly the codes that reading it,
   * zeroing the masked values (applyMask) and filling a store again would; false where this store
   * cannot (the caller then takes that long way).
   */
  applyMask?(mask: Uint32Array): boolean;
}

export function gradStoreBytes(format: GradFormat, elements: number): number {
  if (format === 'float32') return elements * 4;
  if (format === 'float16') return elements * 2;
  return po2Words(elements) * 4;
}

/** The kernels a gradient store can use (the WebAssembly ones have them), where they hold the arrays involved. */
export interface StoreKernels {
  floatToHalf?(src: Floats, n: number, dst: Uint16Array): void;
  halfToFloat?(src: Uint16Array, n: number, dst: Floats): void;
  halfRowsToFloat?(src: Uint16Array, rows: number, stride: number, cols: number, dst: Floats): void;
  maxAbs?(x: Floats, n: number): number;
  po2Write?(src: Floats, n: number, words: Uint32Array, base: number, scale: number): void;
  po2WriteRange?(src: Floats, n: number, words: Uint32Array, base: number, scale: number): { max: number; minNonzero: number };
  absRange?(x: Floats, n: number): { max: number; minNonzero: number };
  po2Recode?(words: Uint32Array, first: number, n: number, delta: number): void;
  po2Read?(words: Uint32Array, first: number, rows: number, stride: number, cols: number, b: number, out: Floats): void;
  maskHalf?(codes: Uint16Array, rows: number, cols: number, mask: Uint32Array): void;
  po2MaskTop?(words: Uint32Array, n: number, mask: Uint32Array): number;
  po2ShiftUp?(words: Uint32Array, n: number, delta: number): void;
  holds?(a: Floats | Uint16Array | Uint32Array): boolean;
}

export function createGradStore(format: GradFormat, capacity: number, ledger: MemoryLedger, owner: string, what: string, codec?: StoreKernels): GradStore {
  if (format === 'float32') return new Float32GradStore(ledger.floats(capacity, 'workspace', owner, what), capacity);
  if (format === 'float16') return new Float16GradStore(ledger.u16(capacity, 'workspace', owner, what), capacity, codec);
  return new Po2GradStore(ledger.u32(po2Words(capacity), 'workspace', owner, what), capacity, codec);
}

/**
 * A store over memory the caller planned (the activation region, src/model/activation-region.ts):
 * `capacity` elements at `byteOffset` of `buffer`, not counted by any ledger.
 */
export function gradStoreAt(format: GradFormat, capacity: number, buffer: ArrayBufferLike, byteOffset: number, codec?: StoreKernels): GradStore {
  if (format === 'float32') return new Float32GradStore(new Float32Array(buffer, byteOffset, capacity), capacity);
  if (format === 'float16') return new Float16GradStore(new Uint16Array(buffer, byteOffset, capacity), capacity, codec);
  return new Po2GradStore(new Uint32Array(buffer, byteOffset, po2Words(capacity)), capacity, codec);
}

abstract class BaseStore {
  rows = 0;
  cols = 0;
  constructor(readonly capacity: number) {}
  setShape(rows: number, cols: number): void {
    if (rows * cols > this.capacity) throw new Error(`gradient store too small: ${rows}x${cols} > capacity ${this.capacity}`);
    this.rows = rows;
    this.cols = cols;
  }
}

class Float32GradStore extends BaseStore implements GradStore {
  readonly format = 'float32' as const;
  readonly needsMaxAbs = false;
  constructor(
    private readonly data: Floats,
    capacity: number,
  ) {
    super(capacity);
  }
  floatView(): Floats {
    return this.data.subarray(0, this.rows * this.cols);
  }
  read(i0: number, i1: number, c0: number, c1: number, out: Floats): void {
    const { cols, data } = this;
    const w = c1 - c0;
    if (c0 === 0 && c1 === cols) {
      out.set(data.subarray(i0 * cols, i1 * cols));
      return;
    }
    for (let i = i0; i < i1; i++) out.set(data.subarray(i * cols + c0, i * cols + c1), (i - i0) * w);
  }
  beginWrite(): void {}
  write(i0: number, i1: number, src: Floats): void {
    const n = (i1 - i0) * this.cols;
    this.data.set(n === src.length ? src : src.subarray(0, n), i0 * this.cols);
  }
}

class Float16GradStore extends BaseStore implements GradStore {
  readonly format = 'float16' as const;
  readonly needsMaxAbs = false;
  /** The codec, when it holds this store's codes (then only `out`/`src` remain to check). */
  private readonly fast: Required<Pick<StoreKernels, 'floatToHalf' | 'halfToFloat' | 'halfRowsToFloat' | 'holds'>> | null;
  constructor(
    private readonly data: Uint16Array,
    capacity: number,
    private readonly codec?: StoreKernels,
  ) {
    super(capacity);
    this.fast =
      codec?.floatToHalf && codec.halfToFloat && codec.halfRowsToFloat && codec.holds?.(data) ? (codec as NonNullable<Float16GradStore['fast']>) : null;
  }
  read(i0: number, i1: number, c0: number, c1: number, out: Floats): void {
    const { cols, data, fast } = this;
    if (fast?.holds(out)) {
      const w = c1 - c0;
      if (w === cols) fast.halfToFloat(data.subarray(i0 * cols, i1 * cols), (i1 - i0) * cols, out);
      else fast.halfRowsToFloat(data.subarray(i0 * cols + c0), i1 - i0, cols, w, out);
      return;
    }
    let o = 0;
    for (let i = i0; i < i1; i++) {
      const base = i * cols;
      for (let c = c0; c < c1; c++) out[o++] = fromHalf(data[base + c]);
    }
  }
  halfView(): Uint16Array | null {
    return this.fast ? this.data.subarray(0, this.rows * this.cols) : null;
  }
  beginWrite(): void {}
  applyMask(mask: Uint32Array): boolean {
    const { rows, cols, data } = this;
    if (this.codec?.maskHalf && this.codec.holds?.(data) && this.codec.holds(mask)) this.codec.maskHalf(data, rows, cols, mask);
    else {
      // the definition: a kept code decoded and encoded again (infinities saturate, NaNs become
      // canonical), a masked one +0
      const wpr = (cols + 31) >>> 5;
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const k = r * cols + c;
          data[k] = (mask[r * wpr + (c >>> 5)] >>> (c & 31)) & 1 ? toHalf(fromHalf(data[k]), true) : 0;
        }
    }
    return true;
  }
  write(i0: number, i1: number, src: Floats): void {
    const n = (i1 - i0) * this.cols;
    const base = i0 * this.cols;
    if (this.fast?.holds(src)) this.fast.floatToHalf(src, n, this.data.subarray(base));
    else for (let k = 0; k < n; k++) this.data[base + k] = toHalf(src[k], true);
  }
}

class Po2GradStore extends BaseStore implements GradStore {
  readonly format = 'po2' as const;
  readonly needsMaxAbs = true;
  private bias = 0;
  private previousBias = 0;
  /**
   * While a fill is in progress (beginWrite, then writes in row order), rows not yet rewritten
   * still hold codes of the previous bias: a layer that computes in place reads them back.
   * Counted in elements, not rows: a flatten layer reshapes a filled store (B rows become B·h·w),
   * and every one of its rows must still decode under the bias it was written with.
   */
  private written = Infinity;
  /** Decoded values of the 32 codes under the current and the previous bias. */
  private table: Float64Array = po2DecodeTable(0);
  private previousTable: Float64Array = po2DecodeTable(0);
  /** The codec, when it holds this store's words (then only the float side remains to check); po2WriteRange optional. */
  private readonly fast:
    | (Required<Pick<StoreKernels, 'maxAbs' | 'po2Write' | 'po2Read' | 'absRange' | 'po2Recode' | 'holds'>> & Pick<StoreKernels, 'po2WriteRange'>)
    | null;
  constructor(
    private readonly words: Uint32Array,
    capacity: number,
    private readonly codec?: StoreKernels,
  ) {
    super(capacity);
    this.fast =
      codec?.maxAbs && codec.po2Write && codec.po2Read && codec.absRange && codec.po2Recode && codec.holds?.(words)
        ? (codec as NonNullable<Po2GradStore['fast']>)
        : null;
  }
  maxAbsOf(x: Floats, n: number): number | null {
    return this.fast?.holds(x) ? this.fast.maxAbs(x, n) : null;
  }
  sameScale(a: number, b: number): boolean {
    return po2Bias(a) === po2Bias(b);
  }
  absRangeOf(x: Floats, n: number): { max: number; minNonzero: number } {
    if (this.fast?.holds(x)) return this.fast.absRange(x, n);
    let max = 0;
    let minNonzero = Infinity;
    for (let k = 0; k < n; k++) {
      const a = Math.abs(x[k]);
      if (a > max) max = a;
      if (a > 0 && a < minNonzero) minNonzero = a;
    }
    return { max, minNonzero };
  }
  recodableFrom(from: number, to: number, range: { max: number; minNonzero: number }): boolean {
    return po2Recodable(po2Bias(from), po2Bias(to) - po2Bias(from), range.max, range.minNonzero);
  }
  recode(i0: number, i1: number): void {
    const n = (i1 - i0) * this.cols;
    const first = i0 * this.cols;
    const delta = this.bias - this.previousBias;
    if (this.fast) this.fast.po2Recode(this.words, first, n, delta);
    else {
      const table = po2RecodeTable(delta);
      for (let k = first; k < first + n; k++) po2Put(this.words, k, table[po2Get(this.words, k)]);
    }
    this.written = Math.max(this.written, first + n);
  }
  po2View(): { words: Uint32Array; bias: number } | null {
    return this.fast && this.written >= this.rows * this.cols ? { words: this.words, bias: this.bias } : null;
  }
  po2Fill(fill: (words: Uint32Array) => number | null): boolean {
    if (!this.fast) return false;
    const max = fill(this.words);
    if (max === null) return false;
    this.beginWrite(max);
    this.written = this.rows * this.cols;
    return true;
  }
  read(i0: number, i1: number, c0: number, c1: number, out: Floats): void {
    const { cols, words } = this;
    if (this.fast?.holds(out)) {
      // rows written in this fill decode under the current bias, the rest under the previous one
      const split = Math.min(i1, Math.max(i0, Math.floor(this.written / cols)));
      const w = c1 - c0;
      if (split > i0) this.fast.po2Read(words, i0 * cols + c0, split - i0, cols, w, this.bias, out);
      if (i1 > split) this.fast.po2Read(words, split * cols + c0, i1 - split, cols, w, this.previousBias, out.subarray((split - i0) * w));
      return;
    }
    let o = 0;
    for (let i = i0; i < i1; i++) {
      const base = i * cols;
      const table = base + cols <= this.written ? this.table : this.previousTable;
      for (let c = c0; c < c1; c++) out[o++] = table[po2Get(words, base + c)];
    }
  }
  beginWrite(maxAbs: number): void {
    this.previousBias = this.bias;
    this.bias = po2Bias(maxAbs);
    [this.previousTable, this.table] = [this.table, this.previousTable];
    po2DecodeTable(this.bias, this.table);
    this.written = 0;
  }
  applyMask(mask: Uint32Array): boolean {
    const { rows, cols, words, codec } = this;
    const n = rows * cols;
    // every row under one bias, every code's value an exact float32 (as po2Read decodes them), and
    // mask rows of whole words (bit k of the mask is code k's)
    if (this.written < n || this.bias < -120 || this.bias > 119 || cols % 32 !== 0) return false;
    const fast = codec?.po2MaskTop && codec.po2ShiftUp && codec.holds?.(words) && codec.holds(mask) ? codec : null;
    let top = 0;
    if (fast) top = fast.po2MaskTop!(words, n, mask);
    else
      for (let k = 0; k < n; k++) {
        const code = (mask[k >>> 5] >>> (k & 31)) & 1 ? po2Get(words, k) : 0;
        po2Put(words, k, code & 15 ? code : 0);
        top = Math.max(top, code & 15);
      }
    // the bias a refill would take from the largest kept value (all masked: 0, as a fill of
    // zeros); the kept values being powers of two, it puts the largest on the top code, so each
    // kept code's magnitude moves up by delta = 15 − top (as po2RecodeTable: none flushed or clamped)
    const bias = po2Bias(po2Decode(top, this.bias));
    const delta = bias - this.bias;
    if (top > 0 && delta !== 0) {
      if (fast) fast.po2ShiftUp!(words, n, delta);
      else {
        const table = po2RecodeTable(delta);
        for (let k = 0; k < n; k++) po2Put(words, k, table[po2Get(words, k)]);
      }
    }
    this.previousBias = this.bias;
    this.bias = bias;
    [this.previousTable, this.table] = [this.table, this.previousTable];
    po2DecodeTable(bias, this.table);
    this.written = Number.POSITIVE_INFINITY;
    return true;
  }
  writeRange(i0: number, i1: number, src: Floats): { max: number; minNonzero: number } | null {
    const fast = this.fast;
    if (!fast?.po2WriteRange || !fast.holds(src)) return null;
    const base = i0 * this.cols;
    const range = fast.po2WriteRange(src, (i1 - i0) * this.cols, this.words, base, 2 ** this.bias);
    this.written = Math.max(this.written, base + (i1 - i0) * this.cols);
    return range;
  }
  write(i0: number, i1: number, src: Floats): void {
    const n = (i1 - i0) * this.cols;
    const base = i0 * this.cols;
    const scale = 2 ** this.bias;
    if (this.fast?.holds(src)) this.fast.po2Write(src, n, this.words, base, scale);
    else
      for (let k = 0; k < n; k++) {
        const v = src[k];
        po2Put(this.words, base + k, po2CodeOfScaled((v < 0 ? -v : v) * scale, v < 0));
      }
    this.written = Math.max(this.written, base + n);
  }
}

/** max |x[k]| over k < n, NaN ignored. */
function chunkMaxAbs(store: GradStore, x: Floats, n: number): number {
  const fast = store.maxAbsOf?.(x, n);
  if (fast != null) return fast;
  let maxAbs = 0;
  for (let k = 0; k < n; k++) {
    const a = Math.abs(x[k]);
    if (a > maxAbs) maxAbs = a;
  }
  return maxAbs;
}

/**
 * Fill a store row-chunk by row-chunk from `compute(i0, i1, out)`. Formats with a per-tensor scale
 * need max |value| before the first write. Unless `onePass`, a first pass only measures it
 * (compute must then be repeatable: it may read the store it writes only through rows it has not
 * yet written, which chunk order guarantees). `onePass` (only for a compute that never reads the
 * store it fills): each chunk is written under the scale of the largest |value| so far, and where
 * a chunk raises that scale, the rows already written are re-coded to it and the chunk written
 * again from the values it still has (see runningScaleFill).
 */
export function fillStore(store: GradStore, chunkRows: number, scratch: Floats, compute: (i0: number, i1: number, out: Floats) => void, onePass = false): void {
  const { rows, cols } = store;
  if (store.needsMaxAbs && onePass && store.sameScale && store.absRangeOf && store.recodableFrom && store.recode) {
    if (runningScaleFill(store, chunkRows, scratch, compute) !== null) return;
  }
  if (store.needsMaxAbs) {
    let maxAbs = 0;
    for (let i0 = 0; i0 < rows; i0 += chunkRows) {
      const i1 = Math.min(rows, i0 + chunkRows);
      compute(i0, i1, scratch);
      maxAbs = Math.max(maxAbs, chunkMaxAbs(store, scratch, (i1 - i0) * cols));
    }
    store.beginWrite(maxAbs);
  }
  for (let i0 = 0; i0 < rows; i0 += chunkRows) {
    const i1 = Math.min(rows, i0 + chunkRows);
    compute(i0, i1, scratch);
    store.write(i0, i1, scratch);
  }
}

/**
 * The one-pass fill: the first chunk is measured, then written under its own max's scale; each
 * later chunk is written under the current scale while its range is measured (writeRange), and
 * if the running max now gives another scale, the rows before it are re-coded to that scale and
 * the chunk written again (its values are still in scratch). Re-coding to a coarser scale is exact
 * (no value written so far saturated: each was at most the running max of its time), so the codes
 * are those of a two-pass fill under the max of all values, with one compute a chunk instead of
 * two. Returns that max, or null where a re-code would not be exact (a finer scale after values
 * flushed to zero: only after an infinite max): the caller then fills in two passes.
 */
function runningScaleFill(store: GradStore, chunkRows: number, scratch: Floats, compute: (i0: number, i1: number, out: Floats) => void): number | null {
  const { rows, cols } = store;
  let max = 0;
  let minNonzero = Number.POSITIVE_INFINITY;
  for (let i0 = 0; i0 < rows; i0 += chunkRows) {
    const i1 = Math.min(rows, i0 + chunkRows);
    compute(i0, i1, scratch);
    let range: { max: number; minNonzero: number } | null;
    if (i0 === 0) {
      range = store.absRangeOf!(scratch, (i1 - i0) * cols);
      store.beginWrite(range.max);
      store.write(i0, i1, scratch);
    } else {
      // written and measured in one pass where the store can (else measured, written below)
      const written = store.writeRange?.(i0, i1, scratch) ?? null;
      range = written ?? store.absRangeOf!(scratch, (i1 - i0) * cols);
      const grown = Math.max(max, range.max);
      if (!store.sameScale!(max, grown)) {
        if (!store.recodableFrom!(max, grown, { max, minNonzero })) return null;
        store.beginWrite(grown);
        store.recode!(0, i0);
        store.write(i0, i1, scratch);
      } else if (!written) store.write(i0, i1, scratch);
    }
    max = Math.max(max, range.max);
    minNonzero = Math.min(minNonzero, range.minNonzero);
  }
  return max;
}

/**
 * The store a row-wise dX goes to: grad itself where the store needs no max pass, else `spare`
 * (shaped as grad), since a fill in place could not compute a chunk again once it has overwritten
 * its dY.
 */
function rowwiseTarget(grad: GradStore, spare: GradStore): GradStore {
  if (!grad.needsMaxAbs) return grad;
  spare.setShape(grad.rows, grad.cols);
  return spare;
}

/**
 * Fill a layer's dX from its dY one row chunk at a time, where each chunk's dX is a function of
 * its dY alone: `transform(i0, i1, out)` turns rows [i0, i1) of dY, read into out, into dX, in the
 * store rowwiseTarget picks (filled in one pass). Returns the store that holds dX.
 */
export function fillRowwise(
  grad: GradStore,
  spare: GradStore,
  chunkRows: number,
  scratch: Floats,
  transform: (i0: number, i1: number, out: Floats) => void,
): GradStore {
  const into = rowwiseTarget(grad, spare);
  const compute = (i0: number, i1: number, out: Floats) => {
    grad.read(i0, i1, 0, grad.cols, out);
    transform(i0, i1, out);
  };
  fillStore(into, chunkRows, scratch, compute, into !== grad);
  return into;
}

/**
 * fillRowwise's result when dX is already computed whole: all grad.rows × grad.cols `values`
 * written to the store rowwiseTarget picks as one chunk (the same codes as fillRowwise's chunks,
 * whose running scale ends where one pass over everything starts). Returns that store.
 */
export function writeRowwise(grad: GradStore, spare: GradStore, values: Floats): GradStore {
  const into = rowwiseTarget(grad, spare);
  fillStore(into, grad.rows, values, () => {}, into !== grad);
  return into;
}
