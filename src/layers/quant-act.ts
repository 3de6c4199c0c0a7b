// ReLU followed by the learnable activation quantizer of fixed-point networks (docs/method.md §4):
// a = s·clip(round(x/s), 0, 2^b − 1), s = 2^e, e = R(ẽ) with ẽ trained (TQT gradients, unsigned
// after ReLU): ∂a/∂ẽ = s·ln2·(round(x/s) − x/s) inside the range, s·ln2·Qp above it, 0 where ReLU
// cuts (x <= 0). R is ceil (TQT).
// With float activations it is a plain ReLU.
import type { Floats, MemoryLedger } from '../ledger.js';
import type { MomentFormat, ParamStore, StateTensor } from '../storage/param-store.js';
import { createParamStore } from '../storage/param-store.js';
import { fillStore, type GradStore } from '../storage/grad-store.js';
import { qRange } from '../../quant/po2-quantizers.js';
import type { QuantConfig } from '../../quant/quant-config.js';
import type { Activation, Layer, Param, Workspace } from './layer.js';

/** ReLU, then the code clip(round(x / s), 0, Qp): the activation quantizer's inference (the packed model's too). */
export function activationCode(x: number, s: number, Qp: number): number {
  return x > 0 ? Math.min(Qp, Math.round(x / s)) : 0;
}

export class QuantActLayer implements Layer {
  readonly kind = 'qact';
  /** The output: the next layer's input, kept for its dW (float, or the integer codes). */
  private readonly out: Floats | null;
  private readonly codes: Uint8Array | Uint16Array | null;
  /** Pre-activations, kept for the quantizer's backward (fixed point only). */
  private readonly xKept: Floats | null;
  readonly bits: number | null;
  private readonly logScale: ParamStore | null;
  private readonly dLog: Floats | null;
  private readonly param: Param | null;
  /** [exponent in use, initialized, flips] (checkpointed). */
  private readonly scalars: Float64Array | null;
  private trained = false;

  constructor(
    readonly name: string,
    readonly channels: number,
    q: QuantConfig,
    moments: MomentFormat,
    batch: number,
    private readonly ws: Workspace,
    ledger: MemoryLedger,
    /** Pixels per example for feature maps. */
    readonly rowsPerExample = 1,
    /** Keep the output as integer codes (1 or 2 bytes per value) instead of float32. */
    keepCodes = false,
  ) {
    this.bits = q.actBits;
    const n = batch * rowsPerExample * channels;
    if (keepCodes && this.bits === null)
      throw new Error(`${name}: float activations cannot be kept as codes (actInput=bit needs fixed-point activations, e.g. --quant w4a8)`);
    this.codes = !keepCodes
      ? null
      : this.bits! <= 8
        ? ledger.u8(n, 'retained', name, `output (${this.bits}-bit codes)`)
        : ledger.u16(n, 'retained', name, `output (${this.bits}-bit codes)`);
    this.out = this.codes ? null : ledger.floats(n, 'retained', name, this.bits ? `output (${this.bits}-bit values, float)` : 'output (float)');
    if (this.bits === null) {
      this.xKept = this.logScale = this.dLog = this.param = this.scalars = null;
      return;
    }
    this.xKept = ledger.floats(n, 'retained', name, 'pre-activation x (float)');
    this.logScale = createParamStore('float32', 1, ledger, 'weights', name, 'log2 scale ẽ');
    this.dLog = ledger.floats(1, 'weight-grads', name, 'dL/dẽ');
    this.scalars = ledger.f64(3, 'optimizer', name, 'quantizer state');
    this.scalars[0] = NaN;
    this.param = { owner: name, name: 'log2s', size: 1, value: this.logScale, grad: { kind: 'float', data: this.dLog }, binary: false, momentFormat: moments };
  }

  get exponent(): number | null {
    return this.scalars && !Number.isNaN(this.scalars[0]) ? this.scalars[0] : null;
  }
  get flips(): number {
    return this.scalars?.[2] ?? 0;
  }

  params(): Param[] {
    return this.param ? [this.param] : [];
  }

