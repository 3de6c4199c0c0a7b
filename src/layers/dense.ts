// Binary dense layer: Y = X · sign(W)ᵀ, no bias. Weights are m×n (row j = output unit j) so the
// packed binary copy has its bits along the input dimension, where xnor-popcount runs.
import { getBit, wordsFor } from '../bits.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import type { Rng } from '../rng.js';
import { fillStore, type GradStore } from '../storage/grad-store.js';
import { addRowNormsSq, centredRowNormsSq, sumSquares } from './norms.js';
import { winsorizedDense, winsorizes } from './winsorize.js';
import {
  dyNormsToFill,
  gatherPixelRows,
  holdsAll,
  inputRows,
  kernelDecodesPixels,
  packSigns,
  pixelColumns,
  rowsPerChunk,
  trainingInput,
  type Activation,
  type Layer,
  type ParamGrad,
  type ScopeFlags,
  type Workspace,
} from './layer.js';
import { BinaryWeightLayer, BinaryWeights, storeDwTile } from './binary-weights.js';

/** Input columns of a 1-bit dW tile over re-read pixels (a multiple of 32: whole words of sign bits). */
const PIXEL_TILE_COLUMNS = 64;
/** Decoded input rows a pass of the first layer's dW keeps when the activation buffer also holds tiles. */
const PASS_ROWS = 32;

/**
 * Rows a chunk of a weight gradient takes: whole groups of 4, as the binary kernel sums groups of 4
 * rows counted from the batch's first, so chunks change no sum (below 4 rows a chunk, they do).
 */
function groupAligned(rows: number): number {
  return rows >= 4 ? rows & ~3 : rows;
}

export class DenseLayer extends BinaryWeightLayer implements Layer {
  readonly kind = 'dense';
  readonly rowsPerExample = 1;
  readonly weights: BinaryWeights;
  private input: Activation | null = null;

  constructor(
    readonly name: string,
    readonly nIn: number,
    readonly nOut: number,
    readonly first: boolean,
    recipe: Recipe,
    private readonly ws: Workspace,
    ledger: MemoryLedger,
    rng: Rng,
    scope: ScopeFlags = {},
    /** dW goes to the optimizer tile by tile, no buffer of its own (Adam applied during backward). */
    tilesToOptimizer = false,
  ) {
    super();
    this.weights = new BinaryWeights(name, nOut, nIn, nIn, recipe, ledger, rng, ws.kernels, scope.frozen, tilesToOptimizer);
    this.stop = Boolean(scope.stop);
  }

  /** The lowest trainable layer of a partial update: its backward gives no input gradient. */
  private readonly stop: boolean;

  forward(x: Activation, rows: number, training: boolean): Activation {
    const { nIn: n, nOut: m, wbits, ws } = this;
    if (x.cols !== n) throw new Error(`${this.name}: input has ${x.cols} columns, expected ${n}`);
    const y = ws.act;
    const k = ws.kernels;
    if (x.kind === 'float' && x.signs) this.forwardSigns(x.data, rows, y);
    else if (x.kind === 'float') k.gemmFloatBin(x.data, wbits, rows, m, n, y);
    else if (x.kind === 'bits') k.gemmBinBin(x.data, wbits, rows, m, n, y);
    else if (!this.forwardPixels(x, rows, y)) {
      const R = ws.chunkRows;
      for (let i0 = 0; i0 < rows; i0 += R) {
        const i1 = Math.min(rows, i0 + R);
        const xs = this.inputChunk(x, i0, i1);
        k.gemmFloatBin(xs, wbits, i1 - i0, m, n, y.subarray(i0 * m, i1 * m));
      }
    }
    this.input = training ? x : null;
    return { kind: 'float', data: y, cols: m };
  }

