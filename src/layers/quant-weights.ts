// A fixed-point weight tensor: float32 latent weights W, their power-of-two quantized copy Wq
// (what forward and backward multiply with), dW, and the weight quantizer with its state.
// Wq is re-derived once after every optimizer update (lazily, at the next forward), so the
// quantizer's exponent history is one entry per training step and evaluation sees current weights.
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Rng } from '../rng.js';
import { createParamStore, type MomentFormat, type ParamStore, type StateTensor } from '../storage/param-store.js';
import { GradientQuantizer, MsqeQuantizer, quantizePo2, type Po2Format } from '../../quant/po2-quantizers.js';
import type { QuantConfig } from '../../quant/quant-config.js';
import type { Param } from './layer.js';
import type { Kernels } from '../kernels/kernels.js';

/** Slots of the float64 state vector (checkpointed). */
const PENDING = 5;
const STATE_SLOTS = 6;

export class QuantizedWeights {
  readonly w: Floats;
  /** The quantized copy (W itself when the weights stay float). */
  readonly wq: Floats;
  readonly dw: Floats;
  readonly param: Param;
  /** Gradient-based quantizer: the trainable log2 scale ẽ. */
  readonly logScale: { store: ParamStore; grad: Floats; param: Param } | null = null;
  readonly quantizer: MsqeQuantizer | GradientQuantizer | null = null;
  /** exponent, EMA, stable exponent, flips, second moments seen, re-quantize pending (NaN = unset). */
  private readonly scalars: Float64Array | null = null;
  readonly format: Po2Format | null;

  constructor(
    readonly owner: string,
    readonly rows: number,
    readonly cols: number,
    q: QuantConfig,
    moments: MomentFormat,
    ledger: MemoryLedger,
    rng: Rng,
    /** Kernels with a fast MSQE (the weights and element weights live in their memory). */
    kernels?: Kernels,
  ) {
    const size = rows * cols;
    const store = createParamStore('float32', size, ledger, 'weights', owner, 'latent weights');
    this.w = store.raw as Floats;
    const std = Math.sqrt(2 / cols); // He: ReLU networks
    for (let i = 0; i < size; i++) this.w[i] = rng.normal() * std;
    this.dw = ledger.floats(size, 'weight-grads', owner, 'dW');
    this.format = q.weightBits === null ? null : { bits: q.weightBits };
    this.param = { owner, name: 'W', size, value: store, grad: { kind: 'float', data: this.dw }, binary: false, momentFormat: moments, afterUpdate: () => this.markPending() };
    if (!this.format) {
      this.wq = this.w;
      return;
    }
    this.wq = ledger.floats(size, 'weights', owner, `quantized weights (${q.weightBits}-bit po2)`);
    this.scalars = ledger.f64(STATE_SLOTS, 'optimizer', owner, 'quantizer state');
    this.scalars.fill(NaN);
    this.scalars[PENDING] = 1;
    if (q.quantizer === 'msqe') {
      const f = q.fixes;
      this.quantizer = new MsqeQuantizer(this.format, size, { outlierMask: f.outlier, secondMoment: f.secondMoment, stableFrom: f.stableFrom ?? undefined }, {
        gradSq: f.secondMoment ? ledger.floats(size, 'optimizer', owner, 'second moments of dL/dWq (EMA)') : undefined,
        weights: f.secondMoment || f.outlier ? ledger.floats(size, 'workspace', owner, 'MSQE element weights') : undefined,
      }, kernels?.msqeSums ? (m) => (e, lo, hi) => kernels.msqeSums!(this.w, (m as Floats | undefined) ?? null, e, lo, hi) : undefined);
    } else {
      const store = createParamStore('float32', 1, ledger, 'weights', owner, 'log2 scale ẽ');
      const grad = ledger.floats(1, 'weight-grads', owner, 'dL/dẽ');
      store.set(0, GradientQuantizer.initialLogScale(this.w, this.format));
      const param: Param = { owner, name: 'log2s', size: 1, value: store, grad: { kind: 'float', data: grad }, binary: false, momentFormat: moments, afterUpdate: () => this.markPending() };
      this.logScale = { store, grad, param };
      this.quantizer = new GradientQuantizer(this.format, q.fixes.msqeRound ? 'msqe-round' : 'ceil', store.get(0), q.fixes.outlier);
    }
  }

