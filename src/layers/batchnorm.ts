// Batch norm over the batch, per channel, beta only (no scale): x̂ = (y − μ)/σ, z = x̂ + β.
// l2: σ = sqrt(var + ε); l1: σ = mean|y − μ| + ε.  Backward (g = dL/dz):
//   l2 exact:     dy = (1/σ)[g − mean(g) − x̂·mean(g·x̂)]
//   l1 exact:     dy = (1/σ)[g − mean(g) − mean(g·x̂)·(sign x̂ − mean(sign x̂))]
//   sign-approx:  dy = g/σ − mean(g/σ) − sign(x̂)·mean((g/σ)·sign x̂)   (keeps sign(x̂) bits + σ only)
import { packSignRows, wordsFor } from '../bits.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import { fillStore, type GradStore } from '../storage/grad-store.js';
import { createParamStore, type ParamStore } from '../storage/param-store.js';
import type { Activation, Layer, Param, Workspace } from './layer.js';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.9;

export class BatchNormLayer implements Layer {
  readonly kind = 'batchnorm';
  readonly beta: ParamStore;
  readonly dBeta: Floats;
  readonly runMean: Floats;
  readonly runSigma: Floats;
  readonly sigma: Floats;
  /** exact: float x̂ (rows × C); sign-approx: sign(x̂) bits. */
  private readonly xhat: Floats | null;
  private readonly xhatSign: Uint32Array | null;
  private trained = false;
  /** Batches averaged so far while recalibrating; -1 when training normally. */
  private calibrated = -1;