  /**
   * Pixel inputs the kernels decode themselves: the whole batch's bytes staged in the tail of y
   * where they fit (gemmPixelsBinInPlace), else as many rows' bytes as chunkX holds (4 chunks of
   * decoded rows for 784 pixels) staged there and run in one call each; false where the kernels
   * cannot, and nothing is done.
   */
  private forwardPixels(x: Activation, rows: number, y: Floats): boolean {
    const { nIn: n, nOut: m, wbits, ws } = this;
    const k = ws.kernels;
    if (!kernelDecodesPixels(x, ws.chunkX, k) || !k.gemmPixelsBin) return false;
    // the whole batch in one call where the bytes fit the tail of y (a chunk of 32 rows a call
    // cost 65-120 µs more on two threads, each call a hand-off)
    if (k.gemmPixelsBinInPlace?.((i0, i1, into) => gatherPixelRows(x, i0, i1, 0, n, into), wbits, rows, m, n, y)) return true;
    const staged = new Uint8Array(ws.chunkX.buffer, ws.chunkX.byteOffset, ws.chunkX.byteLength);
    const step = Math.floor(staged.length / n);
    for (let i0 = 0; i0 < rows; i0 += step) {
      const i1 = Math.min(rows, i0 + step);
      gatherPixelRows(x, i0, i1, 0, n, staged);
      if (!k.gemmPixelsBin(staged.subarray(0, (i1 - i0) * n), wbits, i1 - i0, m, n, y.subarray(i0 * m, i1 * m))) return false;
    }
    return true;
  }

  /**
   * ±1 inputs kept as floats: packed to bits (as many rows as chunkX holds at a time) and run by
   * xnor-popcount. A float sum of ±1 terms is an exact integer, so y is the same as gemmFloatBin's.
   */
  private forwardSigns(x: Floats, rows: number, y: Floats): void {
    const { nIn: n, nOut: m, wbits, ws } = this;
    const wpr = wordsFor(n);
    const step = Math.floor(ws.chunkXBits.length / wpr);
    for (let i0 = 0; i0 < rows; i0 += step) {
      const i1 = Math.min(rows, i0 + step);
      packSigns(ws.kernels, x.subarray(i0 * n, i1 * n), i1 - i0, n, ws.chunkXBits);
      ws.kernels.gemmBinBin(ws.chunkXBits, wbits, i1 - i0, m, n, y.subarray(i0 * m, i1 * m));
    }
  }

  /** Rows [i0, i1) of the input as something a kernel takes (a view, or pixels decoded to chunkX). */
  private inputChunk(x: Activation, i0: number, i1: number, scratch: Floats = this.ws.chunkX): Floats {
    return inputRows(x, i0, i1, this.nIn, scratch, this.ws.kernels);
  }

  /**
   * dW += dY[i0:i1, j0:j1]ᵀ · X[i0:i1] for one chunk of rows (i0 a multiple of 4: the binary
   * kernel sums groups of 4 rows counted from the batch's first, see docs/speed.md).
   */
  private accumulate(x: Activation, dy: Floats, i0: number, i1: number, mCols: number, dw: Floats, scratch?: Floats): void {
    const k = this.ws.kernels;
    const n = this.nIn;
    const wpr = wordsFor(n);
    if (x.kind === 'bits') k.gemmTnBin(dy, x.data.subarray(i0 * wpr, i1 * wpr), i1 - i0, mCols, n, dw);
    else if (x.kind === 'float' && x.signs) {
      // ±1 floats: packed to bits (as many whole groups of rows as chunkXBits holds at a time) so
      // they take the binary kernel, whose sums are the ones every recipe's layer gets
      const step = groupAligned(Math.floor(this.ws.chunkXBits.length / wpr));
      for (let r0 = i0; r0 < i1; r0 += step) {
        const r1 = Math.min(i1, r0 + step);
        packSigns(k, x.data.subarray(r0 * n, r1 * n), r1 - r0, n, this.ws.chunkXBits);
        k.gemmTnBin(dy.subarray((r0 - i0) * mCols, (r1 - i0) * mCols), this.ws.chunkXBits, r1 - r0, mCols, n, dw);
      }
    } else k.gemmTnFloat(dy, this.inputChunk(x, i0, i1, scratch), i1 - i0, mCols, n, dw);
  }

