// The kernel interface. Matrices are row-major; binary operands are packed sign bits
// (see bits.ts), rows padded to whole 32-bit words. A fast implementation (WebAssembly) plugs in
// behind the same interface and is tested against the reference.
import type { Floats, MemoryLedger } from '../ledger.js';
import type { ConvGeometry } from './conv-geometry.js';
import type { PoolArgmaxSource, PoolDims } from './pool-reference.js';

/** Σ m·(w − Q(w))², Σ m·w·q and Σ m·q² at one exponent. */
export interface MsqeSums {
  err: number;
  num: number;
  den: number;
}

/** One parameter tensor as Adam sees it (see src/optim/adam.ts for the reference update). */
export interface AdamTensor {
  w: Float32Array | Float64Array | Uint16Array;
  m: Float32Array | Float64Array | Uint16Array;
  v: Float32Array | Float64Array | Uint16Array;
  grad: Floats | Uint32Array;
  /** Gradient as packed sign bits (rows of `cols` bits) times gradScale. */
  gradBits: boolean;
  cols: number;
  gradScale: number;
  n: number;
  binary: boolean;
  clip: number;
}

export interface AdamStep {
  lr: number;
  b1: number;
  b2: number;
  c1: number;
  c2: number;
  epsScaled: number;
  scale: number;
  ratio: number;
}

/** Where a convBwdFilter call stands in a run of calls into one dw (see convBwdFilter). */
export interface FilterRun {
  first: boolean;
  last: boolean;
}

/** What a training batch-norm pass keeps besides y (Kernels.bnNormalize): float32 x̂ or its sign bits, and the shift β. */
export type BnShift = { xhat: Floats; signs?: undefined; beta: Floats } | { xhat?: undefined; signs: Uint32Array; beta: Floats };

