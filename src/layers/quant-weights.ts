// A fixed-point weight tensor: float32 latent weights W, their power-of-two quantized copy Wq
// (what forward and backward multiply with), dW, and the weight quantizer with its state.
// Wq is re-derived once after every optimizer update (lazily, at the next forward), so the
// quantizer's exponent history is one entry per training step and evaluation sees current weights.
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Rng } from '../rng.js';
import { createParamStore, type MomentFormat, type ParamStore, type StateTensor } from '../storage/param-store.js';
import { GradientQuantizer, MsqeQuantizer, QUANTIZER_SCALARS, quantizePo2, type Po2Format, type WeightQuantizer } from '../../quant/po2-quantizers.js';
import type { QuantConfig } from '../../quant/quant-config.js';
import type { Param } from './layer.js';
import type { Kernels } from '../kernels/kernels.js';

/** The float64 state vector (checkpointed): the quantizer's scalars, then the pending flag. */
const PENDING = QUANTIZER_SCALARS;
const STATE_SLOTS = QUANTIZER_SCALARS + 1;

export class QuantizedWeights {
  readonly w: Floats;
  /** The quantized copy (W itself when the weights stay float). */
  readonly wq: Floats;
  readonly dw: Floats;
  readonly param: Param;
  /** Gradient-based quantizer: the trainable log2 scale ẽ. */
  readonly logScale: { store: ParamStore; grad: Floats; param: Param } | null = null;
  readonly quantizer: WeightQuantizer | null = null;
  /** The quantizer's scalars, then the re-quantize-pending flag (checkpointed). */
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
    this.param = {
      owner,
      name: 'W',
      size,
      value: store,
      grad: { kind: 'float', data: this.dw },
      binary: false,
      momentFormat: moments,
      afterUpdate: () => this.markPending(),
    };
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
      this.quantizer = new MsqeQuantizer(
        this.format,
        size,
        { outlierMask: f.outlier, secondMoment: f.secondMoment, stableFrom: f.stableFrom ?? undefined },
        {
          gradSq: f.secondMoment ? ledger.floats(size, 'optimizer', owner, 'second moments of dL/dWq (EMA)') : undefined,
          weights: f.secondMoment || f.outlier ? ledger.floats(size, 'workspace', owner, 'MSQE element weights') : undefined,
        },
        kernels?.msqeSums ? (m) => (e, lo, hi) => kernels.msqeSums!(this.w, (m as Floats | undefined) ?? null, e, lo, hi) : undefined,
      );
    } else {
      const scale = createParamStore('float32', 1, ledger, 'weights', owner, 'log2 scale ẽ');
      const grad = ledger.floats(1, 'weight-grads', owner, 'dL/dẽ');
      scale.set(0, GradientQuantizer.initialLogScale(this.w, this.format));
      const param: Param = {
        owner,
        name: 'log2s',
        size: 1,
        value: scale,
        grad: { kind: 'float', data: grad },
        binary: false,
        momentFormat: moments,
        afterUpdate: () => this.markPending(),
      };
      this.logScale = { store: scale, grad, param };
      const cell = { get: () => scale.get(0), set: (v: number) => scale.set(0, v) };
      this.quantizer = new GradientQuantizer(this.format, q.fixes.msqeRound ? 'msqe-round' : 'ceil', cell, q.fixes.outlier);
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

  /** Run fn on the quantizer with its checkpointed state loaded, and store the state back. */
  private withQuantizer(fn: (q: WeightQuantizer) => void): void {
    const q = this.quantizer;
    const s = this.scalars;
    if (!q || !s) return;
    q.loadScalars(s);
    fn(q);
    s.set(q.saveScalars(), 0);
  }

  /** Bring Wq up to date with W (one quantizer step per optimizer update). */
  ensure(progress: number): void {
    if (this.scalars?.[PENDING] !== 1) return;
    this.withQuantizer((q) => q.quantize(this.w, this.wq, progress));
    this.scalars[PENDING] = 0;
  }

  /**
   * W was rescaled (batch norm folded in): the scale starts over from the new weights. MSQE
   * forgets its exponent, EMA and stable exponent (re-frozen at once if the switch has passed);
   * the gradient-based ẽ is re-initialised from the weights. Not counted as a flip.
   */
  restartScale(): void {
    this.withQuantizer((q) => q.restart(this.w));
    this.markPending();
  }

  /** dW holds dL/dWq: turn it into dL/dW (STE, 0 where clipped) and, gradient-based, fill dL/dẽ. */
  backward(): void {
    this.withQuantizer((q) => {
      const dLog = q.backward(this.w, this.dw, this.dw);
      if (this.logScale) this.logScale.grad[0] = dLog;
    });
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
    this.withQuantizer((q) => {
      if (q.exponent !== null) quantizePo2(this.w, q.exponent, q.format, this.wq);
    });
  }
}