  /** dW with every coordinate's per-example terms winsorized (see src/optim/winsorize.ts). */
  private winsorizedDw(x: Activation, grad: GradStore, rows: number): void {
    const { nIn: n, nOut: m, ws } = this;
    const xs = ws.winsor!.rows;
    if (x.kind === 'codes') throw new Error(`${this.name}: binary layers do not take fixed-point codes`);
    if (x.kind === 'bits') for (let i = 0; i < rows; i++) for (let k = 0; k < n; k++) xs[i * n + k] = getBit(x.data, wordsFor(n), i, k) ? 1 : -1;
    // dW rows accumulate a tile of output units in chunkDx, stored (or handed on) tile by tile
    const acc = ws.chunkDx;
    winsorizedDense(ws, grad, rows, m, n, x.kind === 'bits' ? xs : inputRows(x, 0, rows, n, xs), {
      tileUnits: Math.floor(acc.length / n),
      dwRow: (j, j0) => acc.subarray((j - j0) * n, (j - j0 + 1) * n),
      afterTile: (j0, j1) => storeDwTile(this.grad, acc, j0 * n, (j1 - j0) * n, j1 - j0, n, ws.kernels),
    });
  }

  /**
   * 1-bit dW of a first layer that re-reads its pixels: tiles of output rows × 64 input columns,
   * so each pixel is decoded once per tile row (3 times for 256 units) instead of once per tile
   * of whole rows (32 times); every element still sums its rows in order, so the signs are those
   * of the row tiles.
   */
  private signDwOfPixels(x: Extract<Activation, { kind: 'pixels' }>, grad: GradStore, rows: number): void {
    const { nIn: n, nOut: m, ws } = this;
    const bits = (this.grad as Extract<ParamGrad, { kind: 'sign' }>).bits;
    const staged = this.stagePixels(x, rows);
    // float16 dY in the kernels' memory: the whole gradient in one call (threads take column tiles)
    const codes = grad.halfView?.();
    if (staged && codes && ws.kernels.signDwPixels && holdsAll(ws.kernels, bits)) {
      ws.kernels.signDwPixels(codes, staged, rows, m, n, bits);
      return;
    }
    const acc = ws.chunkDx;
    const tk = Math.min(PIXEL_TILE_COLUMNS, n);
    const tj = Math.max(1, Math.floor(acc.length / tk));
    const pass = Math.max(1, Math.min(Math.floor(ws.chunkDy.length / tj), Math.floor(ws.chunkX.length / tk)));
    const wpr = wordsFor(n);
    for (let j0 = 0; j0 < m; j0 += tj) {
      const j1 = Math.min(m, j0 + tj);
      for (let k0 = 0; k0 < n; k0 += tk) {
        const k1 = Math.min(n, k0 + tk);
        const w = k1 - k0;
        acc.fill(0, 0, (j1 - j0) * w);
        for (let i0 = 0; i0 < rows; i0 += pass) {
          const i1 = Math.min(rows, i0 + pass);
          grad.read(i0, i1, j0, j1, ws.chunkDy);
          let xs: Floats;
          if (staged) {
            ws.kernels.pixelRowsToFloat!(staged.subarray(i0 * n + k0), i1 - i0, n, w, ws.chunkX);
            xs = ws.chunkX.subarray(0, (i1 - i0) * w);
          } else xs = pixelColumns(x, i0, i1, k0, k1, ws.chunkX, ws.kernels);
          ws.kernels.gemmTnFloat(ws.chunkDy, xs, i1 - i0, j1 - j0, w, acc);
        }
        packSigns(ws.kernels, acc, j1 - j0, w, bits.subarray(j0 * wpr + (k0 >>> 5)), wpr);
      }
    }
  }

  /**
   * The 1-bit dW over packed input signs with float16 dY in the kernels' memory, in one call
   * (threads take ranges of output rows: one hand-off instead of a split per tile); false where
   * the kernels cannot, and nothing is done.
   */
  private signDwOfBits(x: Activation, grad: GradStore, rows: number): boolean {
    const k = this.ws.kernels;
    const codes = grad.halfView?.();
    const bits = (this.grad as Extract<ParamGrad, { kind: 'sign' }>).bits;
    if (x.kind !== 'bits' || !codes || !k.signDwBits || !holdsAll(k, x.data, bits)) return false;
    return k.signDwBits(codes, x.data, rows, this.nOut, this.nIn, bits);
  }

  /**
   * The dW over packed input signs with po2 dY in the kernels' memory, folded into Bop's 8-bit
   * momentum in one call (threads take ranges of output rows, whole momentum blocks each); false
   * where the kernels or the optimizer cannot, and nothing is done.
   */
  private bopDwOfBits(x: Activation, grad: GradStore, rows: number): boolean {
    const k = this.ws.kernels;
    const dy = grad.po2View?.();
    const fused = this.grad as Extract<ParamGrad, { kind: 'fused' }>;
    if (x.kind !== 'bits' || !dy || !k.bopDwBits || !fused.foldWhole || !holdsAll(k, x.data, dy.words)) return false;
    const { nOut: m, nIn: n } = this;
    return fused.foldWhole((codes, scales, gamma) => k.bopDwBits!(dy.words, dy.bias, x.data, rows, m, n, codes, scales, gamma));
  }

