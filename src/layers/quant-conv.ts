// Fixed-point 3x3 convolution, stride 1, valid or same padding, with a bias per output channel
// (docs/method.md §4): y = conv(X, Wq) + bq, channels-last, one example at a time. Weights are
// co × 9 × ci (output channel, tap, input channel), quantized per tensor.
import { taps, type ConvGeometry } from '../kernels/conv-geometry.js';
import type { Floats } from '../ledger.js';
import { fillStore, type GradStore } from '../storage/grad-store.js';
import { trainingInput, type Activation, type Layer, type Workspace } from './layer.js';
import { sumSquares } from './norms.js';
import { QuantWeightLayer, quantizeInputValues, type QuantLayerContext } from './quant-layer.js';

export class QuantConvLayer extends QuantWeightLayer implements Layer {
  readonly kind = 'qconv';
  readonly rowsPerExample: number;
  private input: Activation | null = null;
  private readonly ws: Workspace;

  constructor(
    readonly name: string,
    readonly g: ConvGeometry,
    readonly first: boolean,
    ctx: QuantLayerContext,
  ) {
    super(name, g.co, taps(g) * g.ci, first, ctx);
    this.ws = ctx.ws;
    this.rowsPerExample = g.hi * g.wi;
  }

  /** Example b of the input as floats (a view, or codes or pixels decoded into chunkX). */
  private example(x: Activation, b: number): Floats {
    const { hi, wi, ci } = this.g;
    return this.inputValues(x, b, b + 1, hi * wi * ci, this.ws.chunkX);
  }

  forward(x: Activation, rows: number, training: boolean): Activation {
    const { g, ws } = this;
    if (x.cols !== g.ci) throw new Error(`${this.name}: input has ${x.cols} channels, expected ${g.ci}`);
    this.weights.ensure(this.progress);
    // the staged input batch (a fresh copy every step): its 8-bit codes in place
    if (x.kind === 'float' && this.quantizeInput) quantizeInputValues(x.data, rows * g.ci);
    const B = rows / this.rowsPerExample;
    const outPix = g.ho * g.wo;
    const wq = this.weights.wq;
    this.prepareBias(x);
    for (let b = 0; b < B; b++) {
      const y = ws.act.subarray(b * outPix * g.co, (b + 1) * outPix * g.co);
      ws.kernels.convFwdFloatFloat(this.example(x, b), wq, g, y);
      this.addBias(y, outPix);
    }
    this.input = training ? x : null;
    return { kind: 'float', data: ws.act, cols: g.co };
  }

  /**
   * m-coherence terms: no batch norm couples the examples, so example i's term of dW is its own
   * Σ_p patch_pᵀ dY_p, formed a tile of output channels at a time in the coherence scratch.
   */
  private measureCoherence(x: Activation, grad: GradStore, B: number): void {
    const { g, ws } = this;
    const coh = ws.coherence!;
    const outPix = g.ho * g.wo;
    const perChannel = taps(g) * g.ci;
    const tile = Math.max(1, Math.floor(coh.scratch.length / perChannel));
    let exampleSq = 0;
    for (let c0 = 0; c0 < g.co; c0 += tile) {
      const c1 = Math.min(g.co, c0 + tile);
      const len = (c1 - c0) * perChannel;
      for (let b = 0; b < B; b++) {
        grad.read(b * outPix, (b + 1) * outPix, c0, c1, ws.chunkDy);
        coh.scratch.fill(0, 0, len);
        ws.kernels.convBwdFilter(ws.chunkDy, this.example(x, b), false, g, c1 - c0, coh.scratch);
        exampleSq += sumSquares(coh.scratch, len);
      }
    }
    this.lastCoherence = { layer: this.name, sumSq: sumSquares(this.weights.dw, g.co * perChannel), exampleSq };
  }

  backward(grad: GradStore, spare: GradStore, rows: number): GradStore | null {
    const x = trainingInput(this, this.input);
    const { g, ws } = this;
    const B = rows / this.rowsPerExample;
    const outPix = g.ho * g.wo;
    const dw = this.weights.dw;
    dw.fill(0);
    this.db.fill(0);
    for (let b = 0; b < B; b++) {
      grad.read(b * outPix, (b + 1) * outPix, 0, g.co, ws.chunkDy);
      this.addBiasGrad(ws.chunkDy, outPix);
      ws.kernels.convBwdFilter(ws.chunkDy, this.example(x, b), false, g, g.co, dw);
    }
    if (ws.coherence?.active) this.measureCoherence(x, grad, B);
    this.weights.backward();
    this.input = null;
    if (this.first) return null;
    const wq = this.weights.wq;
    spare.setShape(rows, g.ci);
    // one example per chunk
    fillStore(
      spare,
      this.rowsPerExample,
      ws.chunkDx,
      (i0, _i1, out) => {
        const b = i0 / this.rowsPerExample;
        grad.read(b * outPix, (b + 1) * outPix, 0, g.co, ws.chunkDy);
        ws.kernels.convBwdDataFloat(ws.chunkDy, wq, g, out);
      },
      true, // dX from dY and the weights alone: one pass
    );
    return spare;
  }
}