  private markPending(): void {
    if (this.scalars) this.scalars[PENDING] = 1;
  }

  /** The exponent of the quantized copy (null: float weights, or not quantized yet). */
  get exponent(): number | null {
    return this.quantizer?.exponent ?? null;
  }

  get flips(): number {
    return this.quantizer?.flips ?? 0;
  }

  /** Bring Wq up to date with W (one quantizer step per optimizer update). */
  ensure(progress: number): void {
    const q = this.quantizer;
    if (!q || !this.scalars || this.scalars[PENDING] !== 1) return;
    this.pull();
    if (q instanceof MsqeQuantizer) q.forward(this.w, this.wq, progress);
    else {
      q.logScale = this.logScale!.store.get(0);
      q.forward(this.w, this.wq);
    }
    this.scalars[PENDING] = 0;
    this.push();
  }

  /**
   * W was rescaled (batch norm folded in): the scale starts over from the new weights. MSQE
   * forgets its exponent, EMA and stable exponent (re-frozen at once if the switch has passed);
   * the gradient-based ẽ is re-initialised from the weights. Not counted as a flip.
   */
  restartScale(): void {
    const q = this.quantizer;
    if (!q || !this.scalars) return;
    this.pull();
    if (q instanceof MsqeQuantizer) [q.exponent, q.emaExponent, q.frozen] = [null, null, null];
    else {
      q.exponent = null;
      this.logScale!.store.set(0, GradientQuantizer.initialLogScale(this.w, this.format!));
    }
    this.push();
    this.markPending();
  }

  /** dW holds dL/dWq: turn it into dL/dW (STE, 0 where clipped) and, gradient-based, fill dL/dẽ. */
  backward(): void {
    const q = this.quantizer;
    if (!q) return;
    if (q instanceof MsqeQuantizer) q.backward(this.w, this.dw, this.dw);
    else this.logScale!.grad[0] = q.backward(this.w, this.dw, this.dw);
    this.push();
  }

  params(): Param[] {
    return this.logScale ? [this.param, this.logScale.param] : [this.param];
  }

  state(): Record<string, StateTensor> {
    const out: Record<string, StateTensor> = { W: this.w };
    if (this.scalars) out.quantizer = this.scalars;
    if (this.logScale) out.log2s = this.logScale.store.raw;
    if (this.quantizer instanceof MsqeQuantizer && this.quantizer.gradSq) out.gradSq = this.quantizer.gradSq as Floats;
    return out;
  }

  /** After a checkpoint was loaded: the quantizer state comes back and Wq is rebuilt with the saved exponent. */
  refresh(): void {
    const q = this.quantizer;
    if (!q || !this.scalars) return;
    this.pull();
    if (q.exponent !== null) quantizePo2(this.w, q.exponent, this.format!, this.wq);
  }

  /** Scalar state → quantizer (after a load), quantizer → scalar state (after a change). */
  private pull(): void {
    const q = this.quantizer!;
    const s = this.scalars!;
    if (q instanceof MsqeQuantizer) q.scalars = Array.from(s.subarray(0, 5), (v, i) => (i === 3 || i === 4) && Number.isNaN(v) ? 0 : v);
    else {
      q.exponent = Number.isNaN(s[0]) ? null : s[0];
      q.flips = Number.isNaN(s[3]) ? 0 : s[3];
      q.logScale = this.logScale!.store.get(0);
    }
  }
  private push(): void {
    const q = this.quantizer!;
    const s = this.scalars!;
    if (q instanceof MsqeQuantizer) s.set(q.scalars, 0);
    else {
      s[0] = q.exponent ?? NaN;
      s[3] = q.flips;
    }
  }
}