  /**
   * The dW over packed ±1 inputs (or the first layer's float pixels) with float32 dY in the
   * kernels' memory, applied by Adam in one call (threads take ranges of output rows: one
   * hand-off a layer instead of a split per tile, and dY read in place instead of copied a tile at
   * a time); false where the kernels or the optimizer cannot, and nothing is done.
   */
  private adamDwWhole(x: Activation, grad: GradStore, rows: number): boolean {
    const k = this.ws.kernels;
    const dy = grad.floatView?.();
    const fused = this.grad as Extract<ParamGrad, { kind: 'fused' }>;
    if (!dy || !fused.applyWhole || !(x.kind === 'bits' || (x.kind === 'float' && !x.signs && x.exp === undefined)) || !holdsAll(k, dy, x.data)) return false;
    const { nOut: m, nIn: n } = this;
    if (x.kind === 'bits') return k.denseDwAdam !== undefined && fused.applyWhole((t, s) => k.denseDwAdam!(dy, x.data, rows, m, n, t, s));
    return k.denseDwAdamFloat !== undefined && fused.applyWhole((t, s) => k.denseDwAdamFloat!(dy, x.data.subarray(0, rows * n), rows, m, n, t, s));
  }

  /** bopDwOfBits for the first layer, over the batch's pixel bytes staged in the pre-activation buffer. */
  private bopDwOfPixels(x: Activation, grad: GradStore, rows: number): boolean {
    const { ws, nOut: m, nIn: n } = this;
    const k = ws.kernels;
    const dy = grad.po2View?.();
    const fused = this.grad as Extract<ParamGrad, { kind: 'fused' }>;
    if (!kernelDecodesPixels(x, ws.chunkX, k) || !dy || !k.bopDwPixels || !fused.foldWhole || !holdsAll(k, dy.words)) return false;
    return fused.foldWhole((codes, scales, gamma) => {
      const staged = this.stagePixels(x, rows);
      return staged !== null && k.bopDwPixels!(dy.words, dy.bias, staged, rows, m, n, codes, scales, gamma);
    });
  }

  /**
   * The batch's pixel rows (bytes) in the pre-activation buffer, idle by now (the first layer's
   * backward runs last), where it holds them and the kernels decode strided rows: each 64-column
   * tile then decodes its columns in one call instead of copying a short run of every row (a
   * subarray object a row: 2,600 a low-memory MLP step at batch 200, 0.65 ms). null: not staged.
   */
  private stagePixels(x: Extract<Activation, { kind: 'pixels' }>, rows: number): Uint8Array | null {
    const { ws } = this;
    const k = ws.kernels;
    const n = x.cols;
    if (!k.pixelRowsToFloat || !kernelDecodesPixels(x, ws.chunkX, k) || ws.act.byteLength < rows * n || !holdsAll(k, ws.act)) return null;
    const staged = new Uint8Array(ws.act.buffer, ws.act.byteOffset, rows * n);
    gatherPixelRows(x, 0, rows, 0, n, staged);
    return staged;
  }