  state(): Record<string, StateTensor> {
    return this.scalars ? { log2s: this.logScale!.raw, quantizer: this.scalars } : {};
  }

  /**
   * The exponent: ceil(ẽ), as in TQT. (MSQE-round is for weights: on activations it is decided
   * per batch, and on mnist-conv it made an exponent alternate 232 times in one epoch.)
   */
  private chooseExponent(): number {
    return Math.ceil(this.logScale!.get(0));
  }

  forward(x: Activation, rows: number, training: boolean): Activation {
    if (x.kind !== 'float') throw new Error(`${this.name}: takes float input`);
    const n = rows * this.channels;
    const z = x.data;
    const out = this.out!; // null only with codes, which take their own branch below
    if (this.bits === null) {
      for (let k = 0; k < n; k++) out[k] = z[k] > 0 ? z[k] : 0;
      this.trained = training;
      return { kind: 'float', data: out, cols: this.channels };
    }
    const s0 = this.scalars!;
    if (s0[1] !== 1) {
      // first batch: a range that just holds its largest activation
      let max = 0;
      for (let k = 0; k < n; k++) if (z[k] > max) max = z[k];
      this.logScale!.set(0, Math.log2(Math.max(max, 1e-5) / qRange({ bits: this.bits, unsigned: true }).hi));
      s0[1] = 1;
    }
    // inference keeps the exponent of the last training step (what export --format int uses)
    const e = training || Number.isNaN(s0[0]) ? this.chooseExponent() : s0[0];
    if (training) {
      if (!Number.isNaN(s0[0]) && e !== s0[0]) s0[2]++;
      s0[0] = e;
      this.xKept!.set(z.subarray(0, n));
      this.trained = true;
    }
    // code = ReLU, then clip(round(x/s), 0, Qp); kept as the code itself, or as its value code·s
    const s = 2 ** e;
    const Qp = 2 ** this.bits - 1;
    const dest = this.codes ?? out;
    const scale = this.codes ? 1 : s;
    for (let k = 0; k < n; k++) dest[k] = activationCode(z[k], s, Qp) * scale;
    return this.codes ? { kind: 'codes', data: this.codes, cols: this.channels, exp: e } : { kind: 'float', data: out, cols: this.channels, exp: e };
  }

  backward(grad: GradStore, _spare: GradStore, rows: number): GradStore {
    if (!this.trained) throw new Error(`${this.name}: backward without a training forward`);
    const C = this.channels;
    const ws = this.ws;
    if (this.bits === null) {
      const out = this.out!;
      fillStore(grad, ws.chunkRows, ws.chunkDx, (i0, i1, d) => {
        grad.read(i0, i1, 0, C, d);
        for (let k = 0; k < (i1 - i0) * C; k++) if (out[i0 * C + k] <= 0) d[k] = 0;
      });
      this.trained = false;
      return grad;
    }
    const x = this.xKept!;
    const s = 2 ** this.scalars![0];
    const Qp = 2 ** this.bits - 1;
    // dL/dẽ first (fillStore may compute a chunk twice)
    let dLog = 0;
    for (let i0 = 0; i0 < rows; i0 += ws.chunkRows) {
      const i1 = Math.min(rows, i0 + ws.chunkRows);
      grad.read(i0, i1, 0, C, ws.chunkDy);
      for (let k = 0; k < (i1 - i0) * C; k++) {
        const v = x[i0 * C + k];
        if (v <= 0) continue;
        const r = Math.round(v / s);
        dLog += ws.chunkDy[k] * (r > Qp ? Qp : r - v / s);
      }
    }
    this.dLog![0] = dLog * s * Math.LN2;
    fillStore(grad, ws.chunkRows, ws.chunkDx, (i0, i1, d) => {
      grad.read(i0, i1, 0, C, d);
      for (let k = 0; k < (i1 - i0) * C; k++) {
        const v = x[i0 * C + k];
        if (v <= 0 || Math.round(v / s) > Qp) d[k] = 0;
      }
    });
    this.trained = false;
    return grad;
  }
}
