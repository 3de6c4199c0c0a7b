// Batch norm over the batch, per channel, beta only (no scale): x̂ = (y − μ)/σ, z = x̂ + β.
// Ghost batch norm: with ghostBatch G, the statistics (and the backward's means) run over each
// group of G examples separately, as large-batch training wants (Hoffer et al. 2017).
// l2: σ = sqrt(var + ε); l1: σ = mean|y − μ| + ε.  Backward (g = dL/dz):
//   l2 exact:     dy = (1/σ)[g − mean(g) − x̂·mean(g·x̂)]
//   l1 exact:     dy = (1/σ)[g − mean(g) − mean(g·x̂)·(sign x̂ − mean(sign x̂))]
//   sign-approx:  dy = g/σ − mean(g/σ) − sign(x̂)·mean((g/σ)·sign x̂)   (keeps sign(x̂) bits + σ only)
import { wordsFor } from '../bits.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import { fillRowwise, writeRowwise, type GradStore } from '../storage/grad-store.js';
import { createParamStore, type ParamStore } from '../storage/param-store.js';
import { holdsAll, packSigns, rowsPerChunk, type Activation, type Layer, type Param, type ScopeFlags, type Workspace } from './layer.js';
import { addRowBias } from './quant-layer.js';

export const BN_EPS = 1e-5;

/** x̂ of element c of row i: the kept float32 x̂, or ±1 from its packed sign bits. */
function xhatAt(xh: Floats | Uint32Array, i: number, C: number, c: number): number {
  if (xh instanceof Uint32Array) return (xh[i * wordsFor(C) + (c >>> 5)] >>> (c & 31)) & 1 ? 1 : -1;
  return xh[i * C + c];
}

/**
 * Batch-norm backward, first pass over rows row0 .. row0 + rows (dy holds them from its row 0): per
 * ghost batch g of G rows, at stats[3C·g ..], [0, C) Σ dy, [C, 2C) Σ dy·x̂ (or dy·sign x̂), and for
 * the exact l1 form [2C, 3C) Σ sign x̂. The reference of Kernels.bnBackStats.
 */
export function bnBackStatsReference(
  dy: Floats,
  xh: Floats | Uint32Array,
  rows: number,
  C: number,
  row0: number,
  G: number,
  stats: Floats,
  l1Exact: boolean,
): void {
  for (let r = 0; r < rows; r++) {
    const i = row0 + r;
    const o = 3 * C * Math.floor(i / G);
    for (let c = 0; c < C; c++) {
      const g = dy[r * C + c];
      const x = xhatAt(xh, i, C, c);
      stats[o + c] += g;
      stats[o + C + c] += g * x;
      if (l1Exact) stats[o + 2 * C + c] += x >= 0 ? 1 : -1;
    }
  }
}

/**
 * Batch-norm backward, second pass: out (rows row0 ..) holds dy and becomes dx, from the group
 * means in stats and sigma per group. sign-approx has the l2 form with x̂ replaced by sign(x̂)
 * (its bits give ±1); the exact l1 form subtracts mean(g·x̂)·(sign x̂ − mean sign x̂). The
 * reference of Kernels.bnBackDx.
 */
export function bnBackDxReference(
  out: Floats,
  xh: Floats | Uint32Array,
  rows: number,
  C: number,
  row0: number,
  G: number,
  stats: Floats,
  sigma: Floats,
  l1Exact: boolean,
): void {
  for (let r = 0; r < rows; r++) {
    const i = row0 + r;
    const g0 = Math.floor(i / G);
    const o = 3 * C * g0;
    const so = C * g0;
    for (let c = 0; c < C; c++) {
      const k = r * C + c;
      const g = out[k];
      const x = xhatAt(xh, i, C, c);
      const s = sigma[so + c];
      if (!l1Exact) out[k] = (g - stats[o + c] - x * stats[o + C + c]) / s;
      else out[k] = (g - stats[o + c] - stats[o + C + c] * ((x >= 0 ? 1 : -1) - stats[o + 2 * C + c])) / s;
    }
  }
}

/**
 * One (ghost) batch in training: mean[c] and sigma[c] of y's rows (l2: the standard deviation,
 * else the mean absolute deviation; + eps), then y = (y − mean) / sigma in place. The reference
 * of Kernels.bnNormalize.
 */