  /**
   * dW a tile of output rows at a time, each tile summed over passes of rows and then stored
   * (storeDwTile: its sign, or the fused optimizer's fold); returns Σ dW² when `squares`. Decoded
   * input rows go to chunkX, or for the first layer to the forward's activation buffer (idle once
   * the forward is done: the first layer's backward runs last); chunkX then holds a second tile,
   * so each pass's decoded rows serve two tiles (tiny's first layer decodes its pixels 16 times a
   * step instead of 32). Tiles are stored in order and each element sums its rows in order, so
   * the pairing changes no number. ±1 float inputs come packed (packedOnce).
   */
  private dwByTiles(x: Activation, grad: GradStore, rows: number, dyNorm: Floats | null, squares: boolean): number {
    const { nIn: n, nOut: m, ws } = this;
    const tile = Math.max(1, Math.floor(ws.chunkDx.length / n));
    const decodes = x.kind !== 'bits' && x.kind !== 'float';
    const fromAct = this.first && ws.act.length > ws.chunkX.length;
    let decoded = fromAct ? ws.act : ws.chunkX;
    const accs = decodes && fromAct && ws.chunkX.length >= tile * n ? [ws.chunkDx, ws.chunkX] : [ws.chunkDx];
    if (decodes && fromAct) {
      // more tiles from the activation buffer's far end, as long as a pass keeps PASS_ROWS decoded
      // rows: every tile a pass serves is one decode of the batch fewer (tiny's MLP: 16 -> 6 a step)
      const spare = ws.act.length - Math.min(rows, PASS_ROWS) * n;
      const extra = Math.max(0, Math.min(Math.floor(spare / (tile * n)), Math.ceil(m / tile) - accs.length));
      const end = ws.act.length;
      for (let e = 0; e < extra; e++) accs.push(ws.act.subarray(end - (e + 1) * tile * n, end - e * tile * n));
      decoded = ws.act.subarray(0, end - extra * tile * n);
    }
    let sumSq = 0;
    for (let j0 = 0; j0 < m; j0 += tile * accs.length) {
      const tiles = accs.map((acc, k) => ({ acc, j0: Math.min(m, j0 + k * tile), j1: Math.min(m, j0 + (k + 1) * tile) })).filter((u) => u.j1 > u.j0);
      for (const u of tiles) u.acc.fill(0, 0, (u.j1 - u.j0) * n);
      const t = tiles[0].j1 - tiles[0].j0;
      // as many rows a pass as chunkDy holds of a tile's columns (the kernel's loads and stores of
      // the tile amortize over more terms), or as many as `decoded` holds of decoded input
      const fit = Math.floor(ws.chunkDy.length / t);
      const pass = groupAligned(Math.max(ws.chunkRows, decodes ? Math.min(Math.floor(decoded.length / n), fit) : fit));
      for (let i0 = 0; i0 < rows; i0 += pass) {
        const i1 = Math.min(rows, i0 + pass);
        const xs = decodes ? this.inputChunk(x, i0, i1, decoded) : null;
        for (const u of tiles) {
          const tu = u.j1 - u.j0;
          grad.read(i0, i1, u.j0, u.j1, ws.chunkDy);
          if (dyNorm) addRowNormsSq(ws.chunkDy, i1 - i0, tu, dyNorm, i0);
          if (xs) ws.kernels.gemmTnFloat(ws.chunkDy, xs, i1 - i0, tu, n, u.acc);
          else this.accumulate(x, ws.chunkDy, i0, i1, tu, u.acc, decoded);
        }
      }
      for (const u of tiles) {
        const tu = u.j1 - u.j0;
        if (squares) sumSq += sumSquares(u.acc, tu * n);
        storeDwTile(this.grad, u.acc, u.j0 * n, tu * n, tu, n, ws.kernels);
      }
    }
    return sumSq;
  }

  /**
   * ±1 floats as sign bits packed once for every tile (accumulate would pack them again for each),
   * in the pre-activation buffer: idle in backward until the input gradient's sign index, which
   * comes after dW. Other inputs as they are.
   */
  private packedOnce(x: Activation, rows: number): Activation {
    const { nIn: n, ws } = this;
    const words = rows * wordsFor(n);
    if (x.kind !== 'float' || !x.signs || this.first || ws.act.length < words) return x;
    const packed = new Uint32Array(ws.act.buffer, ws.act.byteOffset, words);
    packSigns(ws.kernels, x.data.subarray(0, rows * n), rows, n, packed);
    return { kind: 'bits', data: packed, cols: n };
  }

