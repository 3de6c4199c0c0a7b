// What fixed-point dense and conv layers share: the quantized weights, a bias rounded to the
// accumulator's scale 2^(e_w + e_x) (so an integer-only forward computes exactly the same
// numbers), and the first layer's 8-bit input codes.
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Rng } from '../rng.js';
import { unpackSignRows, wordsFor } from '../bits.js';
import { createParamStore, type MomentFormat, type ParamStore, type StateTensor } from '../storage/param-store.js';
import type { LayerCoherence } from '../coherence/coherence.js';
import { INPUT_EXPONENT, type QuantConfig } from '../../quant/quant-config.js';
import { inputRows, type Activation, type Param, type Workspace } from './layer.js';
import { QuantizedWeights } from './quant-weights.js';

/** Integer biases stay within ±2^22 so float32 sums of products and bias stay exact. */
export const BIAS_LIMIT = 2 ** 22;

/** Pixel value (2p − 255)/255 as an 8-bit signed code at scale 2^INPUT_EXPONENT. */
export function inputCode(v: number): number {
  return Math.max(-127, Math.min(127, Math.round(v * 2 ** -INPUT_EXPONENT)));
}

/** A bias value as an integer at scale 2^exponent (the accumulator's), clipped to ±BIAS_LIMIT. */
export function biasCode(b: number, exponent: number): number {
  return Math.max(-BIAS_LIMIT, Math.min(BIAS_LIMIT, Math.round(b / 2 ** exponent)));
}

/** y (rows × b.length) += b on every row: how a fixed-point layer adds its bias (the packed model too). */
export function addRowBias(y: Floats, rows: number, b: ArrayLike<number>): void {
  const m = b.length;
  for (let i = 0; i < rows; i++) for (let j = 0; j < m; j++) y[i * m + j] += b[j];
}

/** Replace n float pixel values by their 8-bit code values, in place. */
export function quantizeInputValues(x: Floats, n: number): void {
  const s = 2 ** INPUT_EXPONENT;
  for (let k = 0; k < n; k++) x[k] = inputCode(x[k]) * s;
}

/** What every fixed-point weight layer is built with, besides its name and shape. */
export interface QuantLayerContext {
  quant: QuantConfig;
  moments: MomentFormat;
  ws: Workspace;
  ledger: MemoryLedger;
  rng: Rng;
}

export abstract class QuantWeightLayer {
  abstract readonly name: string;
  readonly weights: QuantizedWeights;
  readonly bias: ParamStore;
  protected readonly db: Floats;
  private readonly biasParam: Param;
  /** The bias as added in forward (rounded to the accumulator scale when everything is fixed point). */
  readonly biasQ: Floats;
  /** Exponent of the bias rounding in the last forward (null: float bias). */
  biasExponent: number | null = null;
  /** First layer of a network with fixed-point activations: pixels become 8-bit codes. */
  readonly quantizeInput: boolean;
  protected progress = 0;
  lastCoherence: LayerCoherence | null = null;

  constructor(name: string, outputs: number, fanIn: number, first: boolean, ctx: QuantLayerContext) {
    const { quant: q, moments, ledger } = ctx;
    this.weights = new QuantizedWeights(name, outputs, fanIn, q, moments, ledger, ctx.rng, ctx.ws.kernels);
    this.bias = createParamStore('float32', outputs, ledger, 'weights', name, 'bias');
    this.db = ledger.floats(outputs, 'weight-grads', name, 'db');
    this.biasQ = ledger.floats(outputs, 'workspace', name, 'bias as added (quantized)');
    this.biasParam = { owner: name, name: 'b', size: outputs, value: this.bias, grad: { kind: 'float', data: this.db }, binary: false, momentFormat: moments };
    this.quantizeInput = first && q.actBits !== null;
  }

  setTrainingProgress(p: number): void {
    this.progress = p;
  }

  /** The exponent of this layer's input values (null: not fixed point). */
  inputExponent(x: Activation): number | null {
    if (this.quantizeInput) return INPUT_EXPONENT;
    return x.kind === 'float' || x.kind === 'codes' ? (x.exp ?? null) : null;
  }

  /** Fill biasQ for an input like x: b rounded to 2^(e_w + e_x), or b itself. */
  protected prepareBias(x: Activation): void {
    const ew = this.weights.exponent;
    const ex = this.inputExponent(x);
    this.biasExponent = ew !== null && ex !== null ? ew + ex : null;
    const b = this.bias.raw as Floats;
    if (this.biasExponent === null) {
      this.biasQ.set(b);
      return;
    }
    const s = 2 ** this.biasExponent;
    for (let j = 0; j < b.length; j++) this.biasQ[j] = biasCode(b[j], this.biasExponent) * s;
  }

  /** y (rows × outputs) += the bias as added. */
  protected addBias(y: Floats, rows: number): void {
    addRowBias(y, rows, this.biasQ);
  }

  /** db += the column sums of dy (rows × outputs). */
  protected addBiasGrad(dy: Floats, rows: number): void {
    const db = this.db;
    const m = db.length;
    for (let i = 0; i < rows; i++) for (let j = 0; j < m; j++) db[j] += dy[i * m + j];
  }

  /**
   * Rows [i0, i1) of the input, n values each, as floats: a view of a float input, or codes, or
   * pixels (as 8-bit codes in a fixed-point first layer) decoded into scratch.
   */
  protected inputValues(x: Activation, i0: number, i1: number, n: number, scratch: Floats): Floats {
    if (x.kind === 'bits') {
      // a binary layer's sign outputs kept as bits (a model mixing precisions): ±1
      const per = n / x.cols;
      const wpr = wordsFor(x.cols);
      unpackSignRows(x.data.subarray(i0 * per * wpr, i1 * per * wpr), (i1 - i0) * per, x.cols, scratch);
      return scratch;
    }
    const out = inputRows(x, i0, i1, n, scratch);
    if (x.kind === 'pixels' && this.quantizeInput) quantizeInputValues(out, (i1 - i0) * n);
    return out;
  }

  /**
   * Fold the batch norm that follows (inference form z = (y − μ)/σ + β, per output channel) into
   * the latent weights and bias: W_j ← W_j/σ_j, b_j ← (b_j − μ_j)/σ_j + β_j. The quantizer then
   * quantizes the folded weights per tensor, which is what the integer export needs.
   */
  foldBatchNorm(mean: Floats, sigma: Floats, beta: ArrayLike<number>): void {
    const { w, rows, cols } = this.weights;
    const b = this.bias.raw as Floats;
    for (let j = 0; j < rows; j++) {
      for (let k = 0; k < cols; k++) w[j * cols + k] /= sigma[j];
      b[j] = (b[j] - mean[j]) / sigma[j] + beta[j];
    }
    this.weights.restartScale();
  }

  params(): Param[] {
    return [...this.weights.params(), this.biasParam];
  }

  state(): Record<string, StateTensor> {
    return { ...this.weights.state(), b: this.bias.raw };
  }

  refresh(): void {
    this.weights.refresh();
  }
}