export function bnNormalizeReference(y: Floats, n: number, C: number, l2: boolean, mean: Floats, sigma: Floats, eps: number): void {
  mean.fill(0);
  sigma.fill(0);
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) mean[c] += y[i * C + c];
  for (let c = 0; c < C; c++) mean[c] /= n;
  if (l2) {
    for (let i = 0; i < n; i++)
      for (let c = 0; c < C; c++) {
        const d = y[i * C + c] - mean[c];
        sigma[c] += d * d;
      }
    for (let c = 0; c < C; c++) sigma[c] = Math.sqrt(sigma[c] / n + eps);
  } else {
    for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) sigma[c] += Math.abs(y[i * C + c] - mean[c]);
    for (let c = 0; c < C; c++) sigma[c] = sigma[c] / n + eps;
  }
  for (let i = 0; i < n; i++)
    for (let c = 0; c < C; c++) {
      const k = i * C + c;
      y[k] = (y[k] - mean[c]) / sigma[c];
    }
}
export const BN_MOMENTUM = 0.9;

/**
 * The inference map z = (y − μ)/σ + β in JavaScript's doubles (stored as float32 by the caller):
 * the one expression evaluation, the packed model's batch norm and its sign thresholds all use.
 */
export function bnInference(y: number, mean: number, sigma: number, beta: number): number {
  return (y - mean) / sigma + beta;
}

export class BatchNormLayer implements Layer {
  readonly kind = 'batchnorm';
  readonly beta: ParamStore;
  /** Empty when frozen (--train): β does not train. */
  readonly dBeta: Floats;
  readonly runMean: Floats;
  readonly runSigma: Floats;
  readonly sigma: Floats;
  /** exact: float x̂ (rows × C); sign-approx: sign(x̂) bits. */
  private readonly xhat: Floats | null;
  private readonly xhatSign: Uint32Array | null;
  private trained = false;
  private readonly foldedFlag: Uint8Array | null;
  /** Batches averaged so far while recalibrating; -1 when training normally. */
  private calibrated = -1;

  /** Start (true) or end (false) re-estimating the running statistics from scratch. */
  recalibrate(on: boolean): void {
    this.calibrated = on ? 0 : -1;
  }
  private readonly param: Param;
  /** Rows per ghost batch (the whole batch when ghost batch norm is off). */
  private readonly ghostRows: number;
  /** Per ghost batch: 3·C backward sums (or C means in forward); ws.chan when there is one group. */
  private readonly groupStats: Floats;

  constructor(
    readonly name: string,
    readonly channels: number,
    private readonly kindOfNorm: Recipe['bn'],
    private readonly backwardKind: Recipe['bnBackward'],
    batch: number,
    private readonly ws: Workspace,
    ledger: MemoryLedger,
    /** Pixels per example for feature maps (statistics run over batch × pixels). */
    readonly rowsPerExample = 1,
    ghostBatch = 0,
    /** Fixed-point models: can be folded into the weight layer before it (then it is the identity). */
    foldable = false,
    /** A partial update (--train): frozen (β fixed), below the lowest trainable layer (nothing kept), or the lowest (no dx). */
    private readonly scope: ScopeFlags = {},
  ) {
    this.foldedFlag = foldable ? ledger.u8(1, 'weights', name, 'folded into the weights (flag)') : null;
    const C = channels;
    const rowsCap = batch * rowsPerExample;
    const groups = ghostBatch > 0 ? Math.ceil(batch / ghostBatch) : 1;
    this.ghostRows = ghostBatch > 0 ? ghostBatch * rowsPerExample : rowsCap;
    this.beta = createParamStore('float32', C, ledger, 'weights', name, 'beta');
    this.runMean = ledger.floats(C, 'weights', name, 'running mean');
    this.runSigma = ledger.floats(C, 'weights', name, 'running sigma');
    this.runSigma.fill(1);
    this.dBeta = scope.frozen ? new Float32Array(0) : ledger.floats(C, 'weight-grads', name, 'dbeta');
    this.sigma = ledger.floats(groups * C, 'retained', name, groups > 1 ? 'sigma per ghost batch' : 'sigma');
    this.groupStats = groups > 1 ? ledger.floats(3 * groups * C, 'workspace', name, 'ghost-batch statistics') : ws.chan;
    if (scope.noBackward) {
      this.xhat = null;
      this.xhatSign = null;
    } else if (backwardKind === 'exact') {
      this.xhat = ledger.floats(rowsCap * C, 'retained', name, 'x-hat (float)');
      this.xhatSign = null;
    } else {
      this.xhat = null;
      this.xhatSign = ledger.u32(rowsCap * wordsFor(C), 'retained', name, 'sign(x-hat) (packed)');
    }
    this.param = {
      owner: name,
      name: 'beta',
      size: C,
      value: this.beta,
      grad: { kind: 'float', data: this.dBeta },
      binary: false,
      momentFormat: 'float32',
    };
  }

