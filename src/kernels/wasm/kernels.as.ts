// WebAssembly SIMD kernels (AssemblyScript). Same contracts as src/kernels/reference.ts:
// row-major matrices; binary operands are packed sign bits (bit 1 = +1), rows padded to whole
// 32-bit words, padding bits 0. Arguments are byte addresses in the shared linear memory.
// Binary operands are never expanded to float: bits select the sign of the float operand.

import { LOG_MANT, POW_SLOG, SLOG_STEP0, SLOG_STEPS } from './block8-tables.as';
import { maxPoolGradRow } from './pool.as';
export { maxPoolFloat, maxPoolGradExamples, maxPoolGradRow } from './pool.as';

// Sign-flip masks for 4 lanes from 4 bits: lane l gets 0x80000000 when bit l is 0 (weight -1).
// A 16-entry table in static memory: one load instead of computing the mask.
const SIGN_FLIP = memory.data<u32>([
  0x80000000, 0x80000000, 0x80000000, 0x80000000, 0, 0x80000000, 0x80000000, 0x80000000,
  0x80000000, 0, 0x80000000, 0x80000000, 0, 0, 0x80000000, 0x80000000,
  0x80000000, 0x80000000, 0, 0x80000000, 0, 0x80000000, 0, 0x80000000,
  0x80000000, 0, 0, 0x80000000, 0, 0, 0, 0x80000000,
  0x80000000, 0x80000000, 0x80000000, 0, 0, 0x80000000, 0x80000000, 0,
  0x80000000, 0, 0x80000000, 0, 0, 0, 0x80000000, 0,
  0x80000000, 0x80000000, 0, 0, 0, 0x80000000, 0, 0,
  0x80000000, 0, 0, 0, 0, 0, 0, 0,
]);

// @ts-ignore: decorator
@inline
function signFlip(nibble: u32): v128 {
  return v128.load(SIGN_FLIP + (<usize>nibble << 4));
}

/**
 * The sign-flip masks of `count` items' 16 sign bits (from bit `shift` of the word at src, items
 * `stride` bytes apart) into masks, 64 bytes an item: what the mask-scratch kernels expand once
 * per 16-column block and read for every term.
 */
// @ts-ignore: decorator
@inline
function expandMasks(src: usize, stride: usize, count: i32, shift: u32, masks: usize): void {
  for (let i = 0, sp = src, q = masks; i < count; i++, sp += stride, q += 64) {
    const bits = load<u32>(sp) >>> shift;
    v128.store(q, signFlip(bits & 15));
    v128.store(q + 16, signFlip((bits >>> 4) & 15));
    v128.store(q + 32, signFlip((bits >>> 8) & 15));
    v128.store(q + 48, signFlip((bits >>> 12) & 15));
  }
}

export function heapBase(): usize {
  return __heap_base;
}

/** Terms whose sign masks one pass of rowsSumBits expands: 64 bytes each, MASK_TERMS·64 of scratch (also a row of partial sums for the grouped scatter kernels). */
const MASK_TERMS = 512;
const MASK_BYTES: i32 = MASK_TERMS * 64;
/** After the masks: the non-zero gradient lists of filterSumSparse, 8 bytes an entry. */
const LIST_BYTES: i32 = 32768;
/** Room past those for larger working sets (convBwdFilterLut's byte index of an example: 98 KB for 32x32x128). */
const EXTRA_BYTES: i32 = 65536;
export const MASK_SCRATCH_BYTES: i32 = MASK_BYTES + LIST_BYTES + EXTRA_BYTES;

/** Rows (batch rows) a dense lookup table holds (3 vectors). */
const DENSE_ROWS = 12;
/** Bytes of one group's dense lookup tables: 16 entries × DENSE_ROWS floats. */
const DENSE_GROUP_BYTES: usize = 16 * DENSE_ROWS * 4;

/**
 * This instance's scratch (MASK_SCRATCH_BYTES in the shared memory): a global of the instance,
 * so the main thread and every worker each have their own.
 */
let maskScratch: usize = 0;
export function setScratch(p: usize): void {
  maskScratch = p;
}

/** Popcount of a·b's xor over one row pair, scalar (for rows and tails outside the 4-row blocks). */
// @ts-ignore: decorator
@inline
function xorPopRow(xr: usize, wr: usize, k0: i32, wpr: i32): i32 {
  let d = 0;
  for (let k = k0; k < wpr; k++) d += popcnt<i32>(load<i32>(xr + (<usize>k << 2)) ^ load<i32>(wr + (<usize>k << 2)));
  return d;
}

/** Differing bits of x against 4 rows (w0 + j·wStride), over `words` words: 4 popcounts in one vector. */
// @ts-ignore: decorator
@inline
function xorPop4(xr: usize, w0: usize, wStride: usize, words: i32): v128 {
  const w1 = w0 + wStride;
  const w2 = w1 + wStride;
  const w3 = w2 + wStride;
  const full = words & ~3;
  let a0 = i16x8.splat(0);
  let a1 = i16x8.splat(0);
  let a2 = i16x8.splat(0);
  let a3 = i16x8.splat(0);
  // byte counters take up to 31 chunks (31 × 8 < 256) before widening to 16 bits
  for (let k0 = 0; k0 < full; k0 += 124) {
    const kEnd = min(full, k0 + 124);
    let b0 = i8x16.splat(0);
    let b1 = i8x16.splat(0);
    let b2 = i8x16.splat(0);
    let b3 = i8x16.splat(0);
    for (let k = k0; k < kEnd; k += 4) {
      const off = <usize>k << 2;
      const xv = v128.load(xr + off);
      b0 = i8x16.add(b0, i8x16.popcnt(v128.xor(xv, v128.load(w0 + off))));
      b1 = i8x16.add(b1, i8x16.popcnt(v128.xor(xv, v128.load(w1 + off))));
      b2 = i8x16.add(b2, i8x16.popcnt(v128.xor(xv, v128.load(w2 + off))));
      b3 = i8x16.add(b3, i8x16.popcnt(v128.xor(xv, v128.load(w3 + off))));
    }
    a0 = i16x8.add(a0, i16x8.extadd_pairwise_i8x16_u(b0));
    a1 = i16x8.add(a1, i16x8.extadd_pairwise_i8x16_u(b1));
    a2 = i16x8.add(a2, i16x8.extadd_pairwise_i8x16_u(b2));
    a3 = i16x8.add(a3, i16x8.extadd_pairwise_i8x16_u(b3));
  }
  let diff = channelCounts4(a0, a1, a2, a3);
  if (full < words)
    diff = i32x4.add(diff, i32x4(xorPopRow(xr, w0, full, words), xorPopRow(xr, w1, full, words), xorPopRow(xr, w2, full, words), xorPopRow(xr, w3, full, words)));
  return diff;
}

/** The first `words` (1-3) words at p in the low lanes, zeros above (a run's tail, read without passing its end). */
// @ts-ignore: decorator
@inline
function loadWords(p: usize, words: i32): v128 {
  if (words == 1) return v128.load32_zero(p);
  const two = v128.load64_zero(p);
  return words == 2 ? two : v128.load32_lane(p + 8, two, 2);
}

/**
 * Differing bits of a 3x3 patch against 4 output channels' kernels: `rows` rows (3; fewer at a
 * padded map's border) of `run` words (x rows xRowStep bytes apart; channel j's kernel row ky at
 * w0 + j·wStride + ky·wRowStep). Byte
 * counters (at most 31 vectors before widening to 16 bits: once for a whole patch that has at most
 * 31, as 128 channels' 9, else per row or per 30 vectors of one), reduced to 4 counts once: the
 * runs' tails (a run of 6 words: 64 channels) go through vectors too.
 */
// @ts-ignore: decorator
@inline
function xorPopPatch4(xBase: usize, xRowStep: usize, w0: usize, wStride: usize, wRowStep: usize, run: i32, rows: i32): v128 {
  const full = run & ~3;
  const tail = run - full;
  const w1 = w0 + wStride;
  const w2 = w1 + wStride;
  const w3 = w2 + wStride;
  let a0 = i16x8.splat(0), a1 = i16x8.splat(0), a2 = i16x8.splat(0), a3 = i16x8.splat(0);
  let b0 = i8x16.splat(0), b1 = i8x16.splat(0), b2 = i8x16.splat(0), b3 = i8x16.splat(0);
  // every byte counter stays below 256: 8 a vector, 31 vectors
  const together = rows * ((run + 3) >>> 2) <= 31;
  for (let ky = 0; ky < rows; ky++) {
    const xr = xBase + <usize>ky * xRowStep;
    const wk = <usize>ky * wRowStep;
    for (let k0 = 0; k0 < full || (k0 == 0 && tail > 0); k0 += 120) {
      const kEnd = min(full, k0 + 120);
      for (let k = k0; k < kEnd; k += 4) {
        const off = wk + (<usize>k << 2);
        const xv = v128.load(xr + (<usize>k << 2));
        b0 = i8x16.add(b0, i8x16.popcnt(v128.xor(xv, v128.load(w0 + off))));
        b1 = i8x16.add(b1, i8x16.popcnt(v128.xor(xv, v128.load(w1 + off))));
        b2 = i8x16.add(b2, i8x16.popcnt(v128.xor(xv, v128.load(w2 + off))));
        b3 = i8x16.add(b3, i8x16.popcnt(v128.xor(xv, v128.load(w3 + off))));
      }
      if (tail > 0 && kEnd == full) {
        const off = wk + (<usize>full << 2);
        const xv = loadWords(xr + (<usize>full << 2), tail);
        b0 = i8x16.add(b0, i8x16.popcnt(v128.xor(xv, loadWords(w0 + off, tail))));
        b1 = i8x16.add(b1, i8x16.popcnt(v128.xor(xv, loadWords(w1 + off, tail))));
        b2 = i8x16.add(b2, i8x16.popcnt(v128.xor(xv, loadWords(w2 + off, tail))));
        b3 = i8x16.add(b3, i8x16.popcnt(v128.xor(xv, loadWords(w3 + off, tail))));
      }
      if (!together) {
        a0 = i16x8.add(a0, i16x8.extadd_pairwise_i8x16_u(b0));
        a1 = i16x8.add(a1, i16x8.extadd_pairwise_i8x16_u(b1));
        a2 = i16x8.add(a2, i16x8.extadd_pairwise_i8x16_u(b2));
        a3 = i16x8.add(a3, i16x8.extadd_pairwise_i8x16_u(b3));
        b0 = i8x16.splat(0);
        b1 = i8x16.splat(0);
        b2 = i8x16.splat(0);
        b3 = i8x16.splat(0);
      }
    }
  }
  if (together) {
    a0 = i16x8.extadd_pairwise_i8x16_u(b0);
    a1 = i16x8.extadd_pairwise_i8x16_u(b1);
    a2 = i16x8.extadd_pairwise_i8x16_u(b2);
    a3 = i16x8.extadd_pairwise_i8x16_u(b3);
  }
  return channelCounts4(a0, a1, a2, a3);
}

/** 4 channels' 16-bit counters (a_j: channel j's, 8 lanes) summed to one count a channel, channel j in lane j. */
// @ts-ignore: decorator
@inline
function channelCounts4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const ones = i16x8.splat(1);
  const u0 = i32x4.dot_i16x8_s(a0, ones);
  const u1 = i32x4.dot_i16x8_s(a1, ones);
  const u2 = i32x4.dot_i16x8_s(a2, ones);
  const u3 = i32x4.dot_i16x8_s(a3, ones);
  const t0 = i32x4.add(v128.shuffle<i32>(u0, u1, 0, 4, 1, 5), v128.shuffle<i32>(u0, u1, 2, 6, 3, 7));
  const t1 = i32x4.add(v128.shuffle<i32>(u2, u3, 0, 4, 1, 5), v128.shuffle<i32>(u2, u3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
}

/**
 * xorPopPatch4 for 33-64 input channels (2 words a pixel): a channel's kernel is 18 adjacent words,
 * and the patch's three runs of 6 words are laid against it as 4 full vectors and a half (a row's
 * last 2 words and the next row's first 2 share one), not 3 rows of a vector and a half each: 5
 * popcounts a channel instead of 6, and one widening.
 */
// @ts-ignore: decorator
@inline
function xorPopPatch4Two(xr: usize, xRowStep: usize, w0: usize, wStride: usize): v128 {
  const r1 = xr + xRowStep;
  const r2 = r1 + xRowStep;
  const x0 = v128.load(xr);
  const x1 = v128.load64_lane(r1, v128.load64_zero(xr + 16), 1);
  const x2 = v128.load(r1 + 8);
  const x3 = v128.load(r2);
  const x4 = v128.load64_zero(r2 + 16);
  const w1 = w0 + wStride;
  const w2 = w1 + wStride;
  const w3 = w2 + wStride;
  const b0 = patchTwoBytes(x0, x1, x2, x3, x4, w0);
  const b1 = patchTwoBytes(x0, x1, x2, x3, x4, w1);
  const b2 = patchTwoBytes(x0, x1, x2, x3, x4, w2);
  const b3 = patchTwoBytes(x0, x1, x2, x3, x4, w3);
  return channelCounts4(i16x8.extadd_pairwise_i8x16_u(b0), i16x8.extadd_pairwise_i8x16_u(b1), i16x8.extadd_pairwise_i8x16_u(b2), i16x8.extadd_pairwise_i8x16_u(b3));
}

/** Per-byte counts (at most 40) of one channel's 18 kernel words at w differing from the patch vectors. */
// @ts-ignore: decorator
@inline
function patchTwoBytes(x0: v128, x1: v128, x2: v128, x3: v128, x4: v128, w: usize): v128 {
  const a = i8x16.add(i8x16.popcnt(v128.xor(x0, v128.load(w))), i8x16.popcnt(v128.xor(x1, v128.load(w, 16))));
  const b = i8x16.add(i8x16.popcnt(v128.xor(x2, v128.load(w, 32))), i8x16.popcnt(v128.xor(x3, v128.load(w, 48))));
  return i8x16.add(i8x16.add(a, b), i8x16.popcnt(v128.xor(x4, v128.load64_zero(w + 64))));
}

/** y[B×m] = X̂[B×n bits] · Ŵ[m×n bits]ᵀ, by xnor-popcount: 4 outputs at a time share the input loads. */
export function gemmBinBin(x: usize, w: usize, B: i32, m: i32, n: i32, y: usize): void {
  const wpr = (n + 31) >>> 5;
  const rowBytes = <usize>wpr << 2;
  const nv = i32x4.splat(n);
  for (let i = 0; i < B; i++) {
    const xr = x + <usize>i * rowBytes;
    const yr = y + (<usize>(i * m) << 2);
    let j = 0;
    for (; j + 4 <= m; j += 4) {
      const diff = xorPop4(xr, w + <usize>j * rowBytes, rowBytes, wpr);
      storeXnor(yr, j, nv, diff);
    }
    for (; j < m; j++) store<f32>(yr + (<usize>j << 2), <f32>(n - 2 * xorPopRow(xr, w + <usize>j * rowBytes, 0, wpr)));
  }
}

/** Σ_k x[k]·ŵ[k] over one row of n floats and its packed sign row. */
// @ts-ignore: decorator
@inline
function dotFloatBits(xr: usize, wr: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let k = 0;
  const full = n & ~31;
  for (; k < full; k += 32) {
    const bits = load<u32>(wr + (<usize>k >>> 3));
    const xk = xr + (<usize>k << 2);
    for (let g = 0; g < 8; g++) {
      const v = v128.load(xk + (<usize>g << 4));
      acc = f32x4.add(acc, v128.xor(v, signFlip((bits >>> (g << 2)) & 15)));
    }
  }
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  if (k < n) {
    const bits = load<u32>(wr + (<usize>k >>> 3));
    for (let b = 0; k < n; k++, b++) {
      const v = load<f32>(xr + (<usize>k << 2));
      s += (bits >>> b) & 1 ? v : -v;
    }
  }
  return s;
}

/** The sign-flip mask of the 4 lanes at bit offset `shift` of a packed row word. */
// @ts-ignore: decorator
@inline
function flipAt(word: u32, shift: u32): v128 {
  return signFlip((word >>> shift) & 15);
}

/** Horizontal sum of 4 lanes, in lane order (the order dotFloatBits uses). */
// @ts-ignore: decorator
@inline
function lanesSum(a: v128): f32 {
  return f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3);
}

/** x[k]·ŵ[k] summed over k in [full, n) in order, added to s (the scalar tail of dotFloatBits). */
// @ts-ignore: decorator
@inline
function tailFloatBits(s: f32, xr: usize, wr: usize, full: i32, n: i32): f32 {
  if (full < n) {
    const bits = load<u32>(wr + (<usize>full >>> 3));
    for (let k = full, b = 0; k < n; k++, b++) {
      const v = load<f32>(xr + (<usize>k << 2));
      s += (bits >>> b) & 1 ? v : -v;
    }
  }
  return s;
}

/**
 * y[B×m] = X[B×n] · Ŵ[m×n bits]ᵀ by table lookups: each output sums, over groups of 4 inputs in
 * order, one float32 partial ((s0·x0 + s1·x1) + s2·x2) + s3·x3 (s the weight row's 4 signs there).
 * The 16 partials of a group are tabulated for 12 input rows at a time in this instance's kernel
 * scratch (groups in chunks it holds; a later chunk adds onto y, which keeps the order), and a
 * weight row's 4 bits there index them: 2 weight rows × 12 input rows in 6 registers, one load
 * and one add for 4 multiply-adds. A row's result does not depend on the rows beside it, so not
 * on the row chunking or the thread split either.
 */
export function gemmFloatBin(x: usize, w: usize, B: i32, m: i32, n: i32, y: usize): void {
  gemmFloatBinStrided(x, w, B, m, n, y, m);
}

/**
 * Columns [j0, j1) of gemmFloatBin's y (rows of m): the thread split for a few input rows, where
 * splitting the rows would leave each thread too few for a table block.
 */
export function gemmFloatBinCols(x: usize, w: usize, B: i32, m: i32, n: i32, y: usize, j0: i32, j1: i32): void {
  gemmFloatBinStrided(x, w + <usize>j0 * (<usize>((n + 31) >>> 5) << 2), B, j1 - j0, n, y + (<usize>j0 << 2), m);
}

/** Groups of 4 inputs whose tables one chunk holds: a multiple of 8 (a weight word's nibbles). */
const FORWARD_CHUNK: i32 = (<i32>(<usize>(MASK_BYTES + LIST_BYTES) / DENSE_GROUP_BYTES)) & ~7;

/** gemmFloatBin for m weight rows into y rows ym floats apart. */
function gemmFloatBinStrided(x: usize, w: usize, B: i32, m: i32, n: i32, y: usize, ym: i32): void {
  if (!maskScratch) unreachable();
  const G = (n + 3) >>> 2;
  const xRow = <usize>n << 2;
  for (let r0 = 0; r0 < B; r0 += DENSE_ROWS) {
    const rows = min(DENSE_ROWS, B - r0);
    for (let g0 = 0; g0 < G; g0 += FORWARD_CHUNK) {
      const g1 = min(G, g0 + FORWARD_CHUNK);
      rowGroupTables(x + <usize>r0 * xRow, n, rows, g0, g1);
      // as many vectors of rows as the block has (a chunk of 8 rows, one example at inference)
      if (rows > 8) forwardBlock(w, m, n, y + <usize>(r0 * ym) * 4, ym, rows, g0, g1, 3);
      else if (rows > 4) forwardBlock(w, m, n, y + <usize>(r0 * ym) * 4, ym, rows, g0, g1, 2);
      else forwardBlock(w, m, n, y + <usize>(r0 * ym) * 4, ym, rows, g0, g1, 1);
    }
  }
}

/** Where gemmPixelsBinRows decodes its rows: past the tables gemmFloatBin builds (FORWARD_CHUNK groups). */
const PIXEL_ROWS_AT: usize = <usize>(MASK_BYTES + LIST_BYTES);

/** Whether gemmPixelsBinRows' decoded rows (DENSE_ROWS of n floats) fit its scratch. */
export function gemmPixelsBinFits(n: i32): bool {
  return <usize>(DENSE_ROWS * n) << 2 <= <usize>MASK_SCRATCH_BYTES - PIXEL_ROWS_AT;
}

/**
 * The first dense layer's forward over pixel bytes (rows of n, decoded as pixelsToFloat), rows
 * [r0, r1): DENSE_ROWS rows at a time decoded into this instance's scratch past gemmFloatBin's
 * tables, then gemmFloatBin on them. A row's result does not depend on the rows beside it, so
 * threads take ranges of rows, each decoding its own: one hand-off for all the rows the caller
 * staged, where chunks of decoded rows were split by columns (each thread building the same tables).
 */
export function gemmPixelsBinRows(pix: usize, w: usize, m: i32, n: i32, y: usize, r0: i32, r1: i32): void {
  if (!maskScratch) unreachable(); // the tables and decoded rows live there
  const rowsAt = maskScratch + PIXEL_ROWS_AT;
  for (let r = r0; r < r1; r += DENSE_ROWS) {
    const rows = min(DENSE_ROWS, r1 - r);
    pixelRowsToFloat(pix + <usize>r * <usize>n, rows, n, n, rowsAt);
    gemmFloatBinStrided(rowsAt, w, rows, m, n, y + (<usize>(r * m) << 2), m);
  }
}

/** The start of accumulator vector v (rows 4v .. 4v + 3 of a block at o, rows `stride` bytes apart): zero, or what a previous chunk left. */
// @ts-ignore: decorator
@inline
function blockAcc(o: usize, stride: usize, rows: i32, v: i32, resume: bool): v128 {
  return resume ? gatherLanes(o + <usize>(4 * v) * stride, stride, rows - 4 * v) : f32x4.splat(0);
}

/** Stores a block's accumulators: vecs vectors of rows for column(s) o (a) and o + 4 (c, with `two`). */
// @ts-ignore: decorator
@inline
function storeBlock(o: usize, stride: usize, rows: i32, vecs: i32, two: bool, a0: v128, a1: v128, a2: v128, c0: v128, c1: v128, c2: v128): void {
  storeColumns(o, stride, rows, a0, c0, two);
  if (vecs > 1) storeColumns(o + 4 * stride, stride, rows - 4, a1, c1, two);
  if (vecs > 2) storeColumns(o + 8 * stride, stride, rows - 8, a2, c2, two);
}

/** One row block of gemmFloatBin against groups [g0, g1): 2 weight rows × `vecs` vectors of input rows in registers. */
// @ts-ignore: decorator
@inline
function forwardBlock(w: usize, m: i32, n: i32, y: usize, ym: i32, rows: i32, g0: i32, g1: i32, vecs: i32): void {
  const wpr = <usize>((n + 31) >>> 5) << 2;
  const yRow = <usize>ym << 2;
  for (let j = 0; j < m; j += 2) {
    const two = j + 1 < m;
    const o = y + (<usize>j << 2);
    const resume = g0 > 0;
    let a0 = blockAcc(o, yRow, rows, 0, resume);
    let a1 = vecs > 1 ? blockAcc(o, yRow, rows, 1, resume) : f32x4.splat(0);
    let a2 = vecs > 2 ? blockAcc(o, yRow, rows, 2, resume) : f32x4.splat(0);
    let c0 = two ? blockAcc(o + 4, yRow, rows, 0, resume) : f32x4.splat(0);
    let c1 = two && vecs > 1 ? blockAcc(o + 4, yRow, rows, 1, resume) : f32x4.splat(0);
    let c2 = two && vecs > 2 ? blockAcc(o + 4, yRow, rows, 2, resume) : f32x4.splat(0);
    const wa = w + <usize>j * wpr;
    const wc = two ? wa + wpr : wa;
    let tables = maskScratch;
    // a weight word's 8 nibbles at a time (chunks start at a multiple of 8 groups)
    for (let g = g0; g < g1; ) {
      let bitsA = load<u32>(wa + (<usize>(g >>> 3) << 2));
      let bitsC = load<u32>(wc + (<usize>(g >>> 3) << 2));
      const end = min(g1, g + 8);
      for (; g < end; g++, tables += DENSE_GROUP_BYTES, bitsA >>>= 4, bitsC >>>= 4) {
        const p = tables + <usize>(bitsA & 15) * (DENSE_ROWS * 4);
        const q = tables + <usize>(bitsC & 15) * (DENSE_ROWS * 4);
        a0 = f32x4.add(a0, v128.load(p));
        c0 = f32x4.add(c0, v128.load(q));
        if (vecs > 1) {
          a1 = f32x4.add(a1, v128.load(p, 16));
          c1 = f32x4.add(c1, v128.load(q, 16));
        }
        if (vecs > 2) {
          a2 = f32x4.add(a2, v128.load(p, 32));
          c2 = f32x4.add(c2, v128.load(q, 32));
        }
      }
    }
    storeBlock(o, yRow, rows, vecs, two, a0, a1, a2, c0, c1, c2);
  }
}

/**
 * Tables of column groups [g0, g1) (4 columns each) for `rows` rows of x (n wide) into this
 * instance's scratch, DENSE_GROUP_BYTES a group: entry idx, rows as floats (past `rows`, and
 * columns past n: zero). The forward's inputs, the dense input gradient's dY.
 */
function rowGroupTables(x: usize, n: i32, rows: i32, g0: i32, g1: i32): void {
  const xRow = <usize>n << 2;
  for (let g = g0; g < g1; g++) {
    const base = maskScratch + <usize>(g - g0) * DENSE_GROUP_BYTES;
    const inputs = n - g * 4;
    for (let v = 0; v < (rows + 3) >>> 2; v++) {
      // 4 rows' 4 inputs (a block's vectors only)
      const r = v * 4;
      const px = x + <usize>r * xRow + (<usize>(g * 4) << 2);
      const x0 = r < rows ? loadChannels(px, inputs) : f32x4.splat(0);
      const x1 = r + 1 < rows ? loadChannels(px + xRow, inputs) : f32x4.splat(0);
      const x2 = r + 2 < rows ? loadChannels(px + 2 * xRow, inputs) : f32x4.splat(0);
      const x3 = r + 3 < rows ? loadChannels(px + 3 * xRow, inputs) : f32x4.splat(0);
      storeRowPartials16(base + (<usize>v << 4), DENSE_ROWS * 4, x0, x1, x2, x3);
    }
  }
}

/**
 * The operand of 4 columns (group g of 16) of source row t: S = u32, packed sign rows: the
 * sign-flip mask of the row's bits (already shifted to the 16 columns); S = f32, float rows: the
 * 4 floats at sp.
 */
// @ts-ignore: decorator
@inline
function operand4<S>(sp: usize, bits: u32, g: u32): v128 {
  if (isInteger<S>()) return signFlip((bits >>> (g << 2)) & 15);
  return v128.load(sp + (<usize>g << 4));
}

/** One term d·operand: the sign applied to d (sign rows) or the product (float rows, as saxpyRow). */
// @ts-ignore: decorator
@inline
function term4<S>(d: v128, operand: v128): v128 {
  if (isInteger<S>()) return v128.xor(d, operand);
  return f32x4.mul(d, operand);
}

/** Bytes of one source row of n columns: packed sign bits in whole words, or floats. */
// @ts-ignore: decorator
@inline
function sourceRowBytes<S>(n: i32): usize {
  return isInteger<S>() ? <usize>((n + 31) >>> 5) << 2 : <usize>n << 2;
}

/** Where columns [k, k+16) of source row 0 start (sign rows: the word holding them). */
// @ts-ignore: decorator
@inline
function sourceColumn<S>(src: usize, k: i32): usize {
  return isInteger<S>() ? src + (<usize>(k >>> 5) << 2) : src + (<usize>k << 2);
}

/**
 * out[r, k] (+)= Σ_t d(r, t)·src[t, k] for rows r in [r0, r1) and all n columns, t in order from
 * 0 to T, with d(r, t) = d[r·dR + t·dT]; src is T packed sign rows (S = u32) or float rows
 * (S = f32). Each output is summed in t order starting from 0 or, with `accumulate`, from its
 * stored value, so the result is the same as adding one whole row at a time (addSignedRow,
 * saxpyRow). Blocked: 2 output rows × 16 columns held in 8 registers while t runs, each source
 * operand loaded once for both rows, every output written once.
 */
function rowsSum<S>(d: usize, dR: i32, dT: i32, src: usize, T: i32, n: i32, out: usize, r0: i32, r1: i32, accumulate: bool): void {
  const rowBytes = sourceRowBytes<S>(n);
  if (isInteger<S>()) {
    rowsSumCols<S>(d, dR, dT, src, rowBytes, T, n, out, r0, r1, accumulate, 0, n);
    return;
  }
  // float rows: bands of columns whose T source rows stay in L1 while every output row pair reads
  // them (whole rows of a 784-pixel first layer, 313 KB at T = 100, came from L2 for each pair)
  const band = max(16, (SUM_BAND_BYTES / (T << 2)) & ~15);
  for (let k0 = 0; k0 < n; k0 += band) rowsSumCols<S>(d, dR, dT, src, rowBytes, T, n, out, r0, r1, accumulate, k0, min(n, k0 + band));
}

/** Bytes of float source rows one band of rowsSum reads (T rows × the band's columns). */
const SUM_BAND_BYTES: i32 = 16384;

/**
 * rowsSum over columns [k0, k1) (k1 − k0 a multiple of 16 unless k1 = n), source rows rowBytes
 * apart (column k of row t at sourceColumn(src, k) + t·rowBytes: a band copied out of wider rows
 * passes src moved back by k0 columns).
 */
// @ts-ignore: decorator
@inline
function rowsSumCols<S>(
  d: usize, dR: i32, dT: i32, src: usize, rowBytes: usize, T: i32, n: i32, out: usize, r0: i32, r1: i32, accumulate: bool, k0: i32, k1: i32,
): void {
  const outBytes = <usize>n << 2;
  const n16 = k0 + ((k1 - k0) & ~15);
  const dRb = <usize>dR << 2;
  const dTb = <usize>dT << 2;
  let r = r0;
  for (; r + 2 <= r1; r += 2) {
    const o0 = out + <usize>r * outBytes;
    const o1 = o0 + outBytes;
    const dr0 = d + <usize>r * dRb;
    const dr1 = dr0 + dRb;
    for (let k = k0; k < n16; k += 16) {
      const off = <usize>k << 2;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
      if (accumulate) {
        a0 = v128.load(o0 + off); a1 = v128.load(o0 + off + 16); a2 = v128.load(o0 + off + 32); a3 = v128.load(o0 + off + 48);
        c0 = v128.load(o1 + off); c1 = v128.load(o1 + off + 16); c2 = v128.load(o1 + off + 32); c3 = v128.load(o1 + off + 48);
      }
      const shift = <u32>(k & 31);
      let sp = sourceColumn<S>(src, k);
      let dp = <usize>0;
      for (let t = 0; t < T; t++, sp += rowBytes, dp += dTb) {
        const bits: u32 = isInteger<S>() ? load<u32>(sp) >>> shift : 0;
        const f0 = operand4<S>(sp, bits, 0);
        const f1 = operand4<S>(sp, bits, 1);
        const f2 = operand4<S>(sp, bits, 2);
        const f3 = operand4<S>(sp, bits, 3);
        const v0 = v128.load32_splat(dr0 + dp);
        const v1 = v128.load32_splat(dr1 + dp);
        a0 = f32x4.add(a0, term4<S>(v0, f0));
        a1 = f32x4.add(a1, term4<S>(v0, f1));
        a2 = f32x4.add(a2, term4<S>(v0, f2));
        a3 = f32x4.add(a3, term4<S>(v0, f3));
        c0 = f32x4.add(c0, term4<S>(v1, f0));
        c1 = f32x4.add(c1, term4<S>(v1, f1));
        c2 = f32x4.add(c2, term4<S>(v1, f2));
        c3 = f32x4.add(c3, term4<S>(v1, f3));
      }
      v128.store(o0 + off, a0); v128.store(o0 + off + 16, a1); v128.store(o0 + off + 32, a2); v128.store(o0 + off + 48, a3);
      v128.store(o1 + off, c0); v128.store(o1 + off + 16, c1); v128.store(o1 + off + 32, c2); v128.store(o1 + off + 48, c3);
    }
    rowsTail<S>(dr0, dTb, src, rowBytes, T, n16, k1, o0, accumulate);
    rowsTail<S>(dr1, dTb, src, rowBytes, T, n16, k1, o1, accumulate);
  }
  for (; r < r1; r++) {
    const o0 = out + <usize>r * outBytes;
    const dr0 = d + <usize>r * dRb;
    for (let k = k0; k < n16; k += 16) {
      const off = <usize>k << 2;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      if (accumulate) {
        a0 = v128.load(o0 + off); a1 = v128.load(o0 + off + 16); a2 = v128.load(o0 + off + 32); a3 = v128.load(o0 + off + 48);
      }
      const shift = <u32>(k & 31);
      let sp = sourceColumn<S>(src, k);
      for (let t = 0; t < T; t++, sp += rowBytes) {
        const bits: u32 = isInteger<S>() ? load<u32>(sp) >>> shift : 0;
        const v0 = v128.load32_splat(dr0 + <usize>t * dTb);
        a0 = f32x4.add(a0, term4<S>(v0, operand4<S>(sp, bits, 0)));
        a1 = f32x4.add(a1, term4<S>(v0, operand4<S>(sp, bits, 1)));
        a2 = f32x4.add(a2, term4<S>(v0, operand4<S>(sp, bits, 2)));
        a3 = f32x4.add(a3, term4<S>(v0, operand4<S>(sp, bits, 3)));
      }
      v128.store(o0 + off, a0); v128.store(o0 + off + 16, a1); v128.store(o0 + off + 32, a2); v128.store(o0 + off + 48, a3);
    }
    rowsTail<S>(dr0, dTb, src, rowBytes, T, n16, k1, o0, accumulate);
  }
}

/** Columns [k0, n) of one output row o of rowsSum (dr: its d row), scalar, in t order (n: where this band ends). */
// @ts-ignore: decorator
@inline
function rowsTail<S>(dr: usize, dTb: usize, src: usize, rowBytes: usize, T: i32, k0: i32, n: i32, o: usize, accumulate: bool): void {
  for (let k = k0; k < n; k++) {
    let a: f32 = accumulate ? load<f32>(o + (<usize>k << 2)) : 0;
    for (let t = 0; t < T; t++) {
      const v = load<f32>(dr + <usize>t * dTb);
      const row = src + <usize>t * rowBytes;
      if (isInteger<S>()) a += (load<u32>(row + (<usize>(k >>> 5) << 2)) >>> (<u32>k & 31)) & 1 ? v : -v;
      else a += v * load<f32>(row + (<usize>k << 2));
    }
    store<f32>(o + (<usize>k << 2), a);
  }
}

/**
 * rowsSum<u32> with each 16-column block's sign masks expanded once for all output rows: the
 * masks of up to MASK_TERMS source rows go to this instance's scratch, then every row pair
 * reads them (4 loads a term instead of 16 operations). Each output is still summed in t order
 * (across passes through its stored value), so results equal rowsSum's bit for bit.
 */
function rowsSumBits(d: usize, dR: i32, dT: i32, src: usize, T: i32, n: i32, out: usize, r0: i32, r1: i32, accumulate: bool): void {
  const rowBytes = <usize>((n + 31) >>> 5) << 2;
  const outBytes = <usize>n << 2;
  const n16 = n & ~15;
  const dRb = <usize>dR << 2;
  const dTb = <usize>dT << 2;
  const masks = maskScratch;
  for (let k = 0; k < n16; k += 16) {
    const off = <usize>k << 2;
    const shift = <u32>(k & 31);
    for (let t0 = 0; t0 < T; t0 += MASK_TERMS) {
      const t1 = min(T, t0 + MASK_TERMS);
      expandMasks(src + (<usize>(k >>> 5) << 2) + <usize>t0 * rowBytes, rowBytes, t1 - t0, shift, masks);
      const carry = accumulate || t0 > 0;
      const dt0 = <usize>t0 * dTb;
      let r = r0;
      for (; r + 2 <= r1; r += 2) {
        const o0 = out + <usize>r * outBytes + off;
        const o1 = o0 + outBytes;
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
        if (carry) {
          a0 = v128.load(o0); a1 = v128.load(o0 + 16); a2 = v128.load(o0 + 32); a3 = v128.load(o0 + 48);
          c0 = v128.load(o1); c1 = v128.load(o1 + 16); c2 = v128.load(o1 + 32); c3 = v128.load(o1 + 48);
        }
        let dp0 = d + <usize>r * dRb + dt0;
        let dp1 = dp0 + dRb;
        for (let q = masks, t = t0; t < t1; t++, q += 64, dp0 += dTb, dp1 += dTb) {
          const f0 = v128.load(q), f1 = v128.load(q + 16), f2 = v128.load(q + 32), f3 = v128.load(q + 48);
          const v0 = v128.load32_splat(dp0);
          const v1 = v128.load32_splat(dp1);
          a0 = f32x4.add(a0, v128.xor(v0, f0));
          a1 = f32x4.add(a1, v128.xor(v0, f1));
          a2 = f32x4.add(a2, v128.xor(v0, f2));
          a3 = f32x4.add(a3, v128.xor(v0, f3));
          c0 = f32x4.add(c0, v128.xor(v1, f0));
          c1 = f32x4.add(c1, v128.xor(v1, f1));
          c2 = f32x4.add(c2, v128.xor(v1, f2));
          c3 = f32x4.add(c3, v128.xor(v1, f3));
        }
        v128.store(o0, a0); v128.store(o0 + 16, a1); v128.store(o0 + 32, a2); v128.store(o0 + 48, a3);
        v128.store(o1, c0); v128.store(o1 + 16, c1); v128.store(o1 + 32, c2); v128.store(o1 + 48, c3);
      }
      if (r < r1) {
        const o0 = out + <usize>r * outBytes + off;
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        if (carry) {
          a0 = v128.load(o0); a1 = v128.load(o0 + 16); a2 = v128.load(o0 + 32); a3 = v128.load(o0 + 48);
        }
        let dp0 = d + <usize>r * dRb + dt0;
        for (let q = masks, t = t0; t < t1; t++, q += 64, dp0 += dTb) {
          const v0 = v128.load32_splat(dp0);
          a0 = f32x4.add(a0, v128.xor(v0, v128.load(q)));
          a1 = f32x4.add(a1, v128.xor(v0, v128.load(q + 16)));
          a2 = f32x4.add(a2, v128.xor(v0, v128.load(q + 32)));
          a3 = f32x4.add(a3, v128.xor(v0, v128.load(q + 48)));
        }
        v128.store(o0, a0); v128.store(o0 + 16, a1); v128.store(o0 + 32, a2); v128.store(o0 + 48, a3);
      }
    }
  }
  if (n16 < n) for (let r = r0; r < r1; r++) rowsTail<u32>(d + <usize>r * dRb, dTb, src, rowBytes, T, n16, n, out + <usize>r * outBytes, accumulate);
}

// ---- dX = dY·Ŵ of a binary dense layer by table lookups ----
// dx[b, i] sums, over groups of 4 weight rows (output units) in order, one float32 partial a
// group: ((s0·d0 + s1·d1) + s2·d2) + s3·d3 (s the 4 rows' signs at column i, d row b's dY of
// those units). The 16 partials of a group are tabulated for 12 batch rows at a time (in this
// instance's kernel scratch) and the 4 signs of a column index them (a u16 offset per column
// and group, built once per weights by denseLutIndex into the caller's index buffer): one load
// and one add for 4 multiply-adds, 2 columns × 12 rows held in 6 registers.


/** Bytes of denseLutIndex's index: a u16 per (column, group of 4 rows), 16-aligned. */
export function denseLutIndexBytes(m: i32, n: i32): i32 {
  return (((n + 1) & ~1) * ((m + 3) >>> 2) * 2 + 15) & ~15;
}

/**
 * The index of m × n packed sign rows w: for column pair i/2, group g and column i of the pair,
 * idx·DENSE_ROWS·4 (the entry's offset in the group's tables), bit j of idx the sign of row
 * 4g + j at column i (rows past m, and a column past n, count as 0).
 */
export function denseLutIndex(w: usize, m: i32, n: i32, index: usize): void {
  const G = (m + 3) >>> 2;
  const wpr = <usize>((n + 31) >>> 5) << 2;
  const pairs = (n + 1) >>> 1;
  const G4 = G & ~3;
  const n16 = n & ~15;
  // 4 groups × 16 columns a turn in SIMD (a 128 × 256 layer's index was 28 µs of scalar stores);
  // the groups past the last 4 and the columns past the last 16 as below
  for (let g = 0; g < G4; g += 4) for (let k = 0; k < n16; k += 16) denseLutIndexBlock(w, m, wpr, G, g, k, index);
  denseLutIndexScalar(w, m, n, wpr, G, G4, G, 0, index);
  denseLutIndexScalar(w, m, n, wpr, G, 0, G4, n16, index);
  // an odd last column's pair partner: offset 0
  if (n & 1) for (let g = 0; g < G; g++) store<u16>(index + (<usize>(((pairs - 1) * G + g) * 2 + 1) << 1), 0);
}

/** denseLutIndex's entries of groups [g0, g1) at columns [k0, n), k0 a multiple of 8: 8 columns a turn. */
function denseLutIndexScalar(w: usize, m: i32, n: i32, wpr: usize, G: i32, g0: i32, g1: i32, k0: i32, index: usize): void {
  const entry: u32 = DENSE_ROWS * 4;
  for (let g = g0; g < g1; g++) {
    const r0 = w + <usize>(g * 4) * wpr;
    for (let k = k0; k < n; k += 8) {
      // 8 columns' 4-row indices as 8 nibbles: each row's byte spread to bit 4l of its column l
      const word = <usize>(k >>> 5) << 2;
      const shift = <u32>k & 24;
      let nibbles: u32 = 0;
      for (let j = 0; j < 4; j++)
        if (g * 4 + j < m) nibbles |= spreadByte((load<u32>(r0 + <usize>j * wpr + word) >>> shift) & 255) << <u32>j;
      for (let l = 0; l < 8 && k + l < n; l++, nibbles >>>= 4) {
        const i = k + l;
        store<u16>(index + (<usize>(((i >>> 1) * G + g) * 2 + (i & 1)) << 1), (nibbles & 15) * entry);
      }
    }
  }
}

/**
 * denseLutIndex's entries of groups g .. g + 3 at columns k .. k + 15 (k a multiple of 16): each
 * group's 16 nibbles from its 4 rows' 16 bits (a lane per column), times the entry size as 16-bit
 * lanes, whose 32-bit lanes are column pairs; a 4 × 4 transpose of those pairs then gives each
 * pair's 4 groups side by side, one 16-byte store (the index runs pair by pair, groups within).
 */
// @ts-ignore: decorator
@inline
function denseLutIndexBlock(w: usize, m: i32, wpr: usize, G: i32, g: i32, k: i32, index: usize): void {
  const lanes = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const entry = i16x8.splat(<i16>(DENSE_ROWS * 4));
  const bytes = <usize>(k >>> 3);
  let a0 = v128.splat<i32>(0), a1 = a0, a2 = a0, a3 = a0;
  let b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (let q = 0; q < 4; q++) {
    let nib = i8x16.splat(0);
    for (let j = 0; j < 4; j++) {
      const r = (g + q) * 4 + j;
      if (r >= m) break;
      // the row's 16 bits: the low byte in lanes 0-7, the high byte in lanes 8-15
      const v = i8x16.shuffle(i16x8.splat(load<u16>(w + <usize>r * wpr + bytes)), i8x16.splat(0), 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
      nib = v128.or(nib, v128.and(i8x16.eq(v128.and(v, lanes), lanes), i32x4.splat(0x01010101 << j)));
    }
    const lo = i16x8.mul(i16x8.extend_low_i8x16_u(nib), entry);
    const hi = i16x8.mul(i16x8.extend_high_i8x16_u(nib), entry);
    if (q == 0) {
      a0 = lo;
      b0 = hi;
    } else if (q == 1) {
      a1 = lo;
      b1 = hi;
    } else if (q == 2) {
      a2 = lo;
      b2 = hi;
    } else {
      a3 = lo;
      b3 = hi;
    }
  }
  const p = <usize>(k >>> 1);
  denseLutIndexStore4(index, G, g, p, a0, a1, a2, a3);
  denseLutIndexStore4(index, G, g, p + 4, b0, b1, b2, b3);
}

/** Column pairs p .. p + 3 of groups g .. g + 3 (x_q: group g + q's 4 pairs as 32-bit lanes), each pair's 4 groups in one store. */
// @ts-ignore: decorator
@inline
function denseLutIndexStore4(index: usize, G: i32, g: i32, p: usize, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const t0 = v128.shuffle<i32>(x0, x1, 0, 4, 1, 5);
  const t1 = v128.shuffle<i32>(x2, x3, 0, 4, 1, 5);
  const t2 = v128.shuffle<i32>(x0, x1, 2, 6, 3, 7);
  const t3 = v128.shuffle<i32>(x2, x3, 2, 6, 3, 7);
  const at = index + ((p * <usize>G + <usize>g) << 2);
  const stride = <usize>G << 2;
  v128.store(at, v128.shuffle<i64>(t0, t1, 0, 2));
  v128.store(at + stride, v128.shuffle<i64>(t0, t1, 1, 3));
  v128.store(at + 2 * stride, v128.shuffle<i64>(t2, t3, 0, 2));
  v128.store(at + 3 * stride, v128.shuffle<i64>(t2, t3, 1, 3));
}

/** Bit l of an 8-bit value moved to bit 4l. */
// @ts-ignore: decorator
@inline
function spreadByte(x: u32): u32 {
  x = (x | (x << 12)) & 0x000f000f;
  x = (x | (x << 6)) & 0x03030303;
  return (x | (x << 3)) & 0x11111111;
}

/** Two columns' accumulators over 4 rows (a: column i, c: i + 1) stored row by row (stride bytes apart), rows below `rows`; `two` false: column i only. */
// @ts-ignore: decorator
@inline
function storeColumns(o: usize, stride: usize, rows: i32, a: v128, c: v128, two: bool): void {
  if (!two) {
    if (rows > 0) store<f32>(o, f32x4.extract_lane(a, 0));
    if (rows > 1) store<f32>(o + stride, f32x4.extract_lane(a, 1));
    if (rows > 2) store<f32>(o + 2 * stride, f32x4.extract_lane(a, 2));
    if (rows > 3) store<f32>(o + 3 * stride, f32x4.extract_lane(a, 3));
    return;
  }
  storePairs(o, stride, rows, a, c);
}

/**
 * dx[B×n] = dY[B×m] · Ŵ[m×n bits] in the grouped order, from the index denseLutIndex built for Ŵ:
 * rows in blocks of 12, each block's tables built in this instance's scratch (groups in chunks
 * the scratch holds; a later chunk adds onto dx, which keeps the order), then 2 columns at a time.
 */
export function gemmFloatBinT(dy: usize, B: i32, m: i32, n: i32, dx: usize, index: usize): void {
  if (!maskScratch) unreachable();
  floatBinTRows(dy, B, m, n, dx, index, <i32>(<usize>MASK_SCRATCH_BYTES / DENSE_GROUP_BYTES));
}

/** Where denseDxHalfRows keeps its decoded dY and dX rows: past the tables it lets gemmFloatBinT's loop build. */
const DX_FUSED_AT: usize = 65536;

/** Whether denseDxHalfRows' rows of dY (m) and dX (n) fit its scratch. */
export function denseDxHalfFits(m: i32, n: i32): bool {
  return <usize>(DENSE_ROWS * (m + n)) << 2 <= <usize>MASK_SCRATCH_BYTES - DX_FUSED_AT;
}

/** Whether maxPoolGradHalfExamples takes a w-wide map of C channels (a pooled and an input row of floats in the scratch, both whole vectors). */
export function poolGradHalfFits(w: i32, C: i32, size: i32): bool {
  const wp = w / size;
  return (wp * C) % 4 == 0 && (w * C) % 4 == 0 && <usize>((wp + w) * C + 4) << 2 <= <usize>MASK_SCRATCH_BYTES;
}

/**
 * Examples [b0, b1) of a max-pool gradient between float16 stores (dy: hp·wp × C codes an
 * example, out: h·w × C): per pooled row its dY decoded once into this instance's scratch, then
 * each input row below it placed by maxPoolGradRow (source as there) in a float row and encoded
 * (rows below the last whole window: zeros), as decoding, maxPoolGradExamples and encoding do.
 * A thread decodes, places and encodes its own examples: one hand-off for the batch.
 */
export function maxPoolGradHalfExamples(src: usize, source: i32, h: i32, w: i32, C: i32, size: i32, dy: usize, out: usize, b0: i32, b1: i32): void {
  if (!maskScratch) unreachable();
  const hp = h / size;
  const wp = w / size;
  const dyRow = maskScratch;
  const row = dyRow + (((<usize>(wp * C) << 2) + 15) & ~15);
  const rowCodes = <usize>(w * C) << 1;
  for (let b = b0; b < b1; b++)
    for (let y = 0; y < h; y++) {
      const o = out + <usize>(b * h + y) * rowCodes;
      const py = y / size;
      if (py >= hp) {
        memory.fill(o, 0, rowCodes);
        continue;
      }
      if (y == py * size) halfDecode(dy + (<usize>((b * hp + py) * wp * C) << 1), wp * C, dyRow, 0);
      memory.fill(row, 0, <usize>(w * C) << 2);
      maxPoolGradRow(src, source, h, w, C, size, b, y, dyRow, row);
      halfEncode(row, w * C, o, 0);
    }
}

/** Whether maxPoolGradPo2Examples takes a w-wide map of C channels (a pooled and an input row of floats past the po2 table in the scratch). */
export function poolGradPo2Fits(w: i32, C: i32, size: i32): bool {
  return <usize>((w / size + w) * C + 4) << 2 <= <usize>MASK_SCRATCH_BYTES - DX_FUSED_AT;
}

/**
 * maxPoolGradHalfExamples between po2 stores (the tiny recipe; dy's codes under bias b): each
 * pooled row read once (po2Read), each input row placed in a float row and written as the
 * thread's one-pass fill writes blocks (fillBlock), its record left in the scratch. An example's
 * codes (h·w·C) must start a word so threads write their own.
 */
export function maxPoolGradPo2Examples(src: usize, source: i32, h: i32, w: i32, C: i32, size: i32, dy: usize, b: i32, out: usize, b0: i32, b1: i32): void {
  if (!maskScratch) unreachable();
  const hp = h / size;
  const wp = w / size;
  const dyRow = maskScratch + DX_FUSED_AT;
  const row = dyRow + (((<usize>(wp * C) << 2) + 15) & ~15);
  const rowLen = w * C;
  let ok = true;
  fillBegin(b0 * h * rowLen);
  for (let e = b0; e < b1 && ok; e++)
    for (let y = 0; y < h && ok; y++) {
      const py = y / size;
      memory.fill(row, 0, <usize>rowLen << 2);
      if (py < hp) {
        if (y == py * size) po2Read(dy, (e * hp + py) * wp * C, 1, wp * C, wp * C, b, dyRow);
        maxPoolGradRow(src, source, h, w, C, size, e, y, dyRow, row);
      }
      ok = fillBlock(row, rowLen, out, (e * h + y) * rowLen);
    }
  fillEnd(ok);
}

/** 2^b as float64 (−1022 <= b <= 1023). */
// @ts-ignore: decorator
@inline
function pow2(b: i32): f64 {
  return reinterpret<f64>(<u64>(1023 + b) << 52);
}

/** round(log2 a) for a > 0 from a's bits (po2Exponent in src/storage/po2.ts); i32.MIN_VALUE for 0, NaN and subnormals. */
// @ts-ignore: decorator
@inline
function po2ExponentOf(a: f64): i32 {
  if (!(a > 0)) return i32.MIN_VALUE;
  const bits = reinterpret<u64>(a);
  const hi = <u32>(bits >>> 32);
  const exp = <i32>((hi >>> 20) & 0x7ff) - 1023;
  if (exp < -1022) return i32.MIN_VALUE;
  const mant = hi & 0xfffff;
  return exp + (mant > 0x6a09e || (mant == 0x6a09e && <u32>bits >= 0x667f3bcd) ? 1 : 0);
}

/**
 * A po2 tensor's bias from its largest |value| (po2Bias: 7 − round(log2 a), 0 for 0, NaN and
 * infinities). For a float32 a, round(log2 a) is round(log2) of its bits: no float32 lies within
 * 1e-7 of a half-integer's √2 threshold, far more than Math.log2's error.
 */
export function po2BiasOf(a: f32): i32 {
  if (!(a > 0) || !isFinite(a)) return 0;
  return 7 - po2ExponentOf(<f64>a);
}

/** po2Recodable: whether codes written under bias b keep their values' codes under b + delta by shifting. */
function po2RecodableAt(b: i32, delta: i32, maxAbs: f32, minNonzero: f32): bool {
  if (delta < 0) return !(po2ExponentOf(<f64>maxAbs * pow2(b)) > 7);
  if (delta > 0) return !(minNonzero < Infinity) || po2ExponentOf(<f64>minNonzero * pow2(b)) >= -7;
  return true;
}

// ---- a thread's one-pass po2 fill of its own range (denseDxPo2Rows, convBwdDataExamplesPo2,
// maxPoolGradPo2Examples): blocks of values written in order, the first under the bias of its
// own max, each later one under the running max's; where a block raises it, the codes before are
// re-coded and the block written again (runningScaleFill's way). The range's record goes to this
// instance's scratch: max and smallest non-zero |value| (float32), bias and 1 (int32), or 0 in
// the last word where a re-code would not be exact (the caller then fills chunk by chunk). ----

let fillTop: f32 = 0;
let fillLeast: f32 = Infinity;
let fillBias = 0;
let fillFrom = 0;
let fillStarted = false;

/** Starts a fill whose range begins at code `first`. */
// @ts-ignore: decorator
@inline
function fillBegin(first: i32): void {
  fillTop = 0;
  fillLeast = Infinity;
  fillBias = 0;
  fillFrom = first;
  fillStarted = false;
}

/** Writes `count` floats at src as codes from code `base` (after the range's earlier blocks); false where a re-code would not be exact (stop). */
function fillBlock(src: usize, count: i32, words: usize, base: i32): bool {
  if (!fillStarted) {
    fillStarted = true;
    fillTop = absRange(src, count);
    fillLeast = absMinNonzero;
    fillBias = po2BiasOf(fillTop);
    po2WriteWith(src, count, words, base, pow2(fillBias), false);
    return true;
  }
  const high = po2WriteWith(src, count, words, base, pow2(fillBias), true);
  const low = absMinNonzero;
  const grown = max(fillTop, high);
  const next = po2BiasOf(grown);
  if (next != fillBias) {
    if (!po2RecodableAt(fillBias, next - fillBias, fillTop, fillLeast)) return false;
    po2Recode(words, fillFrom, base - fillFrom, next - fillBias);
    fillBias = next;
    po2WriteWith(src, count, words, base, pow2(fillBias), false);
  }
  fillTop = grown;
  fillLeast = min(fillLeast, low);
  return true;
}

/** The fill's record in this instance's scratch (ok: 0 where a block stopped it). */
function fillEnd(ok: bool): void {
  store<f32>(maskScratch, fillTop);
  store<f32>(maskScratch + 4, fillLeast);
  store<i32>(maskScratch + 8, fillBias);
  store<i32>(maskScratch + 12, ok ? 1 : 0);
}

/**
 * A binary dense layer's input gradient between po2 stores (the tiny recipe), rows [r0, r1): dY's
 * codes (rows of m, under bias b) read DENSE_ROWS rows at a time into this instance's scratch
 * (po2Read), dX = dY·Ŵ as gemmFloatBinT computes it (index: its sign index), and dX written as
 * codes (rows of n) the way a one-pass fill writes them (runningScaleFill): the first block under
 * the bias of its own max, each later one under the running max's, and where a block raises it
 * the rows before re-coded and the block written again. The scratch's first 16 bytes then hold
 * the rows' max |dX| and smallest non-zero |dX| (float32), their bias and 1 (int32), or 0 in the
 * last word where a re-code would not be exact (the caller then fills chunk by chunk). Rows are
 * independent and a range starting on a whole word of codes writes only its own words, so threads
 * take ranges of rows with one hand-off a layer (the caller re-codes each to the common bias).
 */
export function denseDxPo2Rows(dy: usize, b: i32, m: i32, n: i32, dx: usize, index: usize, r0: i32, r1: i32): void {
  if (!maskScratch) unreachable(); // as denseDxHalfRows
  const dyRows = maskScratch + DX_FUSED_AT;
  const dxRows = dyRows + (<usize>(DENSE_ROWS * m) << 2);
  let ok = true;
  fillBegin(r0 * n);
  for (let r = r0; r < r1 && ok; r += DENSE_ROWS) {
    const rows = min(DENSE_ROWS, r1 - r);
    po2Read(dy, r * m, rows, m, m, b, dyRows);
    floatBinTRows(dyRows, rows, m, n, dxRows, index, <i32>(DX_FUSED_AT / DENSE_GROUP_BYTES));
    ok = fillBlock(dxRows, rows * n, dx, r * n);
  }
  fillEnd(ok);
}

/**
 * A binary dense layer's input gradient between float16 stores, rows [r0, r1): dY's codes
 * (rows of m) decoded DENSE_ROWS rows at a time into this instance's scratch, dX = dY·Ŵ as
 * gemmFloatBinT computes it (index: its sign index), and dX encoded into its codes (rows of n) as
 * halfEncode does. A thread decodes, sums and encodes its own rows, so threads take ranges of rows
 * with one hand-off a layer. Every row's sums are gemmFloatBinT's (a row is a lane: the row block
 * and the tables' group passes do not change it), so the codes are those of a chunk-by-chunk fill.
 */
export function denseDxHalfRows(dy: usize, m: i32, n: i32, dx: usize, index: usize, r0: i32, r1: i32): void {
  if (!maskScratch) unreachable(); // gemmFloatBinT's tables and the decoded rows live there
  const dyRows = maskScratch + DX_FUSED_AT;
  const dxRows = dyRows + (<usize>(DENSE_ROWS * m) << 2);
  for (let r = r0; r < r1; r += DENSE_ROWS) {
    const rows = min(DENSE_ROWS, r1 - r);
    halfDecodeRows(dy + (<usize>(r * m) << 1), rows, m, m, dyRows);
    floatBinTRows(dyRows, rows, m, n, dxRows, index, <i32>(DX_FUSED_AT / DENSE_GROUP_BYTES));
    const count = rows * n;
    const body = count & ~3;
    const out = dx + (<usize>(r * n) << 1);
    halfEncode(dxRows, body, out, 0);
    for (let k = body; k < count; k++) store<u16>(out + (<usize>k << 1), <u16>f64ToHalf(<f64>load<f32>(dxRows + (<usize>k << 2))));
  }
}

/** gemmFloatBinT with the tables of up to `chunk` groups at a time at the scratch's start. */
// @ts-ignore: decorator
@inline
function floatBinTRows(dy: usize, B: i32, m: i32, n: i32, dx: usize, index: usize, chunk: i32): void {
  const G = (m + 3) >>> 2;
  const dyRow = <usize>m << 2;
  const dxRow = <usize>n << 2;
  for (let r0 = 0; r0 < B; r0 += DENSE_ROWS) {
    const rows = min(DENSE_ROWS, B - r0);
    for (let g0 = 0; g0 < G; g0 += chunk) {
      const g1 = min(G, g0 + chunk);
      rowGroupTables(dy + <usize>r0 * dyRow, m, rows, g0, g1);
      const o = dx + <usize>r0 * dxRow;
      if (rows > 8) inputGradBlock(n, G, o, rows, g0, g1, index, 3);
      else if (rows > 4) inputGradBlock(n, G, o, rows, g0, g1, index, 2);
      else inputGradBlock(n, G, o, rows, g0, g1, index, 1);
    }
  }
}

/** One row block of gemmFloatBinT against groups [g0, g1): 2 columns × `vecs` vectors of rows in registers. */
// @ts-ignore: decorator
@inline
function inputGradBlock(n: i32, G: i32, dx: usize, rows: i32, g0: i32, g1: i32, index: usize, vecs: i32): void {
  const dxRow = <usize>n << 2;
  for (let i = 0; i < n; i += 2) {
    const two = i + 1 < n;
    const o = dx + (<usize>i << 2);
    const resume = g0 > 0;
    let a0 = blockAcc(o, dxRow, rows, 0, resume);
    let a1 = vecs > 1 ? blockAcc(o, dxRow, rows, 1, resume) : f32x4.splat(0);
    let a2 = vecs > 2 ? blockAcc(o, dxRow, rows, 2, resume) : f32x4.splat(0);
    let c0 = two ? blockAcc(o + 4, dxRow, rows, 0, resume) : f32x4.splat(0);
    let c1 = two && vecs > 1 ? blockAcc(o + 4, dxRow, rows, 1, resume) : f32x4.splat(0);
    let c2 = two && vecs > 2 ? blockAcc(o + 4, dxRow, rows, 2, resume) : f32x4.splat(0);
    let at = index + (<usize>((i >>> 1) * G + g0) << 2);
    let tables = maskScratch;
    for (let g = g0; g < g1; g++, at += 4, tables += DENSE_GROUP_BYTES) {
      const pair = load<u32>(at);
      const p = tables + <usize>(pair & 0xffff);
      const q = tables + <usize>(pair >>> 16);
      a0 = f32x4.add(a0, v128.load(p));
      c0 = f32x4.add(c0, v128.load(q));
      if (vecs > 1) {
        a1 = f32x4.add(a1, v128.load(p, 16));
        c1 = f32x4.add(c1, v128.load(q, 16));
      }
      if (vecs > 2) {
        a2 = f32x4.add(a2, v128.load(p, 32));
        c2 = f32x4.add(c2, v128.load(q, 32));
      }
    }
    storeBlock(o, dxRow, rows, vecs, two, a0, a1, a2, c0, c1, c2);
  }
}


/** out[0..n) += d·ŵ[k] for one packed sign row. */
// @ts-ignore: decorator
@inline
function addSignedRow(out: usize, wr: usize, d: f32, n: i32): void {
  const dv = f32x4.splat(d);
  let k = 0;
  const full = n & ~31;
  for (; k < full; k += 32) {
    const bits = load<u32>(wr + (<usize>k >>> 3));
    const ok = out + (<usize>k << 2);
    for (let g = 0; g < 8; g++) {
      const p = ok + (<usize>g << 4);
      v128.store(p, f32x4.add(v128.load(p), v128.xor(dv, signFlip((bits >>> (g << 2)) & 15))));
    }
  }
  if (k < n) {
    const bits = load<u32>(wr + (<usize>k >>> 3));
    for (let b = 0; k < n; k++, b++) {
      const p = out + (<usize>k << 2);
      store<f32>(p, load<f32>(p) + ((bits >>> b) & 1 ? d : -d));
    }
  }
}

/** out[0..n) += d·x[0..n) (float rows). */
// @ts-ignore: decorator
@inline
function saxpyRow(out: usize, xr: usize, d: f32, n: i32): void {
  const dv = f32x4.splat(d);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const off = <usize>k << 2;
    v128.store(out + off, f32x4.add(v128.load(out + off), f32x4.mul(dv, v128.load(xr + off))));
  }
  for (; k < n; k++) {
    const off = <usize>k << 2;
    store<f32>(out + off, load<f32>(out + off) + d * load<f32>(xr + off));
  }
}

/** Σ_k x[k]·w[k] over two float rows. */
// @ts-ignore: decorator
@inline
function dotFloat(xr: usize, wr: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const off = <usize>k << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(xr + off), v128.load(wr + off)));
  }
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; k < n; k++) s += load<f32>(xr + (<usize>k << 2)) * load<f32>(wr + (<usize>k << 2));
  return s;
}

/** y[B×m] = X[B×n] · W[m×n]ᵀ (fixed-point layers: W holds the quantized weights). */
export function gemmFloatFloat(x: usize, w: usize, B: i32, m: i32, n: i32, y: usize): void {
  for (let i = 0; i < B; i++) {
    const xr = x + (<usize>(i * n) << 2);
    for (let j = 0; j < m; j++) store<f32>(y + (<usize>(i * m + j) << 2), dotFloat(xr, w + (<usize>(j * n) << 2), n));
  }
}

/** dx[B×n] = dY[B×m] · W[m×n]. */
export function gemmFloatFloatT(dy: usize, w: usize, B: i32, m: i32, n: i32, dx: usize): void {
  rowsSum<f32>(dy, m, 1, w, m, n, dx, 0, B, false);
}

/** dw[m×n] += dY[B×m]ᵀ · X[B×n]. */
export function gemmTnFloat(dy: usize, x: usize, B: i32, m: i32, n: i32, dw: usize, j0: i32, j1: i32): void {
  rowsSum<f32>(dy, 1, m, x, B, n, dw, j0, j1, true);
}

/** dw[m×n] += dY[B×m]ᵀ · X̂[B×n bits]. */
// ---- dW += dYᵀ·X̂ of a binary dense layer by table lookups ----
// dw[j, i] adds, over groups of 4 batch rows in order, one float32 partial a group:
// ((s0·d0 + s1·d1) + s2·d2) + s3·d3 (d the 4 rows' dY of unit j, s their signs at column i; a row
// past B adds +0: d = 0, s = +1). The 16 partials of a group are tabulated for 4 units at a time
// (lanes), and the 4 signs of a column, as a byte offset built once per call and band, pick one:
// one load and one add for 16 multiply-adds, 8 columns × 4 units held in 8 registers over the
// groups, the dw block read and written once (transposed) per band of groups.

/** Columns a band: its index is TN_COLS bytes a group. */
const TN_COLS: i32 = 256;
/** Groups a band: tables 256 bytes a group from the scratch's start, the index from TN_INDEX_AT. */
const TN_GROUPS: i32 = 96;
const TN_INDEX_AT: usize = 32768;

/** Bit i of packed row b (rows past B: 1, the sign of a +0 term). */
// @ts-ignore: decorator
@inline
function tnSign(x: usize, rowBytes: usize, B: i32, b: i32, i: i32): bool {
  return b >= B || ((load<u32>(x + <usize>b * rowBytes + (<usize>(i >>> 5) << 2)) >>> (<u32>i & 31)) & 1) != 0;
}

/** dY of row b, unit j (rows past B: +0). */
// @ts-ignore: decorator
@inline
function tnGrad(dy: usize, m: i32, B: i32, b: i32, j: i32): f32 {
  return b < B ? load<f32>(dy + (<usize>(b * m + j) << 2)) : 0;
}

/** The definition, element by element: units [jA, jB) × columns [iA, iB), every group in order. */
function tnPlain(dy: usize, x: usize, B: i32, m: i32, n: i32, dw: usize, jA: i32, jB: i32, iA: i32, iB: i32): void {
  const rowBytes = <usize>((n + 31) >>> 5) << 2;
  const G = (B + 3) >>> 2;
  for (let j = jA; j < jB; j++)
    for (let i = iA; i < iB; i++) {
      const o = dw + (<usize>(j * n + i) << 2);
      let acc = load<f32>(o);
      for (let g = 0; g < G; g++) {
        const b = g << 2;
        const d0 = tnGrad(dy, m, B, b, j), d1 = tnGrad(dy, m, B, b + 1, j), d2 = tnGrad(dy, m, B, b + 2, j), d3 = tnGrad(dy, m, B, b + 3, j);
        let p: f32 = tnSign(x, rowBytes, B, b, i) ? d0 : -d0;
        p += tnSign(x, rowBytes, B, b + 1, i) ? d1 : -d1;
        p += tnSign(x, rowBytes, B, b + 2, i) ? d2 : -d2;
        p += tnSign(x, rowBytes, B, b + 3, i) ? d3 : -d3;
        acc += p;
      }
      store<f32>(o, acc);
    }
}

/**
 * The index of groups [g0, g1) × columns [c0, c1) (c0 a multiple of 16, c1 - c0 at most TN_COLS):
 * a byte per (group, column), 16 × the group's 4 signs (bit k the sign of row 4g + k), TN_COLS
 * bytes a group; a short last block of columns gets 16 bytes too (the ones past c1 unused).
 */
function tnIndex(x: usize, rowBytes: usize, B: i32, g0: i32, g1: i32, c0: i32, c1: i32, idx: usize): void {
  const bitOf = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const none = i8x16.splat(0);
  for (let g = g0; g < g1; g++) {
    const out = idx + <usize>((g - g0) * TN_COLS);
    // 16 columns a turn: each row's 2 bytes spread to 16 lanes (a byte's bits to 8 lanes)
    for (let c = c0; c < c1; c += 16) {
      let v = none;
      for (let k = 0; k < 4; k++) {
        const b = (g << 2) + k;
        const bits = b < B ? (load<u32>(x + <usize>b * rowBytes + (<usize>(c >>> 5) << 2)) >>> (<u32>c & 31)) & 0xffff : 0xffff;
        const spread = i8x16.shuffle(i16x8.splat(<i16>bits), none, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        const bit: i32 = 16 << k;
        v = v128.or(v, v128.and(i8x16.ne(v128.and(spread, bitOf), none), i8x16.splat(<i8>bit)));
      }
      v128.store(out + <usize>(c - c0), v);
    }
  }
}

/** The low k lanes (0-4) of v to p: nothing past them is written. */
// @ts-ignore: decorator
@inline
function storeLanes(p: usize, v: v128, k: i32): void {
  if (k >= 4) v128.store(p, v);
  else scatterLanes(v, p, 4, k);
}

/**
 * The 16 partials of groups [g0, g1) for units j..j+units-1 (lanes; units 1-4, lanes above hold
 * zeros: loadChannels): 256 bytes a group, entry nib·16.
 */
function tnTables(dy: usize, m: i32, B: i32, g0: i32, g1: i32, j: i32, units: i32, tables: usize): void {
  const sign = i32x4.splat(0x80000000);
  const zero = f32x4.splat(0);
  const stride = <usize>m << 2;
  for (let g = g0; g < g1; g++) {
    const b = g << 2;
    const at = dy + (<usize>(b * m + j) << 2);
    const d0 = loadChannels(at, units);
    const d1 = b + 1 < B ? loadChannels(at + stride, units) : zero;
    const d2 = b + 2 < B ? loadChannels(at + 2 * stride, units) : zero;
    const d3 = b + 3 < B ? loadChannels(at + 3 * stride, units) : zero;
    const n0 = v128.xor(d0, sign), n1 = v128.xor(d1, sign), n2 = v128.xor(d2, sign), n3 = v128.xor(d3, sign);
    const t = tables + <usize>((g - g0) << 8);
    const e0 = f32x4.add(n0, n1), e1 = f32x4.add(d0, n1), e2 = f32x4.add(n0, d1), e3 = f32x4.add(d0, d1);
    const f0 = f32x4.add(e0, n2), f1 = f32x4.add(e1, n2), f2 = f32x4.add(e2, n2), f3 = f32x4.add(e3, n2);
    const f4 = f32x4.add(e0, d2), f5 = f32x4.add(e1, d2), f6 = f32x4.add(e2, d2), f7 = f32x4.add(e3, d2);
    v128.store(t, f32x4.add(f0, n3)); v128.store(t + 16, f32x4.add(f1, n3)); v128.store(t + 32, f32x4.add(f2, n3)); v128.store(t + 48, f32x4.add(f3, n3));
    v128.store(t + 64, f32x4.add(f4, n3)); v128.store(t + 80, f32x4.add(f5, n3)); v128.store(t + 96, f32x4.add(f6, n3)); v128.store(t + 112, f32x4.add(f7, n3));
    v128.store(t + 128, f32x4.add(f0, d3)); v128.store(t + 144, f32x4.add(f1, d3)); v128.store(t + 160, f32x4.add(f2, d3)); v128.store(t + 176, f32x4.add(f3, d3));
    v128.store(t + 192, f32x4.add(f4, d3)); v128.store(t + 208, f32x4.add(f5, d3)); v128.store(t + 224, f32x4.add(f6, d3)); v128.store(t + 240, f32x4.add(f7, d3));
  }
}

/**
 * dw[j..j+units-1][c..c+cols-1] (rows `stride` bytes apart at o; units 1-4, cols 1-8) += the
 * lookups of gn groups: the block is read and turned so each register holds one column's 4 units,
 * then turned back and written; nothing outside the block is read or written.
 */
function tnBlock(tables: usize, ip: usize, gn: i32, o: usize, stride: usize, units: i32, cols: i32): void {
  const o1 = o + stride, o2 = o1 + stride, o3 = o2 + stride;
  const zero = f32x4.splat(0);
  const lo = min(cols, 4), hi = max(0, cols - 4);
  let r0 = loadChannels(o, lo), r1 = units > 1 ? loadChannels(o1, lo) : zero, r2 = units > 2 ? loadChannels(o2, lo) : zero, r3 = units > 3 ? loadChannels(o3, lo) : zero;
  let t0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5);
  let t2 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
  let a0 = v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), a1 = v128.shuffle<i32>(t0, t1, 2, 3, 6, 7);
  let a2 = v128.shuffle<i32>(t2, t3, 0, 1, 4, 5), a3 = v128.shuffle<i32>(t2, t3, 2, 3, 6, 7);
  r0 = loadChannels(o + 16, hi); r1 = units > 1 ? loadChannels(o1 + 16, hi) : zero;
  r2 = units > 2 ? loadChannels(o2 + 16, hi) : zero; r3 = units > 3 ? loadChannels(o3 + 16, hi) : zero;
  t0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5); t1 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5);
  t2 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7); t3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
  let a4 = v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), a5 = v128.shuffle<i32>(t0, t1, 2, 3, 6, 7);
  let a6 = v128.shuffle<i32>(t2, t3, 0, 1, 4, 5), a7 = v128.shuffle<i32>(t2, t3, 2, 3, 6, 7);
  let tb = tables;
  for (let g = 0; g < gn; g++, tb += 256, ip += TN_COLS) {
    const off = v128.load64_zero(ip);
    a0 = f32x4.add(a0, v128.load(tb + <usize>i8x16.extract_lane_u(off, 0)));
    a1 = f32x4.add(a1, v128.load(tb + <usize>i8x16.extract_lane_u(off, 1)));
    a2 = f32x4.add(a2, v128.load(tb + <usize>i8x16.extract_lane_u(off, 2)));
    a3 = f32x4.add(a3, v128.load(tb + <usize>i8x16.extract_lane_u(off, 3)));
    a4 = f32x4.add(a4, v128.load(tb + <usize>i8x16.extract_lane_u(off, 4)));
    a5 = f32x4.add(a5, v128.load(tb + <usize>i8x16.extract_lane_u(off, 5)));
    a6 = f32x4.add(a6, v128.load(tb + <usize>i8x16.extract_lane_u(off, 6)));
    a7 = f32x4.add(a7, v128.load(tb + <usize>i8x16.extract_lane_u(off, 7)));
  }
  t0 = v128.shuffle<i32>(a0, a1, 0, 4, 1, 5); t1 = v128.shuffle<i32>(a2, a3, 0, 4, 1, 5);
  t2 = v128.shuffle<i32>(a0, a1, 2, 6, 3, 7); t3 = v128.shuffle<i32>(a2, a3, 2, 6, 3, 7);
  storeLanes(o, v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), lo);
  if (units > 1) storeLanes(o1, v128.shuffle<i32>(t0, t1, 2, 3, 6, 7), lo);
  if (units > 2) storeLanes(o2, v128.shuffle<i32>(t2, t3, 0, 1, 4, 5), lo);
  if (units > 3) storeLanes(o3, v128.shuffle<i32>(t2, t3, 2, 3, 6, 7), lo);
  if (hi == 0) return;
  t0 = v128.shuffle<i32>(a4, a5, 0, 4, 1, 5); t1 = v128.shuffle<i32>(a6, a7, 0, 4, 1, 5);
  t2 = v128.shuffle<i32>(a4, a5, 2, 6, 3, 7); t3 = v128.shuffle<i32>(a6, a7, 2, 6, 3, 7);
  storeLanes(o + 16, v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), hi);
  if (units > 1) storeLanes(o1 + 16, v128.shuffle<i32>(t0, t1, 2, 3, 6, 7), hi);
  if (units > 2) storeLanes(o2 + 16, v128.shuffle<i32>(t2, t3, 0, 1, 4, 5), hi);
  if (units > 3) storeLanes(o3 + 16, v128.shuffle<i32>(t2, t3, 2, 3, 6, 7), hi);
}

/**
 * dw[j0..j1) += dYᵀ·X̂ (dy B × m floats, x B packed sign rows of n), in the grouped order above:
 * quads of units (the last one short) × 8-column blocks (the last one short) by the lookups, in
 * bands of TN_COLS columns and TN_GROUPS groups; without a scratch, tnPlain (the definition).
 */
export function gemmTnBin(dy: usize, x: usize, B: i32, m: i32, n: i32, dw: usize, j0: i32, j1: i32): void {
  if (!maskScratch) {
    tnPlain(dy, x, B, m, n, dw, j0, j1, 0, n);
    return;
  }
  const rowBytes = <usize>((n + 31) >>> 5) << 2;
  const G = (B + 3) >>> 2;
  const idx = maskScratch + TN_INDEX_AT;
  const stride = <usize>n << 2;
  for (let c0 = 0; c0 < n; c0 += TN_COLS) {
    const c1 = min(n, c0 + TN_COLS);
    for (let g0 = 0; g0 < G; g0 += TN_GROUPS) {
      const g1 = min(G, g0 + TN_GROUPS);
      tnIndex(x, rowBytes, B, g0, g1, c0, c1, idx);
      for (let j = j0; j < j1; j += 4) {
        const units = min(4, j1 - j);
        tnTables(dy, m, B, g0, g1, j, units, maskScratch);
        const o = dw + (<usize>(j * n) << 2);
        for (let c = c0; c < c1; c += 8) tnBlock(maskScratch, idx + <usize>(c - c0), g1 - g0, o + (<usize>c << 2), stride, units, min(8, c1 - c));
      }
    }
  }
}

/** Where signDwBitsTiles keeps its tile and decoded dY: past gemmTnBin's tables and index. */
const TN_FUSED_AT: usize = 65536;
/** Bytes of signDwBitsTiles' tile and of its decoded dY rows (each). */
const TN_FUSED_BYTES: i32 = 32768;

/** Bytes of denseDwAdamTiles' tile of float32 dW: both of signDwBitsTiles' regions (it decodes no dY). */
const DW_ADAM_BYTES: i32 = 2 * TN_FUSED_BYTES;

/** Output rows of denseDwAdamTiles' tiles for inputs n wide (a multiple of 4; 0: n too wide for its scratch). */
export function denseDwAdamTileRows(n: i32): i32 {
  return min(64, (DW_ADAM_BYTES / (n << 2)) & ~3);
}

/**
 * A binary dense layer's weight gradient dW = dYᵀ·X̂ for output rows [j0, j1), applied by Adam
 * tile by tile as it is summed (the standard recipe: no gradient buffer). dy: float32, rows × m,
 * read in place; x: the packed input signs; w, m1, v1: float32 latent weights and moments (rows
 * of n); the step's scalars as adamUpdate's with scale and ratio 1. Each tile of
 * denseDwAdamTileRows(n) output rows sums in this instance's scratch as gemmTnBin sums it (groups
 * of 4 batch rows in order, the same bits as chunk by chunk), then takes adamUpdate's step: a
 * thread sums and applies its own rows, so threads take ranges of output rows with one hand-off
 * a layer.
 */
export function denseDwAdamTiles(
  dy: usize, x: usize, rows: i32, m: i32, n: i32, w: usize, m1: usize, v1: usize, clip: f64,
  lr: f64, b1: f64, b2: f64, c1: f64, c2: f64, eps: f64, j0: i32, j1: i32,
): void {
  dwAdamTiles(false, dy, x, rows, m, n, w, m1, v1, clip, lr, b1, b2, c1, c2, eps, j0, j1);
}

/**
 * denseDwAdamTiles for a layer over float inputs (the standard recipe's first layer, over the
 * pixels as floats): each tile's dW as gemmTnFloat sums it (every batch row in order, from zero),
 * then adamUpdate's step, so the layer keeps no dW buffer; x: rows × n float32.
 */
export function denseDwAdamFloatTiles(
  dy: usize, x: usize, rows: i32, m: i32, n: i32, w: usize, m1: usize, v1: usize, clip: f64,
  lr: f64, b1: f64, b2: f64, c1: f64, c2: f64, eps: f64, j0: i32, j1: i32,
): void {
  dwAdamTiles(true, dy, x, rows, m, n, w, m1, v1, clip, lr, b1, b2, c1, c2, eps, j0, j1);
}

/** The tiles of denseDwAdamTiles (floats false: x packed signs) and denseDwAdamFloatTiles (floats true: x float32). */
// @ts-ignore: decorator
@inline
function dwAdamTiles(
  floats: bool, dy: usize, x: usize, rows: i32, m: i32, n: i32, w: usize, m1: usize, v1: usize, clip: f64,
  lr: f64, b1: f64, b2: f64, c1: f64, c2: f64, eps: f64, j0: i32, j1: i32,
): void {
  if (!maskScratch) unreachable(); // gemmTnBin's tables and the tile live there
  const tj = denseDwAdamTileRows(n);
  const acc = maskScratch + TN_FUSED_AT;
  for (let a = j0; a < j1; a += tj) {
    const units = min(j1, a + tj) - a;
    const len = units * n;
    const at = <usize>(a * n) << 2;
    memory.fill(acc, 0, <usize>len << 2);
    // both write output row j at dw + j·n: the tile's base moved back by a rows
    if (floats) rowsSum<f32>(dy, 1, m, x, rows, n, acc - at, a, a + units, true);
    else gemmTnBin(dy, x, rows, m, n, acc - at, a, a + units);
    adamUpdate(w + at, 0, m1 + at, v1 + at, 0, acc, 0, len, 1, len, 1, clip, lr, b1, b2, c1, c2, eps, 1, 1);
  }
}

/** Output rows of signDwBitsTiles' tiles for inputs n wide (a multiple of 4; 0: n too wide for its scratch). */
export function signDwBitsTileRows(n: i32): i32 {
  return min(64, (TN_FUSED_BYTES / (n << 2)) & ~3);
}

/**
 * A binary dense layer's 1-bit weight gradient for output rows [j0, j1): sign(dW[j, i]) with dW
 * = dYᵀ·X̂ as gemmTnBin sums it (groups of 4 batch rows in order), packed into bits (rows of
 * ⌈n/32⌉ words); dy: float16 codes, rows × m; x: the packed input signs. Tiles of
 * signDwBitsTileRows(n) output rows sum over passes of rows that start on a group of 4, their dY
 * columns decoded into this instance's scratch: a thread decodes, sums and packs its own rows,
 * so threads take ranges of output rows with one hand-off a layer.
 */
export function signDwBitsTiles(dy: usize, x: usize, rows: i32, m: i32, n: i32, bits: usize, j0: i32, j1: i32): void {
  if (!maskScratch) unreachable(); // gemmTnBin's tables, the tile and the decoded dY live there
  const tj = signDwBitsTileRows(n);
  const acc = maskScratch + TN_FUSED_AT;
  const dyRows = acc + <usize>TN_FUSED_BYTES;
  const pass = max(4, (TN_FUSED_BYTES / (tj << 2)) & ~3);
  const rowBytes = <usize>((n + 31) >>> 5) << 2;
  const wpr = (n + 31) >>> 5;
  for (let a = j0; a < j1; a += tj) {
    const units = min(j1, a + tj) - a;
    memory.fill(acc, 0, <usize>(units * n) << 2);
    for (let i0 = 0; i0 < rows; i0 += pass) {
      const count = min(rows, i0 + pass) - i0;
      halfDecodeRows(dy + (<usize>(i0 * m + a) << 1), count, m, units, dyRows);
      gemmTnBin(dyRows, x + <usize>i0 * rowBytes, count, units, n, acc, 0, units);
    }
    packSigns(acc, 0, units, n, bits + (<usize>(a * wpr) << 2), wpr);
  }
}

/**
 * The fewest rows of n elements that fill whole 256-value momentum blocks and are a multiple of 4
 * (256 / gcd(n, 256) and 4 are both powers of two: their least common multiple is the larger).
 */
function blockRows(n: i32): i32 {
  let g = 256;
  while (n % g) g >>= 1;
  return max(4, 256 / g);
}

/**
 * Output rows of bopDwBitsTiles' tiles for inputs n wide: signDwBitsTileRows(n) cut to a multiple
 * of blockRows(n), so every tile, and every thread's range of tiles, folds whole blocks; 0: no
 * such tile fits the scratch.
 */
export function bopDwBitsTileRows(n: i32): i32 {
  const unit = blockRows(n);
  return (signDwBitsTileRows(n) / unit) * unit;
}

/**
 * The tiny recipe's dense weight gradient folded into Bop's slog momentum, output rows [j0, j1):
 * dW = dYᵀ·X̂ as gemmTnBin sums it (groups of 4 batch rows in order), dY read from a po2 store
 * (codes of rows × m from element 0, under bias b, decoded as po2Read), x the packed input signs;
 * each tile of bopDwBitsTileRows(n) rows is then folded, m ← (1 − γ)·m + γ·dW, and encoded block
 * by block (bopFoldWhole; raw, scales: the momentum's codes and block scales). A thread decodes,
 * sums and folds its own rows, so threads take ranges of tiles with one hand-off a layer.
 */
export function bopDwBitsTiles(dy: usize, b: i32, x: usize, rows: i32, m: i32, n: i32, raw: usize, scales: usize, gamma: f64, j0: i32, j1: i32): void {
  if (!maskScratch) unreachable(); // as signDwBitsTiles
  const tj = bopDwBitsTileRows(n);
  const acc = maskScratch + TN_FUSED_AT;
  const dyRows = acc + <usize>TN_FUSED_BYTES;
  const pass = max(4, (TN_FUSED_BYTES / (tj << 2)) & ~3);
  const rowBytes = <usize>((n + 31) >>> 5) << 2;
  const total = m * n;
  for (let a = j0; a < j1; a += tj) {
    const units = min(j1, a + tj) - a;
    memory.fill(acc, 0, <usize>(units * n) << 2);
    for (let i0 = 0; i0 < rows; i0 += pass) {
      const count = min(rows, i0 + pass) - i0;
      po2Read(dy, i0 * m + a, count, m, units, b, dyRows);
      gemmTnBin(dyRows, x + <usize>i0 * rowBytes, count, units, n, acc, 0, units);
    }
    const first = a * n;
    bopFoldWhole(raw, scales, total, acc, gamma, first >>> 8, (first + units * n + 255) >>> 8);
  }
}

// ---- 3x3 convolutions, one example, channels-last (layouts as in src/kernels/conv-reference.ts) ----
// Output pixels whose nine taps are all in bounds take register-blocked paths; the rest (the
// border of a same-padded map, and leftovers of the blocks) go one pixel or one channel at a
// time. Every float output is summed in the order the one-row-at-a-time kernels used, so the
// blocking, the border split and the thread split never change a result.

/** First output index (along one axis) where tap offset k lands in bounds. */
// @ts-ignore: decorator
@inline
function tapFrom(k: i32, pad: i32): i32 {
  return max(0, pad - k);
}

/** One past the last output index (along one axis) where tap offset k lands in bounds. */
// @ts-ignore: decorator
@inline
function tapTo(k: i32, pad: i32, inSize: i32, outSize: i32): i32 {
  return min(outSize, inSize + pad - k);
}

/** Output pixel (oy, ox), channels [c0, co) of convFwdBin, one in-bounds tap at a time. */
function fwdBinPixel(x: usize, w: usize, hi: i32, wi: i32, ci: i32, co: i32, pad: i32, y: usize, oy: i32, ox: i32, wo: i32, c0: i32): void {
  const wpc = (ci + 31) >>> 5;
  const pixBytes = <usize>wpc << 2;
  const yo = y + (<usize>((oy * wo + ox) * co) << 2);
  for (let c = c0; c < co; c++) {
    let diff = 0;
    let valid = 0;
    for (let ky = 0; ky < 3; ky++) {
      const iy = oy + ky - pad;
      if (iy < 0 || iy >= hi) continue;
      for (let kx = 0; kx < 3; kx++) {
        const ix = ox + kx - pad;
        if (ix < 0 || ix >= wi) continue;
        diff += xorPopRow(x + <usize>(iy * wi + ix) * pixBytes, w + <usize>(c * 9 + ky * 3 + kx) * pixBytes, 0, wpc);
        valid += ci;
      }
    }
    store<f32>(yo + (<usize>c << 2), <f32>(valid - 2 * diff));
  }
}

/** Outputs c..c+3 at yo: n − 2·(differing bits) for n = the bits compared (n lanes), as float32. */
// @ts-ignore: decorator
@inline
function storeXnor(yo: usize, c: i32, n: v128, diff: v128): void {
  v128.store(yo + (<usize>c << 2), f32x4.convert_i32x4_s(i32x4.sub(n, i32x4.shl(diff, 1))));
}

/**
 * y = conv(X̂ bits, Ŵ bits): xnor-popcount over the in-bounds taps. Integer sums, so any order
 * is exact: an interior pixel's patch is three runs of three adjacent pixels' words, matched
 * against each kernel row's run for 4 output channels at a time.
 */
export function convFwdBin(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, y: usize, oy0: i32, oy1: i32): void {
  const wpc = (ci + 31) >>> 5;
  const pixBytes = <usize>wpc << 2;
  const chanBytes = <usize>9 * pixBytes;
  const run = 3 * wpc;
  const co4 = co & ~3;
  const valid = i32x4.splat(9 * ci);
  for (let oy = oy0; oy < oy1; oy++) {
    const inside = oy >= pad && oy < ho - pad;
    // the kernel rows in bounds at this output row (all three inside)
    const ky0 = max(0, pad - oy);
    const ky1 = min(3, hi + pad - oy);
    for (let ox = 0; ox < wo; ox++) {
      if (!inside || ox < pad || ox >= wo - pad) {
        // a border pixel: its in-bounds taps are a rectangle, rows of adjacent pixels as inside
        // (one pixel at a time, word by word, this was as slow as the whole interior: BinaryNet)
        const kx0 = max(0, pad - ox);
        const kx1 = min(3, wi + pad - ox);
        if (ky1 <= ky0 || kx1 <= kx0) {
          fwdBinPixel(x, w, hi, wi, ci, co, pad, y, oy, ox, wo, 0);
          continue;
        }
        const yo = y + (<usize>((oy * wo + ox) * co) << 2);
        const xr = x + <usize>((oy + ky0 - pad) * wi + ox + kx0 - pad) * pixBytes;
        const w0 = w + <usize>(ky0 * 3 + kx0) * pixBytes;
        const edge = i32x4.splat((ky1 - ky0) * (kx1 - kx0) * ci);
        for (let c = 0; c < co4; c += 4) {
          const diff = xorPopPatch4(xr, <usize>wi * pixBytes, w0 + <usize>c * chanBytes, chanBytes, 3 * pixBytes, (kx1 - kx0) * wpc, ky1 - ky0);
          storeXnor(yo, c, edge, diff);
        }
        if (co4 < co) fwdBinPixel(x, w, hi, wi, ci, co, pad, y, oy, ox, wo, co4);
        continue;
      }
      const yo = y + (<usize>((oy * wo + ox) * co) << 2);
      const xr = x + <usize>((oy - pad) * wi + ox - pad) * pixBytes;
      if (wpc == 2)
        for (let c = 0; c < co4; c += 4) {
          const diff = xorPopPatch4Two(xr, <usize>wi * pixBytes, w + <usize>c * chanBytes, chanBytes);
          storeXnor(yo, c, valid, diff);
        }
      else
        for (let c = 0; c < co4; c += 4) {
          const diff = xorPopPatch4(xr, <usize>wi * pixBytes, w + <usize>c * chanBytes, chanBytes, 3 * pixBytes, run, 3);
          storeXnor(yo, c, valid, diff);
        }
      if (co4 < co) fwdBinPixel(x, w, hi, wi, ci, co, pad, y, oy, ox, wo, co4);
    }
  }
}

/**
 * Examples [e0, e1) of a batch, one after another (x: hi·wi pixels an example, y: ho·wo·co):
 * convFwdBin over each. With `floats`, x holds ±1 floats (ci an example pixel), packed to sign
 * bits an example at a time into this instance's kernel scratch first (the caller checks that
 * an example's bits fit it).
 */
export function convFwdBinExamples(x: usize, floats: i32, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, y: usize, e0: i32, e1: i32): void {
  const wpc = (ci + 31) >>> 5;
  for (let e = e0; e < e1; e++) {
    let xb = x + (<usize>(e * hi * wi * wpc) << 2);
    if (floats) {
      packSigns(x + (<usize>(e * hi * wi * ci) << 2), 0, hi * wi, ci, maskScratch, wpc);
      xb = maskScratch;
    }
    convFwdBin(xb, w, hi, wi, ci, ho, wo, co, pad, y + (<usize>(e * ho * wo * co) << 2), 0, ho);
  }
}

// ---- float × binary conv forward on small patches by table lookups ----
// Where a patch has at most PATCH_GROUPS_UP_TO values (k²·ci: first layers on images), each
// output pixel's patch is a row of the dense forward (gemmFloatBin): groups of 4 patch values
// (in (ky, kx, channel) order, zeros where a tap falls in the padding) are tabulated for 12
// output pixels along a row, and each output channel's 4 weight signs there pick one partial.

/** Where a call's patch-ordered weight rows and patch offsets go in the kernel scratch (after the tables, which take at most 24 KB). */
const PATCH_WEIGHTS_AT: usize = 32768;
const PATCH_OFFSETS_AT: usize = 49152;

/**
 * Output rows [oy0, oy1) of y = conv(X float, Ŵ bits) for patches of n = k²·ci <= 128 values:
 * each output value sums its patch's groups of 4 in order from +0, one float32 partial
 * ((s0·x0 + s1·x1) + s2·x2) + s3·x3 a group, as gemmFloatBin sums a row. Weights are re-laid
 * as rows of n bits in patch order (this thread's scratch), then per block of 12 output pixels
 * the groups' tables and forwardBlock's lookups.
 */
export function convFwdPatches(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, k: i32, s: i32, y: usize, oy0: i32, oy1: i32): void {
  if (!maskScratch) unreachable();
  const n = k * k * ci;
  const G = (n + 3) >>> 2;
  const wpr = (n + 31) >>> 5;
  const tapWords = (ci + 31) >>> 5;
  const pw = maskScratch + PATCH_WEIGHTS_AT;
  memory.fill(pw, 0, <usize>(co * wpr) << 2);
  for (let j = 0; j < co; j++)
    for (let t = 0; t < k * k; t++)
      for (let c = 0; c < ci; c++) {
        const bit = (load<u32>(w + (<usize>((j * k * k + t) * tapWords + (c >>> 5)) << 2)) >>> (<u32>c & 31)) & 1;
        const e = t * ci + c;
        const at = pw + (<usize>(j * wpr + (e >>> 5)) << 2);
        store<u32>(at, load<u32>(at) | (bit << (<u32>e & 31)));
      }
  // each patch value's place: kernel row, column, channel, and its offset from the patch's first value (i32 each)
  const offs = maskScratch + PATCH_OFFSETS_AT;
  for (let e = 0; e < n; e++) {
    const t = e / ci;
    const o = offs + (<usize>(4 * e) << 2);
    store<i32>(o, t / k);
    store<i32>(o, t % k, 4);
    store<i32>(o, e - t * ci, 8);
    store<i32>(o, ((t / k) * wi + t % k) * ci + e - t * ci, 12);
  }
  for (let oy = oy0; oy < oy1; oy++)
    for (let ox0 = 0; ox0 < wo; ox0 += DENSE_ROWS) {
      const rows = min(DENSE_ROWS, wo - ox0);
      patchTables(x, hi, wi, ci, k, s, pad, oy, ox0, rows, G, n, offs);
      const yo = y + (<usize>((oy * wo + ox0) * co) << 2);
      if (rows > 8) forwardBlock(pw, co, n, yo, co, rows, 0, G, 3);
      else if (rows > 4) forwardBlock(pw, co, n, yo, co, rows, 0, G, 2);
      else forwardBlock(pw, co, n, yo, co, rows, 0, G, 1);
    }
}

/** Examples [e0, e1) of a batch (x: hi·wi·ci floats an example, y: ho·wo·co), convFwdPatches over each. */
export function convFwdPatchesExamples(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, k: i32, s: i32, y: usize, e0: i32, e1: i32): void {
  for (let e = e0; e < e1; e++)
    convFwdPatches(x + (<usize>(e * hi * wi * ci) << 2), w, hi, wi, ci, ho, wo, co, pad, k, s, y + (<usize>(e * ho * wo * co) << 2), 0, ho);
}

/** Patch value e of output pixel (oy, ox): 0 past n or where its tap falls in the padding; an interior pixel's from its input offset alone. */
// @ts-ignore: decorator
@inline
function patchValue(x: usize, hi: i32, wi: i32, ci: i32, s: i32, pad: i32, oy: i32, ox: i32, e: i32, n: i32, offs: usize, interior: bool, origin: usize): f32 {
  if (e >= n) return 0;
  const o = offs + (<usize>(4 * e) << 2);
  if (interior) return load<f32>(origin + (<usize>load<i32>(o, 12) << 2));
  const iy = oy * s + load<i32>(o) - pad;
  const ix = ox * s + load<i32>(o, 4) - pad;
  if (<u32>iy >= <u32>hi || <u32>ix >= <u32>wi) return 0;
  return load<f32>(x + (<usize>((iy * wi + ix) * ci + load<i32>(o, 8)) << 2));
}

/** Patch values [e0, e0 + 4) of output pixel (oy, ox) as a vector (zeros for a pixel past the block: ox < 0). */
// @ts-ignore: decorator
@inline
function patchQuad(x: usize, hi: i32, wi: i32, ci: i32, k: i32, s: i32, pad: i32, oy: i32, ox: i32, e0: i32, n: i32, offs: usize): v128 {
  if (ox < 0) return f32x4.splat(0);
  const y0 = oy * s - pad;
  const x0 = ox * s - pad;
  const interior = y0 >= 0 && y0 + k <= hi && x0 >= 0 && x0 + k <= wi;
  const origin = x + (<usize>((y0 * wi + x0) * ci) << 2);
  let v = f32x4.splat(patchValue(x, hi, wi, ci, s, pad, oy, ox, e0, n, offs, interior, origin));
  v = f32x4.replace_lane(v, 1, patchValue(x, hi, wi, ci, s, pad, oy, ox, e0 + 1, n, offs, interior, origin));
  v = f32x4.replace_lane(v, 2, patchValue(x, hi, wi, ci, s, pad, oy, ox, e0 + 2, n, offs, interior, origin));
  return f32x4.replace_lane(v, 3, patchValue(x, hi, wi, ci, s, pad, oy, ox, e0 + 3, n, offs, interior, origin));
}

/** convFwdPatches' tables for `rows` output pixels from (oy, ox0): as rowGroupTables with each pixel's patch as its row. */
function patchTables(x: usize, hi: i32, wi: i32, ci: i32, k: i32, s: i32, pad: i32, oy: i32, ox0: i32, rows: i32, G: i32, n: i32, offs: usize): void {
  for (let g = 0; g < G; g++) {
    const base = maskScratch + <usize>g * DENSE_GROUP_BYTES;
    for (let v = 0; v < (rows + 3) >>> 2; v++) {
      const r = v * 4;
      const x0 = patchQuad(x, hi, wi, ci, k, s, pad, oy, r < rows ? ox0 + r : -1, 4 * g, n, offs);
      const x1 = patchQuad(x, hi, wi, ci, k, s, pad, oy, r + 1 < rows ? ox0 + r + 1 : -1, 4 * g, n, offs);
      const x2 = patchQuad(x, hi, wi, ci, k, s, pad, oy, r + 2 < rows ? ox0 + r + 2 : -1, 4 * g, n, offs);
      const x3 = patchQuad(x, hi, wi, ci, k, s, pad, oy, r + 3 < rows ? ox0 + r + 3 : -1, 4 * g, n, offs);
      storeRowPartials16(base + (<usize>v << 4), DENSE_ROWS * 4, x0, x1, x2, x3);
    }
  }
}

/** y = conv(X float, Ŵ bits). */
export function convFwdFloat(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, y: usize, oy0: i32, oy1: i32): void {
  convFwdX<u32>(x, w, hi, wi, ci, ho, wo, co, pad, y, oy0, oy1);
}

/** y = conv(X float, W float) (fixed-point layers: W holds the quantized weights, co × 9 × ci). */
export function convFwdFloatFloat(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, y: usize, oy0: i32, oy1: i32): void {
  convFwdX<f32>(x, w, hi, wi, ci, ho, wo, co, pad, y, oy0, oy1);
}

/** Σ x·w over one tap (dotFloatBits for sign rows, dotFloat for float rows). */
// @ts-ignore: decorator
@inline
function tapDot<S>(xr: usize, wr: usize, n: i32): f32 {
  return isInteger<S>() ? dotFloatBits(xr, wr, n) : dotFloat(xr, wr, n);
}

/** Lanes then the scalar tail of one tap's dot product: x[k]·w[k] for k in [full, n) added in order. */
// @ts-ignore: decorator
@inline
function tapFinish<S>(acc: v128, xr: usize, wr: usize, full: i32, n: i32): f32 {
  let s = lanesSum(acc);
  if (isInteger<S>()) return tailFloatBits(s, xr, wr, full, n);
  for (let k = full; k < n; k++) s += load<f32>(xr + (<usize>k << 2)) * load<f32>(wr + (<usize>k << 2));
  return s;
}

/** Output pixel (oy, ox), channels [c0, co): each in-bounds tap's dot added in tap order. */
function fwdFloatPixel<S>(x: usize, w: usize, hi: i32, wi: i32, ci: i32, co: i32, pad: i32, y: usize, oy: i32, ox: i32, wo: i32, c0: i32): void {
  const tapBytes = sourceRowBytes<S>(ci);
  const yo = y + (<usize>((oy * wo + ox) * co) << 2);
  for (let c = c0; c < co; c++) {
    let s: f32 = 0;
    for (let ky = 0; ky < 3; ky++) {
      const iy = oy + ky - pad;
      if (iy < 0 || iy >= hi) continue;
      for (let kx = 0; kx < 3; kx++) {
        const ix = ox + kx - pad;
        if (ix < 0 || ix >= wi) continue;
        s += tapDot<S>(x + (<usize>((iy * wi + ix) * ci) << 2), w + <usize>(c * 9 + ky * 3 + kx) * tapBytes, ci);
      }
    }
    store<f32>(yo + (<usize>c << 2), s);
  }
}

/** The sign-flip masks (bits) or the weights (floats) of input channel k of one tap for output channels c..c+3. */
// @ts-ignore: decorator
@inline
function narrowOperand<S>(words: v128, w0: usize, chanBytes: usize, k: i32): v128 {
  if (isInteger<S>()) return i32x4.shl(v128.and(i32x4.shr_u(v128.not(words), k), i32x4.splat(1)), 31);
  const o = <usize>k << 2;
  return f32x4(load<f32>(w0 + o), load<f32>(w0 + chanBytes + o), load<f32>(w0 + 2 * chanBytes + o), load<f32>(w0 + 3 * chanBytes + o));
}

/**
 * convFwdX for inputs too narrow for a vector along the input channels (fewer than 32 with sign
 * weights, 4 with float weights: a first layer on pixels): 4 output channels in the lanes
 * instead. Each lane sums one output exactly as the one-output kernel did (a tap's terms from
 * +0 in input-channel order, then the tap added to the running sum), so the result is the same.
 * Interior pixels go 4 at a time sharing each tap's weights.
 */
function fwdFloatNarrow<S>(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, y: usize, oy0: i32, oy1: i32): void {
  const tapBytes = sourceRowBytes<S>(ci);
  const chanBytes = <usize>9 * tapBytes;
  const xPix = <usize>ci << 2;
  const yPix = <usize>co << 2;
  const co4 = co & ~3;
  for (let oy = oy0; oy < oy1; oy++) {
    const inside = oy >= pad && oy < ho - pad && wo - 2 * pad >= 4;
    let ox = 0;
    while (ox < wo) {
      const block = inside && ox >= pad && ox < wo - pad;
      if (block) ox = min(ox, wo - pad - 4);
      const y0 = y + (<usize>((oy * wo + ox) * co) << 2);
      for (let c = 0; c < co4; c += 4) {
        let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
        for (let ky = 0; ky < 3; ky++) {
          const iy = oy + ky - pad;
          if (iy < 0 || iy >= hi) continue;
          for (let kx = 0; kx < 3; kx++) {
            const ix = ox + kx - pad;
            if (!block && (ix < 0 || ix >= wi)) continue;
            const w0 = w + <usize>c * chanBytes + <usize>(ky * 3 + kx) * tapBytes;
            let words = i32x4.splat(0);
            if (isInteger<S>()) words = i32x4(load<i32>(w0), load<i32>(w0 + chanBytes), load<i32>(w0 + 2 * chanBytes), load<i32>(w0 + 3 * chanBytes));
            const x0 = x + <usize>(iy * wi + ix) * xPix;
            let d0 = f32x4.splat(0), d1 = f32x4.splat(0), d2 = f32x4.splat(0), d3 = f32x4.splat(0);
            for (let k = 0; k < ci; k++) {
              const f = narrowOperand<S>(words, w0, chanBytes, k);
              const o = x0 + (<usize>k << 2);
              d0 = f32x4.add(d0, term4<S>(v128.load32_splat(o), f));
              if (block) {
                d1 = f32x4.add(d1, term4<S>(v128.load32_splat(o + xPix), f));
                d2 = f32x4.add(d2, term4<S>(v128.load32_splat(o + 2 * xPix), f));
                d3 = f32x4.add(d3, term4<S>(v128.load32_splat(o + 3 * xPix), f));
              }
            }
            s0 = f32x4.add(s0, d0);
            if (block) {
              s1 = f32x4.add(s1, d1);
              s2 = f32x4.add(s2, d2);
              s3 = f32x4.add(s3, d3);
            }
          }
        }
        const o = y0 + (<usize>c << 2);
        v128.store(o, s0);
        if (block) {
          v128.store(o + yPix, s1);
          v128.store(o + 2 * yPix, s2);
          v128.store(o + 3 * yPix, s3);
        }
      }
      const n = block ? 4 : 1;
      if (co4 < co) for (let r = 0; r < n; r++) fwdFloatPixel<S>(x, w, hi, wi, ci, co, pad, y, oy, ox + r, wo, co4);
      ox += n;
    }
  }
}

/**
 * Float input; weights as packed signs (S = u32) or floats (S = f32), one row of ci per (channel,
 * tap). Interior pixels 4 at a time (adjacent along x) × 2 output channels: each tap's 8 dot
 * products run in 8 independent accumulators sharing the loads, each finished in its own order
 * (lanes, then the scalar tail) and added to its output's running sum in tap order.
 */
function convFwdX<S>(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, y: usize, oy0: i32, oy1: i32): void {
  const tapBytes = sourceRowBytes<S>(ci);
  const chanBytes = <usize>9 * tapBytes;
  const xPix = <usize>ci << 2;
  const yPix = <usize>co << 2;
  const full = isInteger<S>() ? ci & ~31 : ci & ~3;
  const co2 = co & ~1;
  if (full == 0) {
    fwdFloatNarrow<S>(x, w, hi, wi, ci, ho, wo, co, pad, y, oy0, oy1);
    return;
  }
  for (let oy = oy0; oy < oy1; oy++) {
    const inside = oy >= pad && oy < ho - pad && wo - 2 * pad >= 4;
    let ox = 0;
    while (ox < wo) {
      if (!inside || ox < pad || ox >= wo - pad) {
        fwdFloatPixel<S>(x, w, hi, wi, ci, co, pad, y, oy, ox, wo, 0);
        ox++;
        continue;
      }
      // the last block of a row steps back to end at the border: pixels computed twice get the
      // same value twice
      ox = min(ox, wo - pad - 4);
      const y0 = y + (<usize>((oy * wo + ox) * co) << 2);
      for (let c = 0; c < co2; c += 2) {
        let s00: f32 = 0, s01: f32 = 0, s10: f32 = 0, s11: f32 = 0;
        let s20: f32 = 0, s21: f32 = 0, s30: f32 = 0, s31: f32 = 0;
        for (let tap = 0; tap < 9; tap++) {
          const ky = tap / 3;
          const kx = tap - 3 * ky;
          const x0 = x + <usize>((oy + ky - pad) * wi + ox + kx - pad) * xPix;
          const x1 = x0 + xPix;
          const x2 = x1 + xPix;
          const x3 = x2 + xPix;
          const w0 = w + <usize>c * chanBytes + <usize>tap * tapBytes;
          const w1 = w0 + chanBytes;
          let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
          let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
          if (isInteger<S>()) {
            for (let k = 0; k < full; k += 32) {
              const b0 = load<u32>(w0 + (<usize>k >>> 3));
              const b1 = load<u32>(w1 + (<usize>k >>> 3));
              const off = <usize>k << 2;
              for (let g: u32 = 0; g < 8; g++) {
                const m0 = flipAt(b0, g << 2);
                const m1 = flipAt(b1, g << 2);
                const o = off + (<usize>g << 4);
                let v = v128.load(x0 + o);
                a00 = f32x4.add(a00, v128.xor(v, m0));
                a01 = f32x4.add(a01, v128.xor(v, m1));
                v = v128.load(x1 + o);
                a10 = f32x4.add(a10, v128.xor(v, m0));
                a11 = f32x4.add(a11, v128.xor(v, m1));
                v = v128.load(x2 + o);
                a20 = f32x4.add(a20, v128.xor(v, m0));
                a21 = f32x4.add(a21, v128.xor(v, m1));
                v = v128.load(x3 + o);
                a30 = f32x4.add(a30, v128.xor(v, m0));
                a31 = f32x4.add(a31, v128.xor(v, m1));
              }
            }
          } else {
            for (let k = 0; k < full; k += 4) {
              const o = <usize>k << 2;
              const m0 = v128.load(w0 + o);
              const m1 = v128.load(w1 + o);
              let v = v128.load(x0 + o);
              a00 = f32x4.add(a00, f32x4.mul(v, m0));
              a01 = f32x4.add(a01, f32x4.mul(v, m1));
              v = v128.load(x1 + o);
              a10 = f32x4.add(a10, f32x4.mul(v, m0));
              a11 = f32x4.add(a11, f32x4.mul(v, m1));
              v = v128.load(x2 + o);
              a20 = f32x4.add(a20, f32x4.mul(v, m0));
              a21 = f32x4.add(a21, f32x4.mul(v, m1));
              v = v128.load(x3 + o);
              a30 = f32x4.add(a30, f32x4.mul(v, m0));
              a31 = f32x4.add(a31, f32x4.mul(v, m1));
            }
          }
          s00 += tapFinish<S>(a00, x0, w0, full, ci);
          s01 += tapFinish<S>(a01, x0, w1, full, ci);
          s10 += tapFinish<S>(a10, x1, w0, full, ci);
          s11 += tapFinish<S>(a11, x1, w1, full, ci);
          s20 += tapFinish<S>(a20, x2, w0, full, ci);
          s21 += tapFinish<S>(a21, x2, w1, full, ci);
          s30 += tapFinish<S>(a30, x3, w0, full, ci);
          s31 += tapFinish<S>(a31, x3, w1, full, ci);
        }
        const o = y0 + (<usize>c << 2);
        store<f32>(o, s00);
        store<f32>(o + 4, s01);
        store<f32>(o + yPix, s10);
        store<f32>(o + yPix + 4, s11);
        store<f32>(o + 2 * yPix, s20);
        store<f32>(o + 2 * yPix + 4, s21);
        store<f32>(o + 3 * yPix, s30);
        store<f32>(o + 3 * yPix + 4, s31);
      }
      if (co2 < co) for (let r = 0; r < 4; r++) fwdFloatPixel<S>(x, w, hi, wi, ci, co, pad, y, oy, ox + r, wo, co2);
      ox += 4;
    }
  }
}

// ---- dx of a binary 3x3 stride-1 convolution by table lookups ----
// dx[ci] at an input pixel sums, over the output pixels its taps reach (ascending, so taps from
// the last to the first) and over groups of 4 output channels in order, one partial a group:
// ((s0·d0 + s1·d1) + s2·d2) + s3·d3 (s the weights' signs, d that output pixel's dY). The 16
// partials of every (output pixel, group) are tabulated once per example and a weight's 4 signs
// index them: one load and one add for 4 multiply-adds, and each entry serves every input
// channel and tap (src/kernels/conv-reference.ts sums in the same order, so the bits agree).
// The lookup scratch (the caller's, convLutBytes): the sign index (convLutIndex, once per
// weights: a byte offset per (tap, group, input channel)), then the tables (convLutTables, per
// example: for each output row and group, 16 rows of W floats along x, zero outside the map).

/** Pixels of dx a lookup pass holds (3 vectors). */
const LUT_PIXELS = 12;

/** Table row length: x from −2 to past the last pixel block (input width rounded up) + pad. */
// @ts-ignore: decorator
@inline
function lutWidth(wi: i32, pad: i32): i32 {
  return (((wi + LUT_PIXELS - 1) / LUT_PIXELS) * LUT_PIXELS + pad + 2 + 3) & ~3;
}

/** Bytes of the sign index: a u16 per (tap, group, input channel), 16-aligned. */
// @ts-ignore: decorator
@inline
function lutIndexBytes(ci: i32, co: i32): usize {
  return (<usize>(9 * ((co + 3) >>> 2) * ci) * 2 + 15) & ~15;
}

/** Bytes of one output row's tables: 16 entries × W floats per group of 4 output channels. */
// @ts-ignore: decorator
@inline
function lutRowBytes(wi: i32, co: i32, pad: i32): usize {
  return <usize>((co + 3) >>> 2) * 16 * (<usize>lutWidth(wi, pad) << 2);
}

/** Bytes of lookup scratch convBwdData needs for this geometry. */
export function convLutBytes(hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32): i32 {
  return <i32>(lutIndexBytes(ci, co) + <usize>ho * lutRowBytes(wi, co, pad));
}

/**
 * The sign index of binary weights w (co × 9 × ci bits, ci even) into lut (signIndex): the byte
 * offset idx·W·4 of the entry a (tap, group, input channel)'s 4 signs pick within the group's
 * tables (16·W·4 bytes a group).
 */
export function convLutIndex(w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, lut: usize): void {
  signIndex(w, ci, co, lut, <u32>lutWidth(wi, pad) << 2, 0);
}

/**
 * A sign index (convLutIndex, convQuadDataIndex): for tap t, group g of 4 output channels and
 * input channel k, the u16 idx·entryBytes + g·groupBytes (bit j of idx: output channel 4g + j's
 * sign bit, a missing channel of the last group 0); laid out by tap, channel pair, group, channel
 * (2 channels' offsets side by side, groups in order: one stream per (tap, channel pair)).
 * 8 input channels a turn: the 4 rows' bytes spread to nibbles (spreadByte), each group's 4
 * channel pairs written as u32s, groups innermost so the writes run in order (per entry, it was
 * 4 loads and a scattered store: 7 ms of a BinaryNet step); the last ci % 8 channels one at a time.
 */
// @ts-ignore: decorator
@inline
function signIndex(w: usize, ci: i32, co: i32, lut: usize, entryBytes: u32, groupBytes: u32): void {
  const G = (co + 3) >>> 2;
  const tapBytes = <usize>((ci + 31) >>> 5) << 2;
  const chanBytes = <usize>9 * tapBytes;
  const pairs = ci >>> 1;
  const pairStride = <usize>G << 2;
  for (let t = 0; t < 9; t++) {
    let k = 0;
    for (; k + 8 <= ci; k += 8) {
      const word = w + <usize>t * tapBytes + (<usize>(k >>> 5) << 2);
      const shift = <u32>k & 24;
      const o = lut + (<usize>((t * pairs + (k >>> 1)) * G) << 2);
      for (let g = 0; g < G; g++) {
        let nibbles: u32 = 0;
        for (let j = 0; j < 4; j++) {
          const c = g * 4 + j;
          if (c < co) nibbles |= spreadByte((load<u32>(word + <usize>c * chanBytes) >>> shift) & 255) << <u32>j;
        }
        const base = <u32>g * groupBytes;
        const at = o + (<usize>g << 2);
        for (let m = 0; m < 4; m++, nibbles >>>= 8) {
          const lo = (nibbles & 15) * entryBytes + base;
          const hi = ((nibbles >>> 4) & 15) * entryBytes + base;
          store<u32>(at + <usize>m * pairStride, lo | (hi << 16));
        }
      }
    }
    for (; k < ci; k++)
      for (let g = 0; g < G; g++) {
        const o = lut + (<usize>(((t * pairs + (k >>> 1)) * G + g) * 2 + (k & 1)) << 1);
        const word = w + <usize>t * tapBytes + (<usize>(k >>> 5) << 2);
        let idx: u32 = 0;
        for (let j = 0; j < 4; j++) {
          const c = g * 4 + j;
          if (c < co) idx |= ((load<u32>(word + <usize>c * chanBytes) >>> (<u32>k & 31)) & 1) << <u32>j;
        }
        store<u16>(o, idx * entryBytes + <u32>g * groupBytes);
      }
  }
}

/** The signed sum of one term: d where the sign bit of `bit` is set, else −d. */
// @ts-ignore: decorator
@inline
function signedBy(d: v128, bit: u32): v128 {
  return bit ? d : v128.xor(d, f32x4.splat(-0.0));
}

/**
 * The 16 signed partials of 4 vectors of terms: entry idx (at at + idx·stride) =
 * ((s0·d0 + s1·d1) + s2·d2) + s3·d3, s_j = +1 where bit j of idx is set, else −1; with `fromZero`
 * the sum starts from +0 ((((+0 + s0·d0) + …), so no entry is −0). Every lookup kernel's tables.
 */
// @ts-ignore: decorator
@inline
function storePartials16(at: usize, stride: usize, d0: v128, d1: v128, d2: v128, d3: v128, fromZero: bool): void {
  // written out, each sum formed once (its value is the same wherever it appears): the loops'
  // sign choices made at run time left the table builds 100+ cycles a call
  const m0 = signedBy(d0, 0), m1 = signedBy(d1, 0), m2 = signedBy(d2, 0), m3 = signedBy(d3, 0);
  const s0 = fromZero ? f32x4.add(f32x4.splat(0), m0) : m0;
  const s1 = fromZero ? f32x4.add(f32x4.splat(0), d0) : d0;
  storePartialsQuarter(at, stride, f32x4.add(s0, m1), m2, d2, m3, d3);
  storePartialsQuarter(at + stride, stride, f32x4.add(s1, m1), m2, d2, m3, d3);
  storePartialsQuarter(at + 2 * stride, stride, f32x4.add(s0, d1), m2, d2, m3, d3);
  storePartialsQuarter(at + 3 * stride, stride, f32x4.add(s1, d1), m2, d2, m3, d3);
}

/** The 4 entries i, i + 4, i + 8, i + 12 of storePartials16 from the sum p01 of their first two terms (at: entry i). */
// @ts-ignore: decorator
@inline
function storePartialsQuarter(at: usize, stride: usize, p01: v128, m2: v128, d2: v128, m3: v128, d3: v128): void {
  const low = f32x4.add(p01, m2);
  const high = f32x4.add(p01, d2);
  v128.store(at, f32x4.add(low, m3));
  v128.store(at + 4 * stride, f32x4.add(high, m3));
  v128.store(at + 8 * stride, f32x4.add(low, d3));
  v128.store(at + 12 * stride, f32x4.add(high, d3));
}

/**
 * storePartials16 for 4 lanes given as 4 vectors of their 4 terms (lane l's terms in x_l): the
 * vectors turned so that term j of every lane is one vector. A row of a dense block's input, a
 * pixel of a conv map's dY.
 */
// @ts-ignore: decorator
@inline
function storeRowPartials16(at: usize, stride: usize, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const t0 = v128.shuffle<i32>(x0, x1, 0, 4, 1, 5);
  const t1 = v128.shuffle<i32>(x2, x3, 0, 4, 1, 5);
  const t2 = v128.shuffle<i32>(x0, x1, 2, 6, 3, 7);
  const t3 = v128.shuffle<i32>(x2, x3, 2, 6, 3, 7);
  const d0 = v128.shuffle<i32>(t0, t1, 0, 1, 4, 5);
  const d1 = v128.shuffle<i32>(t0, t1, 2, 3, 6, 7);
  const d2 = v128.shuffle<i32>(t2, t3, 0, 1, 4, 5);
  const d3 = v128.shuffle<i32>(t2, t3, 2, 3, 6, 7);
  storePartials16(at, stride, d0, d1, d2, d3, false);
}


/**
 * Output rows [oy0, oy1) of convBwdData's tables for one example's dY: for each group g and idx,
 * the partial ((s0·d0 + s1·d1) + s2·d2) + s3·d3 at every x (s_j = +1 where bit j of idx is set).
 */
export function convLutTables(dy: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, lut: usize, oy0: i32, oy1: i32): void {
  lutTableRows(dy, wi, ci, wo, co, pad, lut + lutIndexBytes(ci, co), oy0, oy1);
}

/** convLutTables into the tables at `tables`. */
// @ts-ignore: decorator
@inline
function lutTableRows(dy: usize, wi: i32, ci: i32, wo: i32, co: i32, pad: i32, tables: usize, oy0: i32, oy1: i32): void {
  const G = (co + 3) >>> 2;
  const W = lutWidth(wi, pad);
  const entryBytes = <usize>W << 2;
  const rowBytes = lutRowBytes(wi, co, pad);
  const dyPix = <usize>co << 2;
  // the columns whose 4 x's xc − 2 .. xc + 1 all lie on the map: [2, wo − 1) in steps of 4
  const innerEnd = wo - 1;
  for (let oy = oy0; oy < oy1; oy++)
    for (let g = 0; g < G; g++) {
      const base = tables + <usize>oy * rowBytes + <usize>(g * 16) * entryBytes;
      const px = dy + <usize>oy * wo * dyPix + (<usize>(g * 4) << 2);
      const valid = co - g * 4;
      let xc = 0;
      if (valid >= 4)
        // a whole group of channels: plain loads, the x's one pixel apart (most of the row)
        for (xc = 4; xc < innerEnd; xc += 4) {
          const p = px + <usize>(xc - 2) * dyPix;
          storeRowPartials16(base + (<usize>xc << 2), entryBytes, v128.load(p), v128.load(p + dyPix), v128.load(p + 2 * dyPix), v128.load(p + 3 * dyPix));
        }
      // the rest: the first column, and from the first with an x past the map's end
      for (let c = 0; c < W; c += 4) {
        if (valid >= 4 && c > 0 && c < xc) continue;
        // the 4 x's c − 2 .. c + 1, each its group's 4 channels (zero outside the map or past the last channel)
        const x0 = c - 2 >= 0 && c - 2 < wo ? loadChannels(px + <usize>(c - 2) * dyPix, valid) : f32x4.splat(0);
        const x1 = c - 1 >= 0 && c - 1 < wo ? loadChannels(px + <usize>(c - 1) * dyPix, valid) : f32x4.splat(0);
        const x2 = c < wo ? loadChannels(px + <usize>c * dyPix, valid) : f32x4.splat(0);
        const x3 = c + 1 < wo ? loadChannels(px + <usize>(c + 1) * dyPix, valid) : f32x4.splat(0);
        storeRowPartials16(base + (<usize>c << 2), entryBytes, x0, x1, x2, x3);
      }
    }
}

/** Two channels' accumulators over 4 pixels (a: channel k, c: k + 1) stored pixel by pixel, pixels below `n`. */
// @ts-ignore: decorator
@inline
function storePairs(o: usize, pixBytes: usize, n: i32, a: v128, c: v128): void {
  const lo = v128.shuffle<i32>(a, c, 0, 4, 1, 5);
  const hi = v128.shuffle<i32>(a, c, 2, 6, 3, 7);
  if (n > 0) v128.store64_lane(o, lo, 0);
  if (n > 1) v128.store64_lane(o + pixBytes, lo, 1);
  if (n > 2) v128.store64_lane(o + 2 * pixBytes, hi, 0);
  if (n > 3) v128.store64_lane(o + 3 * pixBytes, hi, 1);
}

/**
 * Groups of one tap whose tables a pass of lookupBlock reads for every channel pair: 32 KB of
 * L1 at most (16 entries a group, 64 bytes a vector block's window); up to half that many, a pass
 * takes the 3 taps of a row (their windows share the cache lines).
 */
const LOOKUP_GROUPS = 32;

/**
 * One block of `vecs` × 4 pixels of dx row iy from ix, channels [ci0, ci1) in pairs, in passes
 * over the taps (last to first) and groups (in order): a pass runs every channel pair over the
 * tables of one tap row (up to LOOKUP_GROUPS / 2 groups) or of one tap and up to LOOKUP_GROUPS
 * groups, so they stay in L1 (a whole row of tables for 128 output channels is 74 KB; read pair
 * after pair, all taps at once, they came from L2: BinaryNet's input gradients 411 -> 360 ms a
 * step). A pair's 2 channels × up to 12 pixels sit in registers during a pass (one index load and
 * 2·vecs table loads a group) and in this instance's scratch between passes; each dx element adds
 * its terms in the same order. Taps past the map's side read the tables' zero columns (adding ±0
 * to a sum that is never −0 changes nothing); taps past the top or bottom are skipped. 6
 * accumulators leave V8 registers for the loads (8 spilled one).
 */
// @ts-ignore: decorator
@inline
function lookupBlock(wi: i32, ci: i32, ho: i32, G: i32, pad: i32, dx: usize, ci0: i32, ci1: i32, lut: usize, tables: usize, iy: i32, ix: i32, vecs: i32): void {
  const rowBytes = <usize>G * 16 * (<usize>lutWidth(wi, pad) << 2);
  const pixBytes = <usize>ci << 2;
  const groupBytes = <usize>16 * (<usize>lutWidth(wi, pad) << 2);
  // the pairs' accumulators: 2·vecs vectors a pair
  const accs = maskScratch;
  const pairBytes = <usize>(2 * vecs) << 4;
  const byRow = G <= LOOKUP_GROUPS / 2;
  let first = true;
  for (let ky = 2; ky >= 0; ky--) {
    const oy = iy + pad - ky;
    if (oy < 0 || oy >= ho) continue;
    for (let kx = 2; kx >= 0; kx -= byRow ? 3 : 1)
      for (let g0 = 0; g0 < G; g0 += LOOKUP_GROUPS) {
        const g1 = min(G, g0 + LOOKUP_GROUPS);
        const kxTo = byRow ? 0 : kx;
        for (let k = ci0; k < ci1; k += 2) {
          const at = accs + <usize>((k - ci0) >>> 1) * pairBytes;
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0);
          let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0);
          if (!first) {
            a0 = v128.load(at);
            c0 = v128.load(at, 16);
            if (vecs > 1) {
              a1 = v128.load(at, 32);
              c1 = v128.load(at, 48);
            }
            if (vecs > 2) {
              a2 = v128.load(at, 64);
              c2 = v128.load(at, 80);
            }
          }
          for (let t = kx; t >= kxTo; t--) {
            // x = ix + pad − t is table column x + 2
            let gb = tables + <usize>oy * rowBytes + <usize>g0 * groupBytes + (<usize>(ix + pad - t + 2) << 2);
            let o = lut + (<usize>(((ky * 3 + t) * (ci >>> 1) + (k >>> 1)) * G + g0) << 2);
            for (let g = g0; g < g1; g++, o += 4, gb += groupBytes) {
              const two = load<u32>(o);
              const p = gb + <usize>(two & 0xffff);
              const q = gb + <usize>(two >>> 16);
              a0 = f32x4.add(a0, v128.load(p));
              c0 = f32x4.add(c0, v128.load(q));
              if (vecs > 1) {
                a1 = f32x4.add(a1, v128.load(p, 16));
                c1 = f32x4.add(c1, v128.load(q, 16));
              }
              if (vecs > 2) {
                a2 = f32x4.add(a2, v128.load(p, 32));
                c2 = f32x4.add(c2, v128.load(q, 32));
              }
            }
          }
          v128.store(at, a0);
          v128.store(at, c0, 16);
          if (vecs > 1) {
            v128.store(at, a1, 32);
            v128.store(at, c1, 48);
          }
          if (vecs > 2) {
            v128.store(at, a2, 64);
            v128.store(at, c2, 80);
          }
        }
        first = false;
      }
  }
  // no tap reached an output row: zeros, as the sums start
  if (first) memory.fill(accs, 0, <usize>((ci1 - ci0) >>> 1) * pairBytes);
  for (let k = ci0; k < ci1; k += 2) {
    const at = accs + <usize>((k - ci0) >>> 1) * pairBytes;
    const o = dx + <usize>(iy * wi + ix) * pixBytes + (<usize>k << 2);
    storePairs(o, pixBytes, wi - ix, v128.load(at), v128.load(at, 16));
    if (vecs > 1) storePairs(o + 4 * pixBytes, pixBytes, wi - ix - 4, v128.load(at, 32), v128.load(at, 48));
    if (vecs > 2) storePairs(o + 8 * pixBytes, pixBytes, wi - ix - 8, v128.load(at, 64), v128.load(at, 80));
  }
}

/**
 * dx (overwritten) for input channels [ci0, ci1) (even; ci even) from the tables and index in
 * lut, a row at a time in blocks of 12 pixels, the rest in one block of 4 or 8.
 */
export function convBwdDataLut(hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, dx: usize, ci0: i32, ci1: i32, lut: usize): void {
  if (!maskScratch) unreachable(); // lookupBlock keeps its accumulators there
  lookupRows(hi, wi, ci, ho, co, pad, dx, ci0, ci1, lut, lut + lutIndexBytes(ci, co));
}

/** convBwdDataLut with the tables at `tables`. */
// @ts-ignore: decorator
@inline
function lookupRows(hi: i32, wi: i32, ci: i32, ho: i32, co: i32, pad: i32, dx: usize, ci0: i32, ci1: i32, lut: usize, tables: usize): void {
  const G = (co + 3) >>> 2;
  // 12-pixel blocks up to twelvesEnd; a last block of 1-4 pixels after a 12 goes as 8 + 5-8
  // instead: a block of one vector has only two chains of adds and runs at the add latency (a
  // 14-wide map: ~5% faster)
  const rest = wi % 12;
  const twelvesEnd = wi > 12 && rest > 0 && rest <= 4 ? wi - 12 - rest : wi;
  // channels inside pixel blocks: a block's columns of the 3 rows' tables stay in cache
  for (let iy = 0; iy < hi; iy++) {
    let ix = 0;
    for (; ix + 12 <= twelvesEnd; ix += 12) lookupBlock(wi, ci, ho, G, pad, dx, ci0, ci1, lut, tables, iy, ix, 3);
    if (twelvesEnd < wi) {
      lookupBlock(wi, ci, ho, G, pad, dx, ci0, ci1, lut, tables, iy, ix, 2);
      ix += 8;
    }
    if (wi - ix > 8) lookupBlock(wi, ci, ho, G, pad, dx, ci0, ci1, lut, tables, iy, ix, 3);
    else if (wi - ix > 4) lookupBlock(wi, ci, ho, G, pad, dx, ci0, ci1, lut, tables, iy, ix, 2);
    else if (wi - ix > 0) lookupBlock(wi, ci, ho, G, pad, dx, ci0, ci1, lut, tables, iy, ix, 1);
  }
}

/**
 * Examples [e0, e1) of a batch by table lookups, one after another (dy: ho·wo·co floats an
 * example, dx: hi·wi·ci), the index at lut and this call's tables in slot `slot` after it (a
 * slot per thread, so threads split the examples): each example's tables, then its lookups,
 * as convLutTables + convBwdDataLut do.
 */
export function convBwdDataExamples(dy: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, dx: usize, lut: usize, slot: i32, e0: i32, e1: i32): void {
  if (!maskScratch) unreachable(); // lookupBlock keeps its accumulators there
  const tablesBytes = <usize>ho * lutRowBytes(wi, co, pad);
  const tables = lut + lutIndexBytes(ci, co) + <usize>slot * tablesBytes;
  for (let e = e0; e < e1; e++) {
    lutTableRows(dy + (<usize>(e * ho * wo * co) << 2), wi, ci, wo, co, pad, tables, 0, ho);
    lookupRows(hi, wi, ci, ho, co, pad, dx + (<usize>(e * hi * wi * ci) << 2), 0, ci, lut, tables);
  }
}

/**
 * convBwdDataExamples between float16 gradient stores (dy, dx: half codes): each example's dY
 * decoded into this slot's float buffers (at bufs: per slot ho·wo·co then hi·wi·ci floats, both
 * multiples of 4), its dX built there and encoded into dx, as halfDecode and halfEncode do. A
 * thread runs its examples end to end: no decode or encode pass on one thread between hand-offs,
 * and each example's floats stay in the cache of the thread that uses them.
 */
export function convBwdDataExamplesHalf(
  dy: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, dx: usize, lut: usize, slot: i32, e0: i32, e1: i32, bufs: usize,
): void {
  if (!maskScratch) unreachable(); // lookupBlock keeps its accumulators there
  const tablesBytes = <usize>ho * lutRowBytes(wi, co, pad);
  const tables = lut + lutIndexBytes(ci, co) + <usize>slot * tablesBytes;
  const dyLen = <usize>(ho * wo) * <usize>co;
  const dxLen = <usize>(hi * wi) * <usize>ci;
  const dyF = bufs + <usize>slot * ((dyLen + dxLen) << 2);
  const dxF = dyF + (dyLen << 2);
  for (let e = e0; e < e1; e++) {
    halfDecode(dy + ((<usize>e * dyLen) << 1), <i32>dyLen, dyF, 0);
    lutTableRows(dyF, wi, ci, wo, co, pad, tables, 0, ho);
    lookupRows(hi, wi, ci, ho, co, pad, dxF, 0, ci, lut, tables);
    halfEncode(dxF, <i32>dxLen, dx + ((<usize>e * dxLen) << 1), 0);
  }
}

/**
 * convBwdDataExamplesHalf between po2 stores (the tiny recipe): each example's dY codes (under
 * bias b) read into this slot's float buffer (po2Read), its dX built there and written as codes
 * the way a one-pass fill writes them (denseDxPo2Rows, an example a block): the first under the
 * bias of its own max, each later one under the running max's, re-coding the examples before
 * where one raises it. This instance's scratch then holds the examples' max and smallest
 * non-zero |dX|, their bias and 1, or 0 where a re-code would not be exact (as denseDxPo2Rows).
 * An example's codes must start a word (hi·wi·ci a multiple of 32) so threads write their own.
 */
export function convBwdDataExamplesPo2(
  dy: usize, b: i32, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, dx: usize, lut: usize, slot: i32, e0: i32, e1: i32, bufs: usize,
): void {
  if (!maskScratch) unreachable(); // lookupBlock keeps its accumulators there
  const tablesBytes = <usize>ho * lutRowBytes(wi, co, pad);
  const tables = lut + lutIndexBytes(ci, co) + <usize>slot * tablesBytes;
  const dyLen = ho * wo * co;
  const dxLen = hi * wi * ci;
  const dyF = bufs + <usize>slot * (<usize>(dyLen + dxLen) << 2);
  const dxF = dyF + (<usize>dyLen << 2);
  let ok = true;
  fillBegin(e0 * dxLen);
  for (let e = e0; e < e1 && ok; e++) {
    po2Read(dy, e * dyLen, 1, dyLen, dyLen, b, dyF);
    lutTableRows(dyF, wi, ci, wo, co, pad, tables, 0, ho);
    lookupRows(hi, wi, ci, ho, co, pad, dxF, 0, ci, lut, tables);
    ok = fillBlock(dxF, dxLen, dx, e * dxLen);
  }
  fillEnd(ok);
}

/** Bytes of one slot's tables for convBwdDataExamples (the scratch holds the index, then the slots). */
export function convLutTablesBytes(hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32): i32 {
  return <i32>(<usize>ho * lutRowBytes(wi, co, pad));
}

// ---- dx of narrow maps with 4 examples in the lanes ----
// On outputs at most 4 wide (DATA_QUADS_UP_TO in conv-geometry.ts: CNV's 3x3 and 1x1), a row of pixels fills few lanes
// and most taps fall off the map (8-20 G terms/s). There the lanes hold 4 examples instead: the
// 16 partials of every (output pixel, group of 4 output channels) for a quad of examples, then
// per input pixel and channel pair the same sums as lookupBlock, in the same order (output
// pixels ascending, groups in order), so the same bits, every lane its own example.

/**
 * The sign index for convBwdDataQuads into lut (lutIndexBytes, the layout of convLutIndex: tap,
 * channel pair, group, channel): the byte offset g·256 + idx·16 of the table entry group g's 4
 * signs pick in an output pixel's tables (16 entries of 16 bytes a group).
 */
export function convQuadDataIndex(w: usize, ci: i32, co: i32, lut: usize): void {
  signIndex(w, ci, co, lut, 16, 256);
}

/**
 * dx of examples [e0, e1) (dy: ho·wo·co floats an example, dx: hi·wi·ci, ci even) four at a
 * time in the lanes: the quad's tables for every output pixel (slot `slot` after the index at
 * lut, as convBwdDataExamples), then every input pixel's channel pairs, taps last to first and
 * groups in order, written to each of the quad's examples.
 */
export function convBwdDataQuads(dy: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, dx: usize, lut: usize, slot: i32, e0: i32, e1: i32): void {
  const G = (co + 3) >>> 2;
  // a slot as convBwdDataExamples' (ho·wo·G·256 bytes fit it: its rows are at least 16 floats wide)
  const tables = lut + lutIndexBytes(ci, co) + <usize>slot * (<usize>ho * lutRowBytes(wi, co, pad));
  const pixTables = <usize>G << 8;
  const dyLen = <usize>(ho * wo * co) << 2;
  const dxLen = <usize>(hi * wi * ci) << 2;
  const dyPix = <usize>co << 2;
  const pixBytes = <usize>ci << 2;
  const zero = f32x4.splat(0);
  for (let q = e0; q < e1; q += 4) {
    const lanes = min(4, e1 - q);
    const d = dy + <usize>q * dyLen;
    for (let p = 0; p < ho * wo; p++)
      for (let g = 0; g < G; g++) {
        // lane l: example q + l's 4 channels of the group (zero past the last channel or example)
        const px = d + <usize>p * dyPix + (<usize>g << 4);
        const valid = co - g * 4;
        const x0 = loadChannels(px, valid);
        const x1 = lanes > 1 ? loadChannels(px + dyLen, valid) : zero;
        const x2 = lanes > 2 ? loadChannels(px + 2 * dyLen, valid) : zero;
        const x3 = lanes > 3 ? loadChannels(px + 3 * dyLen, valid) : zero;
        storeRowPartials16(tables + <usize>p * pixTables + (<usize>g << 8), 16, x0, x1, x2, x3);
      }
    const out = dx + <usize>q * dxLen;
    const pairStep = <usize>G << 2;
    for (let iy = 0; iy < hi; iy++)
      for (let ix = 0; ix < wi; ix++) {
        const at = out + <usize>(iy * wi + ix) * pixBytes;
        let k = 0;
        // three channel pairs a pass: six independent sums hide the add latency that one pair's
        // two are bound by; each sum's terms keep their order (taps last to first, groups in order)
        for (; k + 6 <= ci; k += 6) quadPairSums(tables, lut, pixTables, pairStep, iy, ix, ci, ho, wo, pad, G, k, true, at, dxLen, lanes);
        for (; k < ci; k += 2) quadPairSums(tables, lut, pixTables, pairStep, iy, ix, ci, ho, wo, pad, G, k, false, at, dxLen, lanes);
      }
  }
}

/**
 * dx of input pixel (iy, ix) for channel pair k, and with `three` pairs k + 2 and k + 4 too,
 * over a quad's tables (convBwdDataQuads): taps last to first, groups in order, each pair's two
 * sums independent chains of adds; written to the quad's examples from `at` (the pixel in example 0).
 */
// @ts-ignore: decorator
@inline
function quadPairSums(
  tables: usize, lut: usize, pixTables: usize, pairStep: usize, iy: i32, ix: i32, ci: i32, ho: i32, wo: i32, pad: i32, G: i32, k: i32, three: bool,
  at: usize, dxLen: usize, lanes: i32,
): void {
  const zero = f32x4.splat(0);
  let a0 = zero, c0 = zero, a1 = zero, c1 = zero, a2 = zero, c2 = zero;
  for (let ky = 2; ky >= 0; ky--) {
    const oy = iy + pad - ky;
    if (oy < 0 || oy >= ho) continue;
    for (let kx = 2; kx >= 0; kx--) {
      const ox = ix + pad - kx;
      if (ox < 0 || ox >= wo) continue;
      const t = tables + <usize>(oy * wo + ox) * pixTables;
      let o = lut + (<usize>(((ky * 3 + kx) * (ci >>> 1) + (k >>> 1)) * G) << 2);
      for (let g = 0; g < G; g++, o += 4) {
        const p0 = load<u32>(o);
        a0 = f32x4.add(a0, v128.load(t + <usize>(p0 & 0xffff)));
        c0 = f32x4.add(c0, v128.load(t + <usize>(p0 >>> 16)));
        if (three) {
          const p1 = load<u32>(o + pairStep);
          const p2 = load<u32>(o + 2 * pairStep);
          a1 = f32x4.add(a1, v128.load(t + <usize>(p1 & 0xffff)));
          c1 = f32x4.add(c1, v128.load(t + <usize>(p1 >>> 16)));
          a2 = f32x4.add(a2, v128.load(t + <usize>(p2 & 0xffff)));
          c2 = f32x4.add(c2, v128.load(t + <usize>(p2 >>> 16)));
        }
      }
    }
  }
  storeQuadPair(at + (<usize>k << 2), dxLen, lanes, a0, c0);
  if (three) {
    storeQuadPair(at + (<usize>(k + 2) << 2), dxLen, lanes, a1, c1);
    storeQuadPair(at + (<usize>(k + 4) << 2), dxLen, lanes, a2, c2);
  }
}

/** A quad's sums of channels k (a) and k + 1 (c) at `at` in example 0's dx, lane l to example l (dxLen bytes apart). */
// @ts-ignore: decorator
@inline
function storeQuadPair(at: usize, dxLen: usize, lanes: i32, a: v128, c: v128): void {
  const lo = v128.shuffle<i32>(a, c, 0, 4, 1, 5);
  const hi2 = v128.shuffle<i32>(a, c, 2, 6, 3, 7);
  v128.store64_lane(at, lo, 0);
  if (lanes > 1) v128.store64_lane(at + dxLen, lo, 1);
  if (lanes > 2) v128.store64_lane(at + 2 * dxLen, hi2, 0);
  if (lanes > 3) v128.store64_lane(at + 3 * dxLen, hi2, 1);
}

/** dx = full convolution of dY with the rotated float kernel; input channels [ci0, ci1) only. */
export function convBwdDataFloat(dy: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, dx: usize, ci0: i32, ci1: i32): void {
  convBwdDataX<f32>(dy, w, hi, wi, ci, ho, wo, co, pad, dx, ci0, ci1);
}

/**
 * dx at input pixel (iy, ix) and, with `pair`, at (iy, ix + 1) (both with the same in-bounds
 * taps), columns [ci0, ci1). Gathered: each output's terms come in the order the scattering
 * kernel added them (output pixels in order, so taps from the last to the first, then output
 * channels in order), 16 columns held in registers per pixel while they run, every output
 * written once. A zero dY adds ±0 to a sum that is never -0, so no term needs skipping. Only
 * float weights (fixed-point layers) take it now: sign weights go by table lookups
 * (convBwdDataLut) or the grouped scatter (convGBwdData).
 */
// @ts-ignore: decorator
@inline
function bwdDataPixels<S>(dy: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, dx: usize, ci0: i32, ci1: i32, iy: i32, ix: i32, pair: bool): void {
  const tapBytes = sourceRowBytes<S>(ci);
  const chanBytes = <usize>9 * tapBytes;
  const dyPix = <usize>co << 2;
  const o0 = dx + (<usize>((iy * wi + ix) * ci) << 2);
  const o1 = o0 + (<usize>ci << 2);
  const n16 = ci0 + ((ci1 - ci0) & ~15);
  for (let k = ci0; k < n16; k += 16) {
    const off = <usize>k << 2;
    const shift = <u32>(k & 31);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
    for (let ky = 2; ky >= 0; ky--) {
      const oy = iy + pad - ky;
      if (oy < 0 || oy >= ho) continue;
      for (let kx = 2; kx >= 0; kx--) {
        const ox = ix + pad - kx;
        if (ox < 0 || ox >= wo) continue;
        let dp = dy + <usize>(oy * wo + ox) * dyPix;
        let sp = sourceColumn<S>(w + <usize>(ky * 3 + kx) * tapBytes, k);
        for (let c = 0; c < co; c++, sp += chanBytes, dp += 4) {
          const bits: u32 = isInteger<S>() ? load<u32>(sp) >>> shift : 0;
          const f0 = operand4<S>(sp, bits, 0);
          const f1 = operand4<S>(sp, bits, 1);
          const f2 = operand4<S>(sp, bits, 2);
          const f3 = operand4<S>(sp, bits, 3);
          const v0 = v128.load32_splat(dp);
          a0 = f32x4.add(a0, term4<S>(v0, f0));
          a1 = f32x4.add(a1, term4<S>(v0, f1));
          a2 = f32x4.add(a2, term4<S>(v0, f2));
          a3 = f32x4.add(a3, term4<S>(v0, f3));
          if (pair) {
            const v1 = v128.load32_splat(dp + dyPix);
            c0 = f32x4.add(c0, term4<S>(v1, f0));
            c1 = f32x4.add(c1, term4<S>(v1, f1));
            c2 = f32x4.add(c2, term4<S>(v1, f2));
            c3 = f32x4.add(c3, term4<S>(v1, f3));
          }
        }
      }
    }
    v128.store(o0 + off, a0); v128.store(o0 + off + 16, a1); v128.store(o0 + off + 32, a2); v128.store(o0 + off + 48, a3);
    if (pair) {
      v128.store(o1 + off, c0); v128.store(o1 + off + 16, c1); v128.store(o1 + off + 32, c2); v128.store(o1 + off + 48, c3);
    }
  }
  const last = pair ? 2 : 1;
  for (let r = 0; r < last; r++)
    for (let k = n16; k < ci1; k++) {
      let a: f32 = 0;
      for (let ky = 2; ky >= 0; ky--) {
        const oy = iy + pad - ky;
        if (oy < 0 || oy >= ho) continue;
        for (let kx = 2; kx >= 0; kx--) {
          const ox = ix + r + pad - kx;
          if (ox < 0 || ox >= wo) continue;
          const dp = dy + <usize>(oy * wo + ox) * dyPix;
          const row = w + <usize>(ky * 3 + kx) * tapBytes;
          for (let c = 0; c < co; c++) {
            const v = load<f32>(dp + (<usize>c << 2));
            const wr = row + <usize>c * chanBytes;
            if (isInteger<S>()) a += (load<u32>(wr + (<usize>(k >>> 5) << 2)) >>> (<u32>k & 31)) & 1 ? v : -v;
            else a += v * load<f32>(wr + (<usize>k << 2));
          }
        }
      }
      store<f32>(o0 + (<usize>(r * ci + k) << 2), a);
    }
}

function convBwdDataX<S>(dy: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, dx: usize, ci0: i32, ci1: i32): void {
  // pixels ix and ix + 1 pair up where all nine taps of both are in bounds
  const pairFrom = 2 - pad;
  const pairTo = wo - pad - 1;
  for (let iy = 0; iy < hi; iy++) {
    let ix = 0;
    while (ix < wi) {
      if (ix >= pairFrom && ix < pairTo && ix + 1 < wi) {
        bwdDataPixels<S>(dy, w, hi, wi, ci, ho, wo, co, pad, dx, ci0, ci1, iy, ix, true);
        ix += 2;
      } else {
        bwdDataPixels<S>(dy, w, hi, wi, ci, ho, wo, co, pad, dx, ci0, ci1, iy, ix, false);
        ix++;
      }
    }
  }
}

/** dw[c × 9·ci] += Σ_pixels dY[·, c]·X[tap pixel] for `count` channels (dy: ho·wo × count). */
/**
 * Over sign inputs, maps at least FILTER_GROUPS_FROM wide take the grouped order of
 * conv-reference.ts here (convBwdFilterLut is their fast path), narrower ones pixel by pixel.
 */
export function convBwdFilter(dy: usize, x: usize, xBits: i32, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32): void {
  if (xBits && wo >= FILTER_GROUPS_FROM) filterGroups(dy, x, hi, wi, ci, ho, wo, count, pad, 3, 1, dw, c0, c1);
  else if (xBits && maskScratch && wi <= MASK_TERMS && sparseEnough(dy, ho * wo, count, c0, c1, hi, wi))
    filterSumSparse(dy, x, hi, wi, ci, ho, wo, count, pad, dw, c0, c1);
  else if (xBits && maskScratch && wi <= MASK_TERMS) filterSumBits(dy, x, hi, wi, ci, ho, wo, count, pad, dw, c0, c1);
  else if (xBits) filterSum<u32>(dy, x, hi, wi, ci, ho, wo, count, pad, dw, c0, c1);
  else if (ci < 16) filterFewInputs(dy, x, hi, wi, ci, ho, wo, count, pad, dw, c0, c1);
  else filterSum<f32>(dy, x, hi, wi, ci, ho, wo, count, pad, dw, c0, c1);
}

/**
 * convBwdFilter over `examples` consecutive examples of dy (ho·wo × count floats each) and x
 * (hi·wi pixels of ci floats, or of ⌈ci/32⌉ sign words), one after another into the same dw: as
 * that many calls, in one (threads split the channels once for all of them).
 */
export function convBwdFilterExamples(
  dy: usize, x: usize, xBits: i32, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32, examples: i32,
): void {
  const dyBytes = <usize>(ho * wo * count) << 2;
  const xBytes = <usize>(hi * wi) * (xBits ? <usize>((ci + 31) >>> 5) << 2 : <usize>ci << 2);
  for (let e = 0; e < examples; e++) convBwdFilter(dy + <usize>e * dyBytes, x + <usize>e * xBytes, xBits, hi, wi, ci, ho, wo, count, pad, dw, c0, c1);
}

/** Channels whose lists (every pixel of the map at most, 8 bytes each, and the list's end) the list scratch holds at once. */
// @ts-ignore: decorator
@inline
function listChannels(pixels: i32): i32 {
  return LIST_BYTES / (pixels * 8 + 4);
}

/**
 * Whether dY's channels [c0, c1) are mostly exact zeros (a max-pool before batch norm passes a
 * gradient to one pixel of each window: 3 in 4 are zero), so that filterSumSparse pays: at most
 * 3 non-zeros in 8, and a map small enough for one channel's list to fit in the scratch.
 */
function sparseEnough(dy: usize, pixels: i32, count: i32, c0: i32, c1: i32, hi: i32, wi: i32): bool {
  if (hi * wi >= 1 << 24 || listChannels(pixels) < 1) return false;
  let nonzero = 0;
  for (let p = 0; p < pixels; p++) {
    const row = dy + (<usize>(p * count) << 2);
    for (let c = c0; c < c1; c++) nonzero += i32(load<f32>(row + (<usize>c << 2)) != 0);
  }
  return nonzero * 8 <= 3 * pixels * (c1 - c0);
}

/**
 * The lists of channels [g0, g1): channel c's at lists + (c − g0)·pixels entries, each entry
 * (key, value) for a non-zero dY[(oy, ox), c], in pixel order; its end (in entries) at
 * ends + (c − g0)·4. key = (oy·wi + ox)·64 (the offset of the input pixel's masks, less the tap's
 * shift), bit 0 set in the first column and bit 1 in the last (the columns a same-padded tap at
 * the left or the right skips). Every value is written and the end moves past the non-zero ones
 * only, so there is no branch on the data.
 */
function listFill(dy: usize, count: i32, wi: i32, wo: i32, pixels: i32, g0: i32, g1: i32, lists: usize, ends: usize): void {
  for (let c = g0; c < g1; c++) store<i32>(ends + (<usize>(c - g0) << 2), 0);
  for (let p = 0, oy = 0, ox = 0; p < pixels; p++) {
    const row = dy + (<usize>(p * count) << 2);
    const key = (<u32>(oy * wi + ox) << 6) | (ox == 0 ? 1 : 0) | (ox == wo - 1 ? 2 : 0);
    for (let c = g0; c < g1; c++) {
      const v = load<f32>(row + (<usize>c << 2));
      const endAt = ends + (<usize>(c - g0) << 2);
      const n = load<i32>(endAt);
      const e = lists + (<usize>((c - g0) * pixels + n) << 3);
      store<u32>(e, key);
      store<f32>(e + 4, v);
      store<i32>(endAt, n + i32(v != 0));
    }
    if (++ox == wo) {
      ox = 0;
      oy++;
    }
  }
}

/** The first entry in [from, end) whose key is at least `code` (entries are in pixel order). */
function listSeek(from: usize, end: usize, code: u32): usize {
  let lo = 0;
  let hi = <i32>((end - from) >>> 3);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (load<u32>(from + (<usize>mid << 3)) < code) lo = mid + 1;
    else hi = mid;
  }
  return from + (<usize>lo << 3);
}

/**
 * filterSumBits for a dY of mostly zeros: each channel's non-zero values are listed with their
 * pixels, in pixel order, and only those run (4 mask loads, 4 xors and 4 adds a listed pixel).
 * An exact zero adds nothing to a sum that starts at +0 (such a sum never reaches −0), so dw is
 * the same to the bit; the pixels of each dw element are still summed in order (bands in order,
 * rows and columns in order within one). Channels go in groups whose lists fit in the scratch
 * after the masks; each group expands the masks again.
 */
function filterSumSparse(dy: usize, x: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32): void {
  const pixBytes = <usize>((ci + 31) >>> 5) << 2;
  const rowBytes = <usize>ci << 2;
  const chanBytes = <usize>9 * rowBytes;
  const n16 = ci & ~15;
  const masks = maskScratch;
  const pixels = ho * wo;
  const group = listChannels(pixels);
  const lists = maskScratch + <usize>MASK_BYTES;
  const ends = lists + (<usize>(group * pixels) << 3);
  const band = max(1, MASK_TERMS / wi);
  for (let g0 = c0; g0 < c1; g0 += group) {
    const g1 = min(c1, g0 + group);
    listFill(dy, count, wi, wo, pixels, g0, g1, lists, ends);
    for (let k = 0; k < n16; k += 16) {
      const off = <usize>k << 2;
      const shift = <u32>(k & 31);
      for (let r0 = 0; r0 < hi; r0 += band) {
        const r1 = min(hi, r0 + band);
        expandMasks(x + <usize>(r0 * wi) * pixBytes + (<usize>(k >>> 5) << 2), pixBytes, (r1 - r0) * wi, shift, masks);
        for (let tap = 0; tap < 9; tap++) {
          const ky = tap / 3;
          const kx = tap - 3 * ky;
          // output rows whose tap row lies in the band; a tap left or right of a same-padded map's
          // edge skips the first or the last column (3x3: at most one each side)
          const oyFrom = max(tapFrom(ky, pad), r0 - ky + pad);
          const oyTo = min(tapTo(ky, pad, hi, ho), r1 - ky + pad);
          if (oyFrom >= oyTo) continue;
          const skip: u32 = (tapFrom(kx, pad) > 0 ? 1 : 0) | (tapTo(kx, pad, wi, wo) < wo ? 2 : 0);
          // output pixel (oy, ox) reads the masks of input pixel (oy + ky − pad, ox + kx − pad) of the band
          const base = masks + (<usize>((ky - pad - r0) * wi + kx - pad) << 6);
          const start = <u32>(oyFrom * wi) << 6;
          const stop = <u32>(oyTo * wi) << 6;
          for (let c = g0; c < g1; c++) {
            const list = lists + (<usize>((c - g0) * pixels) << 3);
            const end = list + (<usize>load<i32>(ends + (<usize>(c - g0) << 2)) << 3);
            const o = dw + <usize>c * chanBytes + <usize>tap * rowBytes + off;
            let a0 = v128.load(o), a1 = v128.load(o + 16), a2 = v128.load(o + 32), a3 = v128.load(o + 48);
            for (let e = listSeek(list, end, start); e < end; e += 8) {
              const key = load<u32>(e);
              if (key >= stop) break;
              if (key & skip) continue;
              const q = base + <usize>(key & ~63);
              const v = v128.load32_splat(e + 4);
              a0 = f32x4.add(a0, v128.xor(v, v128.load(q)));
              a1 = f32x4.add(a1, v128.xor(v, v128.load(q + 16)));
              a2 = f32x4.add(a2, v128.xor(v, v128.load(q + 32)));
              a3 = f32x4.add(a3, v128.xor(v, v128.load(q + 48)));
            }
            v128.store(o, a0); v128.store(o + 16, a1); v128.store(o + 32, a2); v128.store(o + 48, a3);
          }
        }
      }
    }
  }
  // the last ci % 16 columns as filterSum does them
  if (n16 < ci) filterTail<u32>(dy, x, hi, wi, ci, ho, wo, count, pad, dw, c0, c1, n16);
}

/**
 * filterSum<u32> with the input's sign masks expanded once per 16-column block, for a band of
 * input rows at a time (as many as the thread's scratch holds), and every tap and channel pair
 * run over the output pixels whose tap lands in the band: each dw element still sums its pixels
 * in order (bands in order, the running sums kept in dw between them), so dw is the same to the bit.
 */
function filterSumBits(dy: usize, x: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32): void {
  const pixBytes = <usize>((ci + 31) >>> 5) << 2;
  const rowBytes = <usize>ci << 2;
  const chanBytes = <usize>9 * rowBytes;
  const dyPix = <usize>count << 2;
  const n16 = ci & ~15;
  const masks = maskScratch;
  const band = max(1, MASK_TERMS / wi);
  for (let k = 0; k < n16; k += 16) {
    const off = <usize>k << 2;
    const shift = <u32>(k & 31);
    for (let r0 = 0; r0 < hi; r0 += band) {
      const r1 = min(hi, r0 + band);
      expandMasks(x + <usize>(r0 * wi) * pixBytes + (<usize>(k >>> 5) << 2), pixBytes, (r1 - r0) * wi, shift, masks);
      for (let tap = 0; tap < 9; tap++) {
        const ky = tap / 3;
        const kx = tap - 3 * ky;
        // output rows whose tap row lies in the band
        const oyFrom = max(tapFrom(ky, pad), r0 - ky + pad);
        const oyTo = min(tapTo(ky, pad, hi, ho), r1 - ky + pad);
        if (oyFrom >= oyTo) continue;
        const oxFrom = tapFrom(kx, pad);
        const oxTo = tapTo(kx, pad, wi, wo);
        for (let c = c0; c < c1; c += 2) {
          const pair = c + 1 < c1;
          const o0 = dw + <usize>c * chanBytes + <usize>tap * rowBytes + off;
          const o1 = o0 + chanBytes;
          let a0 = v128.load(o0), a1 = v128.load(o0 + 16), a2 = v128.load(o0 + 32), a3 = v128.load(o0 + 48);
          let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
          if (pair) {
            b0 = v128.load(o1); b1 = v128.load(o1 + 16); b2 = v128.load(o1 + 32); b3 = v128.load(o1 + 48);
          }
          for (let oy = oyFrom; oy < oyTo; oy++) {
            let dp = dy + (<usize>((oy * wo + oxFrom) * count + c) << 2);
            let q = masks + (<usize>((oy + ky - pad - r0) * wi + oxFrom + kx - pad) << 6);
            for (let ox = oxFrom; ox < oxTo; ox++, dp += dyPix, q += 64) {
              const f0 = v128.load(q), f1 = v128.load(q + 16), f2 = v128.load(q + 32), f3 = v128.load(q + 48);
              const v0 = v128.load32_splat(dp);
              a0 = f32x4.add(a0, v128.xor(v0, f0));
              a1 = f32x4.add(a1, v128.xor(v0, f1));
              a2 = f32x4.add(a2, v128.xor(v0, f2));
              a3 = f32x4.add(a3, v128.xor(v0, f3));
              if (pair) {
                const v1 = v128.load32_splat(dp + 4);
                b0 = f32x4.add(b0, v128.xor(v1, f0));
                b1 = f32x4.add(b1, v128.xor(v1, f1));
                b2 = f32x4.add(b2, v128.xor(v1, f2));
                b3 = f32x4.add(b3, v128.xor(v1, f3));
              }
            }
          }
          v128.store(o0, a0); v128.store(o0 + 16, a1); v128.store(o0 + 32, a2); v128.store(o0 + 48, a3);
          if (pair) {
            v128.store(o1, b0); v128.store(o1 + 16, b1); v128.store(o1 + 32, b2); v128.store(o1 + 48, b3);
          }
        }
      }
    }
  }
  // the last ci % 16 columns as filterSum does them (its block loop has nothing left to do)
  if (n16 < ci) filterTail<u32>(dy, x, hi, wi, ci, ho, wo, count, pad, dw, c0, c1, n16);
}

/**
 * filterSum<f32> for inputs of fewer than 16 channels (a first layer's pixels, whose 16-column
 * blocks are empty): per tap, 8 output channels × up to 3 input channels in 6 registers while
 * the pixels run (dY's 8 channels of a pixel are 2 loads shared by the 3 input values, each one
 * splat), each dw element summed in pixel order as filterTailTap does, so the same bits. (16
 * output channels × 1 input channel: 4 chains of dependent adds, at the add latency: 11 G
 * multiply-adds/s on CNV's and BinaryNet's first layers.)
 */
function filterFewInputs(dy: usize, x: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32): void {
  for (let b0 = c0; b0 < c1; b0 += 8) {
    const n = min(8, c1 - b0);
    for (let tap = 0; tap < 9; tap++) {
      let k = 0;
      for (; k + 3 <= ci; k += 3) fewInputs8(dy, x, hi, wi, ci, ho, wo, count, pad, dw, b0, n, tap, k, 3);
      if (ci - k == 2) fewInputs8(dy, x, hi, wi, ci, ho, wo, count, pad, dw, b0, n, tap, k, 2);
      else if (ci - k == 1) fewInputs8(dy, x, hi, wi, ci, ho, wo, count, pad, dw, b0, n, tap, k, 1);
    }
  }
}

/** filterFewInputs for output channels b0 .. b0 + n − 1 (n <= 8), one tap, input channels k .. k + kn − 1 (kn 1-3, a constant where inlined). */
// @ts-ignore: decorator
@inline
function fewInputs8(dy: usize, x: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, b0: i32, n: i32, tap: i32, k: i32, kn: i32): void {
  const chanBytes = <usize>(9 * ci) << 2;
  const dyPix = <usize>count << 2;
  const xPix = <usize>ci << 2;
  const ky = tap / 3;
  const kx = tap - 3 * ky;
  const oyFrom = tapFrom(ky, pad);
  const oyTo = tapTo(ky, pad, hi, ho);
  const oxFrom = tapFrom(kx, pad);
  const oxTo = tapTo(kx, pad, wi, wo);
  const o = dw + <usize>b0 * chanBytes + (<usize>(tap * ci + k) << 2);
  const o4 = o + 4 * chanBytes;
  const zero = f32x4.splat(0);
  let a0 = gatherLanes(o, chanBytes, n), a1 = gatherLanes(o4, chanBytes, n - 4);
  let b0v = kn > 1 ? gatherLanes(o + 4, chanBytes, n) : zero, b1v = kn > 1 ? gatherLanes(o4 + 4, chanBytes, n - 4) : zero;
  let c0v = kn > 2 ? gatherLanes(o + 8, chanBytes, n) : zero, c1v = kn > 2 ? gatherLanes(o4 + 8, chanBytes, n - 4) : zero;
  for (let oy = oyFrom; oy < oyTo; oy++) {
    let dp = dy + <usize>(oy * wo + oxFrom) * dyPix + (<usize>b0 << 2);
    let xp = x + <usize>((oy + ky - pad) * wi + oxFrom + kx - pad) * xPix + (<usize>k << 2);
    for (let ox = oxFrom; ox < oxTo; ox++, dp += dyPix, xp += xPix) {
      const d0 = loadChannels(dp, n);
      const d1 = loadChannels(dp + 16, n - 4);
      const v0 = v128.load32_splat(xp);
      a0 = f32x4.add(a0, f32x4.mul(d0, v0));
      a1 = f32x4.add(a1, f32x4.mul(d1, v0));
      if (kn > 1) {
        const v1 = v128.load32_splat(xp + 4);
        b0v = f32x4.add(b0v, f32x4.mul(d0, v1));
        b1v = f32x4.add(b1v, f32x4.mul(d1, v1));
      }
      if (kn > 2) {
        const v2 = v128.load32_splat(xp + 8);
        c0v = f32x4.add(c0v, f32x4.mul(d0, v2));
        c1v = f32x4.add(c1v, f32x4.mul(d1, v2));
      }
    }
  }
  scatterLanes(a0, o, chanBytes, n);
  scatterLanes(a1, o4, chanBytes, n - 4);
  if (kn > 1) {
    scatterLanes(b0v, o + 4, chanBytes, n);
    scatterLanes(b1v, o4 + 4, chanBytes, n - 4);
  }
  if (kn > 2) {
    scatterLanes(c0v, o + 8, chanBytes, n);
    scatterLanes(c1v, o4 + 8, chanBytes, n - 4);
  }
}

/** Up to 4 floats `stride` bytes apart from p into lanes (the rest zero). */
// @ts-ignore: decorator
@inline
function gatherLanes(p: usize, stride: usize, valid: i32): v128 {
  let v = f32x4.splat(0);
  if (valid > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (valid > 1) v = f32x4.replace_lane(v, 1, load<f32>(p + stride));
  if (valid > 2) v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * stride));
  if (valid > 3) v = f32x4.replace_lane(v, 3, load<f32>(p + 3 * stride));
  return v;
}

/** gatherLanes' inverse. */
// @ts-ignore: decorator
@inline
function scatterLanes(v: v128, p: usize, stride: usize, valid: i32): void {
  if (valid > 0) store<f32>(p, f32x4.extract_lane(v, 0));
  if (valid > 1) store<f32>(p + stride, f32x4.extract_lane(v, 1));
  if (valid > 2) store<f32>(p + 2 * stride, f32x4.extract_lane(v, 2));
  if (valid > 3) store<f32>(p + 3 * stride, f32x4.extract_lane(v, 3));
}

/**
 * dw rows (channel c, tap) for c in [c0, c1): Σ over the output pixels where the tap is in
 * bounds, in pixel order, of dY[p, c]·X[p + tap] (X: packed signs S = u32, or floats). Two
 * channels × 16 columns held in registers while the pixels run (both read the same X), each
 * output loaded and stored once; the same order as adding one row per pixel.
 */
function filterSum<S>(dy: usize, x: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32): void {
  const pixBytes = sourceRowBytes<S>(ci);
  const rowBytes = <usize>ci << 2;
  const chanBytes = <usize>9 * rowBytes;
  const dyPix = <usize>count << 2;
  const n16 = ci & ~15;
  for (let tap = 0; tap < 9; tap++) {
    const ky = tap / 3;
    const kx = tap - 3 * ky;
    const oyFrom = tapFrom(ky, pad);
    const oyTo = tapTo(ky, pad, hi, ho);
    const oxFrom = tapFrom(kx, pad);
    const oxTo = tapTo(kx, pad, wi, wo);
    let c = c0;
    for (; c < c1; c += 2) {
      const pair = c + 1 < c1;
      const o0 = dw + <usize>c * chanBytes + <usize>tap * rowBytes;
      const o1 = o0 + chanBytes;
      for (let k = 0; k < n16; k += 16) {
        const off = <usize>k << 2;
        const shift = <u32>(k & 31);
        let a0 = v128.load(o0 + off), a1 = v128.load(o0 + off + 16), a2 = v128.load(o0 + off + 32), a3 = v128.load(o0 + off + 48);
        let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
        if (pair) {
          b0 = v128.load(o1 + off); b1 = v128.load(o1 + off + 16); b2 = v128.load(o1 + off + 32); b3 = v128.load(o1 + off + 48);
        }
        for (let oy = oyFrom; oy < oyTo; oy++) {
          let dp = dy + (<usize>((oy * wo + oxFrom) * count + c) << 2);
          let sp = sourceColumn<S>(x + <usize>((oy + ky - pad) * wi + oxFrom + kx - pad) * pixBytes, k);
          for (let ox = oxFrom; ox < oxTo; ox++, dp += dyPix, sp += pixBytes) {
            const bits: u32 = isInteger<S>() ? load<u32>(sp) >>> shift : 0;
            const f0 = operand4<S>(sp, bits, 0);
            const f1 = operand4<S>(sp, bits, 1);
            const f2 = operand4<S>(sp, bits, 2);
            const f3 = operand4<S>(sp, bits, 3);
            const v0 = v128.load32_splat(dp);
            a0 = f32x4.add(a0, term4<S>(v0, f0));
            a1 = f32x4.add(a1, term4<S>(v0, f1));
            a2 = f32x4.add(a2, term4<S>(v0, f2));
            a3 = f32x4.add(a3, term4<S>(v0, f3));
            if (pair) {
              const v1 = v128.load32_splat(dp + 4);
              b0 = f32x4.add(b0, term4<S>(v1, f0));
              b1 = f32x4.add(b1, term4<S>(v1, f1));
              b2 = f32x4.add(b2, term4<S>(v1, f2));
              b3 = f32x4.add(b3, term4<S>(v1, f3));
            }
          }
        }
        v128.store(o0 + off, a0); v128.store(o0 + off + 16, a1); v128.store(o0 + off + 32, a2); v128.store(o0 + off + 48, a3);
        if (pair) {
          v128.store(o1 + off, b0); v128.store(o1 + off + 16, b1); v128.store(o1 + off + 32, b2); v128.store(o1 + off + 48, b3);
        }
      }
    }
    // the last ci % 16 columns: 4 channels in the lanes (dY of one pixel is contiguous in channels)
    filterTailTap<S>(dy, x, hi, wi, ci, ho, wo, count, pad, dw, c0, c1, n16, tap);
  }
}

/** filterSum's last columns [n16, ci) for every tap. */
function filterTail<S>(dy: usize, x: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32, n16: i32): void {
  for (let tap = 0; tap < 9; tap++) filterTailTap<S>(dy, x, hi, wi, ci, ho, wo, count, pad, dw, c0, c1, n16, tap);
}

/** Columns [n16, ci) of one tap's dw rows: 4 channels in the lanes. */
// @ts-ignore: decorator
@inline
function filterTailTap<S>(dy: usize, x: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32, n16: i32, tap: i32): void {
  const pixBytes = sourceRowBytes<S>(ci);
  const rowBytes = <usize>ci << 2;
  const chanBytes = <usize>9 * rowBytes;
  const dyPix = <usize>count << 2;
  const ky = tap / 3;
  const kx = tap - 3 * ky;
  const oyFrom = tapFrom(ky, pad);
  const oyTo = tapTo(ky, pad, hi, ho);
  const oxFrom = tapFrom(kx, pad);
  const oxTo = tapTo(kx, pad, wi, wo);
  {
    let c = c0;
    for (let k = n16; k < ci; k++) {
      const xk = x + (isInteger<S>() ? <usize>(k >>> 5) << 2 : <usize>k << 2);
      for (c = c0; c < c1; c += 4) {
        const lanes = min(4, c1 - c);
        const o = dw + <usize>c * chanBytes + <usize>tap * rowBytes + (<usize>k << 2);
        let a = f32x4(
          load<f32>(o),
          lanes > 1 ? load<f32>(o + chanBytes) : 0,
          lanes > 2 ? load<f32>(o + 2 * chanBytes) : 0,
          lanes > 3 ? load<f32>(o + 3 * chanBytes) : 0,
        );
        for (let oy = oyFrom; oy < oyTo; oy++) {
          let dp = dy + (<usize>((oy * wo + oxFrom) * count + c) << 2);
          let xp = xk + <usize>((oy + ky - pad) * wi + oxFrom + kx - pad) * pixBytes;
          for (let ox = oxFrom; ox < oxTo; ox++, dp += dyPix, xp += pixBytes) {
            const d = lanes == 4 ? v128.load(dp) : f32x4(load<f32>(dp), lanes > 1 ? load<f32>(dp + 4) : 0, lanes > 2 ? load<f32>(dp + 8) : 0, 0);
            if (isInteger<S>()) a = f32x4.add(a, v128.xor(d, i32x4.splat(((~load<u32>(xp) >>> (<u32>k & 31)) & 1) << 31)));
            else a = f32x4.add(a, f32x4.mul(d, v128.load32_splat(xp)));
          }
        }
        store<f32>(o, f32x4.extract_lane(a, 0));
        if (lanes > 1) store<f32>(o + chanBytes, f32x4.extract_lane(a, 1));
        if (lanes > 2) store<f32>(o + 2 * chanBytes, f32x4.extract_lane(a, 2));
        if (lanes > 3) store<f32>(o + 3 * chanBytes, f32x4.extract_lane(a, 3));
      }
    }
  }
}

// ---- dw of a 3x3 stride-1 convolution over binary inputs, by table lookups ----
// On maps at least FILTER_GROUPS_FROM wide each output row's pixels go in groups of 4
// (src/kernels/conv-reference.ts: filterGroup), and a dw element takes one partial a group,
// (((+0 + s0·d0) + s1·d1) + s2·d2) + s3·d3 (s the input signs under the tap, d the 4 pixels' dY,
// a pixel past the row or whose tap falls outside the map left out). The 16 partials of a group
// of pixels are tabulated for FILTER_CHANNELS output channels at once (4 vectors), and an input
// channel's 4 signs under a tap index them: 4 loads and 4 adds for 64 multiply-adds. The lookup
// scratch (the caller's, convFilterLutBytes): the input's sign bits turned to rows along x
// (signRowBytes per input channel and row, bit ix + 2), then per block of channels a region: per
// output row a table per group of 4 pixels and two more for the first and the last group with
// the pixel a same-padded tap leaves out zeroed; then the block's dw turned to (tap, input
// channel) × FILTER_CHANNELS, so a pass loads and stores its accumulators as 4 vectors.

/** Output widths from which weight gradients over sign inputs sum pixels in groups (narrower: one at a time). */
const FILTER_GROUPS_FROM = 10;
/** Output channels a table holds: 4 vectors. */
const FILTER_CHANNELS = 16;
/** Bytes of one table entry (FILTER_CHANNELS floats) and of one table (16 entries). */
const ENTRY_BYTES: usize = FILTER_CHANNELS * 4;
const TABLE_BYTES: usize = 16 * ENTRY_BYTES;

/** convBwdFilterLut's `run` flags: the first call of a run reads dw, the last writes it. */
const RUN_FIRST = 1;
const RUN_LAST = 2;

/** Pixel groups of an output row. */
// @ts-ignore: decorator
@inline
function filterQuads(wo: i32): i32 {
  return (wo + 3) >>> 2;
}

/** Bytes of one block's tables: per output row the groups' and the two edge variants'. */
// @ts-ignore: decorator
@inline
function filterTablesBytes(ho: i32, wo: i32): usize {
  return <usize>ho * <usize>(filterQuads(wo) + 2) * TABLE_BYTES;
}

/** Bytes of one block's region: its tables, then its dw as (tap, input channel) × FILTER_CHANNELS floats. */
// @ts-ignore: decorator
@inline
function filterBlockBytes(ho: i32, wo: i32, ci: i32): usize {
  return filterTablesBytes(ho, wo) + <usize>(9 * ci) * ENTRY_BYTES;
}

/** Output rows a pass takes: their tables fit in 24 KB of L1 (at least one row). */
// @ts-ignore: decorator
@inline
function filterBandRows(wo: i32): i32 {
  return max(1, 24576 / ((filterQuads(wo) + 2) * <i32>TABLE_BYTES));
}

/** Bytes of one sign row: bit ix + 2 for ix in [0, wi), then room for a u64 read at any byte of it. */
// @ts-ignore: decorator
@inline
function signRowBytes(wi: i32): usize {
  return <usize>(((wi + 2 + 7) >>> 3) + 8 + 3) & ~3;
}

/** Bytes of the sign rows, 16-aligned. */
// @ts-ignore: decorator
@inline
function signRowsBytes(hi: i32, wi: i32, ci: i32): usize {
  return (<usize>(ci * hi) * signRowBytes(wi) + 15) & ~15;
}

/** Bytes of lookup scratch convBwdFilterLut needs: each example's sign rows, then a region per FILTER_CHANNELS channels of `count`. */
export function convFilterLutBytes(hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, examples: i32): i32 {
  return <i32>(<usize>examples * signRowsBytes(hi, wi, ci) + <usize>((count + FILTER_CHANNELS - 1) / FILTER_CHANNELS) * filterBlockBytes(ho, wo, ci));
}

/**
 * Examples [e0, e1) of x's sign bits (each hi·wi pixels × ⌈ci/32⌉ words) as rows: example e's
 * at lut + e·signRowsBytes, row k·hi + iy, bit ix + 2 = x's bit k at (iy, ix), other bits 0.
 */
export function convFilterSignRows(x: usize, hi: i32, wi: i32, ci: i32, lut: usize, e0: i32, e1: i32): void {
  for (let e = e0; e < e1; e++)
    signRowsOf(x + <usize>(e * hi * wi) * (<usize>((ci + 31) >>> 5) << 2), hi, wi, ci, lut + <usize>e * signRowsBytes(hi, wi, ci));
}

/** Byte j of 16 bytes `stride` apart from p, in lane j. */
// @ts-ignore: decorator
@inline
function gather16(p: usize, stride: usize): v128 {
  let v = i8x16.splat(0);
  v = i8x16.replace_lane(v, 0, load<i8>(p));
  v = i8x16.replace_lane(v, 1, load<i8>(p + stride));
  v = i8x16.replace_lane(v, 2, load<i8>(p + 2 * stride));
  v = i8x16.replace_lane(v, 3, load<i8>(p + 3 * stride));
  v = i8x16.replace_lane(v, 4, load<i8>(p + 4 * stride));
  v = i8x16.replace_lane(v, 5, load<i8>(p + 5 * stride));
  v = i8x16.replace_lane(v, 6, load<i8>(p + 6 * stride));
  v = i8x16.replace_lane(v, 7, load<i8>(p + 7 * stride));
  v = i8x16.replace_lane(v, 8, load<i8>(p + 8 * stride));
  v = i8x16.replace_lane(v, 9, load<i8>(p + 9 * stride));
  v = i8x16.replace_lane(v, 10, load<i8>(p + 10 * stride));
  v = i8x16.replace_lane(v, 11, load<i8>(p + 11 * stride));
  v = i8x16.replace_lane(v, 12, load<i8>(p + 12 * stride));
  v = i8x16.replace_lane(v, 13, load<i8>(p + 13 * stride));
  v = i8x16.replace_lane(v, 14, load<i8>(p + 14 * stride));
  return i8x16.replace_lane(v, 15, load<i8>(p + 15 * stride));
}

/**
 * One example's sign rows (convFilterSignRows). 16 pixels of a row at a time: one byte of
 * channels from each in the lanes, and each of its 8 channels' 16 bits taken at once by
 * i8x16.bitmask and ORed into the zeroed row at bit ix + 2 (the last 16 pixels of a row overlap
 * the group before them: an OR of the same bits). Rows narrower than 16 pixels bit by bit.
 */
function signRowsOf(x: usize, hi: i32, wi: i32, ci: i32, lut: usize): void {
  const pixBytes = <usize>((ci + 31) >>> 5) << 2;
  const rowBytes = signRowBytes(wi);
  memory.fill(lut, 0, <usize>(ci * hi) * rowBytes);
  if (wi < 16) {
    signRowsBitwise(x, hi, wi, ci, lut, pixBytes, rowBytes);
    return;
  }
  const chanBytes = (ci + 7) >>> 3;
  const planeBytes = <usize>hi * rowBytes; // from channel k's rows to channel k + 1's
  for (let iy = 0; iy < hi; iy++) {
    const px = x + <usize>(iy * wi) * pixBytes;
    const rows = lut + <usize>iy * rowBytes;
    for (let g = 0; g < wi; g += 16) {
      const ix0 = min(g, wi - 16);
      const bitAt = ix0 + 2;
      const at = rows + (<usize>(bitAt >>> 5) << 2);
      const shift = <u64>(bitAt & 31);
      for (let q = 0; q < chanBytes; q++) {
        const v = gather16(px + <usize>ix0 * pixBytes + <usize>q, pixBytes);
        const kEnd = min(8, ci - 8 * q);
        for (let b = 0; b < kEnd; b++) {
          const m = <u64>(<u32>i8x16.bitmask(i8x16.shl(v, 7 - b)));
          if (m == 0) continue;
          const row = at + <usize>(8 * q + b) * planeBytes;
          store<u64>(row, load<u64>(row) | (m << shift));
        }
      }
    }
  }
}

/** signRowsOf bit by bit (rows under 16 pixels; the rows zeroed by the caller). */
function signRowsBitwise(x: usize, hi: i32, wi: i32, ci: i32, lut: usize, pixBytes: usize, rowBytes: usize): void {
  for (let k = 0; k < ci; k++) {
    const word = x + (<usize>(k >>> 5) << 2);
    const bit = <u32>k & 31;
    for (let iy = 0; iy < hi; iy++) {
      const row = lut + <usize>(k * hi + iy) * rowBytes;
      let bits: u64 = 0;
      for (let ix = 0; ix < wi; ix++) bits |= <u64>((load<u32>(word + <usize>(iy * wi + ix) * pixBytes) >>> bit) & 1) << <u64>(ix + 2);
      store<u64>(row, bits);
    }
  }
}

/** Bits [bit, bit + 4) of a sign row. */
// @ts-ignore: decorator
@inline
function signNibble(row: usize, bit: i32): u32 {
  return (load<u32>(row + <usize>(bit >>> 3)) >>> (<u32>bit & 7)) & 15;
}

/** Up to 4 consecutive floats at p (the rest zero). */
// @ts-ignore: decorator
@inline
function loadChannels(p: usize, valid: i32): v128 {
  if (valid >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  if (valid > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (valid > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (valid > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/**
 * Channel vector cv of one table: for the 4 pixels' dY d0..d3 (4 channels each; zero for a
 * pixel left out or past `lanes`, and past the block's `valid` channels), entry idx = (((+0 +
 * s0·d0) + s1·d1) + s2·d2) + s3·d3, s_l = +1 where bit l of idx is set. A zero d adds ±0 to a sum
 * that is never −0.
 */
// @ts-ignore: decorator
@inline
function filterTable(at: usize, px: usize, dyPix: usize, lanes: i32, skip: i32, valid: i32): void {
  const zero = f32x4.splat(0);
  const d0 = lanes > 0 && skip != 0 ? loadChannels(px, valid) : zero;
  const d1 = lanes > 1 && skip != 1 ? loadChannels(px + dyPix, valid) : zero;
  const d2 = lanes > 2 && skip != 2 ? loadChannels(px + 2 * dyPix, valid) : zero;
  const d3 = lanes > 3 && skip != 3 ? loadChannels(px + 3 * dyPix, valid) : zero;
  storePartials16(at, ENTRY_BYTES, d0, d1, d2, d3, true);
}

/** Adds entry e (4 vectors) to an accumulator set. */
// @ts-ignore: decorator
@inline
function addEntry(a: v128, e: usize, v: usize): v128 {
  return f32x4.add(a, v128.load(e + (v << 4)));
}

/**
 * One example's sign rows as a byte per group (convBwdFilterLut): for input channel k, input row
 * iy and tap column kx, byte j = the nibble of group j's 4 signs under that tap times 8 (entry
 * j's offset in its table over 8), so a lookup takes one byte load and a scaled address instead
 * of a shift, mask and multiply of the packed row per group and channel.
 */
function filterIndex(signRows: usize, hi: i32, wi: i32, ci: i32, Q: i32, pad: i32, idx: usize): void {
  const signBytes = signRowBytes(wi);
  // a row (input channel, input row, tap column) of Q bytes
  for (let row = 0; row < ci * hi; row++) {
    const signs = signRows + <usize>row * signBytes;
    for (let kx = 0; kx < 3; kx++) {
      const out = idx + <usize>((row * 3 + kx) * Q);
      const at = kx - pad + 2;
      for (let j = 0; j < Q; j++) store<u8>(out + <usize>j, <u8>(signNibble(signs, at + (j << 2)) << 3));
    }
  }
}

/** How filterPassRows finds a group's entry: a nibble read from the packed sign row, */
const BY_NIBBLES = 0;
/** a byte of the example's index (filterIndex), */
const BY_INDEX = 1;
/** or the row's groups in one u64 read, shifted down 4 bits a group (rows of up to SHIFT_GROUPS_UP_TO groups). */
const BY_SHIFTS = 2;
/** Groups a row may have for BY_SHIFTS: the last group's top bit, 4·14 + 3 at most, within the u64. */
const SHIFT_GROUPS_UP_TO = 14;

/**
 * The entry offset (in its table) of group j's 4 signs under a tap: from an example's byte index
 * row at ia (indexed), else from the packed sign row at sa, the tap's first bit at `at` (BY_SHIFTS
 * takes the row's nibbles from one u64 instead, in filterPassRows).
 */
// @ts-ignore: decorator
@inline
function groupEntry(indexed: bool, ia: usize, sa: usize, at: i32, j: i32): usize {
  return indexed ? <usize>load<u8>(ia + <usize>j) << 3 : <usize>signNibble(sa, at + (j << 2)) << 6;
}

/**
 * Output rows [oyFrom, oyTo) of one tap (ky, kx) for input channel k, and k + 1 with `two` (a
 * second independent chain of adds: one chain is bound by the add latency): accumulators at o
 * (k + 1's at o + ENTRY_BYTES), held in registers over the rows. Each group's entry found as
 * `mode` says. The shape of this code matters to V8's register allocation: the same passes with
 * the nibble taken by a shift of 4j, or called through one more inlined helper per mode, ran
 * 1.1-1.3x the time.
 */
// @ts-ignore: decorator
@inline
function filterPassRows(
  mode: i32, signRows: usize, idx: usize, tables: usize, o: usize, hi: i32, wi: i32, Q: i32, pad: i32, k: i32, ky: i32, kx: i32, oyFrom: i32, oyTo: i32, two: bool,
): void {
  const rowTables = <usize>(Q + 2) * TABLE_BYTES;
  const signBytes = signRowBytes(wi);
  // from channel k's rows to channel k + 1's: hi sign rows, or hi·3 index rows of Q bytes
  const nextSigns = <usize>hi * signBytes;
  const nextIndex = <usize>(hi * 3 * Q);
  let a0 = v128.load(o), a1 = v128.load(o, 16), a2 = v128.load(o, 32), a3 = v128.load(o, 48);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  if (two) {
    b0 = v128.load(o, 64); b1 = v128.load(o, 80); b2 = v128.load(o, 96); b3 = v128.load(o, 112);
  }
  // the first and last groups' tables for this tap (a same-padded tap leaves a pixel out)
  const last: usize = <usize>(kx > 2 - pad ? Q + 1 : Q - 1) * TABLE_BYTES;
  const first: usize = kx < pad ? <usize>Q * TABLE_BYTES : Q == 1 ? last : 0;
  // group j's 4 signs are bits 4j + kx − pad + 2 .. + 3 of the input row's sign row
  const at = <i32>(kx - pad + 2);
  const indexed = mode == BY_INDEX;
  const shifted = mode == BY_SHIFTS;
  for (let oy = oyFrom; oy < oyTo; oy++) {
    const iy = oy + ky - pad;
    const ia = indexed ? idx + <usize>(((k * hi + iy) * 3 + kx) * Q) : 0;
    const ib = ia + nextIndex;
    const sa = signRows + <usize>(k * hi + iy) * signBytes;
    const sb = sa + nextSigns;
    // the row's groups' nibbles, the next at the bottom (BY_SHIFTS)
    let nearA: u64 = shifted ? load<u64>(sa) >>> <u64>at : 0;
    let nearB: u64 = shifted && two ? load<u64>(sb) >>> <u64>at : 0;
    const row = tables + <usize>oy * rowTables;
    let e = row + first + (shifted ? <usize>(<u32>nearA & 15) << 6 : groupEntry(indexed, ia, sa, at, 0));
    nearA >>>= 4;
    a0 = addEntry(a0, e, 0); a1 = addEntry(a1, e, 1); a2 = addEntry(a2, e, 2); a3 = addEntry(a3, e, 3);
    if (two) {
      const f = row + first + (shifted ? <usize>(<u32>nearB & 15) << 6 : groupEntry(indexed, ib, sb, at, 0));
      nearB >>>= 4;
      b0 = addEntry(b0, f, 0); b1 = addEntry(b1, f, 1); b2 = addEntry(b2, f, 2); b3 = addEntry(b3, f, 3);
    }
    let table = row + TABLE_BYTES;
    for (let j = 1; j < Q - 1; j++, table += TABLE_BYTES) {
      e = table + (shifted ? <usize>(<u32>nearA & 15) << 6 : groupEntry(indexed, ia, sa, at, j));
      nearA >>>= 4;
      a0 = addEntry(a0, e, 0); a1 = addEntry(a1, e, 1); a2 = addEntry(a2, e, 2); a3 = addEntry(a3, e, 3);
      if (two) {
        const f = table + (shifted ? <usize>(<u32>nearB & 15) << 6 : groupEntry(indexed, ib, sb, at, j));
        nearB >>>= 4;
        b0 = addEntry(b0, f, 0); b1 = addEntry(b1, f, 1); b2 = addEntry(b2, f, 2); b3 = addEntry(b3, f, 3);
      }
    }
    if (Q > 1) {
      // the last group, its own table where a same-padded tap leaves a pixel out
      e = row + last + (shifted ? <usize>(<u32>nearA & 15) << 6 : groupEntry(indexed, ia, sa, at, Q - 1));
      a0 = addEntry(a0, e, 0); a1 = addEntry(a1, e, 1); a2 = addEntry(a2, e, 2); a3 = addEntry(a3, e, 3);
      if (two) {
        const f = row + last + (shifted ? <usize>(<u32>nearB & 15) << 6 : groupEntry(indexed, ib, sb, at, Q - 1));
        b0 = addEntry(b0, f, 0); b1 = addEntry(b1, f, 1); b2 = addEntry(b2, f, 2); b3 = addEntry(b3, f, 3);
      }
    }
  }
  v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
  if (two) {
    v128.store(o, b0, 64); v128.store(o, b1, 80); v128.store(o, b2, 96); v128.store(o, b3, 112);
  }
}

/** Channels [b0, b0 + n) of dw (rows of 9·ci) turned to (tap, input channel) × FILTER_CHANNELS floats at acc. */
// @ts-ignore: decorator
@inline
function dwToBlock(dw: usize, b0: i32, n: i32, ci: i32, acc: usize): void {
  const chanBytes = <usize>(9 * ci) << 2;
  for (let c = 0; c < n; c++) {
    const from = dw + <usize>(b0 + c) * chanBytes;
    for (let t = 0; t < 9 * ci; t++) store<f32>(acc + <usize>t * ENTRY_BYTES + (<usize>c << 2), load<f32>(from + (<usize>t << 2)));
  }
}

/** dwToBlock turned back: the block's sums at acc into channels [b0, b0 + n) of dw. */
// @ts-ignore: decorator
@inline
function blockToDw(acc: usize, b0: i32, n: i32, ci: i32, dw: usize): void {
  const chanBytes = <usize>(9 * ci) << 2;
  for (let c = 0; c < n; c++) {
    const to = dw + <usize>(b0 + c) * chanBytes;
    for (let t = 0; t < 9 * ci; t++) store<f32>(to + (<usize>t << 2), load<f32>(acc + <usize>t * ENTRY_BYTES + (<usize>c << 2)));
  }
}

/**
 * dw[c × 9·ci] += Σ (groups of 4 pixels) for output channels [c0, c1) of `count` (c0 a multiple
 * of FILTER_CHANNELS), over `examples` examples in order: dy holds them (ho·wo × count each),
 * the sign rows in lut (convFilterSignRows) too. Each block of channels uses its own region
 * (threads split the channels): its dw turned to (tap, input channel) × FILTER_CHANNELS once
 * for all the examples; then example by example each block's tables and, in bands of rows whose
 * tables stay in L1, every (tap, input channel pair) adding its rows to accumulators held in 8
 * registers. Each dw element sums examples, rows and groups in order. A run of calls over the
 * same dw and scratch (one example each, say) turns dw around only at its ends: `run` has
 * RUN_FIRST on the first call (dw read into the regions) and RUN_LAST on the last (written back);
 * between them the sums live in the regions and dw is stale.
 */
export function convBwdFilterLut(
  dy: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32, lut: usize, examples: i32, run: i32,
): void {
  const Q = filterQuads(wo);
  const rowTables = <usize>(Q + 2) * TABLE_BYTES;
  const dyPix = <usize>count << 2;
  const signBytes = signRowsBytes(hi, wi, ci);
  const regions = lut + <usize>examples * signBytes;
  // every block's dw turned to (tap, input channel) × FILTER_CHANNELS in its region, once
  for (let b0 = c0; b0 < c1 && (run & RUN_FIRST) != 0; b0 += FILTER_CHANNELS)
    dwToBlock(dw, b0, min(FILTER_CHANNELS, c1 - b0), ci, regions + <usize>(b0 / FILTER_CHANNELS) * filterBlockBytes(ho, wo, ci) + filterTablesBytes(ho, wo));
  // rows of up to 14 groups by shifts of one u64 read; wider ones by the byte index where it fits in this instance's scratch
  const idx = maskScratch;
  const shifted = Q <= SHIFT_GROUPS_UP_TO;
  const indexed = !shifted && maskScratch != 0 && <usize>(ci * hi * 3 * Q) <= <usize>MASK_SCRATCH_BYTES;
  // examples outside, so an example's sign rows stay in cache for all the blocks
  for (let e = 0; e < examples; e++) {
    const dye = dy + <usize>(e * ho * wo) * dyPix;
    const signs = lut + <usize>e * signBytes;
    if (indexed) filterIndex(signs, hi, wi, ci, Q, pad, idx);
    for (let b0 = c0; b0 < c1; b0 += FILTER_CHANNELS) {
      const tables = regions + <usize>(b0 / FILTER_CHANNELS) * filterBlockBytes(ho, wo, ci);
      const acc = tables + filterTablesBytes(ho, wo);
      const n = min(FILTER_CHANNELS, c1 - b0);
      // per output row: the groups, then the first without its pixel 0 and the last without pixel wo − 1
      for (let oy = 0; oy < ho; oy++) {
        const row = tables + <usize>oy * rowTables;
        for (let j = 0; j <= Q + 1; j++) {
          const q = j < Q ? j : j == Q ? 0 : Q - 1;
          const skip = j < Q ? -1 : j == Q ? 0 : (wo - 1) & 3;
          const px = dye + <usize>(oy * wo + q * 4) * dyPix + (<usize>b0 << 2);
          const lanes = min(4, wo - q * 4);
          const at = row + <usize>j * TABLE_BYTES;
          for (let cv = 0; cv < FILTER_CHANNELS / 4; cv++) filterTable(at + (<usize>cv << 4), px + (<usize>cv << 4), dyPix, lanes, skip, n - cv * 4);
        }
      }
      const band = filterBandRows(wo);
      for (let r0 = 0; r0 < ho; r0 += band)
        for (let tap = 0; tap < 9; tap++) {
          const ky = tap / 3;
          const kx = tap - 3 * ky;
          const oyFrom = max(r0, pad - ky);
          const oyTo = min(min(ho, r0 + band), hi + pad - ky);
          if (oyFrom >= oyTo) continue;
          let k = 0;
          if (shifted) {
            for (; k + 2 <= ci; k += 2) filterPassRows(BY_SHIFTS, signs, idx, tables, acc + <usize>(tap * ci + k) * ENTRY_BYTES, hi, wi, Q, pad, k, ky, kx, oyFrom, oyTo, true);
            if (k < ci) filterPassRows(BY_SHIFTS, signs, idx, tables, acc + <usize>(tap * ci + k) * ENTRY_BYTES, hi, wi, Q, pad, k, ky, kx, oyFrom, oyTo, false);
          } else if (indexed) {
            for (; k + 2 <= ci; k += 2) filterPassRows(BY_INDEX, signs, idx, tables, acc + <usize>(tap * ci + k) * ENTRY_BYTES, hi, wi, Q, pad, k, ky, kx, oyFrom, oyTo, true);
            if (k < ci) filterPassRows(BY_INDEX, signs, idx, tables, acc + <usize>(tap * ci + k) * ENTRY_BYTES, hi, wi, Q, pad, k, ky, kx, oyFrom, oyTo, false);
          } else {
            for (; k + 2 <= ci; k += 2) filterPassRows(BY_NIBBLES, signs, idx, tables, acc + <usize>(tap * ci + k) * ENTRY_BYTES, hi, wi, Q, pad, k, ky, kx, oyFrom, oyTo, true);
            if (k < ci) filterPassRows(BY_NIBBLES, signs, idx, tables, acc + <usize>(tap * ci + k) * ENTRY_BYTES, hi, wi, Q, pad, k, ky, kx, oyFrom, oyTo, false);
          }
        }
    }
  }
  for (let b0 = c0; b0 < c1 && (run & RUN_LAST) != 0; b0 += FILTER_CHANNELS)
    blockToDw(regions + <usize>(b0 / FILTER_CHANNELS) * filterBlockBytes(ho, wo, ci) + filterTablesBytes(ho, wo), b0, min(FILTER_CHANNELS, c1 - b0), ci, dw);
}

// ---- dW over sign inputs, a batch at a time, on narrow maps: examples in fours ----
// On outputs up to QUADS_UP_TO wide (conv-geometry.ts), a call over 4 examples or more groups examples instead of
// pixels: a group is 4 consecutive examples at one output pixel, so a row of wo pixels is wo
// whole groups (no edge variants, no lanes wasted past the row's end) and the smallest maps
// (3x3, 1x1) still fill bands of tables. Each quad's sign bits sit as a u64 per (input channel,
// input row): bit 4·(ix + 1) + e is example e's sign at ix, so the nibble of output pixel ox
// under tap kx starts at bit 4·(ox + kx − pad + 1), one shift per row as on wide maps.

/** Bytes of one quad's sign rows: a u64 per (input channel, input row). */
// @ts-ignore: decorator
@inline
function quadSignBytes(hi: i32, ci: i32): usize {
  return <usize>(ci * hi) << 3;
}

/** Rows of (quad, output row) a band takes: their tables fit in 24 KB (at least one row). */
// @ts-ignore: decorator
@inline
function quadBandRows(wo: i32): i32 {
  return max(1, 24 / wo);
}

/** Bytes of one block's region: a band's tables, then its dw as (tap, input channel) × FILTER_CHANNELS floats. */
// @ts-ignore: decorator
@inline
function quadBlockBytes(wo: i32, ci: i32): usize {
  return <usize>(quadBandRows(wo) * wo) * TABLE_BYTES + <usize>(9 * ci) * ENTRY_BYTES;
}

/** Bytes of lookup scratch convBwdFilterQuads needs: every quad's sign rows, then a region per FILTER_CHANNELS channels of `count`. */
export function convFilterQuadBytes(hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, examples: i32): i32 {
  return <i32>(<usize>((examples + 3) >>> 2) * quadSignBytes(hi, ci) + <usize>((count + FILTER_CHANNELS - 1) / FILTER_CHANNELS) * quadBlockBytes(wo, ci));
}

/**
 * Quads [q0, q1) of `examples` examples' sign bits x (each hi·wi pixels × ⌈ci/32⌉ words) as
 * sign rows at lut (quad q's at lut + q·quadSignBytes): bit 4·(ix + 1) + e of row (k, iy) is
 * example 4q + e's bit k at (iy, ix); other bits 0.
 */
export function convQuadSignRows(x: usize, hi: i32, wi: i32, ci: i32, lut: usize, examples: i32, q0: i32, q1: i32): void {
  const pixWords = (ci + 31) >>> 5;
  for (let q = q0; q < q1; q++) {
    const rows = lut + <usize>q * quadSignBytes(hi, ci);
    memory.fill(rows, 0, quadSignBytes(hi, ci));
    for (let e = 0; e < min(4, examples - 4 * q); e++) {
      const xe = x + (<usize>((4 * q + e) * hi * wi * pixWords) << 2);
      for (let iy = 0; iy < hi; iy++)
        for (let ix = 0; ix < wi; ix++) {
          const pix = xe + (<usize>((iy * wi + ix) * pixWords) << 2);
          const bit = <u64>1 << <u64>(4 * (ix + 1) + e);
          // the set bits only (padding bits past ci are 0)
          for (let w = 0; w < pixWords; w++)
            for (let word = load<u32>(pix + (<usize>w << 2)); word != 0; word &= word - 1) {
              const row = rows + (<usize>(((w << 5) + <i32>ctz(word)) * hi + iy) << 3);
              store<u64>(row, load<u64>(row) | bit);
            }
        }
    }
  }
}

/**
 * Band rows [r0, r1) (row r: quad r / ho, output row r % ho) of one tap (ky, kx) for input
 * channel k, and k + 1 with `two`: accumulators at o (k + 1's at o + ENTRY_BYTES) held in
 * registers over the band; pixels whose tap falls in the padding are left out.
 */
// @ts-ignore: decorator
@inline
function quadPassRows(signs: usize, tables: usize, o: usize, hi: i32, ci: i32, ho: i32, wo: i32, pad: i32, k: i32, ky: i32, kx: i32, r0: i32, r1: i32, two: bool): void {
  let a0 = v128.load(o), a1 = v128.load(o, 16), a2 = v128.load(o, 32), a3 = v128.load(o, 48);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  if (two) {
    b0 = v128.load(o, 64); b1 = v128.load(o, 80); b2 = v128.load(o, 96); b3 = v128.load(o, 112);
  }
  const jFrom = kx < pad ? 1 : 0;
  const jTo = kx > 2 - pad ? wo - 1 : wo;
  const shift = <u64>(4 * (kx - pad + 1 + jFrom));
  const quadBytes = quadSignBytes(hi, ci);
  const nextSigns = <usize>hi << 3;
  let q = r0 / ho;
  let oy = r0 - q * ho;
  for (let r = r0; r < r1; r++) {
    const iy = oy + ky - pad;
    if (iy >= 0 && iy < hi) {
      const row = signs + <usize>q * quadBytes + (<usize>(k * hi + iy) << 3);
      let near = load<u64>(row) >>> shift;
      let near2: u64 = two ? load<u64>(row + nextSigns) >>> shift : 0;
      let table = tables + <usize>((r - r0) * wo + jFrom) * TABLE_BYTES;
      for (let j = jFrom; j < jTo; j++, table += TABLE_BYTES) {
        const e = table + (<usize>(<u32>near & 15) << 6);
        a0 = addEntry(a0, e, 0); a1 = addEntry(a1, e, 1); a2 = addEntry(a2, e, 2); a3 = addEntry(a3, e, 3);
        near >>>= 4;
        if (two) {
          const f = table + (<usize>(<u32>near2 & 15) << 6);
          b0 = addEntry(b0, f, 0); b1 = addEntry(b1, f, 1); b2 = addEntry(b2, f, 2); b3 = addEntry(b3, f, 3);
          near2 >>>= 4;
        }
      }
    }
    if (++oy == ho) {
      oy = 0;
      q++;
    }
  }
  v128.store(o, a0); v128.store(o, a1, 16); v128.store(o, a2, 32); v128.store(o, a3, 48);
  if (two) {
    v128.store(o, b0, 64); v128.store(o, b1, 80); v128.store(o, b2, 96); v128.store(o, b3, 112);
  }
}

/**
 * dw[c × 9·ci] += Σ (quads of examples × output pixels) for output channels [c0, c1) of `count`
 * (c0 a multiple of FILTER_CHANNELS), over `examples` examples (4 or more for the order to pay;
 * any count works): dy holds them (ho·wo × count each), their sign rows are in lut
 * (convQuadSignRows). Block by block: dw turned to (tap, input channel) × FILTER_CHANNELS, then
 * band by band (rows of (quad, output row) in order) the band's tables and every (tap, input
 * channel pair) adding the band to accumulators in 8 registers, then dw turned back. Each dw
 * element sums quads, rows and pixels in order, one float32 partial (((+0 + s0·d0) + s1·d1) +
 * s2·d2) + s3·d3 over a quad's examples a pixel. `run` as convBwdFilterLut's (dw read at a run's
 * first call, written at its last).
 */
export function convBwdFilterQuads(
  dy: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, dw: usize, c0: i32, c1: i32, lut: usize, examples: i32, run: i32,
): void {
  const quads = (examples + 3) >>> 2;
  const rows = quads * ho;
  const band = quadBandRows(wo);
  const exBytes = <usize>(ho * wo * count) << 2;
  const dyPix = <usize>count << 2;
  const regions = lut + <usize>quads * quadSignBytes(hi, ci);
  for (let b0 = c0; b0 < c1; b0 += FILTER_CHANNELS) {
    const tables = regions + <usize>(b0 / FILTER_CHANNELS) * quadBlockBytes(wo, ci);
    const acc = tables + <usize>(band * wo) * TABLE_BYTES;
    const n = min(FILTER_CHANNELS, c1 - b0);
    if ((run & RUN_FIRST) != 0) dwToBlock(dw, b0, n, ci, acc);
    for (let r0 = 0; r0 < rows; r0 += band) {
      const r1 = min(rows, r0 + band);
      for (let r = r0; r < r1; r++) {
        const q = r / ho;
        const oy = r - q * ho;
        const lanes = min(4, examples - 4 * q);
        for (let ox = 0; ox < wo; ox++) {
          const px = dy + <usize>(4 * q) * exBytes + <usize>(oy * wo + ox) * dyPix + (<usize>b0 << 2);
          const at = tables + <usize>((r - r0) * wo + ox) * TABLE_BYTES;
          for (let cv = 0; cv < FILTER_CHANNELS / 4; cv++) filterTable(at + (<usize>cv << 4), px + (<usize>cv << 4), exBytes, lanes, -1, n - cv * 4);
        }
      }
      for (let tap = 0; tap < 9; tap++) {
        const ky = tap / 3;
        const kx = tap - 3 * ky;
        let k = 0;
        for (; k + 2 <= ci; k += 2) quadPassRows(lut, tables, acc + <usize>(tap * ci + k) * ENTRY_BYTES, hi, ci, ho, wo, pad, k, ky, kx, r0, r1, true);
        if (k < ci) quadPassRows(lut, tables, acc + <usize>(tap * ci + k) * ENTRY_BYTES, hi, ci, ho, wo, pad, k, ky, kx, r0, r1, false);
      }
    }
    if ((run & RUN_LAST) != 0) blockToDw(acc, b0, n, ci, dw);
  }
}

// ---- Adam over one parameter tensor (same arithmetic, in f64, as src/optim/adam.ts) ----

// @ts-ignore: decorator
@inline
function halfToF64(h: u32): f64 {
  const e = (h >>> 10) & 31;
  if (e == 0) return (h & 0x8000 ? -1.0 : 1.0) * <f64>(h & 1023) * 5.9604644775390625e-8;
  if (e == 31) return h & 1023 ? NaN : h & 0x8000 ? -Infinity : Infinity;
  // a normal half is exactly a float32 with the exponent rebiased
  return <f64>reinterpret<f32>(((h & 0x8000) << 16) | ((e + 112) << 23) | ((h & 1023) << 13));
}

/** float32 bits -> IEEE half bits, round to nearest even, saturating at ±65504 (as src/storage/fp16.ts). */
// @ts-ignore: decorator
@inline
function f64ToHalf(value: f64): u32 {
  const x = reinterpret<u32>(<f32>value);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp == 0xff) return mant ? sign | 0x7e00 : sign | 0x7bff;
  const e = <i32>exp - 112;
  if (e >= 31) return sign | 0x7bff;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = <u32>(14 - e);
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = <u32>1 << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (<u32>e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
  if ((half & 0x7c00) == 0x7c00) half = 0x7bff;
  return sign | half;
}

// @ts-ignore: decorator
@inline
function loadP(p: usize, i: i32, half: i32): f64 {
  return half ? halfToF64(load<u16>(p + (<usize>i << 1))) : <f64>load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline
function storeP(p: usize, i: i32, half: i32, v: f64): void {
  if (half) store<u16>(p + (<usize>i << 1), <u16>f64ToHalf(v));
  else store<f32>(p + (<usize>i << 2), <f32>v);
}

/** Gradient element (r, c) = i, masked by 1{|w| <= clip} for binary weights. */
// @ts-ignore: decorator
@inline
function gradAt(g: usize, gBits: i32, wpr: i32, gScale: f64, r: i32, c: i32, i: i32, w: usize, wHalf: i32, binary: i32, clip: f64): f64 {
  let v: f64;
  if (gBits) v = (load<u32>(g + (<usize>(r * wpr + (c >>> 5)) << 2)) >>> (c & 31)) & 1 ? gScale : -gScale;
  else v = <f64>load<f32>(g + (<usize>i << 2));
  if (binary && Math.abs(loadP(w, i, wHalf)) > clip) v = 0;
  return v;
}

// ---- SIMD codecs: 4 float16 values <-> f32x4, exactly as halfToF64 / f64ToHalf ----

/** 4 half floats (8 bytes at p) -> f32x4, exact (subnormals, ±0, Inf and NaN kept). */
// @ts-ignore: decorator
@inline
function loadHalf4(p: usize, fast: bool): v128 {
  return halfLanes(i32x4.extend_low_i16x8_u(v128.load64_zero(p)), fast);
}

/** 4 half floats, one in the low 16 bits of each i32 lane -> f32x4 (as loadHalf4). */
// @ts-ignore: decorator
@inline
function halfLanes(h: v128, fast: bool): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const signBits = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  // No float32 subnormal may enter vector arithmetic: 32-bit ARM NEON flushes them to zero.
  // Normals: exponent and mantissa moved into float32 position and rebiased, in integers.
  let mag = i32x4.add(i32x4.shl(em, 13), i32x4.splat(112 << 23));
  // fast: four normal halves (the usual case for stored weights): nothing else to do
  if (fast && i32x4.all_true(v128.and(i32x4.ge_s(em, i32x4.splat(0x400)), i32x4.lt_s(em, i32x4.splat(0x7c00))))) return v128.or(mag, signBits);
  // subnormals (exponent 0): the 10-bit mantissa as an integer times 2^-24 (normal, exact)
  // (signed conversion: em < 2^15, and x86 has no unsigned one)
  const sub = f32x4.mul(f32x4.convert_i32x4_s(em), f32x4.splat(5.960464477539063e-8));
  mag = v128.bitselect(sub, mag, i32x4.lt_s(em, i32x4.splat(0x400)));
  // Inf/NaN (exponent 31) keep their mantissa bits under an all-ones exponent
  mag = v128.bitselect(v128.or(i32x4.shl(em, 13), i32x4.splat(0x7f800000)), mag, i32x4.ge_s(em, i32x4.splat(0x7c00)));
  return v128.or(mag, signBits);
}

/** Lanes of 8 half codes (i16x8): all ones where the code is a normal half (exponent 1 .. 30). */
// @ts-ignore: decorator
@inline
function halfNormal8(h: v128): v128 {
  const em = v128.and(h, i16x8.splat(0x7fff));
  return v128.and(i16x8.gt_s(em, i16x8.splat(0x3ff)), i16x8.lt_s(em, i16x8.splat(0x7c00)));
}

/**
 * The upper 16 bits of the float32 values of 8 normal half codes (the lower 16 are the code
 * shifted left 13): exponent and mantissa rebiased by 112 above the sign, in 16-bit lanes, so
 * one operation serves 8 values; half8Lo/Hi interleave the two halves into float32 lanes.
 */
// @ts-ignore: decorator
@inline
function halfHigh8(h: v128): v128 {
  return v128.or(i16x8.add(i16x8.shr_u(v128.and(h, i16x8.splat(0x7fff)), 3), i16x8.splat(112 << 7)), v128.and(h, i16x8.splat(-0x8000)));
}

/** Float32 values of codes 0..3 of 8 normal half codes (as loadHalf4 decodes them). */
// @ts-ignore: decorator
@inline
function half8Lo(h: v128): v128 {
  return v128.shuffle<u16>(i16x8.shl(h, 13), halfHigh8(h), 0, 8, 1, 9, 2, 10, 3, 11);
}

/** Float32 values of codes 4..7 of 8 normal half codes. */
// @ts-ignore: decorator
@inline
function half8Hi(h: v128): v128 {
  return v128.shuffle<u16>(i16x8.shl(h, 13), halfHigh8(h), 4, 12, 5, 13, 6, 14, 7, 15);
}

/**
 * The half codes of |a| and |b| (8 float32 values) as normal halves, rounded to nearest even,
 * without the sign: right wherever the result is in [0x400, 0x7bff] (normalCodes8), the value
 * then a normal half (a value just below 2^-14 that rounds up to it gets its code 0x400, as the
 * subnormal path would give); outside that range the lane is to be encoded the general way.
 */
// @ts-ignore: decorator
@inline
function normalHalfCodes8(a: v128, b: v128): v128 {
  const absA = v128.and(a, i32x4.splat(0x7fffffff));
  const absB = v128.and(b, i32x4.splat(0x7fffffff));
  return i16x8.narrow_i32x4_u(halfNormal(absA), halfNormal(absB));
}

/** Lanes of normalHalfCodes8's result that are normal halves' codes (all ones), as i16x8. */
// @ts-ignore: decorator
@inline
function normalCodes8(codes: v128): v128 {
  return v128.and(i16x8.gt_s(codes, i16x8.splat(0x3ff)), i16x8.lt_s(codes, i16x8.splat(0x7c00)));
}

/** The half sign bits of 8 float32 values, in 16-bit lanes. */
// @ts-ignore: decorator
@inline
function halfSigns8(a: v128, b: v128): v128 {
  return v128.and(i16x8.narrow_i32x4_s(i32x4.shr_s(a, 16), i32x4.shr_s(b, 16)), i16x8.splat(-0x8000));
}

/** f32x4 -> 4 half floats (round to nearest even, saturating at ±65504, NaN -> 0x7e00) at p. */
// @ts-ignore: decorator
@inline
function storeHalf4(p: usize, x: v128, fast: bool): void {
  // four values that are normal halves and round below 65520 (the usual case): no clamping, no other path
  if (fast) {
    const abs = v128.and(x, i32x4.splat(0x7fffffff));
    if (i32x4.all_true(v128.and(i32x4.ge_s(abs, i32x4.splat(113 << 23)), i32x4.lt_s(abs, i32x4.splat(0x477ff000))))) {
      v128.store64_lane(p, i16x8.narrow_i32x4_u(v128.or(halfNormal(abs), halfSign(x)), i32x4.splat(0)), 0);
      return;
    }
  }
  v128.store64_lane(p, i16x8.narrow_i32x4_u(halfCodesOf(x), i32x4.splat(0)), 0);
}

/** The half sign bits of 4 float32 values, in i32 lanes. */
// @ts-ignore: decorator
@inline
function halfSign(x: v128): v128 {
  return v128.and(i32x4.shr_u(x, 16), i32x4.splat(0x8000));
}

/** Normal halves' codes of |x| (abs: the bits without the sign): rebiased, the 13 dropped bits rounded to nearest even. */
// @ts-ignore: decorator
@inline
function halfNormal(abs: v128): v128 {
  const lsb = v128.and(i32x4.shr_u(abs, 13), i32x4.splat(1));
  // abs − (112 << 23) + 0xfff as one add (32-bit adds wrap, so the sum is the same)
  return i32x4.shr_u(i32x4.add(i32x4.add(abs, i32x4.splat(0xfff - (112 << 23))), lsb), 13);
}

/** f32x4 -> its 4 half codes in i32 lanes, branch-free: normal codes saturated, subnormal halves and NaN (storeHalf4's general case). */
// @ts-ignore: decorator
@inline
function halfCodesOf(x: v128): v128 {
  const abs = v128.and(x, i32x4.splat(0x7fffffff));
  const normal = i32x4.min_u(halfNormal(abs), i32x4.splat(0x7bff));
  // subnormal halves (|x| < 2^-14): adding 0.5 rounds |x| to a multiple of 2^-24, to nearest even
  const sub = i32x4.sub(f32x4.add(abs, f32x4.splat(0.5)), f32x4.splat(0.5));
  // abs has its sign bit clear: signed compares (native on x86) order it as unsigned ones would
  let h = v128.bitselect(sub, normal, i32x4.lt_s(abs, i32x4.splat(113 << 23)));
  h = v128.bitselect(i32x4.splat(0x7e00), h, i32x4.gt_s(abs, i32x4.splat(0x7f800000)));
  return v128.or(h, halfSign(x));
}

/**
 * dst[0..n) = half codes of float32 src[0..n) (n a multiple of 4): the float16 gradient stores'
 * encoder. Branch-free (fast = 0): about half of an MLP's activation gradients are zeros or
 * float16 subnormals, so the all-normal test of each 4 values mispredicts and cost more than the
 * general path (0.40 -> 0.20 ms a step, low-memory MLP); 8 values a turn (one 16-byte store, and
 * the loop's own instructions halved). fast = 1: with that test, as Adam runs it (its weights and
 * moments are nearly all normal halves); both are tested.
 */
export function halfEncode(src: usize, n: i32, dst: usize, fast: i32): void {
  if (fast) {
    let i = 0;
    // 8 a turn as Adam's float16 loop encodes them (normalHalfCodes8, else the general encoder)
    for (; i + 8 <= n; i += 8) {
      const a = v128.load(src + (<usize>i << 2));
      const b = v128.load(src + (<usize>i << 2), 16);
      const codes = normalHalfCodes8(a, b);
      if (i16x8.all_true(normalCodes8(codes))) v128.store(dst + (<usize>i << 1), v128.or(codes, halfSigns8(a, b)));
      else {
        storeHalf4(dst + (<usize>i << 1), a, false);
        storeHalf4(dst + (<usize>(i + 4) << 1), b, false);
      }
    }
    if (i < n) storeHalf4(dst + (<usize>i << 1), v128.load(src + (<usize>i << 2)), true);
  } else {
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      const p = src + (<usize>i << 2);
      v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(halfCodesOf(v128.load(p)), halfCodesOf(v128.load(p, 16))));
    }
    if (i < n) storeHalf4(dst + (<usize>i << 1), v128.load(src + (<usize>i << 2)), false);
  }
}

/** dst[0..n) = float32 values of half codes src[0..n) (n a multiple of 4), branch-free (8 a turn) or (fast = 1) as Adam decodes (see halfEncode). */
export function halfDecode(src: usize, n: i32, dst: usize, fast: i32): void {
  if (fast) {
    let i = 0;
    // 8 a turn as Adam's float16 loop decodes them (half8Lo/Hi where all 8 are normal halves)
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(src + (<usize>i << 1));
      const d = dst + (<usize>i << 2);
      if (i16x8.all_true(halfNormal8(h))) {
        v128.store(d, half8Lo(h));
        v128.store(d, half8Hi(h), 16);
      } else {
        v128.store(d, halfLanes(i32x4.extend_low_i16x8_u(h), false));
        v128.store(d, halfLanes(i32x4.extend_high_i16x8_u(h), false), 16);
      }
    }
    if (i < n) v128.store(dst + (<usize>i << 2), loadHalf4(src + (<usize>i << 1), true));
  } else {
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(src + (<usize>i << 1));
      const d = dst + (<usize>i << 2);
      v128.store(d, halfLanes(i32x4.extend_low_i16x8_u(h), false));
      v128.store(d, halfLanes(i32x4.extend_high_i16x8_u(h), false), 16);
    }
    if (i < n) v128.store(dst + (<usize>i << 2), loadHalf4(src + (<usize>i << 1), false));
  }
}

/**
 * Columns [0, cols) of `rows` rows of half codes `stride` apart (a column range of a float16
 * gradient store) as float32 rows of `cols` at dst: one call for a whole tile instead of one a row.
 */
export function halfDecodeRows(src: usize, rows: i32, stride: i32, cols: i32, dst: usize): void {
  const cols4 = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const s = src + (<usize>(r * stride) << 1);
    const d = dst + (<usize>(r * cols) << 2);
    let c = 0;
    for (; c < cols4; c += 4) v128.store(d + (<usize>c << 2), loadHalf4(s + (<usize>c << 1), false));
    for (; c < cols; c++) store<f32>(d + (<usize>c << 2), <f32>halfToF64(load<u16>(s + (<usize>c << 1))));
  }
}

/** 4 consecutive values of a float32 (half = 0) or float16 (half = 1) tensor as f32x4. */
// @ts-ignore: decorator
@inline
function loadP4(p: usize, i: i32, half: i32): v128 {
  return half ? loadHalf4(p + (<usize>i << 1), true) : v128.load(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline
function storeP4(p: usize, i: i32, half: i32, v: v128): void {
  if (half) storeHalf4(p + (<usize>i << 1), v, true);
  else v128.store(p + (<usize>i << 2), v);
}

/** Two f64x2 halves -> f32x4 (each rounded to nearest, as a float32 store does). */
// @ts-ignore: decorator
@inline
function demote4(lo: v128, hi: v128): v128 {
  return v128.shuffle<i32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/** Gradients of elements i..i+3 (row r, columns c..c+3, c a multiple of 4) as f32x4, STE-masked for binary weights (w4: their weights). */
// @ts-ignore: decorator
@inline
function grad4(g: usize, gBits: i32, wpr: i32, gScale: f32, r: i32, c: i32, i: i32, w4: v128, binary: i32, clip: f32): v128 {
  let v: v128;
  if (gBits) {
    const word = load<u32>(g + (<usize>(r * wpr + (c >>> 5)) << 2));
    v = v128.xor(f32x4.splat(gScale), signFlip((word >>> (<u32>c & 31)) & 15));
  } else v = v128.load(g + (<usize>i << 2));
  if (binary) v = v128.andnot(v, f32x4.gt(f32x4.abs(w4), f32x4.splat(clip)));
  return v;
}

export function adamMaxAbs(w: usize, wHalf: i32, g: usize, gBits: i32, cols: i32, gScale: f64, n: i32, binary: i32, clip: f64): f64 {
  let mx: f64 = 0;
  gScale = <f64><f32>gScale;
  // a 1-bit gradient is ±scale everywhere the STE mask keeps it: the max is the scale as soon as one
  // weight has |w| <= clip (or NaN), which is nearly always the first
  if (gBits) {
    if (!binary) return n > 0 ? gScale : 0;
    for (let i = 0; i < n; i++) if (!(Math.abs(loadP(w, i, wHalf)) > clip)) return gScale;
    return 0;
  }
  const wpr = (cols + 31) >>> 5;
  const rows = n / cols;
  const cols4 = cols & ~3;
  const clip32 = <f32>clip;
  // |w| > clip compared in float32: exact, since clip (1) and every stored weight are float32 values
  // the largest |g| compared as integers (the order of non-negative float32 bit patterns, NaN
  // above Infinity): 32-bit ARM NEON would flush subnormal gradients to zero in a float max
  let mv = i32x4.splat(0);
  for (let r = 0, i = 0; r < rows; r++) {
    let c = 0;
    for (; c < cols4; c += 4, i += 4) mv = i32x4.max_s(mv, f32x4.abs(grad4(g, gBits, wpr, <f32>gScale, r, c, i, loadP4(w, i, wHalf), binary, clip32)));
    for (; c < cols; c++, i++) mx = Math.max(mx, Math.abs(gradAt(g, gBits, wpr, gScale, r, c, i, w, wHalf, binary, clip)));
  }
  const lanes = max(max(i32x4.extract_lane(mv, 0), i32x4.extract_lane(mv, 1)), max(i32x4.extract_lane(mv, 2), i32x4.extract_lane(mv, 3)));
  return Math.max(mx, <f64>reinterpret<f32>(lanes));
}

/**
 * |x| below tiny (2^-100 and 2^-64 here) becomes a zero of x's sign, NaN kept. Adam runs in float32
 * with these explicit flushes after every operation whose result could be subnormal: 32-bit ARM
 * NEON flushes subnormal inputs and results of vector adds and multiplies to zero where x86 and
 * arm64 keep them, so without the flushes the armv7l executable would train other numbers.
 */
// @ts-ignore: decorator
@inline
function flush4(x: v128, tiny: v128, magnitude: v128): v128 {
  // |x| < tiny compared as integers: the bits of non-negative floats order as the floats do (NaN
  // above +Infinity), and an integer compare is quicker on this dependency chain than a float one
  return v128.andnot(x, v128.and(i32x4.lt_s(v128.and(x, magnitude), tiny), magnitude));
}

/**
 * Adam's vector constants in static memory, loaded into locals once per call: written as
 * v128.const, V8 rebuilds each one at every use inside the loop (several instructions each, and
 * the flushes use two apiece), which cost half of float32 Adam's time.
 */
const ADAM_CONSTS = memory.data<u32>([
  0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, // |x| mask
  0x1f800000, 0x1f800000, 0x1f800000, 0x1f800000, // 2^-64 (ADAM_G_TINY)
  0x0d800000, 0x0d800000, 0x0d800000, 0x0d800000, // 2^-100 (ADAM_TINY)
]);

// @ts-ignore: decorator
@inline
function flush1(x: f32, tiny: f32): f32 {
  return abs<f32>(x) < tiny ? x * 0 : x;
}

/** Below these magnitudes Adam's values are zero (flush4): gradients, and everything else. */
const ADAM_G_TINY: f32 = 5.421010862427522e-20; // 2^-64
const ADAM_TINY: f32 = 7.888609052210118e-31; // 2^-100

/**
 * Adam over one tensor, 4 elements at a time, in float32 (storage decoded with the SIMD codecs),
 * in the reference's order of operations with its flushes (Adam.referenceUpdate):
 *   g = flush(g·S), m = flush(β1·m·r + (1 − β1)·g), v = flush(β2·v·r² + (1 − β2)·g·g),
 *   w = flush(w − flush(flush(lr/c1 · m) / (√(v/c2) + ε·S))), clipped;
 * float32 storage is flushed as it is read (a value written elsewhere may be subnormal).
 */
export function adamUpdate(
  w: usize, wHalf: i32, m: usize, v: usize, momHalf: i32, g: usize, gBits: i32, cols: i32, gScale: f64, n: i32,
  binary: i32, clip: f64, lr: f64, b1: f64, b2: f64, c1: f64, c2: f64, epsScaled: f64, scale: f64, ratio: f64,
): void {
  // the two usual kinds of tensor get loops compiled for their storage (no flag tests, fewer live
  // values; 5-10% quicker each): the standard recipe's float32 binary weights, and low-memory's
  // float16 binary weights with float16 moments and 1-bit gradients
  if (!wHalf && !momHalf && !gBits && binary) adamSpan(w, false, m, v, false, g, false, cols, gScale, n, true, clip, lr, b1, b2, c1, c2, epsScaled, scale, ratio, true, false, false);
  else if (wHalf && momHalf && gBits && binary) {
    // float16 storage and a 1-bit gradient: where this step's constants keep every intermediate
    // at 0 or well above the flush thresholds (adamFlushesIdle), a loop without the flushes
    if (adamFlushesIdle(gScale, lr, b1, b2, c1, c2, epsScaled, scale, ratio)) {
      // and where the gradient's terms fold (adamTermsFold): with the moments' ratio 1 (every
      // step but a rescale) or not
      if (!adamTermsFold(b1, b2, scale)) adamSpan(w, true, m, v, true, g, true, cols, gScale, n, true, clip, lr, b1, b2, c1, c2, epsScaled, scale, ratio, false, false, false);
      else if (<f32>ratio == 1) adamSpan(w, true, m, v, true, g, true, cols, gScale, n, true, clip, lr, b1, b2, c1, c2, epsScaled, scale, ratio, false, true, true);
      else adamSpan(w, true, m, v, true, g, true, cols, gScale, n, true, clip, lr, b1, b2, c1, c2, epsScaled, scale, ratio, false, true, false);
    } else adamSpan(w, true, m, v, true, g, true, cols, gScale, n, true, clip, lr, b1, b2, c1, c2, epsScaled, scale, ratio, true, false, false);
  } else adamSpan(w, wHalf != 0, m, v, momHalf != 0, g, gBits != 0, cols, gScale, n, binary != 0, clip, lr, b1, b2, c1, c2, epsScaled, scale, ratio, true, false, false);
}

/**
 * Whether a 1-bit gradient's terms of the moment updates can be taken whole from this step's
 * constants (adamSpan's `fold`): the gradient is g = ±G (G = gScale·scale in float32) or +0 where
 * the STE masks it, so (1 − β1)·g = ±fl((1 − β1)·G) and ((1 − β2)·g)·g = fl(fl((1 − β2)·G)·G)
 * exactly (a sign flip is exact and the two signs cancel), and a masked lane's terms are +0 as
 * the reference's (+0·scale·(1 − β) with a positive scale and β < 1). Saves six multiplies and
 * four constants a vector pair (the loop's registers were spilling).
 */
function adamTermsFold(b1: f64, b2: f64, scale: f64): bool {
  return <f32>scale > 0 && <f32>(1 - b1) > 0 && <f32>(1 - b2) > 0;
}

/** flush4 where `on` (adamSpan's loops with and without the flushes). */
// @ts-ignore: decorator
@inline
function adamFlush4(on: bool, x: v128, tiny: v128, magnitude: v128): v128 {
  return on ? flush4(x, tiny, magnitude) : x;
}

// @ts-ignore: decorator
@inline
function adamFlush1(on: bool, x: f32, tiny: f32): f32 {
  return on ? flush1(x, tiny) : x;
}

/**
 * Whether, for float16 weights and moments and a 1-bit gradient ±gScale (or 0 where the STE
 * masks it), no flush of adamSpan can change a value, so a step may run without them: every
 * stored value is 0 or at least 2^-24 in magnitude (and at most 65504), the gradient a constant
 * magnitude, so each intermediate is 0 or above a bound of this step's constants. Bounds, each
 * with margins for float32 rounding: m' = β1·m·r + (1 − β1)·g is 0 or at least 2^-25 of the
 * smaller nonzero term (a sum of two float32 values that does not cancel exactly is at least an
 * ulp of the smaller), v' = β2·v·r² + (1 − β2)·g² at least half the smaller (no cancellation),
 * lr/c1·m' at least that of m', the quotient at least that over the largest denominator
 * √(v'max/c2) + ε, and w − q at least 2^-25 of the smaller of 2^-24 and that quotient. All must
 * be at least 4·2^-100 (the largest flush threshold), and g itself 0 or at least 4·2^-64.
 */
function adamFlushesIdle(gScale: f64, lr: f64, b1: f64, b2: f64, c1: f64, c2: f64, epsScaled: f64, scale: f64, ratio: f64): bool {
  const least = 4 * <f64>ADAM_TINY;
  const halfMin = 5.960464477539063e-8; // 2^-24
  const halfMax: f64 = 65504;
  const g = abs<f64>(<f64>(<f32>gScale * <f32>scale));
  if (g != 0 && g < 4 * <f64>ADAM_G_TINY) return false;
  const ra = abs<f64>(<f64><f32>ratio);
  const ra2 = <f64><f32>(ratio * ratio);
  const c1b = <f64><f32>(1 - b1), c2b = <f64><f32>(1 - b2);
  const mTerm = <f64><f32>b1 * halfMin * ra;
  const mMin = g > 0 ? min(mTerm, c1b * g) * 2.98e-8 : mTerm;
  const vTerm = <f64><f32>b2 * halfMin * ra2;
  const vMin = (g > 0 ? min(vTerm, c2b * g * g) : vTerm) * 0.5;
  const vMax = (<f64><f32>b2 * halfMax * ra2 + c2b * g * g) * 2;
  const lrc = <f64><f32>(lr / c1);
  const nMin = lrc * mMin * 0.5;
  const qMin = (nMin / (sqrt<f64>(vMax * <f64><f32>(1 / c2)) * 2 + abs<f64>(<f64><f32>epsScaled))) * 0.5;
  const xMin = min(halfMin, qMin) * 2.98e-8;
  return mMin >= least && vMin >= least && nMin >= least && qMin >= least && xMin >= least && mTerm > 0 && vTerm > 0;
}

// @ts-ignore: decorator
@inline
function adamSpan(
  w: usize, wHalf: bool, m: usize, v: usize, momHalf: bool, g: usize, gBits: bool, cols: i32, gScale: f64, n: i32,
  binary: bool, clip: f64, lr: f64, b1: f64, b2: f64, c1: f64, c2: f64, epsScaled: f64, scale: f64, ratio: f64, flush: bool,
  fold: bool, ratioOne: bool,
): void {
  const wpr = (cols + 31) >>> 5;
  const rows = n / cols;
  const cols4 = cols & ~3;
  const lo = <f32>(binary ? -clip : -Infinity);
  const hi = <f32>(binary ? clip : Infinity);
  const b1f = <f32>b1, c1b = <f32>(1 - b1), b2f = <f32>b2, c2b = <f32>(1 - b2);
  const sc = <f32>scale, ra = <f32>ratio, ra2 = <f32>(ratio * ratio);
  const lrc = <f32>(lr / c1), ic2 = <f32>(1 / c2), eps = <f32>epsScaled;
  const vB1 = f32x4.splat(b1f), vC1 = f32x4.splat(c1b), vB2 = f32x4.splat(b2f), vC2 = f32x4.splat(c2b);
  const vSc = f32x4.splat(sc), vRa = f32x4.splat(ra), vRa2 = f32x4.splat(ra2);
  const vLrc = f32x4.splat(lrc), vIc2 = f32x4.splat(ic2), vEps = f32x4.splat(eps);
  const vLo = f32x4.splat(lo), vHi = f32x4.splat(hi);
  const magnitude = v128.load(ADAM_CONSTS), gTiny = v128.load(ADAM_CONSTS + 16), tiny = v128.load(ADAM_CONSTS + 32);
  const clip32 = <f32>clip;
  const gs = <f32>gScale;
  // fold (adamTermsFold): the gradient's terms of m and v from constants, ratio 1 not multiplied
  const bigG = gs * sc;
  const vTermM = f32x4.splat(c1b * bigG), vTermV = f32x4.splat((c2b * bigG) * bigG), vClip = f32x4.splat(clip32);
  // two vectors a turn where weights and moments are both float32 or both float16 (8 codes a
  // vector each way then: half8Lo/Hi, normalHalfCodes8); with one of them float16 the 4-wide
  // codecs spill two vectors, so those go one a turn (5% quicker)
  const both = wHalf && momHalf;
  const cols8 = wHalf != momHalf ? 0 : cols & ~7;
  for (let r = 0, i = 0; r < rows; r++) {
    let c = 0;
    // two vectors a step, interleaved statement by statement: one vector's chain of dependent
    // operations (flushes, the division, the square root) is long, and the other's hides it
    for (; c < cols8; c += 8, i += 8) {
      const j = i + 4;
      // (if/else, not ?:, which may compile to a select that runs both decoders)
      let wa: v128, wb: v128, ma: v128, mb: v128, va: v128, vb: v128;
      if (both) {
        const wh = v128.load(w + (<usize>i << 1));
        const mh = v128.load(m + (<usize>i << 1));
        const vh = v128.load(v + (<usize>i << 1));
        if (i16x8.all_true(v128.and(v128.and(halfNormal8(wh), halfNormal8(mh)), halfNormal8(vh)))) {
          wa = half8Lo(wh);
          wb = half8Hi(wh);
          ma = half8Lo(mh);
          mb = half8Hi(mh);
          va = half8Lo(vh);
          vb = half8Hi(vh);
        } else {
          wa = halfLanes(i32x4.extend_low_i16x8_u(wh), false);
          wb = halfLanes(i32x4.extend_high_i16x8_u(wh), false);
          ma = halfLanes(i32x4.extend_low_i16x8_u(mh), false);
          mb = halfLanes(i32x4.extend_high_i16x8_u(mh), false);
          va = halfLanes(i32x4.extend_low_i16x8_u(vh), false);
          vb = halfLanes(i32x4.extend_high_i16x8_u(vh), false);
        }
      } else {
        // float32 storage is flushed as it is read
        wa = adamFlush4(flush, v128.load(w + (<usize>i << 2)), tiny, magnitude);
        wb = adamFlush4(flush, v128.load(w + (<usize>j << 2)), tiny, magnitude);
        ma = adamFlush4(flush, v128.load(m + (<usize>i << 2)), tiny, magnitude);
        mb = adamFlush4(flush, v128.load(m + (<usize>j << 2)), tiny, magnitude);
        va = adamFlush4(flush, v128.load(v + (<usize>i << 2)), tiny, magnitude);
        vb = adamFlush4(flush, v128.load(v + (<usize>j << 2)), tiny, magnitude);
      }
      let mia: v128, mib: v128, via: v128, vib: v128;
      if (fold) {
        // (flush is off here) the sign bits flip the m term; the STE mask (|w| > clip) zeroes both
        const word = load<u32>(g + (<usize>(r * wpr + (c >>> 5)) << 2)) >>> (<u32>c & 31);
        const dropA = f32x4.gt(f32x4.abs(wa), vClip); // not where w is NaN, as grad4
        const dropB = f32x4.gt(f32x4.abs(wb), vClip);
        const decayMa = ratioOne ? f32x4.mul(vB1, ma) : f32x4.mul(f32x4.mul(vB1, ma), vRa);
        const decayMb = ratioOne ? f32x4.mul(vB1, mb) : f32x4.mul(f32x4.mul(vB1, mb), vRa);
        const decayVa = ratioOne ? f32x4.mul(vB2, va) : f32x4.mul(f32x4.mul(vB2, va), vRa2);
        const decayVb = ratioOne ? f32x4.mul(vB2, vb) : f32x4.mul(f32x4.mul(vB2, vb), vRa2);
        mia = f32x4.add(decayMa, v128.andnot(v128.xor(vTermM, signFlip(word & 15)), dropA));
        mib = f32x4.add(decayMb, v128.andnot(v128.xor(vTermM, signFlip((word >>> 4) & 15)), dropB));
        via = f32x4.add(decayVa, v128.andnot(vTermV, dropA));
        vib = f32x4.add(decayVb, v128.andnot(vTermV, dropB));
      } else {
        const ga = adamFlush4(flush, f32x4.mul(grad4(g, gBits, wpr, gs, r, c, i, wa, binary, clip32), vSc), gTiny, magnitude);
        const gb = adamFlush4(flush, f32x4.mul(grad4(g, gBits, wpr, gs, r, c + 4, j, wb, binary, clip32), vSc), gTiny, magnitude);
        mia = adamFlush4(flush, f32x4.add(f32x4.mul(f32x4.mul(vB1, ma), vRa), f32x4.mul(vC1, ga)), tiny, magnitude);
        mib = adamFlush4(flush, f32x4.add(f32x4.mul(f32x4.mul(vB1, mb), vRa), f32x4.mul(vC1, gb)), tiny, magnitude);
        via = adamFlush4(flush, f32x4.add(f32x4.mul(f32x4.mul(vB2, va), vRa2), f32x4.mul(f32x4.mul(vC2, ga), ga)), tiny, magnitude);
        vib = adamFlush4(flush, f32x4.add(f32x4.mul(f32x4.mul(vB2, vb), vRa2), f32x4.mul(f32x4.mul(vC2, gb), gb)), tiny, magnitude);
      }
      if (!both) {
        v128.store(m + (<usize>i << 2), mia);
        v128.store(m + (<usize>j << 2), mib);
        v128.store(v + (<usize>i << 2), via);
        v128.store(v + (<usize>j << 2), vib);
      }
      const da = f32x4.add(f32x4.sqrt(f32x4.mul(via, vIc2)), vEps);
      const db = f32x4.add(f32x4.sqrt(f32x4.mul(vib, vIc2)), vEps);
      const na = adamFlush4(flush, f32x4.mul(vLrc, mia), tiny, magnitude);
      const nb = adamFlush4(flush, f32x4.mul(vLrc, mib), tiny, magnitude);
      const qa = adamFlush4(flush, f32x4.div(na, da), tiny, magnitude);
      const qb = adamFlush4(flush, f32x4.div(nb, db), tiny, magnitude);
      let xa = adamFlush4(flush, f32x4.sub(wa, qa), tiny, magnitude);
      let xb = adamFlush4(flush, f32x4.sub(wb, qb), tiny, magnitude);
      // clipped as the reference: x < lo ? lo : x > hi ? hi : x, NaN kept (pmax/pmin: one instruction each)
      xa = f32x4.pmin(f32x4.pmax(xa, vLo), vHi);
      xb = f32x4.pmin(f32x4.pmax(xb, vLo), vHi);
      if (!both) {
        v128.store(w + (<usize>i << 2), xa);
        v128.store(w + (<usize>j << 2), xb);
        continue;
      }
      const mc = normalHalfCodes8(mia, mib);
      const vc = normalHalfCodes8(via, vib);
      const xc = normalHalfCodes8(xa, xb);
      // every code a normal half (the usual case): stored as computed; else all through the general encoder
      if (i16x8.all_true(v128.and(v128.and(normalCodes8(mc), normalCodes8(vc)), normalCodes8(xc)))) {
        v128.store(m + (<usize>i << 1), v128.or(mc, halfSigns8(mia, mib)));
        v128.store(v + (<usize>i << 1), v128.or(vc, halfSigns8(via, vib)));
        v128.store(w + (<usize>i << 1), v128.or(xc, halfSigns8(xa, xb)));
      } else {
        storeHalf4(m + (<usize>i << 1), mia, false);
        storeHalf4(m + (<usize>j << 1), mib, false);
        storeHalf4(v + (<usize>i << 1), via, false);
        storeHalf4(v + (<usize>j << 1), vib, false);
        storeHalf4(w + (<usize>i << 1), xa, false);
        storeHalf4(w + (<usize>j << 1), xb, false);
      }
    }
    for (; c < cols4; c += 4, i += 4) {
      let w4 = loadP4(w, i, wHalf);
      let m4 = loadP4(m, i, momHalf);
      let v4 = loadP4(v, i, momHalf);
      if (!wHalf) w4 = adamFlush4(flush, w4, tiny, magnitude);
      if (!momHalf) {
        m4 = adamFlush4(flush, m4, tiny, magnitude);
        v4 = adamFlush4(flush, v4, tiny, magnitude);
      }
      const g4 = adamFlush4(flush, f32x4.mul(grad4(g, gBits, wpr, gs, r, c, i, w4, binary, clip32), vSc), gTiny, magnitude);
      const mi = adamFlush4(flush, f32x4.add(f32x4.mul(f32x4.mul(vB1, m4), vRa), f32x4.mul(vC1, g4)), tiny, magnitude);
      const vi = adamFlush4(flush, f32x4.add(f32x4.mul(f32x4.mul(vB2, v4), vRa2), f32x4.mul(f32x4.mul(vC2, g4), g4)), tiny, magnitude);
      storeP4(m, i, momHalf, mi);
      storeP4(v, i, momHalf, vi);
      const q = adamFlush4(flush, f32x4.div(adamFlush4(flush, f32x4.mul(vLrc, mi), tiny, magnitude), f32x4.add(f32x4.sqrt(f32x4.mul(vi, vIc2)), vEps)), tiny, magnitude);
      let wi = adamFlush4(flush, f32x4.sub(w4, q), tiny, magnitude);
      // clip as the reference does: wi < lo ? lo : wi > hi ? hi : wi (NaN stays NaN)
      wi = f32x4.pmin(f32x4.pmax(wi, vLo), vHi);
      storeP4(w, i, wHalf, wi);
    }
    for (; c < cols; c++, i++) {
      let w0 = <f32>loadP(w, i, wHalf);
      let m0 = <f32>loadP(m, i, momHalf);
      let v0 = <f32>loadP(v, i, momHalf);
      if (!wHalf) w0 = adamFlush1(flush, w0, ADAM_TINY);
      if (!momHalf) {
        m0 = adamFlush1(flush, m0, ADAM_TINY);
        v0 = adamFlush1(flush, v0, ADAM_TINY);
      }
      let gi: f32 = gBits ? ((load<u32>(g + (<usize>(r * wpr + (c >>> 5)) << 2)) >>> (c & 31)) & 1 ? gs : -gs) : load<f32>(g + (<usize>i << 2));
      if (binary && abs<f32>(w0) > clip32) gi = 0;
      gi = adamFlush1(flush, gi * sc, ADAM_G_TINY);
      const mi = adamFlush1(flush, b1f * m0 * ra + c1b * gi, ADAM_TINY);
      const vi = adamFlush1(flush, b2f * v0 * ra2 + c2b * gi * gi, ADAM_TINY);
      storeP(m, i, momHalf, <f64>mi);
      storeP(v, i, momHalf, <f64>vi);
      const q = adamFlush1(flush, adamFlush1(flush, lrc * mi, ADAM_TINY) / (sqrt<f32>(vi * ic2) + eps), ADAM_TINY);
      const wi = adamFlush1(flush, w0 - q, ADAM_TINY);
      storeP(w, i, wHalf, <f64>(wi < lo ? lo : wi > hi ? hi : wi));
    }
  }
}

/** z >= 0 as JavaScript decides it, on the bits (NEON flushes a negative subnormal to -0): sign clear and not NaN, or -0. */
// @ts-ignore: decorator
@inline
function nonNegative4(x: v128): v128 {
  return v128.or(v128.andnot(i32x4.ge_s(x, i32x4.splat(0)), i32x4.gt_s(x, i32x4.splat(0x7f800000))), i32x4.eq(x, i32x4.splat(0x80000000)));
}

/**
 * Packed signs of a float32 (half = 0) or float16 (half = 1) rows × cols tensor into rows of
 * whole 32-bit words (wpr of them, each row rowWords words after the last): bit set for w >= 0, -0 included (sign(0) = +1); float32 NaN clears it.
 */
/** Bits 0..15: float32s p[0..16) >= 0 as nonNegative4 decides. */
// @ts-ignore: decorator
@inline
function nonNegative16(p: usize): u32 {
  const lo = i16x8.narrow_i32x4_s(nonNegative4(v128.load(p)), nonNegative4(v128.load(p, 16)));
  const hi = i16x8.narrow_i32x4_s(nonNegative4(v128.load(p, 32)), nonNegative4(v128.load(p, 48)));
  return <u32>i8x16.bitmask(i8x16.narrow_i16x8_s(lo, hi));
}

/** Bits 0..15: float16 codes p[0..16) non-negative (sign bit clear, or a zero of either sign). */
// @ts-ignore: decorator
@inline
function nonNegativeHalf16(p: usize): u32 {
  const a = v128.load(p);
  const b = v128.load(p, 16);
  const na = v128.andnot(i16x8.lt_s(a, i16x8.splat(0)), i16x8.eq(v128.and(a, i16x8.splat(0x7fff)), i16x8.splat(0)));
  const nb = v128.andnot(i16x8.lt_s(b, i16x8.splat(0)), i16x8.eq(v128.and(b, i16x8.splat(0x7fff)), i16x8.splat(0)));
  return ~<u32>i8x16.bitmask(i8x16.narrow_i16x8_s(na, nb)) & 0xffff;
}

export function packSigns(src: usize, half: i32, rows: i32, cols: i32, bits: usize, rowWords: i32): void {
  const wpr = (cols + 31) >>> 5;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const out = bits + (<usize>(r * rowWords) << 2);
    for (let k = 0; k < wpr; k++) {
      const c0 = k << 5;
      const c1 = min(cols, c0 + 32);
      let word: u32 = 0;
      let c = c0;
      if (c1 - c0 == 32) {
        // a whole word: 16 signs a bitmask (the masks narrowed to bytes), no shifts by a variable
        const p = src + (<usize>(row + c) << (half ? 1 : 2));
        word = half ? nonNegativeHalf16(p) | (nonNegativeHalf16(p + 32) << 16) : nonNegative16(p) | (nonNegative16(p + 64) << 16);
        store<u32>(out + (<usize>k << 2), word);
        continue;
      }
      if (half) {
        for (; c + 8 <= c1; c += 8) {
          const h = v128.load(src + (<usize>(row + c) << 1));
          // non-negative: sign bit clear, or a zero of either sign
          const neg = v128.andnot(i16x8.lt_s(h, i16x8.splat(0)), i16x8.eq(v128.and(h, i16x8.splat(0x7fff)), i16x8.splat(0)));
          word |= (<u32>(~i16x8.bitmask(neg) & 0xff)) << (c - c0);
        }
        for (; c < c1; c++) {
          const h = load<u16>(src + (<usize>(row + c) << 1));
          if ((h & 0x8000) == 0 || (h & 0x7fff) == 0) word |= <u32>1 << (c - c0);
        }
      } else {
        for (; c + 4 <= c1; c += 4) {
          word |= (<u32>i32x4.bitmask(nonNegative4(v128.load(src + (<usize>(row + c) << 2))))) << (c - c0);
        }
        for (; c < c1; c++) if (load<f32>(src + (<usize>(row + c) << 2)) >= 0) word |= <u32>1 << (c - c0);
      }
      store<u32>(out + (<usize>k << 2), word);
    }
  }
}

/** Bits 0..15: |p[0..16)| <= clip (limit: clip in every lane), as packMask decides. */
// @ts-ignore: decorator
@inline
function withinClip16(p: usize, limit: v128): u32 {
  const lo = i16x8.narrow_i32x4_s(f32x4.le(f32x4.abs(v128.load(p)), limit), f32x4.le(f32x4.abs(v128.load(p, 16)), limit));
  const hi = i16x8.narrow_i32x4_s(f32x4.le(f32x4.abs(v128.load(p, 32)), limit), f32x4.le(f32x4.abs(v128.load(p, 48)), limit));
  return <u32>i8x16.bitmask(i8x16.narrow_i16x8_s(lo, hi));
}

/**
 * A sign layer's two packings of the same float32 rows × cols in one pass over z (the streamed
 * recipes read z once instead of twice): bits as packSigns (z >= 0, -0 included) and mask as
 * packMask (|z| <= clip), both rows of ⌈cols/32⌉ words.
 */
export function packSignMask(z: usize, rows: i32, cols: i32, bits: usize, mask: usize, clip: f32): void {
  const wpr = (cols + 31) >>> 5;
  const limit = f32x4.splat(clip);
  for (let r = 0; r < rows; r++) {
    const row = z + (<usize>(r * cols) << 2);
    const ob = bits + (<usize>(r * wpr) << 2);
    const om = mask + (<usize>(r * wpr) << 2);
    for (let k = 0; k < wpr; k++) {
      const c0 = k << 5;
      const c1 = min(cols, c0 + 32);
      const at = <usize>k << 2;
      if (c1 - c0 == 32) {
        const p = row + (<usize>c0 << 2);
        store<u32>(ob + at, nonNegative16(p) | (nonNegative16(p + 64) << 16));
        store<u32>(om + at, withinClip16(p, limit) | (withinClip16(p + 64, limit) << 16));
        continue;
      }
      let s: u32 = 0;
      let m: u32 = 0;
      let c = c0;
      for (; c + 4 <= c1; c += 4) {
        const x = v128.load(row + (<usize>c << 2));
        s |= (<u32>i32x4.bitmask(nonNegative4(x))) << (c - c0);
        m |= (<u32>i32x4.bitmask(f32x4.le(f32x4.abs(x), limit))) << (c - c0);
      }
      for (; c < c1; c++) {
        const v = load<f32>(row + (<usize>c << 2));
        if (v >= 0) s |= <u32>1 << (c - c0);
        if (abs<f32>(v) <= clip) m |= <u32>1 << (c - c0);
      }
      store<u32>(ob + at, s);
      store<u32>(om + at, m);
    }
  }
}

/**
 * bits of rows x cols: bit c of row r set where |z[r, c]| <= clip (the straight-through mask of a
 * sign; NaN gives 0). A subnormal |z| flushed to 0 by NEON still compares <= clip, as in JS.
 */
export function packMask(z: usize, rows: i32, cols: i32, bits: usize, clip: f32): void {
  const wpr = (cols + 31) >>> 5;
  const limit = f32x4.splat(clip);
  for (let r = 0; r < rows; r++) {
    const row = z + (<usize>(r * cols) << 2);
    const out = bits + (<usize>(r * wpr) << 2);
    for (let k = 0; k < wpr; k++) {
      const c0 = k << 5;
      const c1 = min(cols, c0 + 32);
      let word: u32 = 0;
      let c = c0;
      for (; c + 4 <= c1; c += 4) word |= (<u32>i32x4.bitmask(f32x4.le(f32x4.abs(v128.load(row + (<usize>c << 2))), limit))) << (c - c0);
      for (; c < c1; c++) if (abs<f32>(load<f32>(row + (<usize>c << 2))) <= clip) word |= <u32>1 << (c - c0);
      store<u32>(out + (<usize>k << 2), word);
    }
  }
}

/**
 * out[k] = bytes[k]·2/255 − 1 as float32 for k < n, computed as JavaScript does (in f64, rounded
 * once). out may overlap bytes when bytes sit at or after out + 3n (each value is read before the
 * float written over it): the layers stage a chunk's pixel bytes in the tail of its float buffer.
 */
/**
 * 4 pixel values (u32 lanes) as p·(2/255) − 1 rounded to float32, stored at o: computed as the
 * float32 quotient (2p − 255) / 255 (both exact integers, one rounding), which equals the float64
 * expression rounded to float32 for every byte (checked on all 256 in the kernel tests).
 */
// @ts-ignore: decorator
@inline
function pixelQuad(o: usize, v: v128): void {
  v128.store(o, f32x4.div(f32x4.convert_i32x4_s(i32x4.sub(i32x4.shl(v, 1), i32x4.splat(255))), f32x4.splat(255)));
}

export function pixelsToFloat(bytes: usize, n: i32, out: usize): void {
  // no lookup table in static memory: every worker instance re-initializes the module's data
  // segments in the shared memory when it starts, which would race with a table filled here
  let k = 0;
  // 16 bytes in a register before their 64 bytes of floats are stored: with the bytes at or after
  // out + 3n, a store never reaches bytes not yet loaded
  for (; k + 16 <= n; k += 16) {
    const b = v128.load(bytes + <usize>k);
    const lo = i16x8.extend_low_i8x16_u(b);
    const hi = i16x8.extend_high_i8x16_u(b);
    const o = out + (<usize>k << 2);
    pixelQuad(o, i32x4.extend_low_i16x8_u(lo));
    pixelQuad(o + 16, i32x4.extend_high_i16x8_u(lo));
    pixelQuad(o + 32, i32x4.extend_low_i16x8_u(hi));
    pixelQuad(o + 48, i32x4.extend_high_i16x8_u(hi));
  }
  for (; k < n; k++) store<f32>(out + (<usize>k << 2), <f32>(<f64>load<u8>(bytes + <usize>k) * (2.0 / 255.0) - 1.0));
}

/** Columns [0, cols) of `rows` byte rows `stride` bytes apart, as pixelsToFloat, into float rows of `cols` at out (bytes outside out). */
export function pixelRowsToFloat(bytes: usize, rows: i32, stride: i32, cols: i32, out: usize): void {
  for (let r = 0; r < rows; r++) pixelsToFloat(bytes + <usize>r * <usize>stride, cols, out + (<usize>(r * cols) << 2));
}

/** Output rows of signDwPixelTiles' tiles and rows of its passes (its scratch: 32 + 32 + 16 KB), unless the whole batch fits. */
const PIXEL_DW_ROWS = 128;
const PIXEL_DW_PASS = 64;

/** Whether signDwPixelTiles' scratch holds a tile of tj rows × 64 sums, the batch's dY for it and a 64-column tile of its pixels. */
// @ts-ignore: decorator
@inline
function pixelDwWhole(tj: i32, rows: i32): bool {
  return ((tj * 64 + rows * tj + rows * 64) << 2) <= MASK_SCRATCH_BYTES;
}

/**
 * The first dense layer's 1-bit weight gradient over pixels for input columns [k0, k1) (k0 a
 * multiple of 64): sign(dW[j, k]), dW[j, k] = Σ_i dY[i, j]·x[i, k] over the batch's rows in order,
 * packed into bits (rows of ⌈n/32⌉ words); dy: float16 codes, rows × m; pix: the batch's pixel
 * bytes, rows × n, decoded as pixelsToFloat. Tiles of PIXEL_DW_ROWS output rows × 64 columns sum
 * over passes of rows in this instance's scratch (dY rows and pixel columns decoded there), so a
 * thread decodes, sums and packs its own column tiles: threads take ranges of them with one
 * hand-off a layer, where a split per tile made the worker read what the main thread had just
 * decoded. The sums are gemmTnFloat's (rowsSum, t in order), so the same bits as tile by tile.
 */
export function signDwPixelTiles(dy: usize, pix: usize, rows: i32, m: i32, n: i32, bits: usize, k0: i32, k1: i32): void {
  if (!maskScratch) unreachable(); // the tiles and decoded passes live there
  const wpr = (n + 31) >>> 5;
  let tj = min(m, PIXEL_DW_ROWS);
  // the whole batch in one pass where its dY columns and a column tile of its pixels fit (B = 100:
  // 51 + 26 KB): the row tile's dY is then decoded once instead of once a column tile; tiles of
  // half the rows where that lets the whole batch fit (B = 200)
  if (!pixelDwWhole(tj, rows) && tj > 32 && pixelDwWhole(tj >> 1, rows)) tj >>= 1;
  const acc = maskScratch;
  const dyRows = acc + (<usize>(tj * 64) << 2);
  const whole = pixelDwWhole(tj, rows);
  const pass = whole ? max(1, rows) : PIXEL_DW_PASS;
  const xRows = dyRows + (<usize>(pass * tj) << 2);
  for (let j0 = 0; j0 < m; j0 += tj) {
    const rowsOut = min(m, j0 + tj) - j0;
    if (whole) halfDecodeRows(dy + (<usize>j0 << 1), rows, m, rowsOut, dyRows);
    for (let c0 = k0; c0 < k1; c0 += 64) {
      const w = min(k1, c0 + 64) - c0;
      if (rows == 0) memory.fill(acc, 0, <usize>(rowsOut * w) << 2);
      for (let i0 = 0; i0 < rows; i0 += pass) {
        const count = min(rows, i0 + pass) - i0;
        if (!whole) halfDecodeRows(dy + (<usize>(i0 * m + j0) << 1), count, m, rowsOut, dyRows);
        pixelRowsToFloat(pix + <usize>(i0 * n + c0), count, n, w, xRows);
        // the first pass starts every sum at +0, as a zeroed tile would
        rowsSum<f32>(dyRows, 1, rowsOut, xRows, count, w, acc, 0, rowsOut, i0 > 0);
      }
      packSigns(acc, 0, rowsOut, w, bits + (<usize>(j0 * wpr + (c0 >>> 5)) << 2), wpr);
    }
  }
}

/** Bytes at the start of the scratch left to po2Read's table by the kernels that call it there. */
const PO2_TABLE_BYTES: usize = 256;

/** Pixel columns bopDwPixelTiles decodes at a time (a band of a pass's rows, read by every output row pair). */
const PIXEL_BAND = 32;

/**
 * Rows of bopDwPixelTiles' passes for tiles of tj rows of n (a multiple of 4; what the scratch
 * holds past the tile: a pass's dY columns and one band of its decoded pixels).
 */
function bopPixelPassRows(tj: i32, n: i32): i32 {
  const room = MASK_SCRATCH_BYTES - <i32>PO2_TABLE_BYTES - ((tj * n) << 2);
  return room > 0 ? (room / ((tj + min(n, PIXEL_BAND)) << 2)) & ~3 : 0;
}

/**
 * Output rows of bopDwPixelTiles' tiles for n pixels a row: the most, up to 64, that fill whole
 * 256-value momentum blocks (a multiple of 256 / gcd(n, 256), and of 4) and leave the scratch
 * passes of at least 8 rows (every tile decodes the batch's pixels: fewer tiles, fewer decodes;
 * 784 pixels: 32 rows, passes of 8); 0 where no such tile fits.
 */
export function bopDwPixelTileRows(n: i32): i32 {
  const unit = blockRows(n);
  let tj = 0;
  for (let t = unit; t <= max(unit, 64) && bopPixelPassRows(t, n) >= 8; t += unit) tj = t;
  return tj;
}

/**
 * The tiny recipe's first dense layer's weight gradient over pixels folded into Bop's slog
 * momentum, output rows [j0, j1): dW[j, k] = Σ_i dY[i, j]·x[i, k] over the batch's rows in order
 * (gemmTnFloat's sums: rowsSum, t in order), dY read from a po2 store (rows × m codes under bias
 * b, as po2Read), pix the batch's pixel bytes (rows × n, decoded as pixelsToFloat); each tile of
 * bopDwPixelTileRows(n) whole rows sums over passes of rows decoded into this instance's scratch,
 * then is folded and encoded block by block (bopFoldWhole). A thread decodes, sums and folds its
 * own rows (every tile decodes the batch's pixels once), so threads take ranges of tiles: one
 * hand-off a layer, where the tiles' sums were each too small to split (the first layer's dW ran
 * on one thread).
 */
export function bopDwPixelTiles(dy: usize, b: i32, pix: usize, rows: i32, m: i32, n: i32, raw: usize, scales: usize, gamma: f64, j0: i32, j1: i32): void {
  if (!maskScratch) unreachable(); // the tiles and decoded passes live there
  const tj = bopDwPixelTileRows(n);
  const pass = bopPixelPassRows(tj, n);
  const acc = maskScratch + PO2_TABLE_BYTES;
  const dyRows = acc + (<usize>(tj * n) << 2);
  const xBand = dyRows + (<usize>(pass * tj) << 2);
  const total = m * n;
  for (let a = j0; a < j1; a += tj) {
    const units = min(j1, a + tj) - a;
    if (rows == 0) memory.fill(acc, 0, <usize>(units * n) << 2);
    for (let i0 = 0; i0 < rows; i0 += pass) {
      const count = min(rows, i0 + pass) - i0;
      po2Read(dy, i0 * m + a, count, m, units, b, dyRows);
      // a band of pixel columns decoded for the pass's rows, then summed into every output row
      // (each sum takes all of the pass's terms with the tile in registers, not a few at a time)
      for (let k0 = 0; k0 < n; k0 += PIXEL_BAND) {
        const k1 = min(n, k0 + PIXEL_BAND);
        const bandBytes = <usize>(k1 - k0) << 2;
        pixelRowsToFloat(pix + <usize>(i0 * n + k0), count, n, k1 - k0, xBand);
        // the first pass starts every sum at +0, as a zeroed tile would
        rowsSumCols<f32>(dyRows, 1, units, xBand - (<usize>k0 << 2), bandBytes, count, n, acc, 0, units, i0 > 0, k0, k1);
      }
    }
    const first = a * n;
    bopFoldWhole(raw, scales, total, acc, gamma, first >>> 8, (first + units * n + 255) >>> 8);
  }
}

/**
 * max |x[k]| over k < n, NaN ignored (as JavaScript's a > max test), decided on the bits: for
 * non-negative floats the integer order is the float order, and no subnormal is flushed.
 */
export function maxAbs(x: usize, n: i32): f32 {
  const absMask = i32x4.splat(0x7fffffff);
  const inf = i32x4.splat(0x7f800000);
  let m = i32x4.splat(0);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const a = v128.and(v128.load(x + (<usize>k << 2)), absMask);
    m = v128.bitselect(a, m, v128.and(i32x4.gt_s(a, m), v128.not(i32x4.gt_s(a, inf))));
  }
  let best: u32 = 0;
  for (let l = 0; l < 4; l++) {
    const v = <u32>i32x4.extract_lane(m, 0);
    if (v > best) best = v;
    m = i8x16.shuffle(m, m, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3);
  }
  for (; k < n; k++) {
    const a = load<u32>(x + (<usize>k << 2)) & 0x7fffffff;
    if (a <= 0x7f800000 && a > best) best = a;
  }
  return reinterpret<f32>(best);
}

/** The smallest non-zero |x[k]| of the last absRange call (NaN ignored; +Infinity bits when there is none). */
export let absMinNonzero: f32 = 0;

/**
 * max |x[k]| over k < n (as maxAbs) and, in absMinNonzero, the smallest non-zero |x[k]|: a po2
 * fill's record of a chunk (whether its codes can be re-coded under another bias). On the bits,
 * as maxAbs: non-negative float32 bit patterns order as integers, and no subnormal is flushed.
 */
export function absRange(x: usize, n: i32): f32 {
  // |x| as integers (the float order of non-negative values): the max over lanes with NaN zeroed,
  // the least non-zero as the unsigned min of |x| − 1 (a zero wraps to the top, and NaN and
  // +Infinity land at or above the start, so both drop out); two chains of each, 8 values a turn
  const absMask = i32x4.splat(0x7fffffff);
  const inf = i32x4.splat(0x7f800000);
  const one = i32x4.splat(1);
  let hi0 = i32x4.splat(0), hi1 = hi0;
  let lo0 = i32x4.splat(0x7f7fffff), lo1 = lo0;
  let k = 0;
  for (; k + 8 <= n; k += 8) {
    const a = v128.and(v128.load(x + (<usize>k << 2)), absMask);
    const b = v128.and(v128.load(x + (<usize>k << 2), 16), absMask);
    hi0 = i32x4.max_u(hi0, v128.andnot(a, i32x4.gt_s(a, inf)));
    hi1 = i32x4.max_u(hi1, v128.andnot(b, i32x4.gt_s(b, inf)));
    lo0 = i32x4.min_u(lo0, i32x4.sub(a, one));
    lo1 = i32x4.min_u(lo1, i32x4.sub(b, one));
  }
  for (; k + 4 <= n; k += 4) {
    const a = v128.and(v128.load(x + (<usize>k << 2)), absMask);
    hi0 = i32x4.max_u(hi0, v128.andnot(a, i32x4.gt_s(a, inf)));
    lo0 = i32x4.min_u(lo0, i32x4.sub(a, one));
  }
  let hi = i32x4.max_u(hi0, hi1);
  let lo = i32x4.add(i32x4.min_u(lo0, lo1), one);
  let best: u32 = 0;
  let least: u32 = 0x7f800000;
  for (let l = 0; l < 4; l++) {
    const h = <u32>i32x4.extract_lane(hi, 0);
    const w = <u32>i32x4.extract_lane(lo, 0);
    if (h > best) best = h;
    if (w < least) least = w;
    hi = i8x16.shuffle(hi, hi, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3);
    lo = i8x16.shuffle(lo, lo, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3);
  }
  for (; k < n; k++) {
    const a = load<u32>(x + (<usize>k << 2)) & 0x7fffffff;
    if (a <= 0x7f800000) {
      if (a > best) best = a;
      if (a != 0 && a < least) least = a;
    }
  }
  absMinNonzero = reinterpret<f32>(least);
  return reinterpret<f32>(best);
}

/** absRange of x[0..n) left in this instance's scratch (the max, then the smallest non-zero |value|): threads take slices. */
export function absRangeSlice(x: usize, n: i32): void {
  store<f32>(maskScratch, absRange(x, n));
  store<f32>(maskScratch + 4, absMinNonzero);
}

/**
 * Codes of elements [first, first + n) of a po2 store moved to a bias `delta` higher, as
 * po2RecodeTable maps them: magnitude c = code & 15 becomes min(c + delta, 15) where c and
 * c + delta − 8 >= −7 (else 0, sign dropped). 4 codes a turn: read through a window of the
 * packed bits (as po2Read), mapped in lanes, packed (as po2Write) and written a whole word at a
 * time behind the reader; the first and last words keep their bits outside the range.
 */
export function po2Recode(words: usize, first: i32, n: i32, delta: i32): void {
  if (n <= 0) return;
  const bit = first * 5;
  // reader: a window of the packed bits from `bit`
  let rp = words + (<usize>(bit >>> 5) << 2);
  let acc: u64 = <u64>(load<u32>(rp) >>> <u32>(bit & 31));
  let nb = 32 - (bit & 31);
  rp += 4;
  // writer: the first word's bits below the range kept
  let wp = words + (<usize>(bit >>> 5) << 2);
  let nw = bit & 31;
  let out: u64 = nw ? <u64>(load<u32>(wp) & ((<u32>1 << nw) - 1)) : 0;
  const toTop = i32x4(1 << 27, 1 << 22, 1 << 17, 1 << 12);
  const weights = i32x4(1, 32, 1024, 32768);
  const shift = i32x4.splat(delta);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    if (nb < 20) {
      acc |= <u64>load<u32>(rp) << <u64>nb;
      nb += 32;
      rp += 4;
    }
    const codes = i32x4.shr_u(i32x4.mul(i32x4.splat(<i32>acc), toTop), 27);
    acc >>= 20;
    nb -= 20;
    const c = v128.and(codes, i32x4.splat(15));
    const moved = i32x4.add(c, shift);
    // kept: a non-zero magnitude whose exponent c + delta − 8 stays >= −7 (moved >= 1)
    const keep = v128.andnot(i32x4.gt_s(moved, i32x4.splat(0)), i32x4.eq(c, i32x4.splat(0)));
    const mapped = v128.and(v128.or(i32x4.min_s(moved, i32x4.splat(15)), v128.and(codes, i32x4.splat(16))), keep);
    let p = i32x4.mul(mapped, weights);
    p = i32x4.add(p, v128.shuffle<i32>(p, p, 2, 3, 0, 1));
    p = i32x4.add(p, v128.shuffle<i32>(p, p, 1, 0, 3, 2));
    out |= <u64><u32>i32x4.extract_lane(p, 0) << <u64>nw;
    nw += 20;
    if (nw >= 32) {
      store<u32>(wp, <u32>out);
      wp += 4;
      out >>= 32;
      nw -= 32;
    }
  }
  for (; k < n; k++) {
    if (nb < 5) {
      acc |= <u64>load<u32>(rp) << <u64>nb;
      nb += 32;
      rp += 4;
    }
    const code = <i32>(<u32>acc & 31);
    acc >>= 5;
    nb -= 5;
    const c = code & 15;
    const moved = c + delta;
    const mapped = c == 0 || moved < 1 ? 0 : (code & 16) | min(moved, 15);
    out |= <u64><u32>mapped << <u64>nw;
    nw += 5;
    if (nw >= 32) {
      store<u32>(wp, <u32>out);
      wp += 4;
      out >>= 32;
      nw -= 32;
    }
  }
  // the last word: its bits past the range kept
  if (nw > 0) store<u32>(wp, (load<u32>(wp) & ~((<u32>1 << nw) - 1)) | <u32>out);
}

// ---- The STE mask applied to a po2 store's codes (the tiny recipe's sign backward) ----
// 24 codes (120 bits, 15 bytes from a byte boundary) a turn as two u64s of 12 5-bit fields each,
// the first at the turn's byte and the second 7 bytes on (its fields from bit 4), changed with
// word-wide arithmetic and both written back (the second's write rewrites the byte they share,
// so both are read before either is written: a read of a just-written u64 that overlaps it only
// in part waits for the store).

/** Bits of 12 5-bit fields, their magnitudes (low 4 bits each), their sign bits, and a 1 in each. */
const PO2_FIELDS: u64 = 0xfffffffffffffff;
const PO2_MAGS: u64 = 0x7bdef7bdef7bdef;
const PO2_HIGHS: u64 = 0x842108421084210;
const PO2_ONES: u64 = 0x84210842108421;
/** Field masks of 6 fields (31 in field k where bit k is set), by 6 mask bits. */
const PO2_SPREAD6 = memory.data<u32>([
  0, 31, 992, 1023, 31744, 31775, 32736, 32767,
  1015808, 1015839, 1016800, 1016831, 1047552, 1047583, 1048544, 1048575,
  32505856, 32505887, 32506848, 32506879, 32537600, 32537631, 32538592, 32538623,
  33521664, 33521695, 33522656, 33522687, 33553408, 33553439, 33554400, 33554431,
  1040187392, 1040187423, 1040188384, 1040188415, 1040219136, 1040219167, 1040220128, 1040220159,
  1041203200, 1041203231, 1041204192, 1041204223, 1041234944, 1041234975, 1041235936, 1041235967,
  1072693248, 1072693279, 1072694240, 1072694271, 1072724992, 1072725023, 1072725984, 1072726015,
  1073709056, 1073709087, 1073710048, 1073710079, 1073740800, 1073740831, 1073741792, 1073741823,
]);

/** 1 in each field whose magnitude is non-zero (x's fields' magnitudes at most 15: no carry out). */
// @ts-ignore: decorator
@inline
function po2NonZero(x: u64): u64 {
  return (((x & PO2_MAGS) + PO2_MAGS) & PO2_HIGHS) >> 4;
}

/** The field mask of 12 mask bits. */
// @ts-ignore: decorator
@inline
function po2Spread12(bits: u32): u64 {
  return <u64>load<u32>(PO2_SPREAD6 + (<usize>(bits & 63) << 2)) | (<u64>load<u32>(PO2_SPREAD6 + (<usize>(bits >>> 6) << 2)) << 30);
}

/** 12 fields with the masked ones and those of magnitude 0 zeroed. */
// @ts-ignore: decorator
@inline
function po2Kept(x: u64, bits: u32): u64 {
  x &= po2Spread12(bits);
  return x & (po2NonZero(x) * 31);
}

/** The largest of top and 12 fields' magnitudes. */
// @ts-ignore: decorator
@inline
function po2Top(x: u64, top: u32): u32 {
  // a magnitude above top: adding 15 − top carries into its field's sign position
  if ((((x & PO2_MAGS) + PO2_ONES * <u64>(15 - top)) & PO2_HIGHS) != 0) for (let f: u64 = 0; f < 60; f += 5) top = max(top, <u32>((x >> f) & 15));
  return top;
}

/** The turn's two u64s written back from their new fields (a: bits 0..59, b: 60..119). */
// @ts-ignore: decorator
@inline
function po2StoreTurn(p: usize, wa: u64, a: u64, b: u64): void {
  store<u64>(p, (wa & ~PO2_FIELDS) | a);
  store<u64>(p + 7, (a >> 56) | (b << 4));
}

/** Code k of a po2 store (the word pair its bits may span). */
// @ts-ignore: decorator
@inline
function po2CodeAt(words: usize, k: i32): u32 {
  const bit = <u32>k * 5;
  const p = words + (<usize>(bit >>> 5) << 2);
  const off = bit & 31;
  let code = load<u32>(p) >>> off;
  if (off > 27) code |= load<u32>(p, 4) << (32 - off);
  return code & 31;
}

// @ts-ignore: decorator
@inline
function po2SetCode(words: usize, k: i32, code: u32): void {
  const bit = <u32>k * 5;
  const p = words + (<usize>(bit >>> 5) << 2);
  const off = bit & 31;
  store<u32>(p, (load<u32>(p) & ~(<u32>31 << off)) | (code << off));
  if (off > 27) {
    const spill = off - 27;
    store<u32>(p, (load<u32>(p, 4) & ~((<u32>1 << spill) - 1)) | (code >>> (5 - spill)), 4);
  }
}

/**
 * Codes [first, first + n) of a po2 store whose element's bit in the flat mask (bit k for code
 * k: rows of a multiple of 32 columns) is 0 set to 0, and those of magnitude 0 too (as
 * po2RecodeTable leaves them); returns the largest magnitude kept (0 if none), also to this
 * instance's scratch. first a multiple of 24 (a thread's slice then has bytes of its own).
 */
export function po2MaskTop(words: usize, first: i32, n: i32, mask: usize): i32 {
  let top: u32 = 0;
  let k = 0;
  for (; k + 24 <= n; k += 24) {
    const e = first + k;
    const p = words + ((<usize>e * 5) >>> 3);
    const wa = load<u64>(p);
    const wb = load<u64>(p, 7);
    // 24 mask bits from bit e (e a multiple of 8)
    const bits = load<u32>(mask + (<usize>e >>> 3));
    const a = po2Kept(wa & PO2_FIELDS, bits & 0xfff);
    const b = po2Kept(wb >> 4, (bits >>> 12) & 0xfff);
    top = po2Top(b, po2Top(a, top));
    po2StoreTurn(p, wa, a, b);
  }
  for (; k < n; k++) {
    const e = first + k;
    let code = po2CodeAt(words, e);
    if (((load<u32>(mask + (<usize>(e >>> 5) << 2)) >>> (<u32>e & 31)) & 1) == 0 || (code & 15) == 0) code = 0;
    top = max(top, code & 15);
    po2SetCode(words, e, code);
  }
  if (maskScratch) store<u32>(maskScratch, top);
  return <i32>top;
}

/**
 * Codes [first, first + n) of a po2 store moved to a bias `delta` higher where no magnitude
 * leaves 1..15 (0 <= delta <= 15 − the largest): each non-zero magnitude + delta, as
 * po2RecodeTable maps them then. first a multiple of 24 (as po2MaskTop).
 */
export function po2ShiftUp(words: usize, first: i32, n: i32, delta: i32): void {
  const d = <u64>delta;
  let k = 0;
  for (; k + 24 <= n; k += 24) {
    const p = words + ((<usize>(first + k) * 5) >>> 3);
    const wa = load<u64>(p);
    const a = wa & PO2_FIELDS;
    const b = load<u64>(p, 7) >> 4;
    po2StoreTurn(p, wa, a + po2NonZero(a) * d, b + po2NonZero(b) * d);
  }
  for (; k < n; k++) {
    const code = po2CodeAt(words, first + k);
    if (code & 15) po2SetCode(words, first + k, code + <u32>delta);
  }
}

/** The 5-bit power-of-two code of v under scale 2^b: po2CodeOfScaled's f64 arithmetic and bit tests. */
// @ts-ignore: decorator
@inline
function po2Code(v: f32, scale: f64): u32 {
  const d = <f64>v;
  // zero, NaN and subnormals: i32.MIN_VALUE, code 0
  const e = po2ExponentOf((d < 0 ? -d : d) * scale);
  return e < -7 ? 0 : (d < 0 ? 16 : 0) | <u32>((e > 7 ? 7 : e) + 8);
}

/**
 * The codes of 4 float32 values under scale 2^b, from their bits: for a normal value |v|·2^b has
 * v's mantissa and exponent E + b, and round(log2) adds 1 from √2's mantissa on (the 23-bit
 * threshold 0x3504f4 is where v's mantissa, widened to 52 bits, reaches √2's); zero and NaN give
 * 0, infinities the top code. Subnormal inputs are not handled here (po2Write sends them to po2Code).
 */
// @ts-ignore: decorator
@inline
function po2Codes4(x: v128, b: i32): v128 {
  const zero = i32x4.splat(0);
  const expf = v128.and(i32x4.shr_u(x, 23), i32x4.splat(0xff));
  const mant = v128.and(x, i32x4.splat(0x7fffff));
  const e = i32x4.sub(i32x4.add(expf, i32x4.splat(b - 127)), i32x4.ge_s(mant, i32x4.splat(0x3504f4)));
  const sign = v128.and(i32x4.shr_u(x, 27), i32x4.splat(16));
  const code = v128.or(i32x4.add(i32x4.min_s(e, i32x4.splat(7)), i32x4.splat(8)), sign);
  const top = i32x4.eq(expf, i32x4.splat(0xff));
  const infinite = v128.and(top, i32x4.eq(mant, zero));
  const keep = v128.andnot(i32x4.gt_s(e, i32x4.splat(-8)), v128.or(i32x4.eq(expf, zero), top));
  return v128.or(v128.and(code, keep), v128.and(v128.or(i32x4.splat(15), sign), infinite));
}

/**
 * Columns [0, cols) of `rows` rows of a po2 store, the first at element `first`, rows `stride`
 * elements apart, decoded under bias b into float32 rows of `cols` at out: each code's value
 * 2^(e − 8)·2^-b computed in float64 (exact) and rounded to float32, as the store's table is.
 * The 32 values go to this instance's scratch. When every code's value is a normal float32
 * (−120 <= b <= 119), codes are turned into their float32 bits directly (po2Bits4: sign, and
 * exponent e − 8 − b + 127; code 0: +0, 16: −0, as the table), 8 a turn from a 64-bit load where
 * the 8 codes start on a byte (their index a multiple of 8: 40 bits from byte 5·index/8), so no
 * turn waits on the one before (a shifted bit window, 4 a turn, cost 0.55 ns a value); the codes
 * before the first such group and after the last go through the window (po2ReadCodes).
 */
export function po2Read(words: usize, first: i32, rows: i32, stride: i32, cols: i32, b: i32, out: usize): void {
  const table = maskScratch;
  const scale = pow2(-b);
  for (let code = 0; code < 32; code++) {
    const e = code & 15;
    const mag = e == 0 ? 0 : pow2(e - 8) * scale;
    store<f32>(table + (<usize>code << 2), <f32>(code & 16 ? -mag : mag));
  }
  const vector = b >= -120 && b <= 119;
  const expBias = i32x4.splat(119 - b);
  // a group's 8-byte load ends within the word that holds the call's last code (a row's last
  // group may read the next row's bits, never past the last row's)
  const end = words + (<usize>((<u32>(first + (rows - 1) * stride + cols) * 5 + 31) >>> 5) << 2);
  for (let r = 0; r < rows; r++) {
    const o = out + (<usize>(r * cols) << 2);
    const start = first + r * stride;
    if (!vector) {
      po2ReadCodes(words, start, cols, table, o);
      continue;
    }
    const lead = min(cols, (8 - (start & 7)) & 7);
    po2ReadCodes(words, start, lead, table, o);
    let c = lead;
    let p = words + ((<usize>(start + c) * 5) >>> 3);
    for (; c + 8 <= cols && p + 8 <= end; c += 8, p += 5) {
      const bits = load<u64>(p);
      const q = o + (<usize>c << 2);
      v128.store(q, po2Bits4(i32x4.splat(<i32>bits), expBias));
      v128.store(q + 16, po2Bits4(i32x4.splat(<i32>(bits >> 20)), expBias));
    }
    po2ReadCodes(words, start + c, cols - c, table, o + (<usize>c << 2));
  }
}

/** The float32 bits of the 4 codes in bits 0 .. 19 of every lane (lane l's at 5l), as po2Read says. */
// @ts-ignore: decorator
@inline
function po2Bits4(lanes: v128, expBias: v128): v128 {
  // lane l's code moved to the top 5 bits (a multiply by 2^(27 − 5l)), then down
  const codes = i32x4.shr_u(i32x4.mul(lanes, i32x4(1 << 27, 1 << 22, 1 << 17, 1 << 12)), 27);
  const e = v128.and(codes, i32x4.splat(15));
  const sign = i32x4.shl(v128.and(codes, i32x4.splat(16)), 27);
  const mag = v128.andnot(i32x4.shl(i32x4.add(e, expBias), 23), i32x4.eq(e, i32x4.splat(0)));
  return v128.or(mag, sign);
}

/** n codes from code index `start` through a bit window refilled a word at a time (never past the last code's word), each looked up in the 32-value table. */
function po2ReadCodes(words: usize, start: i32, n: i32, table: usize, out: usize): void {
  if (n <= 0) return;
  const bit = <u32>start * 5;
  let wp = words + (<usize>(bit >>> 5) << 2);
  let acc: u64 = <u64>(load<u32>(wp) >>> (bit & 31));
  let nb = 32 - <i32>(bit & 31);
  wp += 4;
  for (let c = 0; c < n; c++, out += 4) {
    if (nb < 5) {
      acc |= <u64>load<u32>(wp) << <u64>nb;
      nb += 32;
      wp += 4;
    }
    store<f32>(out, load<f32>(table + (<usize>(<u32>acc & 31) << 2)));
    acc >>= 5;
    nb -= 5;
  }
}

/**
 * Power-of-two codes (src/storage/po2.ts) of src[0 .. n) under scale 2^b, packed 5 bits each into
 * words from code index `base` on: the same codes as po2CodeOfScaled + po2Put. Where the scale is
 * a plain power of two 2^b with −100 <= b <= 118 and base a multiple of 4, 32 codes (5 whole
 * words) a turn from the first code whose bits start a word (po2CodesInRange, pack16Codes: 2.6x
 * the speed of 4 a turn, 1.15 -> 0.44 ns a value with the range); else four a time from the float
 * bits (po2Codes4) where no value is subnormal, else po2Code, the packed bits gathered in a 64-bit
 * register. Each word is written once (the first and last merged with their neighbours' bits).
 */
export function po2Write(src: usize, n: i32, words: usize, base: i32, scale: f64): void {
  po2WriteWith(src, n, words, base, scale, false);
}

/**
 * po2Write that also returns max |src[k]| and leaves the smallest non-zero one in absMinNonzero,
 * as absRange would (NaN ignored, decided on the bits), from the same pass over the values.
 */
export function po2WriteRange(src: usize, n: i32, words: usize, base: i32, scale: f64): f32 {
  return po2WriteWith(src, n, words, base, scale, true);
}

/**
 * A thread's slice of po2Write (range = 0) or po2WriteRange (range = 1): the slice's max |src[k]|
 * and smallest non-zero one to this instance's kernel scratch (2 float32s at its start), where the
 * caller reads every thread's. Slices start and end at codes whose bits start a word (the code
 * index a multiple of 32), except the call's own first and last, so no word is written twice.
 */
export function po2WriteSlice(src: usize, n: i32, words: usize, base: i32, scale: f64, range: i32): void {
  const max = range ? po2WriteWith(src, n, words, base, scale, true) : po2WriteWith(src, n, words, base, scale, false);
  store<f32>(maskScratch, max);
  store<f32>(maskScratch + 4, absMinNonzero);
}

/**
 * The codes of 4 float32 values under scale 2^b for −100 <= b <= 118, in fewer steps than
 * po2Codes4: adding 0x800000 − 0x3504f4 to |v|'s bits carries into the exponent exactly when the
 * mantissa reaches √2's, so one shift gives round(log2 |v|) + 127. In that range of b a zero or a
 * subnormal lands at e <= −8 (code 0), an infinity at e >= 28 (the top code); NaN is masked to 0.
 */
// @ts-ignore: decorator
@inline
function po2CodesInRange(x: v128, bias: v128): v128 {
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  const e = i32x4.add(i32x4.shr_u(i32x4.add(a, i32x4.splat(0x800000 - 0x3504f4)), 23), bias);
  const code = v128.or(i32x4.add(i32x4.min_s(e, i32x4.splat(7)), i32x4.splat(8)), v128.and(i32x4.shr_u(x, 27), i32x4.splat(16)));
  return v128.and(code, v128.andnot(i32x4.gt_s(e, i32x4.splat(-8)), i32x4.gt_s(a, i32x4.splat(0x7f800000))));
}

/**
 * 4 vectors of codes (16 codes < 32) packed to 20 bits a lane (lane l: codes 4l .. 4l + 3, the
 * first lowest): two pairwise multiply-adds of narrowed lanes (c + 32·c', then p + 1024·p').
 */
// @ts-ignore: decorator
@inline
function pack16Codes(c0: v128, c1: v128, c2: v128, c3: v128): v128 {
  const five = i16x8(1, 32, 1, 32, 1, 32, 1, 32);
  const ten = i16x8(1, 1024, 1, 1024, 1, 1024, 1, 1024);
  const lo = i32x4.dot_i16x8_s(i16x8.narrow_i32x4_u(c0, c1), five);
  const hi = i32x4.dot_i16x8_s(i16x8.narrow_i32x4_u(c2, c3), five);
  return i32x4.dot_i16x8_s(i16x8.narrow_i32x4_u(lo, hi), ten);
}

/**
 * |x| on the bits with NaN as 0, for a range: non-negative float32 bit patterns order as unsigned
 * integers, so max_u gives the largest, and min_u of |x| − 1 the smallest non-zero (0 − 1 wraps to
 * the largest unsigned value and never wins).
 */
// @ts-ignore: decorator
@inline
function absNumber(x: v128): v128 {
  const a = v128.and(x, i32x4.splat(0x7fffffff));
  return v128.andnot(a, i32x4.gt_s(a, i32x4.splat(0x7f800000)));
}

// @ts-ignore: decorator
@inline
function po2WriteWith(src: usize, n: i32, words: usize, base: i32, scale: f64, range: bool): f32 {
  const sBits = reinterpret<u64>(scale);
  const sExp = <i32>((sBits >>> 52) & 0x7ff);
  // b from the scale's exponent, when the scale is exactly 2^b with b far from the f64 limits
  const vector = (sBits & 0xfffffffffffff) == 0 && sExp > 200 && sExp < 1846;
  const b = sExp - 1023;
  const bit = base * 5;
  let wp = words + (<usize>(bit >>> 5) << 2);
  let nb = bit & 31;
  let acc: u64 = nb ? <u64>(load<u32>(wp) & ((<u32>1 << nb) - 1)) : 0;
  const weights = i32x4(1, 32, 1024, 32768);
  // the range (absRange's): non-negative float32 bit patterns order as integers
  let hi = i32x4.splat(0);
  let loLess = i32x4.splat(0x7f800000 - 1);
  // 32 codes (5 whole words) a turn from the first code whose bits start a word, where the codes
  // of this b need no special cases (po2CodesInRange); 4 at a time before that and after
  const blocks = vector && b >= -100 && b <= 118 && (base & 3) == 0;
  const bias = i32x4.splat(b - 127);
  let end = blocks ? min(n & ~3, (32 - (base & 31)) & 31) : n;
  let k = 0;
  if (vector)
    while (true) {
      for (; k + 4 <= end; k += 4) {
        const p = src + (<usize>k << 2);
        const x = v128.load(p);
        if (range) {
          const a = absNumber(x);
          hi = i32x4.max_u(hi, a);
          loLess = i32x4.min_u(loLess, i32x4.sub(a, i32x4.splat(1)));
        }
        let packed: u32;
        const subnormal = v128.andnot(i32x4.eq(v128.and(x, i32x4.splat(0x7f800000)), i32x4.splat(0)), i32x4.eq(v128.and(x, i32x4.splat(0x7fffff)), i32x4.splat(0)));
        if (v128.any_true(subnormal))
          packed = po2Code(load<f32>(p), scale) | (po2Code(load<f32>(p + 4), scale) << 5) | (po2Code(load<f32>(p + 8), scale) << 10) | (po2Code(load<f32>(p + 12), scale) << 15);
        else {
          let c = i32x4.mul(po2Codes4(x, b), weights);
          c = i32x4.add(c, v128.shuffle<i32>(c, c, 2, 3, 0, 1));
          c = i32x4.add(c, v128.shuffle<i32>(c, c, 1, 0, 3, 2));
          packed = <u32>i32x4.extract_lane(c, 0);
        }
        acc |= <u64>packed << nb;
        nb += 20;
        if (nb >= 32) {
          store<u32>(wp, <u32>acc);
          wp += 4;
          acc >>= 32;
          nb -= 32;
        }
      }
      if (end == n) break;
      end = n;
      // here nb == 0 (the head ended at a word's first bit) unless n ran out first
      for (; k + 32 <= n; k += 32) {
        const p = src + (<usize>k << 2);
        const x0 = v128.load(p);
        const x1 = v128.load(p, 16);
        const x2 = v128.load(p, 32);
        const x3 = v128.load(p, 48);
        const x4 = v128.load(p, 64);
        const x5 = v128.load(p, 80);
        const x6 = v128.load(p, 96);
        const x7 = v128.load(p, 112);
        if (range) {
          const a0 = absNumber(x0), a1 = absNumber(x1), a2 = absNumber(x2), a3 = absNumber(x3);
          const a4 = absNumber(x4), a5 = absNumber(x5), a6 = absNumber(x6), a7 = absNumber(x7);
          const one = i32x4.splat(1);
          const top = i32x4.max_u(i32x4.max_u(i32x4.max_u(a0, a1), i32x4.max_u(a2, a3)), i32x4.max_u(i32x4.max_u(a4, a5), i32x4.max_u(a6, a7)));
          const low01 = i32x4.min_u(i32x4.sub(a0, one), i32x4.sub(a1, one));
          const low23 = i32x4.min_u(i32x4.sub(a2, one), i32x4.sub(a3, one));
          const low45 = i32x4.min_u(i32x4.sub(a4, one), i32x4.sub(a5, one));
          const low67 = i32x4.min_u(i32x4.sub(a6, one), i32x4.sub(a7, one));
          hi = i32x4.max_u(hi, top);
          loLess = i32x4.min_u(loLess, i32x4.min_u(i32x4.min_u(low01, low23), i32x4.min_u(low45, low67)));
        }
        const qa = pack16Codes(po2CodesInRange(x0, bias), po2CodesInRange(x1, bias), po2CodesInRange(x2, bias), po2CodesInRange(x3, bias));
        const qb = pack16Codes(po2CodesInRange(x4, bias), po2CodesInRange(x5, bias), po2CodesInRange(x6, bias), po2CodesInRange(x7, bias));
        // 8 lanes of 20 bits, 160 bits: two 64-bit words and a 32-bit one
        const a0 = <u64><u32>i32x4.extract_lane(qa, 0);
        const a1 = <u64><u32>i32x4.extract_lane(qa, 1);
        const a2 = <u64><u32>i32x4.extract_lane(qa, 2);
        const a3 = <u64><u32>i32x4.extract_lane(qa, 3);
        const b0 = <u64><u32>i32x4.extract_lane(qb, 0);
        const b1 = <u64><u32>i32x4.extract_lane(qb, 1);
        const b2 = <u32>i32x4.extract_lane(qb, 2);
        const b3 = <u32>i32x4.extract_lane(qb, 3);
        store<u64>(wp, a0 | (a1 << 20) | (a2 << 40) | (a3 << 60));
        store<u64>(wp, (a3 >> 4) | (b0 << 16) | (b1 << 36) | (<u64>b2 << 56), 8);
        store<u32>(wp, (b2 >> 8) | (b3 << 12), 16);
        wp += 20;
      }
    }
  let best: u32 = 0;
  let least: u32 = 0x7f800000;
  for (; k < n; k++) {
    const v = load<f32>(src + (<usize>k << 2));
    if (range) {
      const a = reinterpret<u32>(v) & 0x7fffffff;
      if (a <= 0x7f800000) {
        if (a > best) best = a;
        if (a != 0 && a < least) least = a;
      }
    }
    acc |= <u64>po2Code(v, scale) << nb;
    nb += 5;
    if (nb >= 32) {
      store<u32>(wp, <u32>acc);
      wp += 4;
      acc >>= 32;
      nb -= 32;
    }
  }
  if (nb > 0) store<u32>(wp, (load<u32>(wp) & ~((<u32>1 << nb) - 1)) | <u32>acc);
  if (!range) return 0;
  for (let l = 0; l < 4; l++) {
    const h = <u32>i32x4.extract_lane(hi, 0);
    const w = <u32>i32x4.extract_lane(loLess, 0) + 1;
    if (h > best) best = h;
    if (w < least) least = w;
    hi = i8x16.shuffle(hi, hi, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3);
    loLess = i8x16.shuffle(loLess, loLess, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3);
  }
  absMinNonzero = reinterpret<f32>(least);
  return reinterpret<f32>(best);
}

// ---- batch norm, in JavaScript's arithmetic: f64 lanes, rounded to float32 where JS stores ----

/** 2 consecutive float32 values as f64x2. */
// @ts-ignore: decorator
@inline
function load2(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p));
}

// @ts-ignore: decorator
@inline
function store2(p: usize, v: v128): void {
  v128.store64_lane(p, f32x4.demote_f64x2_zero(v), 0);
}

/** y (rows × C) += b on every row, 4 channels a turn (a float32 sum, as JavaScript's rounded to float32). */
export function addRowBias(y: usize, rows: i32, C: i32, b: usize): void {
  const C4 = C & ~3;
  for (let r = 0; r < rows; r++) {
    const row = y + (<usize>(r * C) << 2);
    let c = 0;
    for (; c < C4; c += 4) {
      const p = row + (<usize>c << 2);
      v128.store(p, f32x4.add(v128.load(p), v128.load(b + (<usize>c << 2))));
    }
    for (; c < C; c++) {
      const p = row + (<usize>c << 2);
      store<f32>(p, load<f32>(p) + load<f32>(b + (<usize>c << 2)));
    }
  }
}

/**
 * One (ghost) batch of batch norm, training: mean[c] and sigma[c] of y's rows (l2: the standard
 * deviation, else the mean absolute deviation, each + eps as in BatchNormLayer.forward), then
 * y[i, c] = (y[i, c] − mean[c]) / sigma[c] in place. Every value is what the TypeScript loop
 * computes: each f64 operation in its order, rounded to float32 where it stores. With xhat (not
 * 0), the last pass also stores x̂ there and leaves x̂ + beta[c] (a float32 sum, as addRowBias)
 * in y: the layer's copy of x̂ and its shift in the same pass instead of two more over memory.
 * With signs (not 0; xhat 0), it keeps x̂'s sign bits there instead (rows of ⌈C/32⌉ words, as
 * packSigns packs them; c0 a multiple of 32 so threads write their own words) and adds beta.
 * apply 0: the sums only, the last pass left to bnApplyRows.
 */
export function bnNormalize(
  y: usize, rows: i32, C: i32, l2: i32, mean: usize, sigma: usize, eps: f64, c0: i32, c1: i32, xhat: usize, beta: usize, signs: usize, apply: i32,
): void {
  // channels [c0, c1) only (c0 a multiple of 4), so threads can split them: each channel's sums
  // are its own. The two sums go over bands of rows that fit in L1, and within a band channel
  // block by channel block, each block's sums held in registers over the band's rows (a sum's
  // terms still in row order); the normalize goes row by row.
  memory.fill(mean + (<usize>c0 << 2), 0, <usize>(c1 - c0) << 2);
  memory.fill(sigma + (<usize>c0 << 2), 0, <usize>(c1 - c0) << 2);
  const n = <f64>rows;
  const rowBytes = <usize>C << 2;
  const band = max(1, 4096 / max(1, c1 - c0));
  const c4 = c0 + ((c1 - c0) & ~3);
  // Σ x: a float32 add of two float32 values rounds as JavaScript's float64 sum stored to float32
  for (let r0 = 0; r0 < rows; r0 += band) {
    const r1 = min(rows, r0 + band);
    let c = c0;
    for (; c + 16 <= c1; c += 16) {
      const m = mean + (<usize>c << 2);
      let s0 = v128.load(m), s1 = v128.load(m, 16), s2 = v128.load(m, 32), s3 = v128.load(m, 48);
      for (let i = r0, p = y + <usize>r0 * rowBytes + (<usize>c << 2); i < r1; i++, p += rowBytes) {
        s0 = f32x4.add(s0, v128.load(p));
        s1 = f32x4.add(s1, v128.load(p, 16));
        s2 = f32x4.add(s2, v128.load(p, 32));
        s3 = f32x4.add(s3, v128.load(p, 48));
      }
      v128.store(m, s0);
      v128.store(m, s1, 16);
      v128.store(m, s2, 32);
      v128.store(m, s3, 48);
    }
    for (; c < c4; c += 4) {
      const m = mean + (<usize>c << 2);
      let s0 = v128.load(m);
      for (let i = r0, p = y + <usize>r0 * rowBytes + (<usize>c << 2); i < r1; i++, p += rowBytes) s0 = f32x4.add(s0, v128.load(p));
      v128.store(m, s0);
    }
    for (; c < c1; c++) {
      const m = mean + (<usize>c << 2);
      let s0 = load<f32>(m);
      for (let i = r0, p = y + <usize>r0 * rowBytes + (<usize>c << 2); i < r1; i++, p += rowBytes) s0 += load<f32>(p);
      store<f32>(m, s0);
    }
  }
  for (let c = c0; c < c1; c++) store<f32>(mean + (<usize>c << 2), <f32>(<f64>load<f32>(mean + (<usize>c << 2)) / n));
  // Σ (x − mean)² or |x − mean| in float64, each sum rounded to float32 as it is stored
  for (let r0 = 0; r0 < rows; r0 += band) {
    const r1 = min(rows, r0 + band);
    let c = c0;
    for (; c + 8 <= c1; c += 8) {
      const m = mean + (<usize>c << 2);
      const sg = sigma + (<usize>c << 2);
      const m0 = load2(m), m1 = load2(m + 8), m2 = load2(m + 16), m3 = load2(m + 24);
      let s0 = load2(sg), s1 = load2(sg + 8), s2 = load2(sg + 16), s3 = load2(sg + 24);
      for (let i = r0, p = y + <usize>r0 * rowBytes + (<usize>c << 2); i < r1; i++, p += rowBytes) {
        const xa = v128.load(p);
        const xb = v128.load(p, 16);
        s0 = bnDeviationSum(s0, f64x2.sub(f64x2.promote_low_f32x4(xa), m0), l2);
        s1 = bnDeviationSum(s1, f64x2.sub(f64x2.promote_low_f32x4(high2(xa)), m1), l2);
        s2 = bnDeviationSum(s2, f64x2.sub(f64x2.promote_low_f32x4(xb), m2), l2);
        s3 = bnDeviationSum(s3, f64x2.sub(f64x2.promote_low_f32x4(high2(xb)), m3), l2);
      }
      store2(sg, s0);
      store2(sg + 8, s1);
      store2(sg + 16, s2);
      store2(sg + 24, s3);
    }
    for (; c < c1; c++) {
      const mc = <f64>load<f32>(mean + (<usize>c << 2));
      const sg = sigma + (<usize>c << 2);
      let s0 = load<f32>(sg);
      for (let i = r0, p = y + <usize>r0 * rowBytes + (<usize>c << 2); i < r1; i++, p += rowBytes) {
        const d = <f64>load<f32>(p) - mc;
        s0 = <f32>(<f64>s0 + (l2 ? d * d : abs<f64>(d)));
      }
      store<f32>(sg, s0);
    }
  }
  for (let c = c0; c < c1; c++) {
    const s = <f64>load<f32>(sigma + (<usize>c << 2)) / n + eps;
    store<f32>(sigma + (<usize>c << 2), <f32>(l2 ? sqrt<f64>(s) : s));
  }
  if (apply) bnApply(y, C, mean, sigma, c0, c1, xhat, beta, signs, 0, rows);
}

/**
 * bnNormalize's last pass with x̂ or its sign bits after its sums (apply 0), for rows [r0, r1) and
 * all channels (mean and sigma as it left them): threads then take rows. Split by channels, the
 * threads' sign words would share cache lines (8 rows of 64 channels a line), each thread would
 * write parts of every row of x̂ and y, and by rows each reads the examples the layer before
 * wrote on it.
 */
export function bnApplyRows(y: usize, C: i32, mean: usize, sigma: usize, xhat: usize, beta: usize, signs: usize, r0: i32, r1: i32): void {
  bnApply(y, C, mean, sigma, 0, C, xhat, beta, signs, r0, r1);
}

/**
 * (x − mean) / sigma in float64, rounded to float32, for channels [c0, c1) of rows [r0, r1); with
 * xhat, x̂ kept there and x̂ + beta (a float32 sum) left in y; with signs, x̂'s sign bits kept and
 * x̂ + beta left. Row by row (whole cache lines written in order: this pass is bound by memory),
 * mean and sigma as float64 in this instance's scratch (up to 4096 channels; past that one
 * channel at a time).
 */
// @ts-ignore: decorator
@inline
function bnApply(y: usize, C: i32, mean: usize, sigma: usize, c0: i32, c1: i32, xhat: usize, beta: usize, signs: usize, r0: i32, r1: i32): void {
  const rowBytes = <usize>C << 2;
  const c4 = c0 + ((c1 - c0) & ~3);
  const m64 = maskScratch;
  const s64 = maskScratch + (<usize>C << 3);
  const vectorEnd = maskScratch != 0 && C <= MASK_SCRATCH_BYTES >> 4 ? c4 : c0;
  for (let c = c0; c < vectorEnd; c++) {
    store<f64>(m64 + (<usize>c << 3), <f64>load<f32>(mean + (<usize>c << 2)));
    store<f64>(s64 + (<usize>c << 3), <f64>load<f32>(sigma + (<usize>c << 2)));
  }
  const wpr = (C + 31) >>> 5;
  for (let i = r0; i < r1; i++) {
    const row = <usize>i * rowBytes;
    const bits = signs + (<usize>(i * wpr) << 2);
    let word: u32 = 0;
    let c = c0;
    for (; c < vectorEnd; c += 4) {
      const at = row + (<usize>c << 2);
      const x = v128.load(y + at);
      const m = m64 + (<usize>c << 3);
      const d = s64 + (<usize>c << 3);
      const lo = f32x4.demote_f64x2_zero(f64x2.div(f64x2.sub(f64x2.promote_low_f32x4(x), v128.load(m)), v128.load(d)));
      const hi = f32x4.demote_f64x2_zero(f64x2.div(f64x2.sub(f64x2.promote_low_f32x4(high2(x)), v128.load(m, 16)), v128.load(d, 16)));
      const q = v128.shuffle<i32>(lo, hi, 0, 1, 4, 5);
      if (xhat) {
        v128.store(xhat + at, q);
        v128.store(y + at, f32x4.add(q, v128.load(beta + (<usize>c << 2))));
      } else if (signs) {
        // 4 signs into the word of 32 channels, stored when it is whole or the range ends
        word |= (<u32>i32x4.bitmask(nonNegative4(q))) << (<u32>c & 31);
        if ((c & 31) == 28 || c + 4 >= vectorEnd) {
          store<u32>(bits + (<usize>(c >>> 5) << 2), word);
          word = 0;
        }
        v128.store(y + at, f32x4.add(q, v128.load(beta + (<usize>c << 2))));
      } else v128.store(y + at, q);
    }
    for (; c < c1; c++) {
      const at = row + (<usize>c << 2);
      const x = <f32>((<f64>load<f32>(y + at) - <f64>load<f32>(mean + (<usize>c << 2))) / <f64>load<f32>(sigma + (<usize>c << 2)));
      if (xhat) {
        store<f32>(xhat + at, x);
        store<f32>(y + at, x + load<f32>(beta + (<usize>c << 2)));
      } else if (signs) {
        // the word of channel c as written so far (the vector part of this row wrote its lower bits)
        const w = bits + (<usize>(c >>> 5) << 2);
        const low = (c & 31) == 0 ? 0 : load<u32>(w) & ((<u32>1 << (<u32>c & 31)) - 1);
        store<u32>(w, low | ((<u32>i32x4.extract_lane(nonNegative4(f32x4.splat(x)), 0) & 1) << (<u32>c & 31)));
        store<f32>(y + at, x + load<f32>(beta + (<usize>c << 2)));
      } else store<f32>(y + at, x);
    }
  }
}

/** A float32 deviation sum (two float64 lanes, float32 values) plus d·d (l2) or |d|, rounded to float32 as the layer stores it. */
// @ts-ignore: decorator
@inline
function bnDeviationSum(s: v128, d: v128, l2: i32): v128 {
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.add(s, l2 ? f64x2.mul(d, d) : f64x2.abs(d))));
}

/** x̂ of element c of row i: from float32 x̂ (xhBits = 0) or from packed sign bits (±1). */
// @ts-ignore: decorator
@inline
function xhatAt(xh: usize, xhBits: i32, wpr: i32, i: i32, C: i32, c: i32): f64 {
  if (xhBits) return (load<u32>(xh + (<usize>(i * wpr + (c >>> 5)) << 2)) >>> (c & 31)) & 1 ? 1.0 : -1.0;
  return <f64>load<f32>(xh + (<usize>(i * C + c) << 2));
}

/**
 * Batch-norm backward, first pass over rows row0 .. row0 + rows (dy holds them from its row 0):
 * per ghost batch g of G rows, at stats[3C·g ..]: Σ dy, Σ dy·x̂ and, for the exact l1 form, Σ sign x̂,
 * each added in JavaScript's arithmetic (BatchNormLayer.backward is the reference), for channels
 * [c0, c1) (threads split them: each channel's sums are its own). Each sum adds its rows in order;
 * the rows go in bands that stay in L1 while blocks of 16 channels (then 4, then single ones) run
 * over them with their sums held in registers (was: every sum loaded and stored again each row).
 */
export function bnBackStats(dy: usize, xh: usize, xhBits: i32, rows: i32, C: i32, row0: i32, G: i32, stats: usize, l1Exact: i32, c0: i32, c1: i32): void {
  const band = max(1, 4096 / max(1, c1 - c0));
  const c16 = c0 + ((c1 - c0) & ~15);
  const c4 = c0 + ((c1 - c0) & ~3);
  for (let r0 = 0; r0 < rows; ) {
    // a band: rows of one ghost batch only (each batch has its own sums)
    const group = (row0 + r0) / G;
    const r1 = min(min(rows, r0 + band), (group + 1) * G - row0);
    const o = stats + (<usize>(3 * C * group) << 2);
    let c = c0;
    for (; c < c16; c += 16) bnStatsBlock(dy, xh, xhBits, C, row0, r0, r1, o, l1Exact, c, 4);
    for (; c < c4; c += 4) bnStatsBlock(dy, xh, xhBits, C, row0, r0, r1, o, l1Exact, c, 1);
    const wpr = (C + 31) >>> 5;
    for (; c < c1; c++) {
      const p0 = o + (<usize>c << 2);
      const p1 = o + (<usize>(C + c) << 2);
      const p2 = o + (<usize>(2 * C + c) << 2);
      for (let r = r0; r < r1; r++) {
        const g = <f64>load<f32>(dy + (<usize>(r * C + c) << 2));
        const x = xhatAt(xh, xhBits, wpr, row0 + r, C, c);
        store<f32>(p0, <f32>(<f64>load<f32>(p0) + g));
        store<f32>(p1, <f32>(<f64>load<f32>(p1) + g * x));
        if (l1Exact) store<f32>(p2, <f32>(<f64>load<f32>(p2) + (x >= 0 ? 1.0 : -1.0)));
      }
    }
    r0 = r1;
  }
}

/**
 * bnBackStats for channels c .. c + 4·vectors (vectors 4 or 1) over rows [r0, r1) of one ghost
 * batch (sums at o): the sums in registers over the rows, 4 channels a vector, each channel's in
 * the reference's order: a float32 sum of two float32 values rounded once equals JavaScript's
 * float64 sum stored to float32, and g·(±1) is exact; a float x̂'s product g·x̂ is exact in
 * float64 pairs, added there as the reference does.
 */
// @ts-ignore: decorator
@inline
function bnStatsBlock(dy: usize, xh: usize, xhBits: i32, C: i32, row0: i32, r0: i32, r1: i32, o: usize, l1Exact: i32, c: i32, vectors: i32): void {
  const wpr = (C + 31) >>> 5;
  const p0 = o + (<usize>c << 2);
  const p1 = p0 + (<usize>C << 2);
  const p2 = p1 + (<usize>C << 2);
  let a0 = v128.load(p0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let b0 = v128.load(p1), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
  let e0 = i32x4.splat(0), e1 = i32x4.splat(0), e2 = i32x4.splat(0), e3 = i32x4.splat(0);
  if (vectors == 4) {
    a1 = v128.load(p0, 16);
    a2 = v128.load(p0, 32);
    a3 = v128.load(p0, 48);
    b1 = v128.load(p1, 16);
    b2 = v128.load(p1, 32);
    b3 = v128.load(p1, 48);
  }
  if (l1Exact) {
    e0 = v128.load(p2);
    if (vectors == 4) {
      e1 = v128.load(p2, 16);
      e2 = v128.load(p2, 32);
      e3 = v128.load(p2, 48);
    }
  }
  // the 4 vectors written out, each accumulator by its own name: a loop over them with an index
  // would leave AssemblyScript to branch on it every row instead of keeping the sums in registers
  if (vectors == 4)
    for (let r = r0; r < r1; r++) {
      const i = row0 + r;
      const row = dy + (<usize>(r * C + c) << 2);
      let g = v128.load(row);
      let x = bnXhat4(xh, xhBits, wpr, i, C, c);
      a0 = f32x4.add(a0, g);
      b0 = bnProductSum(b0, g, x, xhBits);
      if (l1Exact) e0 = bnSignSum(e0, x);
      g = v128.load(row, 16);
      x = bnXhat4(xh, xhBits, wpr, i, C, c + 4);
      a1 = f32x4.add(a1, g);
      b1 = bnProductSum(b1, g, x, xhBits);
      if (l1Exact) e1 = bnSignSum(e1, x);
      g = v128.load(row, 32);
      x = bnXhat4(xh, xhBits, wpr, i, C, c + 8);
      a2 = f32x4.add(a2, g);
      b2 = bnProductSum(b2, g, x, xhBits);
      if (l1Exact) e2 = bnSignSum(e2, x);
      g = v128.load(row, 48);
      x = bnXhat4(xh, xhBits, wpr, i, C, c + 12);
      a3 = f32x4.add(a3, g);
      b3 = bnProductSum(b3, g, x, xhBits);
      if (l1Exact) e3 = bnSignSum(e3, x);
    }
  else
    for (let r = r0; r < r1; r++) {
      const g = v128.load(dy + (<usize>(r * C + c) << 2));
      const x = bnXhat4(xh, xhBits, wpr, row0 + r, C, c);
      a0 = f32x4.add(a0, g);
      b0 = bnProductSum(b0, g, x, xhBits);
      if (l1Exact) e0 = bnSignSum(e0, x);
    }
  v128.store(p0, a0);
  v128.store(p1, b0);
  if (l1Exact) v128.store(p2, e0);
  if (vectors == 4) {
    v128.store(p0, a1, 16);
    v128.store(p0, a2, 32);
    v128.store(p0, a3, 48);
    v128.store(p1, b1, 16);
    v128.store(p1, b2, 32);
    v128.store(p1, b3, 48);
    if (l1Exact) {
      v128.store(p2, e1, 16);
      v128.store(p2, e2, 32);
      v128.store(p2, e3, 48);
    }
  }
}

/** x̂ of channels c..c+3 of row i: float32 x̂ (xhBits = 0) or ±1 from packed sign bits. */
// @ts-ignore: decorator
@inline
function bnXhat4(xh: usize, xhBits: i32, wpr: i32, i: i32, C: i32, c: i32): v128 {
  if (xhBits) return v128.bitselect(f32x4.splat(1), f32x4.splat(-1), bitLanes4(xh, i * wpr, c));
  return v128.load(xh + (<usize>(i * C + c) << 2));
}

/**
 * s + g·x per lane, each sum rounded to float32 as the reference stores it: for ±1 (xhBits) g with
 * x's sign (exact), else the product exact in float64 pairs and added there.
 */
// @ts-ignore: decorator
@inline
function bnProductSum(s: v128, g: v128, x: v128, xhBits: i32): v128 {
  if (xhBits) return f32x4.add(s, v128.xor(g, v128.and(x, f32x4.splat(-0.0))));
  const lo = f64x2.add(f64x2.promote_low_f32x4(s), f64x2.mul(f64x2.promote_low_f32x4(g), f64x2.promote_low_f32x4(x)));
  const hi = f64x2.add(f64x2.promote_low_f32x4(high2(s)), f64x2.mul(f64x2.promote_low_f32x4(high2(g)), f64x2.promote_low_f32x4(high2(x))));
  return v128.shuffle<i32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/** e + sign x̂ per lane (±1; x̂ >= 0, −0 included, counts +1). */
// @ts-ignore: decorator
@inline
function bnSignSum(e: v128, x: v128): v128 {
  return f32x4.add(e, v128.bitselect(f32x4.splat(1), f32x4.splat(-1), nonNegative4(x)));
}

/** Lanes of channels c..c+3 of a packed sign row (word offset w0): all ones where the bit is set. */
// @ts-ignore: decorator
@inline
function bitLanes4(bits: usize, w0: i32, c: i32): v128 {
  const nibble = (load<u32>(bits + (<usize>(w0 + (c >>> 5)) << 2)) >>> (<u32>c & 31)) & 15;
  return i32x4.ne(v128.and(i32x4.splat(nibble), i32x4(1, 2, 4, 8)), i32x4.splat(0));
}

/** Lanes 2 and 3 of x moved to lanes 0 and 1 (for promote_low). */
// @ts-ignore: decorator
@inline
function high2(x: v128): v128 {
  return v128.shuffle<i32>(x, x, 2, 3, 0, 1);
}

/**
 * Batch-norm backward, second pass: out (rows row0 ..) holds dy and becomes dx, with the group
 * means in stats and sigma per group: (g − mean g − x̂·mean(g·x̂)) / σ, or for the exact l1 form
 * (g − mean g − mean(g·x̂)·(sign x̂ − mean sign x̂)) / σ, in JavaScript's order of operations
 * (float64 pairs, 4 channels a turn).
 */
export function bnBackDx(out: usize, xh: usize, xhBits: i32, rows: i32, C: i32, row0: i32, G: i32, stats: usize, sigma: usize, l1Exact: i32): void {
  const wpr = (C + 31) >>> 5;
  const C4 = C & ~3;
  const one = f32x4.splat(1);
  for (let r = 0; r < rows; r++) {
    const i = row0 + r;
    const g0 = i / G;
    const o = stats + (<usize>(3 * C * g0) << 2);
    const so = sigma + (<usize>(C * g0) << 2);
    let c = 0;
    for (; c < C4; c += 4) {
      const p = out + (<usize>(r * C + c) << 2);
      const g = v128.load(p);
      const x = xhBits ? v128.bitselect(one, f32x4.neg(one), bitLanes4(xh, i * wpr, c)) : v128.load(xh + (<usize>(i * C + c) << 2));
      const s = v128.load(so + (<usize>c << 2));
      const m0 = v128.load(o + (<usize>c << 2));
      const m1 = v128.load(o + (<usize>(C + c) << 2));
      let lo: v128, hi: v128;
      if (l1Exact) {
        const m2 = v128.load(o + (<usize>(2 * C + c) << 2));
        const sx = v128.bitselect(one, f32x4.neg(one), nonNegative4(x));
        lo = bnDxPairL1(g, m0, m1, m2, sx, s);
        hi = bnDxPairL1(high2(g), high2(m0), high2(m1), high2(m2), high2(sx), high2(s));
      } else {
        lo = bnDxPair(g, m0, m1, x, s);
        hi = bnDxPair(high2(g), high2(m0), high2(m1), high2(x), high2(s));
      }
      v128.store(p, v128.shuffle<i32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
    }
    for (; c < C; c++) {
      const p = out + (<usize>(r * C + c) << 2);
      const g = <f64>load<f32>(p);
      const x = xhatAt(xh, xhBits, wpr, i, C, c);
      const s = <f64>load<f32>(so + (<usize>c << 2));
      const m0 = <f64>load<f32>(o + (<usize>c << 2));
      const m1 = <f64>load<f32>(o + (<usize>(C + c) << 2));
      if (l1Exact) {
        const m2 = <f64>load<f32>(o + (<usize>(2 * C + c) << 2));
        store<f32>(p, <f32>((g - m0 - m1 * ((x >= 0 ? 1.0 : -1.0) - m2)) / s));
      } else store<f32>(p, <f32>((g - m0 - x * m1) / s));
    }
  }
}

/** (g − m0 − x·m1) / s on lanes 0 and 1 of each f32x4, in float64. */
// @ts-ignore: decorator
@inline
function bnDxPair(g: v128, m0: v128, m1: v128, x: v128, s: v128): v128 {
  const d = f64x2.sub(f64x2.sub(f64x2.promote_low_f32x4(g), f64x2.promote_low_f32x4(m0)), f64x2.mul(f64x2.promote_low_f32x4(x), f64x2.promote_low_f32x4(m1)));
  return f64x2.div(d, f64x2.promote_low_f32x4(s));
}

/** (g − m0 − m1·(sx − m2)) / s on lanes 0 and 1 of each f32x4, in float64. */
// @ts-ignore: decorator
@inline
function bnDxPairL1(g: v128, m0: v128, m1: v128, m2: v128, sx: v128, s: v128): v128 {
  const t = f64x2.mul(f64x2.promote_low_f32x4(m1), f64x2.sub(f64x2.promote_low_f32x4(sx), f64x2.promote_low_f32x4(m2)));
  return f64x2.div(f64x2.sub(f64x2.sub(f64x2.promote_low_f32x4(g), f64x2.promote_low_f32x4(m0)), t), f64x2.promote_low_f32x4(s));
}

/** out[k] = z[k] >= 0 ? 1 : -1 for k < n (NaN gives -1, -0 gives 1, as in JavaScript). */
export function signFloat(z: usize, n: i32, out: usize, keep: usize): void {
  const one = f32x4.splat(1);
  const minusOne = f32x4.splat(-1);
  let k = 0;
  // keep (not 0): z also copied there in the same pass (the float STE mask's z)
  if (keep)
    for (; k + 4 <= n; k += 4) {
      const v = v128.load(z + (<usize>k << 2));
      v128.store(keep + (<usize>k << 2), v);
      v128.store(out + (<usize>k << 2), v128.bitselect(one, minusOne, nonNegative4(v)));
    }
  else for (; k + 4 <= n; k += 4) v128.store(out + (<usize>k << 2), v128.bitselect(one, minusOne, nonNegative4(v128.load(z + (<usize>k << 2)))));
  for (; k < n; k++) {
    const v = load<f32>(z + (<usize>k << 2));
    if (keep) store<f32>(keep + (<usize>k << 2), v);
    store<f32>(out + (<usize>k << 2), v >= 0 ? 1 : -1);
  }
}

/** x[k] = 0 where |z[k]| > clip, k < n (the clipped straight-through estimator on kept z; NaN keeps x). */
export function clipZero(x: usize, z: usize, n: i32, clip: f32): void {
  const limit = f32x4.splat(clip);
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const p = x + (<usize>k << 2);
    v128.store(p, v128.andnot(v128.load(p), f32x4.gt(f32x4.abs(v128.load(z + (<usize>k << 2))), limit)));
  }
  for (; k < n; k++) if (abs<f32>(load<f32>(z + (<usize>k << 2))) > clip) store<f32>(x + (<usize>k << 2), 0);
}

/**
 * x[r, c] = 0 where |x̂[r, c] + β[c]| > clip (rows × C): the STE mask from batch norm's kept x̂, the
 * sum rounded to float32 as the normalizing pass rounded z = x̂ + β, so the mask is clipZero's on z.
 */
export function clipZeroShifted(x: usize, xhat: usize, beta: usize, rows: i32, C: i32, clip: f32): void {
  const limit = f32x4.splat(clip);
  for (let r = 0; r < rows; r++) {
    const row = <usize>(r * C) << 2;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const o = row + (<usize>c << 2);
      const z = f32x4.add(v128.load(xhat + o), v128.load(beta + (<usize>c << 2)));
      v128.store(x + o, v128.andnot(v128.load(x + o), f32x4.gt(f32x4.abs(z), limit)));
    }
    for (; c < C; c++) {
      const o = row + (<usize>c << 2);
      if (abs<f32>(load<f32>(xhat + o) + load<f32>(beta + (<usize>c << 2))) > clip) store<f32>(x + o, 0);
    }
  }
}

/** x[r, c] = 0 for r < rows, c < cols where bit c of mask row (row0 + r) is 0; other values untouched. */
export function applyMask(x: usize, rows: i32, cols: i32, mask: usize, row0: i32): void {
  const wpr = (cols + 31) >>> 5;
  const lanes = i32x4(1, 2, 4, 8);
  for (let r = 0; r < rows; r++) {
    const row = x + (<usize>(r * cols) << 2);
    const m = mask + (<usize>((row0 + r) * wpr) << 2);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const nibble = (load<u32>(m + (<usize>(c >>> 5) << 2)) >>> (c & 31)) & 15;
      const keep = i32x4.ne(v128.and(i32x4.splat(nibble), lanes), i32x4.splat(0));
      const p = row + (<usize>c << 2);
      v128.store(p, v128.and(v128.load(p), keep));
    }
    for (; c < cols; c++) if (((load<u32>(m + (<usize>(c >>> 5) << 2)) >>> (c & 31)) & 1) == 0) store<f32>(row + (<usize>c << 2), 0);
  }
}

/**
 * 8 float16 codes as a decode and an encode leave them (halfDecode, halfEncode): unchanged but
 * for infinities, which saturate to ±65504 (0x7bff), and NaNs, which become sign | 0x7e00.
 */
// @ts-ignore: decorator
@inline
function halfRoundTrip8(h: v128): v128 {
  const top = i16x8.eq(v128.and(h, i16x8.splat(0x7c00)), i16x8.splat(0x7c00));
  const nan = v128.and(top, i16x8.ne(v128.and(h, i16x8.splat(0x3ff)), i16x8.splat(0)));
  const special = v128.or(v128.and(h, i16x8.splat(-32768)), v128.bitselect(i16x8.splat(0x7e00), i16x8.splat(0x7bff), nan));
  return v128.bitselect(special, h, top);
}

/**
 * Rows [0, rows) of float16 codes (`cols` a row) with the STE mask applied in place, as
 * halfToFloat, applyMask (rows from mask row row0) and floatToHalf would leave them: 0 where the
 * mask bit is 0, else the code's round trip (halfRoundTrip8). 8 codes a turn, one mask byte.
 */
export function maskHalf(codes: usize, rows: i32, cols: i32, mask: usize, row0: i32): void {
  const wpr = (cols + 31) >>> 5;
  const lanes = i16x8(1, 2, 4, 8, 16, 32, 64, 128);
  for (let r = 0; r < rows; r++) {
    const row = codes + (<usize>(r * cols) << 1);
    const m = mask + (<usize>((row0 + r) * wpr) << 2);
    let c = 0;
    for (; c + 8 <= cols; c += 8) {
      const byte = (load<u32>(m + (<usize>(c >>> 5) << 2)) >>> (c & 31)) & 255;
      const keep = i16x8.ne(v128.and(i16x8.splat(<i16>byte), lanes), i16x8.splat(0));
      const p = row + (<usize>c << 1);
      v128.store(p, v128.and(halfRoundTrip8(v128.load(p)), keep));
    }
    for (; c < cols; c++) {
      const p = row + (<usize>c << 1);
      const keep = (load<u32>(m + (<usize>(c >>> 5) << 2)) >>> (c & 31)) & 1;
      store<u16>(p, keep ? <u16>i16x8.extract_lane_u(halfRoundTrip8(i16x8.splat(load<i16>(p))), 0) : 0);
    }
  }
}

// ---- MSQE of a power-of-two quantization (fixed-point weight quantizers) ----

/** Least-squares sums of the last msqeErr call: Σ m·w·q and Σ m·q². */
export let msqeNum: f64 = 0;
export let msqeDen: f64 = 0;

/**
 * Σ m·(w − s·q)², q = clip(round(w/s), lo, hi), s = 2^e, in float64 with JavaScript's rounding
 * (ties toward +∞) and summation order, so the result equals the TypeScript reference exactly.
 */
export function msqeErr(w: usize, m: usize, hasM: i32, n: i32, e: i32, lo: f64, hi: f64): f64 {
  const s: f64 = Math.pow(2, <f64>e);
  const inv: f64 = 1 / s;
  let err: f64 = 0;
  let num: f64 = 0;
  let den: f64 = 0;
  for (let i = 0; i < n; i++) {
    const wi = <f64>load<f32>(w + (<usize>i << 2));
    const x = wi * inv;
    const up = Math.ceil(x);
    let q = up - 0.5 > x ? up - 1 : up;
    q = q < lo ? lo : q > hi ? hi : q;
    const mi: f64 = hasM ? <f64>load<f32>(m + (<usize>i << 2)) : 1;
    const d = wi - q * s;
    err += mi * d * d;
    num += mi * wi * q;
    den += mi * q * q;
  }
  msqeNum = num;
  msqeDen = den;
  return err;
}

// ---- winsorized sums (gradients that suppress weak directions; src/optim/winsorize.ts) ----

/** Columns per block: their 2(c+1) slot rows stay in L1 while every example passes through. */
const WINSOR_BLOCK = 64;

/**
 * out[k] = Σ_i d[i]·x[i·n + k] with, per k, the c largest and the c smallest terms clipped to the
 * (c+1)-th. scratch: n sums, then (c+1)·n largest (slot 0 largest), then (c+1)·n smallest.
 * The extremes are kept by a branch-free insertion: the new term passes through the slots with
 * max/min, four columns at a time. Float32 throughout (the reference forms terms in float64).
 */
export function winsorSums(d: usize, x: usize, B: i32, n: i32, c: i32, scratch: usize, out: usize): void {
  const k1 = c + 1;
  const rowBytes = <usize>n << 2;
  const sum = scratch;
  const top = sum + rowBytes;
  const bot = top + <usize>k1 * rowBytes;
  memory.fill(sum, 0, rowBytes);
  for (let s = 0; s < k1 * n; s++) {
    store<f32>(top + (<usize>s << 2), -Infinity);
    store<f32>(bot + (<usize>s << 2), Infinity);
  }
  const lastTop = top + <usize>c * rowBytes;
  const lastBot = bot + <usize>c * rowBytes;
  const n4 = n & ~3;
  for (let k0 = 0; k0 < n4; k0 += WINSOR_BLOCK) {
    const kEnd = min(n4, k0 + WINSOR_BLOCK);
    for (let i = 0; i < B; i++) {
      const dv = v128.load32_splat(d + (<usize>i << 2));
      const xr = x + <usize>i * rowBytes;
      for (let k = k0; k < kEnd; k += 4) {
        const off = <usize>k << 2;
        const v = f32x4.mul(dv, v128.load(xr + off));
        v128.store(sum + off, f32x4.add(v128.load(sum + off), v));
        // most terms change neither list once it is full: test against the (c+1)-th first
        const beyond = v128.or(f32x4.gt(v, v128.load(lastTop + off)), f32x4.lt(v, v128.load(lastBot + off)));
        if (!v128.any_true(beyond)) continue;
        let hi = v;
        let lo = v;
        for (let r = 0; r < k1; r++) {
          const p = top + <usize>r * rowBytes + off;
          const q = bot + <usize>r * rowBytes + off;
          const tp = v128.load(p);
          const bq = v128.load(q);
          v128.store(p, f32x4.max(tp, hi));
          v128.store(q, f32x4.min(bq, lo));
          hi = f32x4.min(tp, hi);
          lo = f32x4.max(bq, lo);
        }
      }
    }
  }
  for (let i = 0; i < B; i++) {
    const di = load<f32>(d + (<usize>i << 2));
    const xr = x + <usize>i * rowBytes;
    for (let k = n4; k < n; k++) {
      const off = <usize>k << 2;
      const v: f32 = di * load<f32>(xr + off);
      store<f32>(sum + off, load<f32>(sum + off) + v);
      let hi = v;
      let lo = v;
      for (let r = 0; r < k1; r++) {
        const p = top + <usize>r * rowBytes + off;
        const q = bot + <usize>r * rowBytes + off;
        const tp = load<f32>(p);
        const bq = load<f32>(q);
        store<f32>(p, max(tp, hi));
        store<f32>(q, min(bq, lo));
        hi = min(tp, hi);
        lo = max(bq, lo);
      }
    }
  }
  for (let k = 0; k < n; k++) {
    const off = <usize>k << 2;
    let s = load<f32>(sum + off);
    const tc = load<f32>(lastTop + off);
    const bc = load<f32>(lastBot + off);
    for (let r = 0; r < c; r++) s += tc - load<f32>(top + <usize>r * rowBytes + off) + bc - load<f32>(bot + <usize>r * rowBytes + off);
    store<f32>(out + off, s);
  }
}

// ---- 8-bit slog blocks (src/storage/block8.ts) and Bop's momentum on them (src/optim/bop.ts) ----
// In JavaScript's arithmetic: f64 throughout, float32 where JavaScript stores into a Float32Array,
// Math.round as JavaScript rounds (halves up), and the log tables computed by V8 at build time.

/** 8·log2(a) for a > 0 (block8.ts log2x8). */
// @ts-ignore: decorator
@inline
function log2x8(a: f64): f64 {
  const hi = <u32>(reinterpret<u64>(a) >>> 32);
  return 8 * <f64>(<i32>((hi >>> 20) & 0x7ff) - 1023) + load<f64>(LOG_MANT + (<usize>((hi >>> 8) & 4095) << 3));
}

/** JavaScript's Math.round: the nearest integer, halves towards +∞. */
// @ts-ignore: decorator
@inline
function roundHalfUp(x: f64): f64 {
  const r = Math.ceil(x);
  return r - 0.5 > x ? r - 1 : r;
}

/** Value of slog code c in a block whose scale is max (decodeBlock8). */
// @ts-ignore: decorator
@inline
function slogValue(c: u32, max: f64): f64 {
  const mag = c & 127;
  const v = mag == 0 ? 0 : max * load<f64>(POW_SLOG + (<usize>mag << 3));
  return c & 128 ? -v : v;
}

/** Element i of a slog store as decodeBlock8 gives it. */
// @ts-ignore: decorator
@inline
function slogAt(raw: usize, scales: usize, i: i32): f64 {
  return slogValue(load<u8>(raw + <usize>i), <f64>load<f32>(scales + (<usize>(i >>> 8) << 2)));
}

/** 8·log2(a) for a float32 a > 0, from its own bits where it is normal (the same exponent and top 12 mantissa bits as the f64's). */
// @ts-ignore: decorator
@inline
function log2x8f(a: f32): f64 {
  const bits = reinterpret<u32>(a);
  const e = <i32>(bits >>> 23);
  if (e == 0) return log2x8(<f64>a);
  return 8 * <f64>(e - 127) + load<f64>(LOG_MANT + (<usize>((bits >>> 11) & 4095) << 3));
}

/**
 * A whole slog block from float32 values (encodeBlock8 when every value is written): the max of
 * |v| four lanes at a time (float32 max propagates NaN as Math.max does), then the codes.
 */
function slogEncodeFloats(codes: usize, scale: usize, src: usize, len: i32): void {
  let m4 = i32x4.splat(0);
  let k = 0;
  const absMask = slogConst(0);
  for (; k + 4 <= len; k += 4) m4 = maxAbsBits(m4, v128.load(src + (<usize>k << 2)), absMask);
  let m = maxLaneBits(m4);
  for (; k < len; k++) m = max<f32>(m, abs<f32>(load<f32>(src + (<usize>k << 2))));
  slogEncodeMaxed(codes, scale, src, len, m);
}

/**
 * The lanes' running max |v| as bit patterns: non-negative float32 bit patterns order as
 * integers, NaN above +Infinity, so a NaN wins as Math.max's does. One integer max where
 * f32x4.max is a NaN-propagating sequence of about 8 instructions on x64, and this is a chain
 * carried through the loop. absMask: 0x7fffffff in every lane (slogConst(0), loaded before the
 * loop).
 */
// @ts-ignore: decorator
@inline
function maxAbsBits(m4: v128, v: v128, absMask: v128): v128 {
  return i32x4.max_s(m4, v128.and(v, absMask));
}

/** The largest of maxAbsBits' 4 lanes as a float32 (Math.max's NaN where any lane is NaN). */
// @ts-ignore: decorator
@inline
function maxLaneBits(m4: v128): f32 {
  const m2 = i32x4.max_s(m4, v128.shuffle<i32>(m4, m4, 2, 3, 0, 1));
  const m = reinterpret<f32>(max(i32x4.extract_lane(m2, 0), i32x4.extract_lane(m2, 1)));
  return isNaN(m) ? NaN : m;
}

/** slogEncodeFloats with the block's max |v| (m) already found. */
function slogEncodeMaxed(codes: usize, scale: usize, src: usize, len: i32, m: f32): void {
  store<f32>(scale, m);
  if (m == 0 || !isFinite(m)) {
    memory.fill(codes, 0, <usize>len);
    return;
  }
  const logMax = log2x8f(m);
  const eMax = <i32>(reinterpret<u32>(m) >>> 23);
  // from a max of 2^-109 on (float32 exponent 18), a subnormal value is more than 16 octaves below
  // it, code 0, as counting steps from its float32 bits (exponent 0) also gives
  const k = eMax >= 18 ? slogCodesSteps(codes, src, len, m) : slogCodesExact(codes, src, len, logMax);
  slogCodesScalar(codes, src, k, len, logMax);
}

/**
 * The codes of a block's values 8 at a time (up to a multiple of 8; returns where it stopped),
 * by counting steps (SLOG_STEPS, tables.gen.mjs): code = 127 + 8·(e − eMax) + round(LOG_MANT[i]
 * − LOG_MANT[iMax]), the last term the max index's value at i = 0 plus the steps i is past. The
 * same integers as float64's logs give (the build checks that no difference is near a
 * half-integer), with no table lookup per value. m: the block's max (normal, float32 exponent
 * 18 or more, so a subnormal value, exponent 0, is far below code 1, as are zeros).
 */
function slogCodesSteps(codes: usize, src: usize, len: i32, m: f32): i32 {
  const mBits = reinterpret<u32>(m);
  const iMax = (mBits >>> 11) & 4095;
  const steps = v128.load(SLOG_STEPS + (<usize>iMax << 4));
  const s0 = v128.shuffle<i16>(steps, steps, 0, 0, 0, 0, 0, 0, 0, 0);
  const s1 = v128.shuffle<i16>(steps, steps, 1, 1, 1, 1, 1, 1, 1, 1);
  const s2 = v128.shuffle<i16>(steps, steps, 2, 2, 2, 2, 2, 2, 2, 2);
  const s3 = v128.shuffle<i16>(steps, steps, 3, 3, 3, 3, 3, 3, 3, 3);
  const s4 = v128.shuffle<i16>(steps, steps, 4, 4, 4, 4, 4, 4, 4, 4);
  const s5 = v128.shuffle<i16>(steps, steps, 5, 5, 5, 5, 5, 5, 5, 5);
  const s6 = v128.shuffle<i16>(steps, steps, 6, 6, 6, 6, 6, 6, 6, 6);
  const s7 = v128.shuffle<i16>(steps, steps, 7, 7, 7, 7, 7, 7, 7, 7);
  const base = i16x8.splat(<i16>(127 + <i32>load<i8>(SLOG_STEP0 + <usize>iMax) - 8 * <i32>(mBits >>> 23)));
  const mant12 = slogConst(7);
  const k255 = slogConst(8);
  const k256 = slogConst(9);
  const k1 = slogConst(10);
  let k = 0;
  for (; k + 8 <= len; k += 8) {
    const a = v128.load(src + (<usize>k << 2));
    const b = v128.load(src + (<usize>k << 2), 16);
    // the top 12 mantissa bits, and sign·256 + exponent, as int16 lanes
    const i = i16x8.narrow_i32x4_s(v128.and(i32x4.shr_u(a, 11), mant12), v128.and(i32x4.shr_u(b, 11), mant12));
    const se = i16x8.narrow_i32x4_s(i32x4.shr_u(a, 23), i32x4.shr_u(b, 23));
    // a compare is -1 where i is past a step: subtracting the sum of the 8 adds the steps
    const past = i16x8.add(
      i16x8.add(i16x8.add(i16x8.gt_s(i, s0), i16x8.gt_s(i, s1)), i16x8.add(i16x8.gt_s(i, s2), i16x8.gt_s(i, s3))),
      i16x8.add(i16x8.add(i16x8.gt_s(i, s4), i16x8.gt_s(i, s5)), i16x8.add(i16x8.gt_s(i, s6), i16x8.gt_s(i, s7))),
    );
    const c = i16x8.sub(i16x8.add(i16x8.shl(v128.and(se, k255), 3), base), past);
    const sign = i16x8.shr_u(v128.and(se, k256), 1);
    const code = v128.andnot(v128.or(c, sign), i16x8.lt_s(c, k1));
    v128.store64_lane(codes + <usize>k, i8x16.narrow_i16x8_u(code, code), 0);
  }
  return k;
}

/** The codes of a block's values 4 at a time as float64 computes them (returns where it stopped). */
function slogCodesExact(codes: usize, src: usize, len: i32, logMax: f64): i32 {
  let k = 0;
  for (; k + 4 <= len; k += 4) {
    const bits = v128.load(src + (<usize>k << 2));
    const magnitude = v128.and(bits, i32x4.splat(0x7fffffff));
    const e = i32x4.shr_u(magnitude, 23);
    // a subnormal float32 is normal as f64: its log needs the f64 path below
    if (v128.any_true(v128.andnot(i32x4.eq(e, i32x4.splat(0)), i32x4.eq(magnitude, i32x4.splat(0))))) {
      slogCodesScalar(codes, src, k, k + 4, logMax);
      continue;
    }
    // the top 12 mantissa bits as a byte offset into LOG_MANT
    const idx = v128.and(i32x4.shr_u(bits, 8), i32x4.splat(0x7ff8));
    const t0 = logMant2(i32x4.extract_lane(idx, 0), i32x4.extract_lane(idx, 1));
    const t1 = logMant2(i32x4.extract_lane(idx, 2), i32x4.extract_lane(idx, 3));
    // 8·(e − 127) in integers (exact, as the f64 product is)
    const e8 = i32x4.shl(i32x4.sub(e, i32x4.splat(127)), 3);
    const x0 = f64x2.sub(f64x2.add(f64x2.convert_low_i32x4_s(e8), t0), f64x2.splat(logMax));
    const x1 = f64x2.sub(f64x2.add(f64x2.convert_low_i32x4_s(v128.shuffle<i32>(e8, e8, 2, 3, 0, 1)), t1), f64x2.splat(logMax));
    slogStore4(codes + <usize>k, i32x4.add(roundHalfUp4(x0, x1), i32x4.splat(127)), bits, magnitude);
  }
  return k;
}

/** 4 slog codes from c = 127 + round(x) as bytes at p: 0 where c < 1 or the value is 0, else c and the sign bit. */
// @ts-ignore: decorator
@inline
function slogStore4(p: usize, c: v128, bits: v128, magnitude: v128): void {
  const none = v128.or(i32x4.lt_s(c, i32x4.splat(1)), i32x4.eq(magnitude, i32x4.splat(0)));
  const code = v128.andnot(v128.or(c, v128.and(i32x4.shr_u(bits, 24), i32x4.splat(128))), none);
  const b16 = i16x8.narrow_i32x4_u(code, code);
  v128.store32_lane(p, i8x16.narrow_i16x8_u(b16, b16), 0);
}

/** LOG_MANT at byte offsets a and b (index·8) as two lanes: one load each into its lane. */
// @ts-ignore: decorator
@inline
function logMant2(a: i32, b: i32): v128 {
  return v128.load64_lane(LOG_MANT + <usize>b, v128.load64_zero(LOG_MANT + <usize>a), 1);
}

/**
 * roundHalfUp of 4 f64 lanes (two vectors; whole results far below 2^31) as i32 lanes. Adding
 * 1.5·2^52 rounds to the nearest integer, ties to even, and leaves it in the low 32 bits; a tie
 * the even rounding took down (x − n = 0.5, exact: n is within 0.5 of x) goes up, as
 * Math.round's halves do.
 */
// @ts-ignore: decorator
@inline
function roundHalfUp4(x0: v128, x1: v128): v128 {
  const magic = f64x2.splat(6755399441055744.0);
  const y0 = f64x2.add(x0, magic);
  const y1 = f64x2.add(x1, magic);
  const half = f64x2.splat(0.5);
  const up0 = f64x2.eq(f64x2.sub(x0, f64x2.sub(y0, magic)), half);
  const up1 = f64x2.eq(f64x2.sub(x1, f64x2.sub(y1, magic)), half);
  // a tie's mask is -1 in its low 32 bits: subtracting it adds 1
  return i32x4.sub(v128.shuffle<i32>(y0, y1, 0, 2, 4, 6), v128.shuffle<i32>(up0, up1, 0, 2, 4, 6));
}

/** Codes of src[k0 .. k1) of a slog block whose 8·log2(max) is logMax, one at a time. */
function slogCodesScalar(codes: usize, src: usize, k0: i32, k1: i32, logMax: f64): void {
  for (let k = k0; k < k1; k++) {
    const v = load<f32>(src + (<usize>k << 2));
    const a = abs<f32>(v);
    let code: u32 = 0;
    if (a > 0) {
      const c = 127 + <i32>roundHalfUp(log2x8f(a) - logMax);
      code = c < 1 ? 0 : <u32>c | (v < 0 ? 128 : 0);
    }
    store<u8>(codes + <usize>k, <u8>code);
  }
}

/**
 * Re-encode slog block b of a store of n elements (encodeBlock8) after elements [i0, i1) took the
 * float32 values src[0 ..]; the block's other elements keep the values their codes decode to.
 */
function slogEncodeBlock(raw: usize, scales: usize, n: i32, b: i32, src: usize, i0: i32, i1: i32): void {
  const start = b << 8;
  const end = min(n, start + 256);
  if (start >= i0 && end <= i1) {
    slogEncodeFloats(raw + <usize>start, scales + (<usize>b << 2), src + (<usize>(start - i0) << 2), end - start);
    return;
  }
  const oldMax = <f64>load<f32>(scales + (<usize>b << 2));
  let max: f64 = 0;
  for (let i = start; i < end; i++) {
    const v = i >= i0 && i < i1 ? <f64>load<f32>(src + (<usize>(i - i0) << 2)) : slogValue(load<u8>(raw + <usize>i), oldMax);
    max = Math.max(max, Math.abs(v));
  }
  store<f32>(scales + (<usize>b << 2), <f32>max);
  if (max == 0 || !isFinite(max)) {
    memory.fill(raw + <usize>start, 0, <usize>(end - start));
    return;
  }
  const logMax = log2x8(max);
  for (let i = start; i < end; i++) {
    const p = raw + <usize>i;
    const v = i >= i0 && i < i1 ? <f64>load<f32>(src + (<usize>(i - i0) << 2)) : slogValue(load<u8>(p), oldMax);
    const a = Math.abs(v);
    let code: u32 = 0;
    if (a > 0) {
      const c = 127 + <i32>roundHalfUp(log2x8(a) - logMax);
      code = c < 1 ? 0 : <u32>c | (v < 0 ? 128 : 0);
    }
    store<u8>(p, <u8>code);
  }
}

/**
 * Whether the slog values of a block of this scale come exactly from slogDecode4's parts: scale
 * from 2^-110 (the smallest value, code 1's 2^-15.75·scale, stays a normal float32, so scaling a
 * part by 2^k rounds nowhere) and below 2^126 (no part overflows). Others (0, subnormal, NaN,
 * huge) decode one at a time.
 */
// @ts-ignore: decorator
@inline
function slogPartsFit(scale: f32): bool {
  const e = reinterpret<u32>(scale) >>> 23;
  return e >= 17 && e <= 252;
}

/**
 * The slog loops' vector constants in static memory, loaded into locals before their loops
 * (ADAM_CONSTS says why).
 */
const SLOG_CONSTS = memory.data<u32>([
  0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, // |x| mask
  0x07070707, 0x07070707, 0x07070707, 0x07070707, // bytes 7
  0x18100800, 0x18100800, 0x18100800, 0x18100800, // 8q in byte q
  0x10101010, 0x10101010, 0x10101010, 0x10101010, // bytes 16
  0x7f, 0x7f, 0x7f, 0x7f, // magnitude code mask, and 127
  0xfffffff8, 0xfffffff8, 0xfffffff8, 0xfffffff8, // -8
  0x80, 0x80, 0x80, 0x80, // code sign bit
  0xfff, 0xfff, 0xfff, 0xfff, // 12 mantissa bits
  0x00ff00ff, 0x00ff00ff, 0x00ff00ff, 0x00ff00ff, // int16 255
  0x01000100, 0x01000100, 0x01000100, 0x01000100, // int16 256
  0x00010001, 0x00010001, 0x00010001, 0x00010001, // int16 1
]);

/** SLOG_CONSTS vector i. */
// @ts-ignore: decorator
@inline
function slogConst(i: i32): v128 {
  return v128.load(SLOG_CONSTS + (<usize>i << 4));
}

/**
 * 4 slog values (as decodeBlock8 gives them, rounded to float32) from their codes at c, without a
 * table load per value: POW_SLOG[c] = 2^k·2·POW_SLOG[119 + r] exactly for c = 127 + 8k + r, r in
 * 0 .. 7 (tables.gen.mjs checks it), so <f32>(scale·POW_SLOG[c]) is the part <f32>(scale·2·
 * POW_SLOG[119 + r]) times 2^k, an exponent add. lo, hi: the 8 parts byte-sliced, part r at slot
 * j = (r − 1) & 7 = code & 7 (byte q of it at byte 8q + j of the 32; slogPartsLo, Hi) for
 * i8x16.swizzle. The rest: SLOG_CONSTS 1-6.
 */
// @ts-ignore: decorator
@inline
function slogDecode4(c: usize, lo: v128, hi: v128, k7: v128, k8q: v128, k16: v128, k127: v128, kM8: v128, k128: v128): v128 {
  const b = v128.load32_zero(c);
  // each code in all 4 bytes of its lane (two unpacks)
  const b2 = v128.shuffle<u8>(b, b, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const rep = v128.shuffle<u16>(b2, b2, 0, 0, 1, 1, 2, 2, 3, 3);
  const mag = v128.and(rep, k127);
  const at = v128.or(v128.and(rep, k7), k8q);
  const part = v128.or(i8x16.swizzle(lo, at), i8x16.swizzle(hi, i8x16.sub(at, k16)));
  // times 2^k, k = (mag − 127) >> 3
  const m = i32x4.add(part, i32x4.shl(v128.and(i32x4.sub(mag, k127), kM8), 20));
  // magnitude code 0 is 0; the sign bit negates (giving -0 for a zero, as -v does)
  return v128.or(v128.andnot(m, i32x4.eq(mag, i32x4.splat(0))), i32x4.shl(v128.and(rep, k128), 24));
}

/**
 * Bop's fold of 4 elements (the scalar loops below are its reference): m (4 decoded slog values)
 * and float32 gradients at g give <f32>(keep·m + γ·g) in f64, as JavaScript computes it, stored
 * at out (out may be g). Only bitwise f32x4 operations and f64 conversions, so 32-bit NEON's
 * flush of subnormal f32 vector arithmetic never applies.
 */
// @ts-ignore: decorator
@inline
function foldSlog4(m: v128, g: usize, out: usize, keep: v128, gamma: v128): v128 {
  const g4 = v128.load(g);
  const r01 = f64x2.add(f64x2.mul(keep, f64x2.promote_low_f32x4(m)), f64x2.mul(gamma, f64x2.promote_low_f32x4(g4)));
  const m23 = v128.shuffle<i32>(m, m, 2, 3, 0, 1);
  const g23 = v128.shuffle<i32>(g4, g4, 2, 3, 0, 1);
  const r23 = f64x2.add(f64x2.mul(keep, f64x2.promote_low_f32x4(m23)), f64x2.mul(gamma, f64x2.promote_low_f32x4(g23)));
  const r = v128.shuffle<i32>(f32x4.demote_f64x2_zero(r01), f32x4.demote_f64x2_zero(r23), 0, 1, 4, 5);
  v128.store(out, r);
  return r;
}

/** The 8 parts <f32>(scale·2·POW_SLOG[119 + r]) as float32 lanes: r = 0 .. 3 (high false) or 4 .. 7 (2·scale: the same single rounding). */
// @ts-ignore: decorator
@inline
function slogParts4(scale: f64, high: bool): v128 {
  const s = f64x2.splat(2 * scale);
  const p = POW_SLOG + 119 * 8 + (high ? 32 : 0);
  return v128.shuffle<i32>(f32x4.demote_f64x2_zero(f64x2.mul(v128.load(p), s)), f32x4.demote_f64x2_zero(f64x2.mul(v128.load(p, 16), s)), 0, 1, 4, 5);
}

/** slogDecode4's lo: bytes 0 and 1 of the 8 parts (p03, p47: slogParts4's), byte-sliced, part r at slot (r − 1) & 7. */
// @ts-ignore: decorator
@inline
function slogPartsLo(p03: v128, p47: v128): v128 {
  return v128.shuffle<u8>(p03, p47, 4, 8, 12, 16, 20, 24, 28, 0, 5, 9, 13, 17, 21, 25, 29, 1);
}

/** slogDecode4's hi: bytes 2 and 3 of the 8 parts, byte-sliced, part r at slot (r − 1) & 7. */
// @ts-ignore: decorator
@inline
function slogPartsHi(p03: v128, p47: v128): v128 {
  return v128.shuffle<u8>(p03, p47, 6, 10, 14, 18, 22, 26, 30, 2, 7, 11, 15, 19, 23, 27, 31, 3);
}

/**
 * Bop's fold of the first len & ~3 elements of a block whose scale fits (slogPartsFit): codes at
 * c, gradients at g, results at out (may be g); lo, hi: the block's parts (slogPartsLo, Hi, made
 * by the caller: built here, the optimizer moves them into the loop). Returns the results'
 * running max |v| (maxAbsBits's).
 */
function foldSlogVectors(c: usize, lo: v128, hi: v128, g: usize, out: usize, len: i32, keep: v128, gamma: v128): v128 {
  const absMask = slogConst(0);
  const k7 = slogConst(1);
  const k8q = slogConst(2);
  const k16 = slogConst(3);
  const k127 = slogConst(4);
  const kM8 = slogConst(5);
  const k128 = slogConst(6);
  let m4 = i32x4.splat(0);
  for (let k = 0; k + 4 <= len; k += 4) {
    const off = <usize>k << 2;
    const m = slogDecode4(c + <usize>k, lo, hi, k7, k8q, k16, k127, kM8, k128);
    m4 = maxAbsBits(m4, foldSlog4(m, g + off, out + off, keep, gamma), absMask);
  }
  return m4;
}

/**
 * Bop's fused fold into slog momentum, over elements [flat0, flat0 + len) of a store of n (the
 * dW tile's order; tiles come in order): m ← (1 − γ)·m + γ·g in float32 into bm at the element's
 * place in its block, and every block whose last element this tile folds encoded whole from bm
 * (a block the tile leaves unfinished waits in bm for the next tile). Bop.foldTile is the reference.
 */
export function bopFoldSlog(raw: usize, scales: usize, n: i32, flat0: i32, tile: usize, len: i32, gamma: f64, bm: usize): void {
  const keep = 1 - gamma;
  const vKeep = f64x2.splat(keep);
  const vGamma = f64x2.splat(gamma);
  const end = flat0 + len;
  for (let i = flat0; i < end; ) {
    const b0 = i & ~255;
    const b1 = min(n, b0 + 256);
    const stop = min(b1, end);
    const scale32 = load<f32>(scales + (<usize>(b0 >>> 8) << 2));
    const scale = <f64>scale32;
    let k = i;
    if (slogPartsFit(scale32)) {
      const p03 = slogParts4(scale, false);
      const p47 = slogParts4(scale, true);
      foldSlogVectors(raw + <usize>i, slogPartsLo(p03, p47), slogPartsHi(p03, p47), tile + (<usize>(i - flat0) << 2), bm + (<usize>(i - b0) << 2), stop - i, vKeep, vGamma);
      k += (stop - i) & ~3;
    }
    for (; k < stop; k++) {
      const m = <f64>(<f32>slogValue(load<u8>(raw + <usize>k), scale));
      store<f32>(bm + (<usize>(k - b0) << 2), <f32>(keep * m + gamma * <f64>load<f32>(tile + (<usize>(k - flat0) << 2))));
    }
    if (stop == b1) slogEncodeFloats(raw + <usize>b0, scales + (<usize>(b0 >>> 8) << 2), bm, b1 - b0);
    i = stop;
  }
}

/**
 * bopFoldSlog on whole blocks [b0, b1) of the tile's span (tile: the dW values of element
 * b0·256 on): folded in place in the tile, then encoded from it. Blocks are independent, so
 * threads take ranges of them.
 */
export function bopFoldWhole(raw: usize, scales: usize, n: i32, tile: usize, gamma: f64, b0: i32, b1: i32): void {
  const keep = 1 - gamma;
  const vKeep = f64x2.splat(keep);
  const vGamma = f64x2.splat(gamma);
  const base = b0 << 8;
  for (let b = b0; b < b1; b++) {
    const start = b << 8;
    const count = min(256, n - start);
    const scale32 = load<f32>(scales + (<usize>b << 2));
    const scale = <f64>scale32;
    const t = tile + (<usize>(start - base) << 2);
    // the block's max |m| found as it is folded (slogEncodeFloats's order: lanes, then the tail)
    let top: f32 = 0;
    let k = 0;
    if (slogPartsFit(scale32)) {
      const p03 = slogParts4(scale, false);
      const p47 = slogParts4(scale, true);
      top = maxLaneBits(foldSlogVectors(raw + <usize>start, slogPartsLo(p03, p47), slogPartsHi(p03, p47), t, t, count, vKeep, vGamma));
      k = count & ~3;
    }
    for (; k < count; k++) {
      const m = <f64>(<f32>slogValue(load<u8>(raw + <usize>(start + k)), scale));
      const p = t + (<usize>k << 2);
      const v = <f32>(keep * m + gamma * <f64>load<f32>(p));
      store<f32>(p, v);
      top = max<f32>(top, abs<f32>(v));
    }
    slogEncodeMaxed(raw + <usize>start, scales + (<usize>b << 2), t, count, top);
  }
}

/** The float32 value of slog magnitude code mag (1 .. 127; 0 is 0) in a block of scale. */
// @ts-ignore: decorator
@inline
function slogMagValue(mag: i32, scale: f64): f32 {
  return mag == 0 ? 0 : <f32>(scale * load<f64>(POW_SLOG + (<usize>mag << 3)));
}

/**
 * What the flip test needs of a slog block's codes, packed: the smallest magnitude code whose
 * value exceeds τ (bits 0-7; 128: none), the largest whose value is 0 (bits 8-15; a zero is
 * non-negative whatever its sign bit). Values grow with the code, so these two bounds decide
 * every element of the block as decoding it would; but where the scale is NaN (every value but
 * code 0's is NaN, which exceeds no τ), bit 16 is set and only code 0 can pass.
 */
function slogFlipBounds(scale: f64, tau: f64): i32 {
  let hi = 128; // smallest mag with value > τ (128: none)
  if (<f64>slogMagValue(0, scale) > tau) hi = 0;
  else {
    // from an estimate by the logs, stepped to the exact code on the values themselves: they grow
    // with the code, so wherever the estimate lands the answer is the same (a bisection's, before)
    hi = 64;
    if (scale > 0 && tau > 0 && isFinite(scale) && isFinite(tau)) hi = <i32>max(1.0, min(128.0, 128 + Math.floor(log2x8(tau) - log2x8(scale))));
    while (hi > 1 && <f64>slogMagValue(hi - 1, scale) > tau) hi--;
    while (hi < 128 && !(<f64>slogMagValue(hi, scale) > tau)) hi++;
  }
  let z = 0;
  // largest mag with value 0, in [z, zHi): none past 0 where code 1's value is not 0 (every scale
  // from 2^-133 on, and NaN)
  if (slogMagValue(1, scale) == 0) {
    let zHi = 128;
    while (zHi - z > 1) {
      const mid = (z + zHi) >>> 1;
      if (slogMagValue(mid, scale) == 0) z = mid;
      else zHi = mid;
    }
  }
  return hi | (z << 8) | (isNaN(scale) ? 0x10000 : 0);
}

/** The largest byte of 16 lanes. */
// @ts-ignore: decorator
@inline
function maxLaneU8(v: v128): i32 {
  v = i8x16.max_u(v, v128.shuffle<u8>(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  v = i8x16.max_u(v, v128.shuffle<u8>(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3));
  v = i8x16.max_u(v, v128.shuffle<u8>(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1));
  v = i8x16.max_u(v, v128.shuffle<u8>(v, v, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0));
  return <i32>i8x16.extract_lane_u(v, 0);
}

/** The largest magnitude code of slog block b (of a store of n). */
function slogTopMag(raw: usize, n: i32, b: i32): i32 {
  const start = b << 8;
  const count = min(256, n - start);
  let m16 = i8x16.splat(0);
  let k = 0;
  for (; k + 16 <= count; k += 16) m16 = i8x16.max_u(m16, v128.and(v128.load(raw + <usize>(start + k)), i8x16.splat(127)));
  let top = maxLaneU8(m16);
  for (; k < count; k++) top = max(top, <i32>(load<u8>(raw + <usize>(start + k)) & 127));
  return top;
}

/**
 * Bop's update on fused slog momentum (it already holds this step's gradient), over weight rows
 * [r0, r1): flip the packed weight bit where |m| > τ and sign(m) = sign(w) (bit set = +1,
 * sign(0) = +1), m as the float32 it decodes to. Decided on the codes, 16 weights of a row at a
 * time, with each block's bounds (slogFlipBounds) found once. out[0] (float32) gets max |m| of
 * the blocks the rows touch (each block's largest code's value), out[1] (int32) the flips. Rows
 * are independent (their weight words and codes are disjoint; a block two ranges share is only
 * read), so threads take ranges of rows, each its own out (Kernels.bopFlipSlog sums them).
 */
export function bopFlipRows(raw: usize, scales: usize, n: i32, bits: usize, rowLen: i32, tau: f64, out: usize, r0: i32, r1: i32): void {
  n = min(n, r1 * rowLen);
  const wpr = (rowLen + 31) >>> 5;
  const lane = i8x16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  let maxStored: f32 = 0;
  let flips = 0;
  // bounds of the block holding the current element (cur) and of the next block
  let curBlock = -1;
  let cur = 0;
  let next = 0;
  // cur's bounds doubled, in every byte, for chunks inside the block (doubled codes lose their
  // sign bit: 2·mag; a bound of 128, none, becomes 255, above every 2·mag)
  let minV = i8x16.splat(0);
  let zeroV = i8x16.splat(0);
  for (let r = r0, i = r0 * rowLen; i < n; r++, i += rowLen) {
    const row = bits + (<usize>(r * wpr) << 2);
    for (let c = 0; c < rowLen; c += 16) {
      const e = i + c;
      const count = min(16, rowLen - c);
      const b0 = e >>> 8;
      if (b0 != curBlock) {
        // blocks are met in order; each block's largest value is counted when it is entered
        if (b0 == curBlock + 1 && curBlock >= 0) cur = next;
        else cur = slogFlipBounds(<f64>load<f32>(scales + (<usize>b0 << 2)), tau);
        curBlock = b0;
        const v = slogMagValue(slogTopMag(raw, n, b0), <f64>load<f32>(scales + (<usize>b0 << 2)));
        if (v > maxStored) maxStored = v;
        next = (b0 + 1) << 8 < n ? slogFlipBounds(<f64>load<f32>(scales + (<usize>(b0 + 1) << 2)), tau) : 0;
        minV = i8x16.splat(<i8>((cur & 255) == 128 ? 255 : (cur & 255) << 1));
        zeroV = i8x16.splat(<i8>((cur >>> 8) << 1));
      }
      let flip: u32 = 0;
      const word = row + (<usize>(c >>> 5) << 2);
      const shift = <u32>(c & 31);
      const w = (load<u32>(word) >>> shift) & 0xffff;
      if (e + 16 <= min(n, (b0 + 1) << 8) && !(cur & 0x10000)) {
        // 16 codes of one block (every chunk where rows and blocks start at multiples of 16)
        const codes = v128.load(raw + <usize>e);
        const m2 = i8x16.add(codes, codes);
        const above = <u32>i8x16.bitmask(i8x16.eq(i8x16.max_u(m2, minV), m2));
        const nonNegative = (~<u32>i8x16.bitmask(codes) & 0xffff) | <u32>i8x16.bitmask(i8x16.eq(i8x16.min_u(m2, zeroV), m2));
        flip = above & ~(nonNegative ^ w) & ((<u32>1 << count) - 1);
      } else if (e + 16 <= n && !((cur | next) & 0x10000)) {
        const codes = v128.load(raw + <usize>e);
        const mag = v128.and(codes, i8x16.splat(127));
        const inNext = i8x16.ge_u(lane, i8x16.splat(<i8>min(16, ((b0 + 1) << 8) - e)));
        const magMin = v128.bitselect(i8x16.splat(<i8>(next & 255)), i8x16.splat(<i8>(cur & 255)), inNext);
        const zeroMag = v128.bitselect(i8x16.splat(<i8>(next >>> 8)), i8x16.splat(<i8>(cur >>> 8)), inNext);
        const above = <u32>i8x16.bitmask(i8x16.ge_u(mag, magMin));
        const nonNegative = <u32>i8x16.bitmask(v128.or(i8x16.ge_s(codes, i8x16.splat(0)), i8x16.le_u(mag, zeroMag)));
        flip = above & ~(nonNegative ^ w) & ((<u32>1 << count) - 1);
      } else
        for (let j = 0; j < count; j++) {
          const k = e + j;
          const bounds = k >>> 8 == b0 ? cur : next;
          const code = <i32>load<u8>(raw + <usize>k);
          const mag = code & 127;
          const nonNegative: u32 = code < 128 || mag <= bounds >>> 8 ? 1 : 0;
          const above = bounds & 0x10000 ? mag == 0 && (bounds & 255) == 0 : mag >= (bounds & 255);
          if (above && nonNegative == ((w >>> j) & 1)) flip |= <u32>1 << j;
        }
      if (flip) {
        store<u32>(word, load<u32>(word) ^ (flip << shift));
        flips += <i32>popcnt(flip);
      }
    }
  }
  store<f32>(out, maxStored);
  store<i32>(out + 4, flips);
}

/** The compiled tables, for the test that they equal block8.ts's: LOG_MANT[k] (k < 4096), then POW_SLOG[k − 4096]. */
export function block8Table(k: i32): f64 {
  return k < 4096 ? load<f64>(LOG_MANT + (<usize>k << 3)) : load<f64>(POW_SLOG + (<usize>(k - 4096) << 3));
}

// ---- General convolutions (k×k kernels, stride s; the 3x3 stride-1 ones above are blocked) ----
// One output at a time, each summed tap by tap in tap order (kernel row, then column): the same
// order at any thread split (rows of output pixels, or channels).

/** y = conv(X̂ bits, Ŵ bits) by xnor-popcount over the in-bounds taps; weights co × k² × ci. */
export function convGFwdBin(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, k: i32, s: i32, y: usize, oy0: i32, oy1: i32): void {
  const wpc = (ci + 31) >>> 5;
  const pixBytes = <usize>wpc << 2;
  const kk = k * k;
  for (let oy = oy0; oy < oy1; oy++)
    for (let ox = 0; ox < wo; ox++) {
      const yo = y + (<usize>((oy * wo + ox) * co) << 2);
      for (let c = 0; c < co; c++) {
        let diff = 0;
        let valid = 0;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s + ky - pad;
          if (iy < 0 || iy >= hi) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s + kx - pad;
            if (ix < 0 || ix >= wi) continue;
            diff += xorPopRow(x + <usize>(iy * wi + ix) * pixBytes, w + <usize>(c * kk + ky * k + kx) * pixBytes, 0, wpc);
            valid += ci;
          }
        }
        store<f32>(yo + (<usize>c << 2), <f32>(valid - 2 * diff));
      }
    }
}

/** y = conv(X float, Ŵ bits). */
export function convGFwdFloat(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, k: i32, s: i32, y: usize, oy0: i32, oy1: i32): void {
  convGFwdX<u32>(x, w, hi, wi, ci, ho, wo, co, pad, k, s, y, oy0, oy1);
}

/** y = conv(X float, W float). */
export function convGFwdFloatFloat(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, k: i32, s: i32, y: usize, oy0: i32, oy1: i32): void {
  convGFwdX<f32>(x, w, hi, wi, ci, ho, wo, co, pad, k, s, y, oy0, oy1);
}

function convGFwdX<S>(x: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, k: i32, s: i32, y: usize, oy0: i32, oy1: i32): void {
  const tapBytes = sourceRowBytes<S>(ci);
  const kk = k * k;
  for (let oy = oy0; oy < oy1; oy++)
    for (let ox = 0; ox < wo; ox++) {
      const yo = y + (<usize>((oy * wo + ox) * co) << 2);
      for (let c = 0; c < co; c++) {
        let acc: f32 = 0;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s + ky - pad;
          if (iy < 0 || iy >= hi) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s + kx - pad;
            if (ix < 0 || ix >= wi) continue;
            acc += tapDot<S>(x + (<usize>((iy * wi + ix) * ci) << 2), w + <usize>(c * kk + ky * k + kx) * tapBytes, ci);
          }
        }
        store<f32>(yo + (<usize>c << 2), acc);
      }
    }
}

/** dx = the transposed convolution of dY with Ŵ (bits), input channels [ci0, ci1) (ci0 a multiple of 32); dx overwritten there. */
/**
 * dx for binary weights, input channels [ci0, ci1) (ci0 a multiple of 32), scattered in the order
 * of src/kernels/conv-reference.ts: output pixels in order, then groups of 4 output channels, a
 * group's signed dY rows summed in this instance's scratch before they reach dx.
 */
export function convGBwdData(dy: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, k: i32, s: i32, dx: usize, ci0: i32, ci1: i32): void {
  const tapBytes = <usize>((ci + 31) >>> 5) << 2;
  const wOff = <usize>(ci0 >>> 5) << 2;
  const part = ci1 - ci0;
  const kk = k * k;
  const partial = maskScratch;
  for (let p = 0; p < hi * wi; p++) memory.fill(dx + (<usize>(p * ci + ci0) << 2), 0, <usize>part << 2);
  for (let oy = 0; oy < ho; oy++)
    for (let ox = 0; ox < wo; ox++) {
      const yo = dy + (<usize>((oy * wo + ox) * co) << 2);
      for (let c0 = 0; c0 < co; c0 += 4) {
        const c1 = min(co, c0 + 4);
        let any = false;
        for (let c = c0; c < c1; c++) any = any || load<f32>(yo + (<usize>c << 2)) != 0;
        // an all-zero group's partial is ±0, which leaves dx (never −0) as it is
        if (!any) continue;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s + ky - pad;
          if (iy < 0 || iy >= hi) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s + kx - pad;
            if (ix < 0 || ix >= wi) continue;
            memory.fill(partial, 0, <usize>part << 2);
            for (let c = c0; c < c1; c++) addSignedRow(partial, w + <usize>(c * kk + ky * k + kx) * tapBytes + wOff, load<f32>(yo + (<usize>c << 2)), part);
            saxpyRow(dx + (<usize>((iy * wi + ix) * ci + ci0) << 2), partial, 1, part);
          }
        }
      }
    }
}

/** dx for float weights, input channels [ci0, ci1). */
export function convGBwdDataFloat(dy: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, k: i32, s: i32, dx: usize, ci0: i32, ci1: i32): void {
  convGBwdDataX<f32>(dy, w, hi, wi, ci, ho, wo, co, pad, k, s, dx, ci0, ci1);
}

function convGBwdDataX<S>(dy: usize, w: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, co: i32, pad: i32, k: i32, s: i32, dx: usize, ci0: i32, ci1: i32): void {
  const tapBytes = sourceRowBytes<S>(ci);
  const wOff: usize = isInteger<S>() ? <usize>(ci0 >>> 5) << 2 : <usize>ci0 << 2;
  const part = ci1 - ci0;
  const kk = k * k;
  for (let p = 0; p < hi * wi; p++) memory.fill(dx + (<usize>(p * ci + ci0) << 2), 0, <usize>part << 2);
  for (let oy = 0; oy < ho; oy++)
    for (let ox = 0; ox < wo; ox++) {
      const yo = dy + (<usize>((oy * wo + ox) * co) << 2);
      for (let c = 0; c < co; c++) {
        const d = load<f32>(yo + (<usize>c << 2));
        if (d == 0) continue;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s + ky - pad;
          if (iy < 0 || iy >= hi) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s + kx - pad;
            if (ix < 0 || ix >= wi) continue;
            const out = dx + (<usize>((iy * wi + ix) * ci + ci0) << 2);
            const wr = w + <usize>(c * kk + ky * k + kx) * tapBytes + wOff;
            if (isInteger<S>()) addSignedRow(out, wr, d, part);
            else saxpyRow(out, wr, d, part);
          }
        }
      }
    }
}

/** dw[c × k²·ci] += Σ over output pixels of dY[·, c]·X[tap pixel], channels [c0, c1) of `count` (dy: ho·wo × count). */
export function convGBwdFilter(
  dy: usize, x: usize, xBits: i32, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, k: i32, s: i32, dw: usize, c0: i32, c1: i32,
): void {
  if (xBits && wo >= FILTER_GROUPS_FROM) {
    filterGroups(dy, x, hi, wi, ci, ho, wo, count, pad, k, s, dw, c0, c1);
    return;
  }
  const pixBytes = <usize>((ci + 31) >>> 5) << 2;
  const kk = k * k;
  for (let oy = 0; oy < ho; oy++)
    for (let ox = 0; ox < wo; ox++) {
      const yo = dy + (<usize>((oy * wo + ox) * count) << 2);
      for (let c = c0; c < c1; c++) {
        const d = load<f32>(yo + (<usize>c << 2));
        if (d == 0) continue;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s + ky - pad;
          if (iy < 0 || iy >= hi) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s + kx - pad;
            if (ix < 0 || ix >= wi) continue;
            const wr = dw + (<usize>((c * kk + ky * k + kx) * ci) << 2);
            const p = iy * wi + ix;
            if (xBits) addSignedRow(wr, x + <usize>p * pixBytes, d, ci);
            else saxpyRow(wr, x + (<usize>(p * ci) << 2), d, ci);
          }
        }
      }
    }
}

/**
 * dw for sign inputs in the order of conv-reference.ts: each output row's pixels in groups of 4,
 * a group's signed dY summed from +0 in this instance's scratch (a row of ci floats) before it
 * reaches dw, one (channel, tap) at a time.
 */
function filterGroups(dy: usize, x: usize, hi: i32, wi: i32, ci: i32, ho: i32, wo: i32, count: i32, pad: i32, k: i32, s: i32, dw: usize, c0: i32, c1: i32): void {
  if (!maskScratch) unreachable();
  const pixBytes = <usize>((ci + 31) >>> 5) << 2;
  const kk = k * k;
  const partial = maskScratch;
  for (let oy = 0; oy < ho; oy++)
    for (let ox0 = 0; ox0 < wo; ox0 += 4) {
      const ox1 = min(wo, ox0 + 4);
      for (let c = c0; c < c1; c++)
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s + ky - pad;
          if (iy < 0 || iy >= hi) continue;
          for (let kx = 0; kx < k; kx++) {
            memory.fill(partial, 0, <usize>ci << 2);
            for (let ox = ox0; ox < ox1; ox++) {
              const ix = ox * s + kx - pad;
              if (ix < 0 || ix >= wi) continue;
              addSignedRow(partial, x + <usize>(iy * wi + ix) * pixBytes, load<f32>(dy + (<usize>((oy * wo + ox) * count + c) << 2)), ci);
            }
            saxpyRow(dw + (<usize>((c * kk + ky * k + kx) * ci) << 2), partial, 1, ci);
          }
        }
    }
}
