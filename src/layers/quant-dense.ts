// Fixed-point dense layer (docs/method.md §4): Y = X · Wqᵀ + bq, Wq = the weight quantizer's
// power-of-two copy of the latent weights, bq the bias on the accumulator's grid (quant-layer.ts).
// Inputs are fixed-point activations (values k·2^e_x) or pixels quantized to 8 bits.
import { winsorizedDense, winsorizes } from './winsorize.js';
import { fillStore, type GradStore } from '../storage/grad-store.js';
import { addRowNormsSq, rowNormsSq, sumSquares } from './norms.js';
import { dyNormsToFill, trainingInput, type Activation, type Layer, type Workspace } from './layer.js';
import { QuantWeightLayer, quantizeInputValues, type QuantLayerContext } from './quant-layer.js';

export class QuantDenseLayer extends QuantWeightLayer implements Layer {
  readonly kind = 'qdense';
  readonly rowsPerExample = 1;
  private input: Activation | null = null;
  private readonly ws: Workspace;

  constructor(
    readonly name: string,
    readonly nIn: number,
    readonly nOut: number,
    readonly first: boolean,
    ctx: QuantLayerContext,
  ) {
    super(name, nOut, nIn, first, ctx);
    this.ws = ctx.ws;
  }

  forward(x: Activation, rows: number, training: boolean): Activation {
    const { nIn: n, nOut: m, ws } = this;
    if (x.cols !== n) throw new Error(`${this.name}: input has ${x.cols} columns, expected ${n}`);
    this.weights.ensure(this.progress);
    const wq = this.weights.wq;
    const y = ws.act;
    const k = ws.kernels;
    // the staged input batch (a fresh copy every step): its 8-bit codes in place
    if (x.kind === 'float' && this.quantizeInput) quantizeInputValues(x.data, rows * n);
    if (x.kind === 'float') k.gemmFloatFloat(x.data, wq, rows, m, n, y);
    else
      for (let i0 = 0; i0 < rows; i0 += ws.chunkRows) {
        const i1 = Math.min(rows, i0 + ws.chunkRows);
        k.gemmFloatFloat(this.inputValues(x, i0, i1, n, ws.chunkX), wq, i1 - i0, m, n, y.subarray(i0 * m, i1 * m));
      }
    this.prepareBias(x);
    this.addBias(y, rows);
    this.input = training ? x : null;
    return { kind: 'float', data: y, cols: m };
  }

  /**
   * dW and db with every coordinate's per-example terms (dY_ij·x_ik and dY_ij) winsorized (see
   * src/optim/winsorize.ts): the input rows decoded once, then one output unit at a time.
   */
  private winsorizedGradients(x: Activation, grad: GradStore, rows: number): void {
    const { nIn: n, nOut: m, ws } = this;
    winsorizedDense(ws, grad, rows, m, n, this.inputValues(x, 0, rows, n, ws.winsor!.rows), {
      dwRow: (j) => this.weights.dw.subarray(j * n, (j + 1) * n),
      dbCell: (j) => this.db.subarray(j, j + 1),
    });
  }

  backward(grad: GradStore, spare: GradStore, rows: number): GradStore | null {
    const x = trainingInput(this, this.input);
    const { nIn: n, nOut: m, ws } = this;
    const R = ws.chunkRows;
    const coh = ws.coherence?.active ? ws.coherence : null;
    const dyNorm = dyNormsToFill(ws, rows);
    const dw = this.weights.dw;
    dw.fill(0);
    this.db.fill(0);
    if (winsorizes(ws.winsor, rows)) this.winsorizedGradients(x, grad, rows);
    else
      for (let i0 = 0; i0 < rows; i0 += R) {
        const i1 = Math.min(rows, i0 + R);
        grad.read(i0, i1, 0, m, ws.chunkDy);
        this.addBiasGrad(ws.chunkDy, i1 - i0);
        if (dyNorm) addRowNormsSq(ws.chunkDy, i1 - i0, m, dyNorm, i0);
        ws.kernels.gemmTnFloat(ws.chunkDy, this.inputValues(x, i0, i1, n, ws.chunkX), i1 - i0, m, n, dw);
      }
    if (coh && dyNorm) {
      // no batch norm after this layer: example i's term of dW is exactly dY_iᵀ·x_i
      const xNorm = coh.perExample.subarray(rows);
      rowNormsSq(x, rows, n, coh.scratch, xNorm);
      let exampleSq = 0;
      for (let i = 0; i < rows; i++) exampleSq += xNorm[i] * dyNorm[i];
      this.lastCoherence = { layer: this.name, sumSq: sumSquares(dw, m * n), exampleSq };
    }
    this.weights.backward();
    this.input = null;
    if (this.first) return null;
    const wq = this.weights.wq;
    spare.setShape(rows, n);
    fillStore(
      spare,
      R,
      ws.chunkDx,
      (i0, i1, out) => {
        grad.read(i0, i1, 0, m, ws.chunkDy);
        ws.kernels.gemmFloatFloatT(ws.chunkDy, wq, i1 - i0, m, n, out);
      },
      true, // dX from dY and the weights alone: one pass
    );
    return spare;
  }
}