  params(): Param[] {
    return this.scope.frozen ? [] : [this.param];
  }

  /** The kept float32 x̂ and β, for the sign layer after it to rebuild z = x̂ + β (null: x̂ not kept as floats). */
  keptXhat(): { xhat: Floats; beta: Floats } | null {
    return this.xhat ? { xhat: this.xhat, beta: this.beta.raw as Float32Array } : null;
  }

  state() {
    return { beta: this.beta.raw, runMean: this.runMean, runSigma: this.runSigma, ...(this.foldedFlag ? { folded: this.foldedFlag } : {}) };
  }

  /** Folded into the weights before it: forward and backward pass through. */
  get folded(): boolean {
    return this.foldedFlag?.[0] === 1;
  }

  /** The layer's inference map z = (y − μ)/σ + β now lives in the weights: become the identity. */
  markFolded(): void {
    if (!this.foldedFlag) throw new Error(`${this.name}: this batch norm cannot be folded`);
    this.foldedFlag[0] = 1;
    this.dBeta.fill(0);
  }

  forward(x: Activation, rows: number, training: boolean): Activation {
    if (this.folded) return x;
    if (x.kind !== 'float') throw new Error(`${this.name}: batch norm takes float input`);
    const C = this.channels;
    if (x.cols !== C) throw new Error(`${this.name}: input has ${x.cols} channels, expected ${C}`);
    const y = x.data;
    const beta = this.beta.raw;
    if (!training) {
      for (let i = 0; i < rows; i++)
        for (let c = 0; c < C; c++) {
          const k = i * C + c;
          y[k] = bnInference(y[k], this.runMean[c], this.runSigma[c], beta[c]);
        }
      return x;
    }
    // per ghost batch g (rows [r0, r1)): μ_g, σ_g; the running statistics take their average
    const G = this.ghostRows;
    const groups = Math.ceil(rows / G);
    const stats = this.groupStats;
    const avgMean = stats.subarray(0, C);
    const avgSigma = this.ws.chan.subarray(C, 2 * C);
    const mean = groups > 1 ? stats.subarray(C, 2 * C) : this.ws.chan.subarray(2 * C, 3 * C);
    avgMean.fill(0);
    avgSigma.fill(0);
    const k = this.ws.kernels;
    const b = beta as Float32Array; // float32 storage (see the constructor)
    // the kernel's last pass also keeps x̂ (or its sign bits) and adds β (two passes over the batch fewer)
    const kept = this.xhat ?? this.xhatSign;
    const fused = kept !== null && k.bnNormalize !== undefined && holdsAll(k, y, mean, this.sigma, kept, b);
    const wpr = wordsFor(C);
    for (let g = 0; g < groups; g++) {
      const r0 = g * G;
      const r1 = Math.min(rows, r0 + G);
      const n = r1 - r0;
      const sigma = this.sigma.subarray(g * C, (g + 1) * C);
      const yg = y.subarray(r0 * C, r1 * C);
      const l2 = this.kindOfNorm === 'l2';
      if (fused)
        k.bnNormalize!(
          yg,
          n,
          C,
          l2,
          mean,
          sigma,
          BN_EPS,
          this.xhat ? { xhat: this.xhat.subarray(r0 * C, r1 * C), beta: b } : { signs: this.xhatSign!.subarray(r0 * wpr, r1 * wpr), beta: b },
        );
      else if (k.bnNormalize && holdsAll(k, y, mean, sigma)) k.bnNormalize(yg, n, C, l2, mean, sigma, BN_EPS);
      else bnNormalizeReference(yg, n, C, l2, mean, sigma, BN_EPS);
      for (let c = 0; c < C; c++) {
        avgMean[c] += mean[c] / groups;
        avgSigma[c] += sigma[c] / groups;
      }
    }
    if (!fused) {
      if (this.xhat) this.xhat.set(y.subarray(0, rows * C));
      else if (this.xhatSign) packSigns(k, y, rows, C, this.xhatSign);
      if (k.addRowBias && holdsAll(k, y, b)) k.addRowBias(y, rows, b);
      else addRowBias(y, rows, b);
    }
    // running statistics: an exponential average while training, a plain average of the
    // batches seen while recalibrating (then the stats belong to the final weights only)
    const keep = this.calibrated >= 0 ? this.calibrated / (this.calibrated + 1) : BN_MOMENTUM;
    for (let c = 0; c < C; c++) {
      this.runMean[c] = keep * this.runMean[c] + (1 - keep) * avgMean[c];
      this.runSigma[c] = keep * this.runSigma[c] + (1 - keep) * avgSigma[c];
    }
    if (this.calibrated >= 0) this.calibrated++;
    this.trained = true;
    return x;
  }

