// WebAssembly SIMD kernels: loaded at start-up, each network gets its own instance over its own
// shared linear memory, and the network's ledger allocates every buffer in that memory, so the
// kernels read and write the engine's buffers in place.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundled } from '../runtime/bundle.js';
import { MemoryLedger, type Arena, type Floats } from '../ledger.js';
import type { AdamStep, AdamTensor, FilterRun, Kernels } from './kernels.js';
import { dataQuadsApply, filterLookupApplies, filterQuadsApply, isBlocked3x3, patchGroupsApply, taps, type ConvGeometry } from './conv-geometry.js';
import { splitRange, WasmPool } from './wasm-pool.js';
import { fromHalf, toHalf } from '../storage/fp16.js';
import { po2Bias, po2Recodable } from '../storage/po2.js';

const PAGE = 65536;
/** Largest memory a network may use (pages); wasm32 allows 65536 (4 GiB). */
const MAX_PAGES = 32768;
/** The most engine buffers one network's kernel memory holds (less the module's own data at its start). */
export const WASM_ARENA_LIMIT_BYTES = MAX_PAGES * PAGE - 2 ** 20;

interface Exports {
  heapBase(): number;
  gemmBinBin(x: number, w: number, B: number, m: number, n: number, y: number): void;
  gemmFloatBin(x: number, w: number, B: number, m: number, n: number, y: number): void;
  gemmFloatBinT(dy: number, B: number, m: number, n: number, dx: number, index: number): void;
}

/** A bump allocator over a shared WebAssembly memory (network buffers are allocated once). */
class WasmArena implements Arena {
  private top: number;
  /** Every SharedArrayBuffer object this memory has shown (growing makes a new one). */
  readonly buffers = new Set<ArrayBufferLike>();

  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
  ) {
    this.top = align16(base);
    this.buffers.add(memory.buffer);
  }

  allocate(bytes: number) {
    const off = this.top;
    const end = align16(off + bytes);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(pages);
      } catch {
        throw new Error(`wasm kernels: cannot grow kernel memory to ${((have + pages * PAGE) / 2 ** 20).toFixed(1)} MiB`);
      }
      this.buffers.add(this.memory.buffer);
    }
    this.top = end;
    // V8 may hand out a new buffer object for this memory when another shared memory grows
    // (two networks in one process): every object the memory shows is ours
    const buffer = this.memory.buffer;
    this.buffers.add(buffer);
    return { buffer, byteOffset: off };
  }
}

/** Rows of n po2 codes (5 bits each) that fill whole 32-bit words: a range starting at a multiple writes only its own words. */
function wordRows(n: number): number {
  let g = 32;
  while (n % g) g >>= 1;
  return 32 / g;
}

function align16(n: number): number {
  return (n + 15) & ~15;
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null when this platform cannot run it (no SIMD or threads). */
function wasmModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    if (bundled) return (compiled = new WebAssembly.Module(Buffer.from(bundled.kernelsWasm, 'base64')));
    // next to the compiled JS (build/src/kernels -> build/), or from the sources (src/kernels -> build/)
    const candidates = ['../../kernels.wasm', '../../build/kernels.wasm'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
    const path = candidates.find((p) => existsSync(p));
    compiled = path ? new WebAssembly.Module(readFileSync(path)) : null;
  } catch {
    compiled = null;
  }
  return compiled;
}

export function wasmAvailable(): boolean {
  return wasmModule() !== null;
}

/** Below this much work (multiply-adds) a call is not worth splitting across threads. */
const SPLIT_WORK = 1 << 19;
/**
 * Elements from which a gradient codec call (float16 decode/encode, po2 read) splits: a codec does
 * a few instructions an element, so its calls are short (an example of a conv layer's dY, 15-60 µs)
 * and only the larger ones pay for a hand-off of a few microseconds. At 16 K an MLP layer's batch
 * at B=100 (25,600 values) splits too: 2-thread steps, paired separate processes (7 rounds),
 * low-memory 0.985x, tiny 0.987x (CNV level).
 */
const CODEC_SPLIT = 1 << 14;
/** An Adam element (float16 codecs, a division and a square root) costs about this many multiply-adds. */
const ADAM_WORK = 32;
/**
 * Batch norm's forward does three passes (sums, deviations, normalize with an f64 division) per
 * element, its backward dx an f64 division. At 16 a chunk of the streamed recipes' backward (one
 * CNV example's 57,600 values, ~47 µs) splits across threads: interleaved, CNV on 2 threads
 * low-memory 241 -> 228 ms a step, tiny 256 -> 245 (8 left those chunks on one thread). At 64 an
 * MLP layer's whole batch at B=100 (25,600 values) splits too: left on the main thread, it ran
 * about twice as long as on one thread, over activations the worker's half of the layer before
 * had just written (with the xnor-popcount split below: MLP B=100 on 2 threads -3% to -6%).
 */
const BN_WORK = 64;
/**
 * An xnor-popcount bit-product costs about this fraction of a float multiply-add (i8x16.popcnt is
 * a table-lookup sequence on x86: ~58 bit-products a cycle against 8 multiply-adds), so a hidden
 * MLP layer at B=100 (6.5 M bit-products) splits (at 1/32 it ran on the main thread, about twice
 * as long as on one thread: its inputs and weights came from the worker's halves of the kernels before).
 */
const BIT_WORK = 1 / 8;
/**
 * A Bop fold or flip element (8-bit log codes decoded and encoded) costs about this many
 * multiply-adds (measured: a 6,272-element tile then splits, and the tiny MLP's 2-thread step is faster).
 */
const BOP_WORK = 96;
/** Bop's 8-bit momentum blocks (src/storage/block8.ts). */
const BOP_BLOCK = 256;