  /** Start (true) or end (false) re-estimating the running statistics from scratch. */
  recalibrate(on: boolean): void {
    this.calibrated = on ? 0 : -1;
  }
  private readonly param: Param;

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
  ) {
    const C = channels;
    const rowsCap = batch * rowsPerExample;
    this.beta = createParamStore('float32', C, ledger, 'weights', name, 'beta');
    this.runMean = ledger.floats(C, 'weights', name, 'running mean');
    this.runSigma = ledger.floats(C, 'weights', name, 'running sigma');
    this.runSigma.fill(1);
    this.dBeta = ledger.floats(C, 'weight-grads', name, 'dbeta');
    this.sigma = ledger.floats(C, 'retained', name, 'sigma');
    if (backwardKind === 'exact') {
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
    return [this.param];
  }

  state() {
    return { beta: this.beta.raw, runMean: this.runMean, runSigma: this.runSigma };
  }

  forward(x: Activation, rows: number, training: boolean): Activation {
    if (x.kind !== 'float') throw new Error(`${this.name}: batch norm takes float input`);
    const C = this.channels;
    if (x.cols !== C) throw new Error(`${this.name}: input has ${x.cols} channels, expected ${C}`);
    const y = x.data;
    const beta = this.beta.raw;
    if (!training) {
      for (let i = 0; i < rows; i++)
        for (let c = 0; c < C; c++) {
          const k = i * C + c;
          y[k] = (y[k] - this.runMean[c]) / this.runSigma[c] + beta[c];
        }
      return x;
    }
    const mean = this.ws.chan;
    const sigma = this.sigma;
    mean.fill(0, 0, C);
    sigma.fill(0);
    for (let i = 0; i < rows; i++) for (let c = 0; c < C; c++) mean[c] += y[i * C + c];
    for (let c = 0; c < C; c++) mean[c] /= rows;
    if (this.kindOfNorm === 'l2') {
      for (let i = 0; i < rows; i++)
        for (let c = 0; c < C; c++) {
          const d = y[i * C + c] - mean[c];
          sigma[c] += d * d;
        }
      for (let c = 0; c < C; c++) sigma[c] = Math.sqrt(sigma[c] / rows + BN_EPS);
    } else {
      for (let i = 0; i < rows; i++) for (let c = 0; c < C; c++) sigma[c] += Math.abs(y[i * C + c] - mean[c]);
      for (let c = 0; c < C; c++) sigma[c] = sigma[c] / rows + BN_EPS;
    }
    for (let i = 0; i < rows; i++)
      for (let c = 0; c < C; c++) {
        const k = i * C + c;
        y[k] = (y[k] - mean[c]) / sigma[c];
      }
    if (this.xhat) this.xhat.set(y.subarray(0, rows * C));
    else packSignRows(y, rows, C, this.xhatSign!);
    for (let i = 0; i < rows; i++) for (let c = 0; c < C; c++) y[i * C + c] += beta[c];
    // running statistics: an exponential average while training, a plain average of the
    // batches seen while recalibrating (then the stats belong to the final weights only)
    const keep = this.calibrated >= 0 ? this.calibrated / (this.calibrated + 1) : BN_MOMENTUM;
    for (let c = 0; c < C; c++) {
      this.runMean[c] = keep * this.runMean[c] + (1 - keep) * mean[c];
      this.runSigma[c] = keep * this.runSigma[c] + (1 - keep) * sigma[c];
    }
    if (this.calibrated >= 0) this.calibrated++;
    this.trained = true;
    return x;
  }

  /** x̂ (exact) or sign(x̂) (approx) of row i into out[0..C). */
  private xhatRow(i: number, out: Floats, offset: number): void {
    const C = this.channels;
    if (this.xhat) {
      for (let c = 0; c < C; c++) out[offset + c] = this.xhat[i * C + c];
      return;
    }
    const wpr = wordsFor(C);
    const bits = this.xhatSign!;
    for (let c = 0; c < C; c++) out[offset + c] = (bits[i * wpr + (c >>> 5)] >>> (c & 31)) & 1 ? 1 : -1;
  }

  backward(grad: GradStore, _spare: GradStore, rows: number): GradStore {
    if (!this.trained) throw new Error(`${this.name}: backward without a training forward`);
    const C = this.channels;
    const { ws, sigma, dBeta } = this;
    const R = ws.chunkRows;
    // chan: [0, C) Σg, [C, 2C) Σ g·x̂ (or g·sign x̂), [2C, 3C) Σ sign x̂ (l1 exact)
    const sums = ws.chan;
    sums.fill(0, 0, 3 * C);
    const l1Exact = this.backwardKind === 'exact' && this.kindOfNorm === 'l1';
    for (let i0 = 0; i0 < rows; i0 += R) {
      const i1 = Math.min(rows, i0 + R);
      grad.read(i0, i1, 0, C, ws.chunkDy);
      for (let i = i0; i < i1; i++) this.xhatRow(i, ws.chunkX, (i - i0) * C);
      for (let i = i0; i < i1; i++)
        for (let c = 0; c < C; c++) {
          const g = ws.chunkDy[(i - i0) * C + c];
          const xh = ws.chunkX[(i - i0) * C + c];
          sums[c] += g;
          sums[C + c] += g * xh;
          if (l1Exact) sums[2 * C + c] += xh >= 0 ? 1 : -1;
        }
    }
    dBeta.set(sums.subarray(0, C));
    for (let k = 0; k < 3 * C; k++) sums[k] /= rows;
    const approx = this.backwardKind === 'sign-approx';
    const l2 = this.kindOfNorm === 'l2';
    fillStore(grad, R, ws.chunkDx, (i0, i1, out) => {
      grad.read(i0, i1, 0, C, out);
      for (let i = i0; i < i1; i++) this.xhatRow(i, ws.chunkX, (i - i0) * C);
      for (let i = i0; i < i1; i++)
        for (let c = 0; c < C; c++) {
          const k = (i - i0) * C + c;
          const g = out[k];
          const xh = ws.chunkX[k];
          const s = sigma[c];
          // sign-approx has the l2 form with x̂ replaced by sign(x̂), which xhatAt already returns
          if (approx || l2) out[k] = (g - sums[c] - xh * sums[C + c]) / s;
          else out[k] = (g - sums[c] - sums[C + c] * ((xh >= 0 ? 1 : -1) - sums[2 * C + c])) / s;
        }
    });
    this.trained = false;
    return grad;
  }
}
