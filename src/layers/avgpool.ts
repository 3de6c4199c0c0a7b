// Average pooling over sh × sw windows with the window as stride (edges that do not fill a window
// dropped), channels-last; global average pooling is the window of the whole map. It follows an activation (sign or the
// fixed-point activation): its input is ±1 (float or packed bits) or fixed-point values (float or
// codes), its output the float mean, which the next layer keeps for its backward, so the layer
// holds it. Backward needs nothing kept: dX = dY of the window / its area.
import { getBit, wordsFor } from '../bits.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { GradStore } from '../storage/grad-store.js';
import { fillPoolGradient } from './pool-gradient.js';
import type { Activation, Layer, Param, Workspace } from './layer.js';

export class AvgPoolLayer implements Layer {
  readonly kind = 'avgpool';
  readonly rowsPerExample: number;
  readonly hp: number;
  readonly wp: number;
  /** The pooled output (the next layer's input), batch × hp × wp × C. */
  private readonly out: Floats;
  private trained = false;

  constructor(
    readonly name: string,
    readonly h: number,
    readonly w: number,
    readonly channels: number,
    readonly sh: number,
    readonly sw: number,
    batch: number,
    private readonly ws: Workspace,
    ledger: MemoryLedger,
  ) {
    this.rowsPerExample = h * w;
    this.hp = Math.floor(h / sh);
    this.wp = Math.floor(w / sw);
    if (this.hp < 1 || this.wp < 1) throw new Error(`${name}: a ${sh}x${sw} average pool does not fit a ${h}x${w} map`);
    this.out = ledger.floats(batch * this.hp * this.wp * channels, 'retained', name, 'output (float)');
  }

  params(): Param[] {
    return [];
  }
  state() {
    return {};
  }

  /** Input value (example b, pixel p, channel c) as a float. */
  private reader(x: Activation): (b: number, p: number, c: number) => number {
    const C = this.channels;
    const pix = this.h * this.w;
    if (x.kind === 'float') return (b, p, c) => x.data[(b * pix + p) * C + c];
    if (x.kind === 'bits') {
      const wpc = wordsFor(C);
      return (b, p, c) => (getBit(x.data, wpc, b * pix + p, c) ? 1 : -1);
    }
    if (x.kind === 'codes') {
      const s = 2 ** x.exp;
      return (b, p, c) => x.data[(b * pix + p) * C + c] * s;
    }
    throw new Error(`${this.name}: data-set pixels cannot be pooled (put a convolution first)`);
  }

  forward(x: Activation, rows: number, training: boolean): Activation {
    const C = this.channels;
    if (x.cols !== C) throw new Error(`${this.name}: input has ${x.cols} channels, expected ${C}`);
    const { sh, sw, hp, wp, w, out } = this;
    const B = rows / this.rowsPerExample;
    const at = this.reader(x);
    const area = sh * sw;
    for (let b = 0; b < B; b++)
      for (let py = 0; py < hp; py++)
        for (let px = 0; px < wp; px++) {
          const o = ((b * hp + py) * wp + px) * C;
          for (let c = 0; c < C; c++) {
            let s = 0;
            for (let dy = 0; dy < sh; dy++) for (let dx = 0; dx < sw; dx++) s += at(b, (py * sh + dy) * w + px * sw + dx, c);
            out[o + c] = s / area;
          }
        }
    this.trained = training;
    return { kind: 'float', data: out, cols: C };
  }

  backward(grad: GradStore, spare: GradStore, rows: number): GradStore {
    if (!this.trained) throw new Error(`${this.name}: backward without a training forward`);
    const C = this.channels;
    const { wp, sh, sw } = this;
    const area = sh * sw;
    fillPoolGradient(spare, grad, rows, this, this.ws, (_b, _y, _py, dy, out) => {
      for (let px = 0; px < wp; px++) for (let dx = 0; dx < sw; dx++) for (let c = 0; c < C; c++) out[(px * sw + dx) * C + c] = dy[px * C + c] / area;
    });
    this.trained = false;
    return spare;
  }
}