function bind(opts: { threads?: number } = {}): { kernels: Kernels; ledger: MemoryLedger } {
  const module = wasmModule();
  if (!module) throw new Error('wasm kernels are not available on this platform (WebAssembly SIMD and threads are needed)');
  const threads = Math.max(1, Math.floor(opts.threads ?? 1));
  // 2 pages: the module's static data (the slog encoder's 72 KB of step tables among it) needs them
  const memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES, shared: true });
  const ex = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: () => {
        throw new Error('wasm kernel abort');
      },
    },
  }).exports as unknown as Exports & Record<string, (...a: number[]) => void>;
  const arena = new WasmArena(memory, ex.heapBase());
  // each thread's kernel scratch (sign masks expanded once per block of columns): the kernels'
  // own working memory, like their tables, outside the engine buffers the ledger counts
  const scratchBytes = (ex.MASK_SCRATCH_BYTES as unknown as { value: number }).value;
  const scratch = arena.allocate(threads * scratchBytes).byteOffset;
  ex.setScratch(scratch);
  const pool = threads > 1 ? new WasmPool(module, memory, threads, ex, KERNEL_EXPORTS, { base: scratch + scratchBytes, bytes: scratchBytes }) : null;
  const at = (a: Floats | Uint32Array | Uint16Array): number => {
    if (!arena.buffers.has(a.buffer) || a instanceof Float64Array)
      throw new Error("wasm kernels: operand is not a float32/uint32 buffer of this network's kernel memory");
    return a.byteOffset;
  };
  const atBytes = (a: Uint8Array): number => {
    if (!arena.buffers.has(a.buffer)) throw new Error("wasm kernels: operand is not a byte buffer of this network's kernel memory");
    return a.byteOffset;
  };
  /** Whether a call over [0, n) (slices at multiples of align) is worth splitting across threads. */
  const splits = (work: number, n: number, align: number) => pool !== null && work >= SPLIT_WORK && n >= 2 * align;
  /** The threads' slices of [0, n) where the call splits, else [0, n) whole. */
  const slicesFor = (work: number, n: number, align: number): [number, number][] => (splits(work, n, align) ? splitRange(n, threads, align) : [[0, n]]);
  /** fn with each argument list on a thread of its own (the first on this one), or here alone. */
  const runSlices = (fn: string, calls: number[][]) => {
    if (calls.length > 1) pool!.run(fn, calls);
    else ex[fn](...calls[0]);
  };
  /** Run fn over slices of [0, n) when the work is large enough, else in one call (no slice arrays: most calls). */
  const par = (fn: string, work: number, n: number, align: number, args: (r0: number, r1: number) => number[]) => {
    if (!splits(work, n, align)) ex[fn](...args(0, n));
    else
      pool!.run(
        fn,
        splitRange(n, threads, align).map(([r0, r1]) => args(r0, r1)),
      );
  };
  /** par for kernels that go by tiles of `tile` output rows (m of them): false (nothing done) where no tile fits (tile < 4). */
  const byTiles = (fn: string, tile: number, work: number, m: number, args: (j0: number, j1: number) => number[]) => {
    if (tile < 4) return false;
    par(fn, work, m, tile, args);
    return true;
  };
  /** A tiny dense layer's dW folded into Bop's momentum (bopDwBitsTiles / bopDwPixelTiles; input: the signs' or the pixels' address). */
  const bopDw = (
    fn: string,
    tile: number,
    dy: Uint32Array,
    bias: number,
    input: number,
    rows: number,
    m: number,
    n: number,
    codes: Uint8Array,
    scales: Floats,
    gamma: number,
  ) => byTiles(fn, tile, rows * m * n, m, (a, b) => [at(dy), bias, input, rows, m, n, atBytes(codes), at(scales), gamma, a, b]);
  /** A codec over [0, n) (rows or elements): par, splitting from CODEC_SPLIT elements. */
  const codecPar = (fn: string, elements: number, n: number, align: number, args: (r0: number, r1: number) => number[]) =>
    par(fn, elements * (SPLIT_WORK / CODEC_SPLIT), n, align, args);
  /**
   * Slices of n po2 codes from element 0 for the threads, cut at multiples of 24 codes (120 bits:
   * a byte boundary, so each thread's 12-code turns write their own bytes); null: one call.
   */
  const po2Slices = (n: number) => (!pool || n < CODEC_SPLIT ? null : splitRange(n, threads, 24));
  /**
   * Slices [a, b) of n po2 codes from code index `base` for the threads, cut where a code's bits
   * start a word (base + a a multiple of 32: 5-bit codes, 32 of them fill 5 words), so each thread
   * writes its own words; null: one call (no pool, or under CODEC_SPLIT codes).
   */
  const po2WordSlices = (base: number, n: number) => {
    const lead = (32 - (base % 32)) % 32;
    if (!pool || n < CODEC_SPLIT || n - lead < 64) return null;
    return splitRange(n - lead, threads, 32).map(([a, b]) => [a === 0 ? 0 : a + lead, b + lead]);
  };
  /**
   * A po2 write of CODEC_SPLIT elements or more across the threads in po2WordSlices; each leaves
   * its slice's range in its scratch (po2WriteSlice). null: not split.
   */
  const po2Split = (src: Floats, n: number, words: Uint32Array, base: number, scale: number, range: boolean) => {
    const slices = po2WordSlices(base, n);
    if (!slices) return null;
    pool!.run(
      'po2WriteSlice',
      slices.map(([a, b]) => [at(src) + 4 * a, b - a, at(words), base + a, scale, range ? 1 : 0]),
    );
    return slicesRange(slices.length);
  };
  /** The (max, smallest non-zero) |value| over `count` threads' slices, each left in its scratch (max and min are exact in any order). */
  const slicesRange = (count: number) => {
    const results = new Float32Array(memory.buffer, scratch, (count * scratchBytes) / 4);
    let max = 0;
    let minNonzero = Number.POSITIVE_INFINITY;
    for (let i = 0; i < count; i++) {
      max = Math.max(max, results[(i * scratchBytes) / 4]);
      minNonzero = Math.min(minNonzero, results[(i * scratchBytes) / 4 + 1]);
    }
    return { max, minNonzero };
  };
  /**
   * After po2 fills split across the threads (slice i: units [u0, u1) of `unit` codes, written
   * under that thread's running bias, its record in its scratch: max and smallest non-zero |value|,
   * bias, ok), every slice re-coded to the bias of the overall max: that max, or null where a
   * thread or a re-code could not keep the codes exact (the caller then fills chunk by chunk).
   */
  const po2CommonBias = (dx: Uint32Array, slices: number[][], unit: number): number | null => {
    const q = scratchBytes / 4;
    const floats = new Float32Array(memory.buffer, scratch, slices.length * q);
    const ints = new Int32Array(memory.buffer, scratch, slices.length * q);
    let max = 0;
    for (let i = 0; i < slices.length; i++) {
      if (!ints[i * q + 3]) return null;
      max = Math.max(max, floats[i * q]);
    }
    const bias = po2Bias(max);
    for (let i = 0; i < slices.length; i++) {
      const [u0, u1] = slices[i];
      const delta = bias - ints[i * q + 2];
      if (delta === 0) continue;
      if (!po2Recodable(ints[i * q + 2], delta, floats[i * q], floats[i * q + 1])) return null;
      ex.po2Recode(at(dx), u0 * unit, (u1 - u0) * unit, delta);
    }
    return max;
  };
  /** Codes a po2 store's words hold. */
  const po2Capacity = (words: Uint32Array) => Math.floor((words.length * 32) / 5);
  /**
   * The threads' example ranges for a batch of conv input-gradient lookups: after the sign index
   * (convBwdDataIndex's, at the front of scratch) a slot per thread holding its tables, then after
   * all the slots' tables `bufBytes` more per slot; as many slots as fit (at most one per thread
   * and per `unit` examples, ranges cut at multiples of `unit`). slots 0: not one fits.
   */
  const lookupSlots = (g: ConvGeometry, scratch: Floats, examples: number, unit: number, bufBytes: number) => {
    const tablesBytes = ex.convLutTablesBytes(...lookupDims(g)) as unknown as number;
    const indexBytes = (ex.convLutBytes(...lookupDims(g)) as unknown as number) - tablesBytes;
    const slots = Math.min(threads, Math.ceil(examples / unit), Math.floor((scratch.length * 4 - indexBytes) / (tablesBytes + bufBytes)));
    const ranges = pool && slots > 1 ? splitRange(examples, slots, unit) : [[0, examples]];
    return { slots, ranges, buffersAt: indexBytes + slots * tablesBytes };
  };
  /**
   * lookupSlots for a conv input gradient between gradient stores, each slot's buffers holding an
   * example's dY and dX floats: null where the lookups do not take the geometry, an example's dY
   * or dX is not a multiple of `align` codes (dY's, dX's), or no slot fits.
   */
  const dxExampleSlices = (g: ConvGeometry, scratch: Floats, examples: number, align: [number, number], dyCodes: number, dxCodes: number) => {
    const [dyLen, dxLen] = [g.ho * g.wo * g.co, g.hi * g.wi * g.ci];
    if (!lookupApplies(g) || dataQuadsApply(g) || dyLen % align[0] !== 0 || dxLen % align[1] !== 0) return null;
    if (dyCodes < examples * dyLen || dxCodes < examples * dxLen) throw new Error('wasm kernels: conv input gradient stores are shorter than the examples');
    const { slots, ranges, buffersAt } = lookupSlots(g, scratch, examples, 1, 4 * (dyLen + dxLen));
    if (slots < 1) return null;
    const lut = lookupScratch(g, scratch);
    return { lut, bufs: lut + buffersAt, ranges };
  };
  /** The gradient and shape arguments both Adam kernels take, in their order. */
  const adamGradArgs = (t: AdamTensor) => [at(t.grad), t.gradBits ? 1 : 0, t.cols, t.gradScale, t.n, t.binary ? 1 : 0, t.clip];
  const wordsBytes = (n: number) => ((n + 31) >>> 5) << 2;
  /**
   * A convolution kernel: the register-blocked 3x3 stride-1 export, or its general twin (named
   * with G, taking k and stride after pad); split over `n` (rows or channels) above SPLIT_WORK.
   */
  const conv = (fn: string, g: ConvGeometry, outputs: number, n: number, align: number, args: (dims: number[], a: number, b: number) => number[]) => {
    const blocked = isBlocked3x3(g);
    const dims = [g.hi, g.wi, g.ci, g.ho, g.wo, g.co, g.pad, ...(blocked ? [] : [g.k, g.stride])];
    par(blocked ? fn : fn.replace(/^conv/, 'convG'), g.ho * g.wo * outputs * taps(g) * g.ci, n, align, (a, b) => args(dims, a, b));
  };
  /** The address of a caller's scratch (or index) buffer `kernel` needs `bytes` of, after checking it holds them. */
  const scratchAt = (kernel: string, what: string, bytes: number, buffer: Floats) => {
    if (buffer.length * 4 < bytes) throw new Error(`wasm kernels: ${kernel} needs ${bytes} bytes of ${what}, got ${buffer.length * 4}`);
    return at(buffer);
  };
  const denseIndex = (m: number, n: number, index: Floats) => scratchAt('gemmFloatBinT', 'index', ex.denseLutIndexBytes(m, n) as unknown as number, index);
  /** The binary input gradient by table lookups (kernels.as.ts): 3x3, stride 1, channels in pairs. */
  const lookupApplies = (g: ConvGeometry) => isBlocked3x3(g) && g.ci % 2 === 0;
  const lookupDims = (g: ConvGeometry) => [g.hi, g.wi, g.ci, g.ho, g.wo, g.co, g.pad];
  const lookupScratch = (g: ConvGeometry, scratch: Floats) =>
    scratchAt('convBwdData', 'scratch', ex.convLutBytes(...lookupDims(g)) as unknown as number, scratch);
  /**
   * A weight-gradient run's flags for the lookup kernels (1: read dw, 2: write it back); the same
   * split every call of a run, so each block's sums stay in its own region of the scratch.
   */
  const runFlags = (run: FilterRun) => (run.first ? 1 : 0) | (run.last ? 2 : 0);
  /**
   * A fused dW + Adam kernel (denseDwAdamTiles and its float-input twin) over tiles of output rows,
   * threads taking ranges of tiles; false (nothing done) unless Adam's state is a binary layer's
   * float32 weights and moments in this memory at scale 1, and a tile fits the scratch.
   */
  const dwAdam = (fn: string, dy: number, x: number, rows: number, m: number, n: number, t: AdamTensor, s: AdamStep) => {
    const f32 = (a: AdamTensor['w']) => a instanceof Float32Array && arena.buffers.has(a.buffer);
    if (!t.binary || t.n !== m * n || !f32(t.w) || !f32(t.m) || !f32(t.v) || s.scale !== 1 || s.ratio !== 1) return false;
    const step = [s.lr, s.b1, s.b2, s.c1, s.c2, s.epsScaled];
    return byTiles(fn, ex.denseDwAdamTileRows(n) as unknown as number, rows * m * n, m, (a, b) => [
      dy,
      x,
      rows,
      m,
      n,
      at(t.w),
      at(t.m),
      at(t.v),
      t.clip,
      ...step,
      a,
      b,
    ]);
  };
  /** A batch's binary 3x3 forward, threads taking whole examples (no hand-off per example). */
  const fwdExamples = (x: number, floats: boolean, w: Uint32Array, g: ConvGeometry, y: Floats, examples: number) => {
    const dims = [g.hi, g.wi, g.ci, g.ho, g.wo, g.co, g.pad];
    par('convFwdBinExamples', (examples * g.ho * g.wo * g.co * taps(g) * g.ci) >>> 5, examples, 1, (e0, e1) => [
      x,
      floats ? 1 : 0,
      at(w),
      ...dims,
      at(y),
      e0,
      e1,
    ]);
  };
  const kernels: Kernels = {
    name: 'wasm-simd',
    threads,
    gemmBinBin: (x, w, B, m, n, y) =>
      par('gemmBinBin', B * m * n * BIT_WORK, B, 1, (r0, r1) => [at(x) + r0 * wordsBytes(n), at(w), r1 - r0, m, n, at(y) + r0 * m * 4]),
    // a chunk of a few rows (the re-read first layer) splits its weight rows instead: split by
    // rows, each thread would have too few for the masked kernel (8 or more); the same sums
    gemmFloatBin: (x, w, B, m, n, y) =>
      B < 16
        ? par('gemmFloatBinCols', B * m * n, m, 2, (j0, j1) => [at(x), at(w), B, m, n, at(y), j0, j1])
        : par('gemmFloatBin', B * m * n, B, 1, (r0, r1) => [at(x) + r0 * n * 4, at(w), r1 - r0, m, n, at(y) + r0 * m * 4]),
    // threads take ranges of rows (whole vectors of 4), each decoding its own
    gemmPixelsBin: (pixels, w, B, m, n, y) => {
      if (!(ex.gemmPixelsBinFits(n) as unknown as number)) return false;
      par('gemmPixelsBinRows', B * m * n, B, 4, (r0, r1) => [atBytes(pixels), at(w), m, n, at(y), r0, r1]);
      return true;
    },
    // each thread's rows staged at the tail of its own rows of y (no range's writes reach the
    // other's bytes); pix is offset so that pix + r·n is row r's bytes within its range
    gemmPixelsBinInPlace: (stage, w, B, m, n, y) => {
      if (4 * m < n || y.length < B * m || !(ex.gemmPixelsBinFits(n) as unknown as number)) return false;
      const [wAt, yAt] = [at(w), at(y)];
      const calls = slicesFor(B * m * n, B, 4).map(([r0, r1]) => {
        const from = yAt + (r1 * m * 4 - (r1 - r0) * n);
        stage(r0, r1, new Uint8Array(y.buffer, from, (r1 - r0) * n));
        return [from - r0 * n, wAt, m, n, yAt, r0, r1];
      });
      runSlices('gemmPixelsBinRows', calls);
      return true;
    },
    // by table lookups over groups of 4 weight rows (kernels.as.ts): rows split across threads,
    // each thread's tables in its own kernel scratch
    gemmFloatBinT: (dy, _w, B, m, n, dx, index) =>
      par('gemmFloatBinT', B * m * n, B, 1, (r0, r1) => [at(dy) + r0 * m * 4, r1 - r0, m, n, at(dx) + r0 * n * 4, denseIndex(m, n, index)]),
    gemmFloatBinTIndex: (w, m, n, index) => ex.denseLutIndex(at(w), m, n, denseIndex(m, n, index)),
    // threads take ranges of rows whose codes start a word, each decoding, summing and encoding
    // its own under its running bias (one hand-off); each range then re-coded to the common bias
    denseDxPo2: (dy, dyBias, B, m, n, dx, index) => {
      if (!(ex.denseDxHalfFits(m, n) as unknown as number)) return null;
      const slices = slicesFor(B * m * n, B, wordRows(n));
      runSlices(
        'denseDxPo2Rows',
        slices.map(([r0, r1]) => [at(dy), dyBias, m, n, at(dx), denseIndex(m, n, index), r0, r1]),
      );
      return po2CommonBias(dx, slices, n);
    },
    // threads take ranges of rows, each decoding, summing and encoding its own (one hand-off)
    denseDxHalf: (dy, B, m, n, dx, index) => {
      if (!(ex.denseDxHalfFits(m, n) as unknown as number)) return false;
      par('denseDxHalfRows', B * m * n, B, 1, (r0, r1) => [at(dy), m, n, at(dx), denseIndex(m, n, index), r0, r1]);
      return true;
    },
    gemmFloatFloat: (x, w, B, m, n, y) => par('gemmFloatFloat', B * m * n, B, 1, (r0, r1) => [at(x) + r0 * n * 4, at(w), r1 - r0, m, n, at(y) + r0 * m * 4]),
    gemmFloatFloatT: (dy, w, B, m, n, dx) =>
      par('gemmFloatFloatT', B * m * n, B, 1, (r0, r1) => [at(dy) + r0 * m * 4, at(w), r1 - r0, m, n, at(dx) + r0 * n * 4]),
    // split from a quarter of the usual work: the streamed recipes' first-layer weight gradients
    // come in calls of 64 pixel rows × ~100 units × 64 columns (400 K multiply-adds, ~50 µs), all
    // on one thread before (low-memory MLP, B=200, 2 threads: 7.52/7.56/6.95 -> 7.05/6.64/6.59 ms)
    gemmTnFloat: (dy, x, B, m, n, dw) => par('gemmTnFloat', 4 * B * m * n, m, 1, (j0, j1) => [at(dy), at(x), B, m, n, at(dw), j0, j1]),
    gemmTnBin: (dy, x, B, m, n, dw) => par('gemmTnBin', B * m * n, m, 4, (j0, j1) => [at(dy), at(x), B, m, n, at(dw), j0, j1]),
    // a 32-bit xnor-popcount word costs about 8 float multiply-adds here (i8x16.popcnt is a table lookup on x86)
    convFwdBin: (x, w, g, y, examples = 1) => {
      if (examples > 1 && isBlocked3x3(g)) return fwdExamples(at(x), false, w, g, y, examples);
      const [xLen, yLen] = [g.hi * g.wi * wordsBytes(g.ci), g.ho * g.wo * g.co * 4];
      for (let e = 0; e < examples; e++) conv('convFwdBin', g, g.co / 4, g.ho, 1, (d, a, b) => [at(x) + e * xLen, at(w), ...d, at(y) + e * yLen, a, b]);
    },
    convFwdSignFloats: (x, w, g, y, examples) => {
      if (!isBlocked3x3(g) || g.hi * g.wi * wordsBytes(g.ci) > scratchBytes) return false;
      fwdExamples(at(x), true, w, g, y, examples);
      return true;
    },
    // small patches (first layers on images) by table lookups, split by output rows
    convFwdFloat: (x, w, g, y, examples = 1) => {
      const [xLen, yLen] = [g.hi * g.wi * g.ci * 4, g.ho * g.wo * g.co * 4];
      const work = (g.ho * g.wo * g.co * taps(g) * g.ci) / 4;
      const dims = [g.hi, g.wi, g.ci, g.ho, g.wo, g.co, g.pad, g.k, g.stride];
      if (!patchGroupsApply(g))
        for (let e = 0; e < examples; e++) conv('convFwdFloat', g, g.co, g.ho, 1, (d, a, b) => [at(x) + e * xLen, at(w), ...d, at(y) + e * yLen, a, b]);
      // several examples: threads take whole examples (no hand-off per example)
      else if (examples > 1) par('convFwdPatchesExamples', examples * work, examples, 1, (a, b) => [at(x), at(w), ...dims, at(y), a, b]);
      else par('convFwdPatches', work, g.ho, 1, (a, b) => [at(x), at(w), ...dims, at(y), a, b]);
    },
    convBwdDataIndex: (w, g, scratch) => {
      if (dataQuadsApply(g)) ex.convQuadDataIndex(at(w), g.ci, g.co, lookupScratch(g, scratch));
      else if (lookupApplies(g)) ex.convLutIndex(at(w), ...lookupDims(g), lookupScratch(g, scratch));
    },
    // 3x3 stride 1 over channels in pairs: tables of dY's signed partials, built per example
    // (split over output rows), then looked up (split over input channels); others scatter
    convBwdData: (dy, w, g, dx, scratch, examples = 1) => {
      const [dyLen, dxLen] = [g.ho * g.wo * g.co, g.hi * g.wi * g.ci];
      if (!lookupApplies(g)) {
        const dims = [g.hi, g.wi, g.ci, g.ho, g.wo, g.co, g.pad, g.k, g.stride];
        for (let e = 0; e < examples; e++)
          par('convGBwdData', g.ho * g.wo * g.co * taps(g) * g.ci, g.ci, 32, (a, b) => [at(dy) + e * dyLen * 4, at(w), ...dims, at(dx) + e * dxLen * 4, a, b]);
        return;
      }
      const lut = lookupScratch(g, scratch);
      // narrow outputs: examples in the lanes (a quad at a time, one example too)
      const quads = dataQuadsApply(g);
      if (examples > 1 || quads) {
        // a batch: each thread runs whole examples with tables of its own (the slots that fit after the index)
        const { ranges } = lookupSlots(g, scratch, examples, quads ? 4 : 1, 0);
        runSlices(
          quads ? 'convBwdDataQuads' : 'convBwdDataExamples',
          ranges.map(([e0, e1], k) => [at(dy), ...lookupDims(g), at(dx), lut, k, e0, e1]),
        );
        return;
      }
      par('convLutTables', g.ho * g.wo * g.co * 16, g.ho, 1, (a, b) => [at(dy), ...lookupDims(g), lut, a, b]);
      par('convBwdDataLut', (g.ho * g.wo * g.co * taps(g) * g.ci) / 4, g.ci, 32, (a, b) => [...lookupDims(g), at(dx), a, b, lut]);
    },
    // float16 stores in and out: threads take whole examples, each decoding, looking up and
    // encoding its own in its slot (tables, then dY and dX floats): one hand-off for the batch
    convBwdDataHalf: (dy, _w, g, dx, scratch, examples) => {
      const slices = dxExampleSlices(g, scratch, examples, [4, 4], dy.length, dx.length);
      if (!slices) return false;
      runSlices(
        'convBwdDataExamplesHalf',
        slices.ranges.map(([e0, e1], k) => [at(dy), ...lookupDims(g), at(dx), slices.lut, k, e0, e1, slices.bufs]),
      );
      return true;
    },
    // po2 stores: the same, each thread writing its examples' codes under its own running bias,
    // then each range re-coded to the common one (an example's codes start a word)
    convBwdDataPo2: (dy, dyBias, _w, g, dx, scratch, examples) => {
      const slices = dxExampleSlices(g, scratch, examples, [1, 32], po2Capacity(dy), po2Capacity(dx));
      if (!slices) return null;
      runSlices(
        'convBwdDataExamplesPo2',
        slices.ranges.map(([e0, e1], k) => [at(dy), dyBias, ...lookupDims(g), at(dx), slices.lut, k, e0, e1, slices.bufs]),
      );
      return po2CommonBias(dx, slices.ranges, g.hi * g.wi * g.ci);
    },
    convFwdFloatFloat: (x, w, g, y) => conv('convFwdFloatFloat', g, g.co, g.ho, 1, (d, a, b) => [at(x), at(w), ...d, at(y), a, b]),
    convBwdDataFloat: (dy, w, g, dx) => conv('convBwdDataFloat', g, g.co, g.ci, 4, (d, a, b) => [at(dy), at(w), ...d, at(dx), a, b]),
    // over sign inputs with scratch: every example's sign rows, then lookups split over 16-channel
    // blocks (each block's tables and accumulators in its own region of the scratch)
    convBwdFilter: (dy, x, xBits, g, count, dw, scratch, examples = 1, run = { first: true, last: true }) => {
      const dims = [g.hi, g.wi, g.ci, g.ho, g.wo, count, g.pad];
      const work = (examples * g.ho * g.wo * count * taps(g) * g.ci) / 4;
      if (xBits && scratch && filterQuadsApply(g, examples)) {
        // narrow maps, 4 examples or more a call: examples in fours
        const lut = scratchAt('convBwdFilter', 'scratch', ex.convFilterQuadBytes(g.hi, g.wi, g.ci, g.ho, g.wo, count, examples) as unknown as number, scratch);
        const quads = Math.ceil(examples / 4);
        par('convQuadSignRows', examples * g.hi * g.wi * g.ci, quads, 1, (a, b) => [at(x), g.hi, g.wi, g.ci, lut, examples, a, b]);
        par('convBwdFilterQuads', work, count, 16, (a, b) => [at(dy), ...dims, at(dw), a, b, lut, examples, runFlags(run)]);
        return;
      }
      if (!xBits || !scratch || !filterLookupApplies(g)) {
        // several examples: threads split the channels once for all of them
        if (examples > 1 && isBlocked3x3(g))
          return par('convBwdFilterExamples', work * 4, count, 1, (a, b) => [at(dy), at(x), xBits ? 1 : 0, ...dims, at(dw), a, b, examples]);
        const [dyLen, xLen] = [g.ho * g.wo * count * 4, g.hi * g.wi * (xBits ? wordsBytes(g.ci) : g.ci * 4)];
        for (let e = 0; e < examples; e++)
          conv('convBwdFilter', { ...g, co: count }, count, count, 1, (d, a, b) => [at(dy) + e * dyLen, at(x) + e * xLen, xBits ? 1 : 0, ...d, at(dw), a, b]);
        return;
      }
      const lut = scratchAt('convBwdFilter', 'scratch', ex.convFilterLutBytes(g.hi, g.wi, g.ci, g.ho, g.wo, count, examples) as unknown as number, scratch);
      par('convFilterSignRows', examples * g.hi * g.wi * g.ci, examples, 1, (a, b) => [at(x), g.hi, g.wi, g.ci, lut, a, b]);
      par('convBwdFilterLut', work, count, 16, (a, b) => [at(dy), ...dims, at(dw), a, b, lut, examples, runFlags(run)]);
    },
    msqeSums: (w, m, e, lo, hi) => {
      const err = ex.msqeErr(at(w), m ? at(m) : 0, m ? 1 : 0, w.length, e, lo, hi) as unknown as number;
      return { err, num: (ex.msqeNum as unknown as { value: number }).value, den: (ex.msqeDen as unknown as { value: number }).value };
    },
    winsorizedColumnSums: (d, x, B, n, c, scratch, out) => ex.winsorSums(at(d), at(x), B, n, c, at(scratch), at(out)),
    adamMaxAbs: (t) => ex.adamMaxAbs(at(t.w), t.w instanceof Uint16Array ? 1 : 0, ...adamGradArgs(t)) as unknown as number,
    adamUpdate: (t, s) => {
      // element-wise, so threads take slices: whole rows of a 1-bit gradient, else element ranges
      const wBytes = t.w instanceof Uint16Array ? 2 : 4;
      const mBytes = t.m instanceof Uint16Array ? 2 : 4;
      const unit = t.gradBits ? t.cols : 1;
      const step = [s.lr, s.b1, s.b2, s.c1, s.c2, s.epsScaled, s.scale, s.ratio];
      par('adamUpdate', t.n * ADAM_WORK, t.n / unit, t.gradBits ? 1 : 16, (a, b) => {
        const [e0, e1] = [a * unit, b * unit];
        const grad = at(t.grad) + (t.gradBits ? a * wordsBytes(t.cols) : e0 * 4);
        const gradArgs = [grad, t.gradBits ? 1 : 0, t.gradBits ? t.cols : e1 - e0, t.gradScale, e1 - e0, t.binary ? 1 : 0, t.clip];
        return [at(t.w) + e0 * wBytes, wBytes === 2 ? 1 : 0, at(t.m) + e0 * mBytes, at(t.v) + e0 * mBytes, mBytes === 2 ? 1 : 0, ...gradArgs, ...step];
      });
    },
    // rows split across threads (each writes its own rows' words)
    packMask: (z, rows, cols, bits, clip) =>
      par('packMask', rows * cols, rows, 1, (r0, r1) => [at(z) + r0 * cols * 4, r1 - r0, cols, at(bits) + r0 * wordsBytes(cols), clip]),
    packSignMask: (z, rows, cols, bits, mask, clip) =>
      par('packSignMask', 2 * rows * cols, rows, 1, (r0, r1) => [
        at(z) + r0 * cols * 4,
        r1 - r0,
        cols,
        at(bits) + r0 * wordsBytes(cols),
        at(mask) + r0 * wordsBytes(cols),
        clip,
      ]),
    applyMask: (x, rows, cols, mask, row0) => ex.applyMask(at(x), rows, cols, at(mask), row0),
    // element-wise and per-channel passes split too (the same arithmetic per element or channel)
    signFloat: (z, n, out, keep) => par('signFloat', n, n, 4, (a, b) => [at(z) + a * 4, b - a, at(out) + a * 4, keep ? at(keep) + a * 4 : 0]),
    // split by channels over sign bits (low-memory: 12.4 -> 5.8-8.5 ms a CNV step on 2 threads);
    // over a float32 x̂ (standard) both threads stream every row of dy and x̂ for a few channels
    // each, slower than one (7.8-8.1 -> 9.0-10.2 ms; earlier, before the sums sat in registers,
    // 5.3 -> 10.6 ms a step)
    bnBackStats: (dy, xh, rows, C, row0, G, stats, l1Exact) =>
      par('bnBackStats', xh instanceof Uint32Array ? rows * C * BN_WORK : 0, C, 16, (c0, c1) => [
        at(dy),
        at(xh),
        xh instanceof Uint32Array ? 1 : 0,
        rows,
        C,
        row0,
        G,
        at(stats),
        l1Exact ? 1 : 0,
        c0,
        c1,
      ]),
    // dx split by rows
    bnBackDx: (out, xh, rows, C, row0, G, stats, sigma, l1Exact) =>
      par('bnBackDx', rows * C * BN_WORK, rows, 1, (r0, r1) => [
        at(out) + r0 * C * 4,
        at(xh),
        xh instanceof Uint32Array ? 1 : 0,
        r1 - r0,
        C,
        row0 + r0,
        G,
        at(stats),
        at(sigma),
        l1Exact ? 1 : 0,
      ]),
    // the sums split by channels (each channel's are its own); with x̂ or its sign bits kept, the
    // last pass then splits by rows (bnApplyRows, see there). By channels, a pass that also wrote
    // x̂ was slower than one thread (standard CNV, 2 threads: batch-norm forward 42 vs 22 ms a
    // step), so it ran on one; sums by channels and x̂ by rows: standard MLP B=100, 2 threads,
    // 101 -> 67 µs a step for these calls, the step 0.968x (paired, with the repack split; CNV level)
    bnNormalize: (y, rows, C, l2, mean, sigma, eps, shift) => {
      const work = rows * C * BN_WORK;
      const align = shift?.signs ? 32 : 4;
      const applyByRows = (shift?.signs !== undefined || shift?.xhat !== undefined) && splits(work, C, align);
      par('bnNormalize', work, C, align, (a, b) => [
        at(y),
        rows,
        C,
        l2 ? 1 : 0,
        at(mean),
        at(sigma),
        eps,
        a,
        b,
        shift?.xhat ? at(shift.xhat) : 0,
        shift ? at(shift.beta) : 0,
        shift?.signs ? at(shift.signs) : 0,
        applyByRows ? 0 : 1,
      ]);
      if (applyByRows)
        par('bnApplyRows', work, rows, 1, (r0, r1) => [
          at(y),
          C,
          at(mean),
          at(sigma),
          shift?.xhat ? at(shift.xhat) : 0,
          at(shift!.beta),
          shift?.signs ? at(shift.signs) : 0,
          r0,
          r1,
        ]);
    },
    addRowBias: (y, rows, b) => par('addRowBias', rows * b.length, rows, 1, (r0, r1) => [at(y) + r0 * b.length * 4, r1 - r0, b.length, at(b)]),
    maxAbs: (x, n) => ex.maxAbs(at(x), n) as unknown as number,
    po2Write: (src, n, words, base, scale) => {
      if (!po2Split(src, n, words, base, scale, false)) ex.po2Write(at(src), n, at(words), base, scale);
    },
    po2WriteRange: (src, n, words, base, scale) => {
      const split = po2Split(src, n, words, base, scale, true);
      if (split) return split;
      const max = ex.po2WriteRange(at(src), n, at(words), base, scale) as unknown as number;
      return { max, minNonzero: (ex.absMinNonzero as unknown as { value: number }).value };
    },
    // threads take slices from CODEC_SPLIT elements (it streams the batch: one thread scaled 1.0x)
    absRange: (x, n) => {
      if (pool && n >= CODEC_SPLIT) {
        const slices = splitRange(n, threads, 4);
        pool.run(
          'absRangeSlice',
          slices.map(([a, b]) => [at(x) + 4 * a, b - a]),
        );
        return slicesRange(slices.length);
      }
      const max = ex.absRange(at(x), n) as unknown as number;
      return { max, minNonzero: (ex.absMinNonzero as unknown as { value: number }).value };
    },
    po2Recode: (words, first, n, delta) => {
      const slices = po2WordSlices(first, n);
      if (!slices) ex.po2Recode(at(words), first, n, delta);
      else
        pool!.run(
          'po2Recode',
          slices.map(([a, b]) => [at(words), first + a, b - a, delta]),
        );
    },
    // rows split across threads (each its own rows' codes)
    maskHalf: (codes, rows, cols, mask) => codecPar('maskHalf', rows * cols, rows, 1, (r0, r1) => [at(codes) + 2 * r0 * cols, r1 - r0, cols, at(mask), r0]),
    po2MaskTop: (words, n, mask) => {
      const slices = po2Slices(n);
      if (!slices) return ex.po2MaskTop(at(words), 0, n, at(mask)) as unknown as number;
      pool!.run(
        'po2MaskTop',
        slices.map(([a, b]) => [at(words), a, b - a, at(mask)]),
      );
      const tops = new Int32Array(memory.buffer, scratch, (slices.length * scratchBytes) / 4);
      let top = 0;
      for (let i = 0; i < slices.length; i++) top = Math.max(top, tops[(i * scratchBytes) / 4]);
      return top;
    },
    po2ShiftUp: (words, n, delta) => {
      const slices = po2Slices(n);
      if (!slices) ex.po2ShiftUp(at(words), 0, n, delta);
      else
        pool!.run(
          'po2ShiftUp',
          slices.map(([a, b]) => [at(words), a, b - a, delta]),
        );
    },
    // rows split across threads (each decodes its own rows, with its own table in its scratch)
    po2Read: (words, first, rows, stride, cols, b, out) =>
      codecPar('po2Read', rows * cols, rows, 1, (r0, r1) => [at(words), first + r0 * stride, r1 - r0, stride, cols, b, at(out) + 4 * r0 * cols]),
    bopFoldSlog: (codes, scales, n, flat0, tile, len, gamma, scratch) => {
      // the block a tile starts inside and the one it ends inside go through the scratch block;
      // the whole blocks between fold in place in the tile, split across threads
      const [raw, sc, t, bm] = [atBytes(codes), at(scales), at(tile), at(scratch)];
      const end = flat0 + len;
      const h = Math.min(end, Math.ceil(flat0 / BOP_BLOCK) * BOP_BLOCK);
      const tail = end === n ? end : Math.max(h, Math.floor(end / BOP_BLOCK) * BOP_BLOCK);
      if (h > flat0) ex.bopFoldSlog(raw, sc, n, flat0, t, h - flat0, gamma, bm);
      const blocks = Math.ceil((tail - h) / BOP_BLOCK);
      const b0 = h / BOP_BLOCK;
      if (blocks > 0) par('bopFoldWhole', (tail - h) * BOP_WORK, blocks, 1, (a, b) => [raw, sc, n, t + (h - flat0 + a * BOP_BLOCK) * 4, gamma, b0 + a, b0 + b]);
      if (end > tail) ex.bopFoldSlog(raw, sc, n, tail, t + (tail - flat0) * 4, end - tail, gamma, bm);
    },
    bopFlipSlog: (codes, scales, n, bits, rowLen, tau, out) => {
      // rows split across threads, each slice its own (max |m|, flips) pair in out
      const rows = n / rowLen;
      const slices = slicesFor(n * BOP_WORK, rows, 1);
      runSlices(
        'bopFlipRows',
        slices.map(([r0, r1], k) => [atBytes(codes), at(scales), n, at(bits), rowLen, tau, at(out) + 8 * k, r0, r1]),
      );
      const words = new Int32Array(out.buffer, out.byteOffset, 2 * slices.length);
      let flips = 0;
      let max = 0;
      for (let k = 0; k < slices.length; k++) {
        flips += words[2 * k + 1];
        max = Math.max(max, out[2 * k]);
      }
      out[0] = max;
      return flips;
    },
    pixelsToFloat: (bytes, n, out) => ex.pixelsToFloat(atBytes(bytes), n, at(out)),
    pixelRowsToFloat: (bytes, rows, stride, cols, out) => ex.pixelRowsToFloat(atBytes(bytes), rows, stride, cols, at(out)),
    // threads take ranges of output rows, each decoding, summing and packing its own (one hand-off)
    signDwBits: (dy, x, rows, m, n, bits) =>
      byTiles('signDwBitsTiles', ex.signDwBitsTileRows(n) as unknown as number, rows * m * n, m, (a, b) => [at(dy), at(x), rows, m, n, at(bits), a, b]),
    // threads take ranges of tiles, each summing and applying its own (one hand-off a layer)
    denseDwAdam: (dy, x, rows, m, n, t, s) => dwAdam('denseDwAdamTiles', at(dy), at(x), rows, m, n, t, s),
    // the same over float inputs (the standard first layer)
    denseDwAdamFloat: (dy, x, rows, m, n, t, s) => dwAdam('denseDwAdamFloatTiles', at(dy), at(x), rows, m, n, t, s),
    // threads take ranges of tiles (whole momentum blocks), each decoding, summing and folding its own
    bopDwBits: (dy, bias, x, rows, m, n, codes, scales, gamma) =>
      bopDw('bopDwBitsTiles', ex.bopDwBitsTileRows(n) as unknown as number, dy, bias, at(x), rows, m, n, codes, scales, gamma),
    bopDwPixels: (dy, bias, pixels, rows, m, n, codes, scales, gamma) =>
      bopDw('bopDwPixelTiles', ex.bopDwPixelTileRows(n) as unknown as number, dy, bias, atBytes(pixels), rows, m, n, codes, scales, gamma),
    // threads take ranges of 64-column tiles, each decoding and packing its own (one hand-off)
    signDwPixels: (dy, pixels, rows, m, n, bits) =>
      par('signDwPixelTiles', rows * m * n, Math.ceil(n / 64), 1, (a, b) => [at(dy), atBytes(pixels), rows, m, n, at(bits), a * 64, Math.min(n, b * 64)]),
    // threads split the channels (in place too: each reads and writes only its own), at multiples
    // of 32 so each owns its argmax words
    maxPoolFloat: (x, out, B, d, argmax) =>
      par('maxPoolFloat', B * d.h * d.w * d.C, d.C, 32, (c0, c1) => [at(x), at(out), B, d.h, d.w, d.C, d.size, argmax ? at(argmax) : 0, c0, c1]),
    maxPoolGradRow: (src, source, d, b, y, dy, out) => ex.maxPoolGradRow(at(src), source, d.h, d.w, d.C, d.size, b, y, at(dy), at(out)),
    maxPoolGrad: (src, source, d, B, dy, out) =>
      par('maxPoolGradExamples', B * d.h * d.w * d.C, B, 1, (b0, b1) => [at(src), source, d.h, d.w, d.C, d.size, at(dy), at(out), b0, b1]),
    // float16 stores in and out: threads take examples, each decoding, placing and encoding its own rows
    maxPoolGradHalf: (src, source, d, B, dy, out) => {
      if (!(ex.poolGradHalfFits(d.w, d.C, d.size) as unknown as number)) return false;
      par('maxPoolGradHalfExamples', B * d.h * d.w * d.C, B, 1, (b0, b1) => [at(src), source, d.h, d.w, d.C, d.size, at(dy), at(out), b0, b1]);
      return true;
    },
    // po2 stores: the same, each thread writing its examples under its own running bias, then
    // each range re-coded to the common one (an example's codes start a word)
    maxPoolGradPo2: (src, source, d, B, dy, dyBias, out) => {
      const perExample = d.h * d.w * d.C;
      if (perExample % 32 !== 0 || !(ex.poolGradPo2Fits(d.w, d.C, d.size) as unknown as number)) return null;
      const ranges = slicesFor(B * perExample, B, 1);
      runSlices(
        'maxPoolGradPo2Examples',
        ranges.map(([b0, b1]) => [at(src), source, d.h, d.w, d.C, d.size, at(dy), dyBias, at(out), b0, b1]),
      );
      return po2CommonBias(out, ranges, perExample);
    },
    clipZero: (x, z, n, clip) => par('clipZero', n, n, 4, (a, b) => [at(x) + a * 4, at(z) + a * 4, b - a, clip]),
    clipZeroShifted: (x, xhat, beta, rows, C, clip) =>
      par('clipZeroShifted', rows * C, rows, 1, (a, b) => [at(x) + a * C * 4, at(xhat) + a * C * 4, at(beta), b - a, C, clip]),
    floatToHalf: (src, n, dst) => {
      const body = n & ~3;
      if (body) codecPar('halfEncode', body, body, 4, (a, b) => [at(src) + 4 * a, b - a, at(dst) + 2 * a, 0]);
      for (let i = body; i < n; i++) dst[i] = toHalf(src[i], true);
    },
    halfToFloat: (src, n, dst) => {
      const body = n & ~3;
      if (body) codecPar('halfDecode', body, body, 4, (a, b) => [at(src) + 2 * a, b - a, at(dst) + 4 * a, 0]);
      for (let i = body; i < n; i++) dst[i] = fromHalf(src[i]);
    },
    halfRowsToFloat: (src, rows, stride, cols, dst) =>
      codecPar('halfDecodeRows', rows * cols, rows, 1, (r0, r1) => [at(src) + 2 * r0 * stride, r1 - r0, stride, cols, at(dst) + 4 * r0 * cols]),
    holds: (a) => arena.buffers.has(a.buffer) && !(a instanceof Float64Array),
    // rows split across threads (each writes its own rows' words), from CODEC_SPLIT values: a
    // weight layer's repack then goes to the threads that just updated its rows (standard MLP,
    // 2 threads: 108 -> 85 µs a step for these calls)
    packLatentSigns: (latent, rows, cols, bits, rowWords = (cols + 31) >>> 5) => {
      const bytes = latent instanceof Uint16Array ? 2 : 4;
      codecPar('packSigns', rows * cols, rows, 1, (r0, r1) => [
        at(latent) + r0 * cols * bytes,
        bytes === 2 ? 1 : 0,
        r1 - r0,
        cols,
        at(bits) + r0 * rowWords * 4,
        rowWords,
      ]);
    },
    dispose: () => void pool?.terminate(),
  };
  return { kernels, ledger: new MemoryLedger({ arena }) };
}