  backward(grad: GradStore, spare: GradStore, rows: number): GradStore | null {
    const x = trainingInput(this, this.input);
    const { nIn: n, nOut: m, ws } = this;
    const R = ws.chunkRows;
    // coherence: example i's term of dW is dY_iᵀ·(x_i − x̄) (see centredRowNormsSq), so
    // ||g_i||² = ||x_i − x̄||²·||dY_i||²: O(batch · (n + m)), nothing per example kept
    const coh = ws.coherence?.active ? ws.coherence : null;
    const dyNorm = dyNormsToFill(ws, rows);
    let sumSq = 0;
    if (this.weights.frozen) {
      // a frozen layer (--train) accumulates no dW: its backward is dX alone
    } else if (winsorizes(ws.winsor, rows)) this.winsorizedDw(x, grad, rows);
    else if (this.grad.kind === 'float') {
      const dw = this.grad.data;
      dw.fill(0);
      // a float32 store: the whole batch in one call (large enough to split across threads; the
      // sums run over rows in the same order as chunk by chunk, so nothing changes)
      const whole = grad.floatView?.();
      if (whole && (x.kind === 'float' || x.kind === 'bits')) {
        if (dyNorm) addRowNormsSq(whole, rows, m, dyNorm, 0);
        this.accumulate(x, whole, 0, rows, m, dw);
      } else
        for (let i0 = 0, step = groupAligned(R); i0 < rows; i0 += step) {
          const i1 = Math.min(rows, i0 + step);
          grad.read(i0, i1, 0, m, ws.chunkDy);
          if (dyNorm) addRowNormsSq(ws.chunkDy, i1 - i0, m, dyNorm, i0);
          this.accumulate(x, ws.chunkDy, i0, i1, m, dw);
        }
      if (coh) sumSq = sumSquares(dw, m * n);
    } else if (this.grad.kind === 'sign' && !coh && kernelDecodesPixels(x, ws.chunkX, ws.kernels)) this.signDwOfPixels(x, grad, rows);
    else if (this.grad.kind === 'sign' && !coh && this.signDwOfBits(x, grad, rows)) {
      // done in one kernel call
    } else if (this.grad.kind === 'fused' && !coh && (this.bopDwOfBits(x, grad, rows) || this.bopDwOfPixels(x, grad, rows))) {
      // folded into the optimizer's momentum in one kernel call
    } else {
      // ±1 floats packed once, for whichever path sums them: applied by Adam in one kernel call,
      // or a tile of output rows accumulated in float, then only its sign kept (sign) or handed to
      // the optimizer (fused)
      const packed = this.packedOnce(x, rows);
      if (!(this.grad.kind === 'fused' && !coh && this.adamDwWhole(packed, grad, rows))) sumSq = this.dwByTiles(packed, grad, rows, dyNorm, Boolean(coh));
    }
    if (coh && dyNorm && !this.weights.frozen) {
      const xNorm = coh.perExample.subarray(rows);
      centredRowNormsSq(x, rows, n, coh.mean, coh.scratch, xNorm);
      let exampleSq = 0;
      for (let i = 0; i < rows; i++) exampleSq += xNorm[i] * dyNorm[i];
      this.lastCoherence = { layer: this.name, sumSq, exampleSq };
    }
    this.input = null;
    if (this.first || this.stop) return null;
    spare.setShape(rows, n);
    // the sign index borrows the pre-activations, idle in backward (sized for it, kinds/dense.ts)
    ws.kernels.gemmFloatBinTIndex(this.wbits, m, n, ws.act);
    const dy = grad.floatView?.();
    const dx = spare.floatView?.();
    if (dy && dx) {
      ws.kernels.gemmFloatBinT(dy, this.wbits, rows, m, n, dx, ws.act);
      return spare;
    }
    // float16 stores in the kernels' memory: the whole input gradient in one call (threads take rows)
    const dyCodes = grad.halfView?.();
    const dxCodes = spare.halfView?.();
    if (dyCodes && dxCodes && ws.kernels.denseDxHalf?.(dyCodes, rows, m, n, dxCodes, ws.act)) return spare;
    // po2 stores in the kernels' memory: the same (threads take rows, each range re-coded to the common bias)
    const dyPo2 = grad.po2View?.();
    const k = ws.kernels;
    if (dyPo2 && k.denseDxPo2 && spare.po2Fill?.((words) => k.denseDxPo2!(dyPo2.words, dyPo2.bias, rows, m, n, words, ws.act))) return spare;
    fillStore(
      spare,
      rowsPerChunk(ws, [ws.chunkDx, n], [ws.chunkDy, m]),
      ws.chunkDx,
      (i0, i1, out) => {
        grad.read(i0, i1, 0, m, ws.chunkDy);
        ws.kernels.gemmFloatBinT(ws.chunkDy, this.wbits, i1 - i0, m, n, out, ws.act);
      },
      true, // dX from dY and the weights alone: one pass
    );
    return spare;
  }
}