export interface Kernels {
  readonly name: string;
  /** Threads a call may use (1 for single-threaded kernel sets). */
  readonly threads?: number;
  /** y[B×m] = X̂[B×n bits] · Ŵ[m×n bits]ᵀ  (xnor-popcount; exact integers). */
  gemmBinBin(x: Uint32Array, w: Uint32Array, B: number, m: number, n: number, y: Floats): void;
  /** y[B×m] = X[B×n] · Ŵ[m×n bits]ᵀ. */
  gemmFloatBin(x: Floats, w: Uint32Array, B: number, m: number, n: number, y: Floats): void;
  /** dx[B×n] = dY[B×m] · Ŵ[m×n bits]  (sign-selected accumulation). */
  /**
   * dx[B×n] = dY[B×m] · Ŵ[m×n]; `index` (denseLutFloats(m, n) floats) as gemmFloatBinTIndex left
   * it for these weights (kernels that sum by table lookups read it; the reference does not).
   */
  gemmFloatBinT(dy: Floats, w: Uint32Array, B: number, m: number, n: number, dx: Floats, index: Floats): void;
  /** Prepares gemmFloatBinT's `index` for weights w: once after the weights change, before that layer's calls. */
  gemmFloatBinTIndex(w: Uint32Array, m: number, n: number, index: Floats): void;
  /** y[B×m] = X[B×n] · W[m×n]ᵀ, float weights (fixed-point layers). */
  gemmFloatFloat(x: Floats, w: Floats, B: number, m: number, n: number, y: Floats): void;
  /** dx[B×n] = dY[B×m] · W[m×n], float weights. */
  gemmFloatFloatT(dy: Floats, w: Floats, B: number, m: number, n: number, dx: Floats): void;
  /** dw[m×n] += dY[B×m]ᵀ · X[B×n]. */
  gemmTnFloat(dy: Floats, x: Floats, B: number, m: number, n: number, dw: Floats): void;
  /** dw[m×n] += dY[B×m]ᵀ · X̂[B×n bits]. */
  gemmTnBin(dy: Floats, x: Uint32Array, B: number, m: number, n: number, dw: Floats): void;
  /** 3x3 convolution, one example (see conv-reference.ts for the layouts). */
  /** `examples` consecutive examples of x and y (default 1). */
  convFwdBin(x: Uint32Array, w: Uint32Array, g: ConvGeometry, y: Floats, examples?: number): void;
  /**
   * Optional: convFwdBin over ±1 floats (the standard recipe's kept signs), each example's sign
   * bits packed inside the kernels; returns false, doing nothing, where they cannot (an example's
   * bits past their scratch, or a geometry they do not batch).
   */
  convFwdSignFloats?(x: Floats, w: Uint32Array, g: ConvGeometry, y: Floats, examples: number): boolean;
  /** `examples` consecutive examples of x and y (default 1). */
  convFwdFloat(x: Floats, w: Uint32Array, g: ConvGeometry, y: Floats, examples?: number): void;
  /**
   * Prepares `scratch` (convLutFloats(g) floats) for convBwdData with binary weights w: once after
   * the weights change, before that layer's convBwdData calls (the reference needs nothing).
   */
  convBwdDataIndex(w: Uint32Array, g: ConvGeometry, scratch: Floats): void;
  /**
   * dx = dY convolved with the rotated binary kernel; scratch as convBwdDataIndex left it for w.
   * `examples` consecutive examples (default 1) of dy and dx, each as one example's call would
   * give it (kernels may split them across threads where scratch holds more tables).
   */
  convBwdData(dy: Floats, w: Uint32Array, g: ConvGeometry, dx: Floats, scratch: Floats, examples?: number): void;
  /**
   * Optional: convBwdData between float16 gradient stores' codes (dy, dx), `examples` of them,
   * each as decoding, convBwdData and encoding would give it (scratch as convBwdDataIndex left it
   * for w, with room after it for the threads' tables and float buffers); false (nothing done)
   * where the kernels do not take that geometry or scratch holds no thread's buffers.
   */
  convBwdDataHalf?(dy: Uint16Array, w: Uint32Array, g: ConvGeometry, dx: Uint16Array, scratch: Floats, examples: number): boolean;
  /**
   * Optional: convBwdDataHalf between po2 stores' words (dy's codes under dyBias): dx's codes as
   * a fill of the decoded dY's convBwdData under the bias of its max |value|, which it returns;
   * null (dx's words then arbitrary) where it cannot.
   */
  convBwdDataPo2?(dy: Uint32Array, dyBias: number, w: Uint32Array, g: ConvGeometry, dx: Uint32Array, scratch: Floats, examples: number): number | null;
  /** Float weights (fixed-point layers), layout co × 9 × ci like dW. */
  convFwdFloatFloat(x: Floats, w: Floats, g: ConvGeometry, y: Floats): void;
  convBwdDataFloat(dy: Floats, w: Floats, g: ConvGeometry, dx: Floats): void;
  /**
   * dw += dY's `count` channels against X (floats, or sign bits with xBits), over `examples`
   * consecutive examples of dy and x (default 1), in example order; with bits, kernels may use
   * `scratch` (convFilterLutFloats(g, count, examples) floats, overwritten) for lookup tables.
   * `run` marks a call of a run of calls into the same dw with the same scratch, shape and
   * count: dw is read at its first call and complete after its last; between them it may be
   * stale (the sums kept in scratch) and nothing else may use scratch. Default: a run of one.
   */
  convBwdFilter(
    dy: Floats,
    x: Floats | Uint32Array,
    xBits: boolean,
    g: ConvGeometry,
    count: number,
    dw: Floats,
    scratch?: Floats,
    examples?: number,
    run?: FilterRun,
  ): void;
  /**
   * Kernels that compute in their own linear memory (WebAssembly) give each network a fresh
   * instance and a ledger that allocates there, so operands are used in place, never copied.
   */
  instantiate?(opts?: { threads?: number }): { kernels: Kernels; ledger: MemoryLedger };
  /** Optional fast MSQE sums for the fixed-point quantizers (msqeExponent in quant/ is the reference). */
  msqeSums?(w: Floats, m: Floats | null, e: number, lo: number, hi: number): MsqeSums;
  /** Optional fast winsorized column sums (winsorizedColumnSums in src/optim/winsorize.ts is the reference). */
  winsorizedColumnSums?(d: Floats, x: Floats, B: number, n: number, c: number, scratch: Floats, out: Floats): void;
  /** Optional fast Adam (the block loop in adam.ts is the reference). */
  adamMaxAbs?(t: AdamTensor): number;
  adamUpdate?(t: AdamTensor, s: AdamStep): void;
  /** Optional fast sign packing of latent weights (BinaryWeights.repack is the reference). */
  /** Rows of bits start `rowWords` words apart (default: whole words for cols). */
  packLatentSigns?(latent: Float32Array | Uint16Array, rows: number, cols: number, bits: Uint32Array, rowWords?: number): void;
  /** Optional: bit c of each row set where |z| <= clip (a sign's STE mask; packMaskReference in src/bits.ts). */
  packMask?(z: Floats, rows: number, cols: number, bits: Uint32Array, clip: number): void;
  /**
   * Optional: a sign layer's packings of z in one pass: bits as packLatentSigns (z >= 0, -0
   * included; rows of ⌈cols/32⌉ words) and mask as packMask (|z| <= clip).
   */
  packSignMask?(z: Floats, rows: number, cols: number, bits: Uint32Array, mask: Uint32Array, clip: number): void;
  /** Optional: x[r, c] = 0 where bit c of mask row row0 + r is 0 (applyMaskReference in src/bits.ts). */
  applyMask?(x: Floats, rows: number, cols: number, mask: Uint32Array, row0: number): void;
  /** Optional: out[k] = z[k] >= 0 ? 1 : -1 (signFloatReference in src/bits.ts); with keep, z copied there in the same pass. */
  signFloat?(z: Floats, n: number, out: Floats, keep?: Floats): void;
  /** Optional: x[k] = 0 where |z[k]| > clip (clipZeroReference in src/bits.ts). */
  clipZero?(x: Floats, z: Floats, n: number, clip: number): void;
  /** Optional: x[r, c] = 0 where |x̂[r, c] + β[c]| > clip, rows × C (clipZeroShiftedReference in src/bits.ts). */
  clipZeroShifted?(x: Floats, xhat: Floats, beta: Floats, rows: number, C: number, clip: number): void;
  /** Optional max-pool forward over B examples, out possibly x itself (maxPoolFloatReference in pool-reference.ts). */
  maxPoolFloat?(x: Floats, out: Floats, B: number, d: PoolDims, argmax: Uint32Array | null): void;
  /** Optional max-pool gradient of one input row (maxPoolGradRowReference in pool-reference.ts). */
  maxPoolGradRow?(src: Floats | Uint32Array, source: PoolArgmaxSource, d: PoolDims, b: number, y: number, dy: Floats, out: Floats): void;
  /** Optional max-pool gradient of a whole batch (maxPoolGradReference in pool-reference.ts). */
  maxPoolGrad?(src: Floats | Uint32Array, source: PoolArgmaxSource, d: PoolDims, B: number, dy: Floats, out: Floats): void;
  /**
   * Optional: maxPoolGrad between float16 stores' codes (dy: B·hp·wp × C, out: B·h·w × C), each
   * code as decoding, maxPoolGrad and encoding give it; false (nothing done) where it cannot.
   */
  maxPoolGradHalf?(src: Floats | Uint32Array, source: PoolArgmaxSource, d: PoolDims, B: number, dy: Uint16Array, out: Uint16Array): boolean;
  /**
   * Optional: maxPoolGradHalf between po2 stores' words (dy's codes under dyBias): out's codes as
   * a fill of the decoded dY's maxPoolGrad under the bias of its max |value|, which it returns;
   * null (out's words then arbitrary) where it cannot.
   */
  maxPoolGradPo2?(
    src: Floats | Uint32Array,
    source: PoolArgmaxSource,
    d: PoolDims,
    B: number,
    dy: Uint32Array,
    dyBias: number,
    out: Uint32Array,
  ): number | null;
  /**
   * Optional: out[k] = bytes[k]·2/255 − 1 (pixelsToFloat in src/data/pixels.ts is the reference);
   * bytes may be staged in out's own tail, at or after byte 3n of it.
   */
  pixelsToFloat?(bytes: Uint8Array, n: number, out: Floats): void;
  /**
   * Optional: columns [0, cols) of `rows` byte rows `stride` apart (bytes in the kernels' memory,
   * not overlapping out) as pixelsToFloat, into out's rows of `cols` (pixelRowsToFloat in
   * src/data/pixels.ts is the reference).
   */
  pixelRowsToFloat?(bytes: Uint8Array, rows: number, stride: number, cols: number, out: Floats): void;
  /**
   * The first dense layer's 1-bit weight gradient over pixels in one call: bits (rows of
   * ⌈n/32⌉ words, m rows) = sign(dYᵀ·X) with dY float16 codes (rows × m) and X the pixel bytes
   * (rows × n, as pixelsToFloat decodes them), every sum over the rows in order as gemmTnFloat's.
   */
  signDwPixels?(dy: Uint16Array, pixels: Uint8Array, rows: number, m: number, n: number, bits: Uint32Array): void;
  /**
   * The first dense layer's forward over pixel bytes (B × n, decoded as pixelsToFloat) in one call:
   * y = X·Ŵ as gemmFloatBin computes it; false (nothing done) where the rows do not fit the
   * kernel's scratch.
   */
  gemmPixelsBin?(pixels: Uint8Array, w: Uint32Array, B: number, m: number, n: number, y: Floats): boolean;
  /**
   * gemmPixelsBin over the whole batch with no staging buffer: `stage(i0, i1, into)` writes pixel
   * rows [i0, i1) (rows of n bytes) into `into`, which lies in the tail of y's rows [i0, i1), once
   * for each thread's range of rows; then y = X·Ŵ as gemmPixelsBin. Each range writes its rows of
   * y in order behind its reader (4m >= n: a row of y is at least as long as a row of bytes), so
   * no row is overwritten before it is decoded. False (nothing staged, nothing done) where 4m < n
   * or the kernel's scratch does not fit the rows.
   */
  gemmPixelsBinInPlace?(stage: (i0: number, i1: number, into: Uint8Array) => void, w: Uint32Array, B: number, m: number, n: number, y: Floats): boolean;
  /**
   * A binary dense layer's 1-bit weight gradient in one call: bits = sign(dYᵀ·X̂) with dY float16
   * codes (rows × m) and X̂ packed sign rows of n, summed as gemmTnBin sums (groups of 4 rows in
   * order); false (nothing done) where n is too wide for the kernel's scratch.
   */
  signDwBits?(dy: Uint16Array, x: Uint32Array, rows: number, m: number, n: number, bits: Uint32Array): boolean;
  /**
   * The standard recipe's dense weight gradient applied by Adam in one call: dW = dYᵀ·X̂ as
   * gemmTnBin sums it (dY float32, rows × m, X̂ packed sign rows of n), tile by tile, each tile
   * then updating its elements of t (float32 weights and moments; t.grad is not read) as
   * adamUpdate does with s (scale and ratio 1); false (nothing done) where the operands or n do
   * not suit the kernel.
   */
  denseDwAdam?(dy: Floats, x: Uint32Array, rows: number, m: number, n: number, t: AdamTensor, s: AdamStep): boolean;
  /**
   * denseDwAdam over float32 inputs x (rows × n; the standard first layer's pixels as floats):
   * dW = dYᵀ·X as gemmTnFloat sums it, tile by tile into Adam; false (nothing done) where the
   * operands or n do not suit the kernel.
   */
  denseDwAdamFloat?(dy: Floats, x: Floats, rows: number, m: number, n: number, t: AdamTensor, s: AdamStep): boolean;
  /**
   * The tiny recipe's dense weight gradient folded into Bop's 8-bit slog momentum in one call:
   * dW = dYᵀ·X̂ as gemmTnBin sums it, with dY read from a po2 store's words (rows × m codes under
   * bias, as po2Read decodes them) and X̂ packed sign rows of n, then m ← (1 − γ)·m + γ·dW and
   * each block re-encoded as bopFoldSlog does over the same elements (codes, scales: the
   * momentum's); false (nothing done) where no tile of whole blocks fits the kernel's scratch.
   */
  bopDwBits?(dy: Uint32Array, bias: number, x: Uint32Array, rows: number, m: number, n: number, codes: Uint8Array, scales: Floats, gamma: number): boolean;
  /**
   * bopDwBits for the first dense layer over pixel bytes (rows × n, decoded as pixelsToFloat),
   * dW summed as gemmTnFloat sums it; false (nothing done) where no tile of whole blocks fits the
   * kernel's scratch.
   */
  bopDwPixels?(
    dy: Uint32Array,
    bias: number,
    pixels: Uint8Array,
    rows: number,
    m: number,
    n: number,
    codes: Uint8Array,
    scales: Floats,
    gamma: number,
  ): boolean;
  /**
   * A binary dense layer's input gradient from float16 dY codes (B × m) into float16 dX codes
   * (B × n) in one call, as decoding, gemmFloatBinT (the sign index built by gemmFloatBinTIndex)
   * and encoding chunk by chunk would give; false (nothing done) where the rows do not fit.
   */
  denseDxHalf?(dy: Uint16Array, B: number, m: number, n: number, dx: Uint16Array, index: Floats): boolean;
  /**
   * A binary dense layer's input gradient between po2 stores in one call (the tiny recipe): dY's
   * codes (B × m under dyBias), dX = dY·Ŵ as gemmFloatBinT computes it, written into dX's words
   * (B × n codes) as a one-pass fill writes them; returns dX's max |value| (whose bias the codes
   * are under), or null (the words then hold nothing usable) where the rows do not fit or a
   * re-code would not be exact.
   */
  denseDxPo2?(dy: Uint32Array, dyBias: number, B: number, m: number, n: number, dx: Uint32Array, index: Floats): number | null;
  /** Optional: max |x[k]|, NaN ignored (the max-abs pass of fillStore in src/storage/grad-store.ts is the reference). */
  maxAbs?(x: Floats, n: number): number;
  /** Optional: 5-bit power-of-two codes of src[0 .. n) under 2^b into words from index base (po2CodeOfScaled + po2Put are the reference). */
  po2Write?(src: Floats, n: number, words: Uint32Array, base: number, scale: number): void;
  /** max |x| and the smallest non-zero |x| over k < n (NaN ignored; +Infinity when all are 0). */
  absRange?(x: Floats, n: number): { max: number; minNonzero: number };
  /** Optional: po2Write and absRange of the same values in one pass. */
  po2WriteRange?(src: Floats, n: number, words: Uint32Array, base: number, scale: number): { max: number; minNonzero: number };
  /** Codes of elements [first, first + n) of a po2 store moved to a bias delta higher (po2RecodeTable). */
  po2Recode?(words: Uint32Array, first: number, n: number, delta: number): void;
  /** Columns of `rows` rows (`stride` elements apart, the first at element `first`) of a po2 store decoded under bias b, as float32 rows of `cols`. */
  po2Read?(words: Uint32Array, first: number, rows: number, stride: number, cols: number, b: number, out: Floats): void;
  /**
   * Optional: a sign's STE mask applied to stored gradient codes in place, as decoding, applyMask
   * and encoding again would leave them (the references are the JavaScript loops of the float16
   * and po2 stores in src/storage/grad-store.ts). maskHalf: rows of float16 codes, the mask rows
   * ⌈cols/32⌉ words each. po2MaskTop: n po2 codes under a flat mask (bit k for code k), masked
   * codes and magnitude-0 ones set to 0; returns the largest magnitude (code & 15) kept, 0 if
   * none. po2ShiftUp: the n codes' non-zero magnitudes + delta (po2RecodeTable where no magnitude
   * leaves 1..15).
   */
  maskHalf?(codes: Uint16Array, rows: number, cols: number, mask: Uint32Array): void;
  po2MaskTop?(words: Uint32Array, n: number, mask: Uint32Array): number;
  po2ShiftUp?(words: Uint32Array, n: number, delta: number): void;
  /**
   * Optional: one batch-norm group's mean, sigma (+ eps) and normalization in place (the loop in
   * BatchNormLayer.forward is the reference). With `shift`: x̂ also kept (stored in shift.xhat,
   * or its sign bits in shift.signs as packSigns packs them), and y left as x̂ + shift.beta
   * (float32 sums, as addRowBias), in the same last pass.
   */
  bnNormalize?(y: Floats, rows: number, C: number, l2: boolean, mean: Floats, sigma: Floats, eps: number, shift?: BnShift): void;
  /** y (rows × b.length) += b on every row (quant-layer.ts addRowBias is the reference). */
  addRowBias?(y: Floats, rows: number, b: Floats): void;
  /**
   * Optional batch-norm backward passes over rows row0 .. row0 + rows (BatchNormLayer.backward is
   * the reference): the per-group sums, then dx in place of dy. x̂ is float32 or packed sign bits.
   */
  bnBackStats?(dy: Floats, xh: Floats | Uint32Array, rows: number, C: number, row0: number, G: number, stats: Floats, l1Exact: boolean): void;
  bnBackDx?(out: Floats, xh: Floats | Uint32Array, rows: number, C: number, row0: number, G: number, stats: Floats, sigma: Floats, l1Exact: boolean): void;
  /** Optional float16 codecs (toHalf(v, saturate) / fromHalf in src/storage/fp16.ts are the reference). */
  floatToHalf?(src: Floats, n: number, dst: Uint16Array): void;
  halfToFloat?(src: Uint16Array, n: number, dst: Floats): void;
  /** Columns [0, cols) of `rows` rows of half codes `stride` apart, as float32 rows of `cols` (a store's column range). */
  halfRowsToFloat?(src: Uint16Array, rows: number, stride: number, cols: number, dst: Floats): void;
  /**
   * Optional: Bop's fused fold into 8-bit slog momentum, elements [flat0, flat0 + len) of n; a
   * block the tile starts or ends inside waits in scratch (256 floats) until its last element is
   * folded, and the tile's values may be overwritten (Bop.foldTile on the int8 store is the reference).
   */
  bopFoldSlog?(codes: Uint8Array, scales: Floats, n: number, flat0: number, tile: Floats, len: number, gamma: number, scratch: Floats): void;
  /**
   * Optional: Bop's update on fused 8-bit slog momentum; returns the flips, out[0] = max |m| (out:
   * 2 words per thread of scratch; Bop.updateSlot is the reference).
   */
  bopFlipSlog?(codes: Uint8Array, scales: Floats, n: number, bits: Uint32Array, rowLen: number, tau: number, out: Floats): number;
  /** Whether an array lives where these kernels can use it in place (their own memory). */
  holds?(a: Floats | Uint8Array | Uint16Array | Uint32Array): boolean;
  /** Release threads an instance holds. */
  dispose?(): void;
}