const KERNEL_EXPORTS = [
  'gemmBinBin',
  'gemmFloatBin',
  'gemmFloatBinCols',
  'gemmFloatBinT',
  'gemmFloatFloat',
  'gemmFloatFloatT',
  'gemmTnFloat',
  'gemmTnBin',
  'convFwdBin',
  'convFwdBinExamples',
  'convFwdFloat',
  'convFwdPatches',
  'convFwdPatchesExamples',
  'convLutTables',
  'convBwdDataLut',
  'convBwdDataExamples',
  'convBwdDataExamplesHalf',
  'convBwdDataExamplesPo2',
  'convBwdDataQuads',
  'convBwdFilter',
  'convBwdFilterExamples',
  'convBwdFilterLut',
  'convFilterSignRows',
  'convQuadSignRows',
  'convBwdFilterQuads',
  'convFwdFloatFloat',
  'convBwdDataFloat',
  'convGFwdBin',
  'convGFwdFloat',
  'convGBwdData',
  'convGBwdFilter',
  'convGFwdFloatFloat',
  'convGBwdDataFloat',
  'adamUpdate',
  'signFloat',
  'bnNormalize',
  'bnApplyRows',
  'bnBackDx',
  'bnBackStats',
  'addRowBias',
  'clipZero',
  'clipZeroShifted',
  'maxPoolFloat',
  'packSigns',
  'packMask',
  'packSignMask',
  'maxPoolGradExamples',
  'maxPoolGradHalfExamples',
  'maxPoolGradPo2Examples',
  'bopFoldWhole',
  'bopFlipRows',
  'halfEncode',
  'halfDecode',
  'halfDecodeRows',
  'signDwPixelTiles',
  'signDwBitsTiles',
  'denseDwAdamTiles',
  'denseDwAdamFloatTiles',
  'bopDwBitsTiles',
  'bopDwPixelTiles',
  'denseDxHalfRows',
  'denseDxPo2Rows',
  'gemmPixelsBinRows',
  'po2Read',
  'po2WriteSlice',
  'absRangeSlice',
  'po2Recode',
  'maskHalf',
  'po2MaskTop',
  'po2ShiftUp',
];

const unbound = (): never => {
  throw new Error('wasm kernels: call instantiate() and use the kernels it returns');
};

/** The kernel set as selected at start-up; networks call instantiate() for their own instance. */
export const wasmKernels: Kernels = {
  name: 'wasm-simd',
  gemmBinBin: unbound,
  gemmFloatBin: unbound,
  gemmFloatBinT: unbound,
  gemmFloatBinTIndex: unbound,
  gemmFloatFloat: unbound,
  gemmFloatFloatT: unbound,
  gemmTnFloat: unbound,
  gemmTnBin: unbound,
  convFwdBin: unbound,
  convFwdFloat: unbound,
  convBwdDataIndex: unbound,
  convBwdData: unbound,
  convBwdFilter: unbound,
  convFwdFloatFloat: unbound,
  convBwdDataFloat: unbound,
  instantiate: bind,
};