  backward(grad: GradStore, spare: GradStore, rows: number): GradStore | null {
    if (this.folded) return grad;
    if (!this.trained) throw new Error(`${this.name}: backward without a training forward`);
    const C = this.channels;
    const { ws, sigma, dBeta } = this;
    // per ghost batch g, at stats[3C·g ..]: [0, C) Σg, [C, 2C) Σ g·x̂ (or g·sign x̂), [2C, 3C) Σ sign x̂ (l1 exact)
    const G = this.ghostRows;
    const groups = Math.ceil(rows / G);
    const stats = this.groupStats;
    stats.fill(0, 0, 3 * C * groups);
    const l1Exact = this.backwardKind === 'exact' && this.kindOfNorm === 'l1';
    const k = ws.kernels;
    // x̂ as the kernels take it: the kept float32 x̂, or its packed sign bits
    const xh = this.xhat ?? this.xhatSign!;
    const fast = k.bnBackStats && k.bnBackDx && holdsAll(k, xh, stats, sigma, ws.chunkDy, ws.chunkDx);
    const backStats = fast ? k.bnBackStats! : bnBackStatsReference;
    const backDx = fast ? k.bnBackDx! : bnBackDxReference;
    // a float32 store: the whole batch in place, one call a pass (threads split it). Another
    // store whose batch fits the pre-activation buffer (idle in backward): decoded into it once
    // for both passes and encoded once (the standard recipe's passes, with no chunk loop: each
    // thread keeps its half through decode, dx and encode). Else in chunks.
    const whole = grad.floatView?.();
    const decoded = !whole && fast && ws.act.length >= rows * C && holdsAll(k, ws.act) ? ws.act.subarray(0, rows * C) : null;
    if (decoded) grad.read(0, rows, 0, C, decoded);
    // the whole batch as float32 values (the store's own, or decoded), or null: chunks
    const batchFloats = whole && fast && holdsAll(k, whole) ? whole : decoded;
    const R = rowsPerChunk(ws, [ws.chunkDy, C]);
    if (batchFloats) backStats(batchFloats, xh, rows, C, 0, G, stats, l1Exact);
    else
      for (let i0 = 0; i0 < rows; i0 += R) {
        const i1 = Math.min(rows, i0 + R);
        grad.read(i0, i1, 0, C, ws.chunkDy);
        backStats(ws.chunkDy, xh, i1 - i0, C, i0, G, stats, l1Exact);
      }
    dBeta.fill(0);
    for (let g = 0; g < groups; g++) {
      const o = 3 * C * g;
      if (dBeta.length) for (let c = 0; c < C; c++) dBeta[c] += stats[o + c];
      const n = Math.min(rows, (g + 1) * G) - g * G;
      for (let k = 0; k < 3 * C; k++) stats[o + k] /= n;
    }
    this.trained = false;
    if (this.scope.stop) return null; // the lowest trainable layer: nothing below needs dx
    if (batchFloats) {
      backDx(batchFloats, xh, rows, C, 0, G, stats, sigma, l1Exact);
      return decoded ? writeRowwise(grad, spare, decoded) : grad;
    }
    return fillRowwise(grad, spare, rowsPerChunk(ws, [ws.chunkDx, C]), ws.chunkDx, (i0, i1, out) => backDx(out, xh, i1 - i0, C, i0, G, stats, sigma, l1Exact));
  }
}
