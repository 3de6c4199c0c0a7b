// Max-pool over size × size windows, stride = size (2 by default; edges that do not fill a window
// dropped), channels-last.
// After a sign (CNV): the input is ±1 (float or packed bits, kept by the sign layer for its own
// backward anyway), so the argmax is recomputed from it and the pooled output (the next layer's
// input) is kept in the recipe's format; on bits, max is OR.
// Before batch norm (BinaryNet): the input is the float pre-activation, pooled in place; the
// argmax is kept as the float32 input (standard) or as a 1-bit mask per input element.
import { wordsFor } from '../bits.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import { fillHint, type GradStore } from '../storage/grad-store.js';
import { fillPoolGradient } from './pool-gradient.js';
import type { Activation, Layer, Param, Workspace } from './layer.js';

/**
 * size × size windows (stride = size) of B examples' packed sign bits (h × w pixels of C channels):
 * the max of ±1 values is their OR. The layer's forward and the packed model both run it.
 */
export function maxPoolSignBits(x: Uint32Array, out: Uint32Array, B: number, h: number, w: number, C: number, size: number): void {
  const wpc = wordsFor(C);
  const hp = Math.floor(h / size);
  const wp = Math.floor(w / size);
  for (let b = 0; b < B; b++)
    for (let py = 0; py < hp; py++)
      for (let px = 0; px < wp; px++)
        for (let k = 0; k < wpc; k++) {
          let word = 0;
          for (let dy = 0; dy < size; dy++) for (let dx = 0; dx < size; dx++) word |= x[((b * h + size * py + dy) * w + size * px + dx) * wpc + k];
          out[((b * hp + py) * wp + px) * wpc + k] = word >>> 0;
        }
}

export class MaxPoolLayer implements Layer {
  readonly kind = 'maxpool';
  readonly rowsPerExample: number;
  readonly hp: number;
  /** Window positions: size². */
  private readonly area: number;
  readonly wp: number;
  private readonly outFloat: Floats | null = null;
  private readonly outBits: Uint32Array | null = null;
  private readonly keptInput: Floats | null = null;
  private readonly argmaxBits: Uint32Array | null = null;
  private input: Activation | null = null;
  /** The scale of this layer's last input gradient (po2 stores write it in one pass when it repeats). */
  private readonly dxHint = fillHint();

  constructor(
    readonly name: string,
    readonly h: number,
    readonly w: number,
    readonly channels: number,
    readonly binaryInput: boolean,
    recipe: Recipe,
    batch: number,
    private readonly ws: Workspace,
    ledger: MemoryLedger,
    /** Window side and stride. */
    readonly size = 2,
    /** Below the lowest trainable layer of a partial update (--train): no backward, no argmax kept. */
    noBackward = false,
  ) {
    this.rowsPerExample = h * w;
    this.hp = Math.floor(h / size);
    this.wp = Math.floor(w / size);
    this.area = size * size;
    const C = channels;
    const outRows = batch * this.hp * this.wp;
    if (binaryInput) {
      if (recipe.actInput === 'float32') this.outFloat = ledger.floats(outRows * C, 'retained', name, 'output ±1 (float)');
      else this.outBits = ledger.u32(outRows * wordsFor(C), 'retained', name, 'output sign bits (packed)');
    } else if (noBackward) {
      // the output overwrites the input in place; nothing is kept for a backward that never comes
    } else if (recipe.poolMask === 'float32') this.keptInput = ledger.floats(batch * h * w * C, 'retained', name, 'input (float, for argmax)');
    else this.argmaxBits = ledger.u32(batch * h * w * wordsFor(C), 'retained', name, 'argmax mask (packed)');
  }

  params(): Param[] {
    return [];
  }
  state() {
    return {};
  }

  /** Input row (pixel) of window position q (0 .. size² − 1, row by row) of pooled pixel (b, py, px). */
  private inRow(b: number, py: number, px: number, q: number): number {
    const s = this.size;
    return (b * this.h + s * py + Math.floor(q / s)) * this.w + s * px + (q % s);
  }

  forward(x: Activation, rows: number, training: boolean): Activation {
    const C = this.channels;
    if (x.cols !== C) throw new Error(`${this.name}: input has ${x.cols} channels, expected ${C}`);
    const B = rows / this.rowsPerExample;
    const { hp, wp } = this;
    if (x.kind === 'bits') {
      const out = this.outBits!;
      maxPoolSignBits(x.data, out, B, this.h, this.w, C, this.size);
      this.input = training ? x : null;
      return { kind: 'bits', data: out, cols: C };
    }
    if (x.kind !== 'float') throw new Error(`${this.name}: pixel input cannot be pooled`);
    if (training && this.keptInput) this.keptInput.set(x.data.subarray(0, rows * C));
    if (training && this.argmaxBits) this.argmaxBits.fill(0, 0, rows * wordsFor(C));
    // pooled output: into our own buffer after a sign, in place otherwise (never overtakes its input)
    const out = this.outFloat ?? x.data;
    for (let b = 0; b < B; b++)
      for (let py = 0; py < hp; py++)
        for (let px = 0; px < wp; px++) {
          const o = ((b * hp + py) * wp + px) * C;
          for (let c = 0; c < C; c++) {
            let best = 0;
            let bestV = -Infinity;
            for (let q = 0; q < this.area; q++) {
              const v = x.data[this.inRow(b, py, px, q) * C + c];
              if (v > bestV) [best, bestV] = [q, v];
            }
            out[o + c] = bestV;
            if (training && this.argmaxBits) {
              const row = this.inRow(b, py, px, best);
              const wi = row * wordsFor(C) + (c >>> 5);
              this.argmaxBits[wi] = (this.argmaxBits[wi] | (1 << (c & 31))) >>> 0;
            }
          }
        }
    this.input = training ? x : null;
    // the max of ±1 values is ±1
    return x.signs ? { kind: 'float', data: out, cols: C, signs: true } : { kind: 'float', data: out, cols: C };
  }

  /** Window position (0 .. size² − 1) of the max of pooled element (b, py, px, c), first one on ties. */
  private argmax(b: number, py: number, px: number, c: number): number {
    const C = this.channels;
    if (this.argmaxBits) {
      const wpc = wordsFor(C);
      const lastQ = this.area - 1;
      for (let q = 0; q < lastQ; q++) if ((this.argmaxBits[this.inRow(b, py, px, q) * wpc + (c >>> 5)] >>> (c & 31)) & 1) return q;
      return lastQ;
    }
    const x = this.input!;
    if (x.kind === 'bits') {
      // binary values: the first +1, or the first position if all are -1
      const wpc = wordsFor(C);
      for (let q = 0; q < this.area; q++) if ((x.data[this.inRow(b, py, px, q) * wpc + (c >>> 5)] >>> (c & 31)) & 1) return q;
      return 0;
    }
    const v = this.keptInput ?? (x as { data: Floats }).data;
    let best = 0;
    let bestV = v[this.inRow(b, py, px, 0) * C + c];
    for (let q = 1; q < this.area; q++) {
      const val = v[this.inRow(b, py, px, q) * C + c];
      if (val > bestV) [best, bestV] = [q, val];
    }
    return best;
  }

  backward(grad: GradStore, spare: GradStore, rows: number): GradStore {
    if (!this.input) throw new Error(`${this.name}: backward without a training forward`);
    const C = this.channels;
    const { size, wp } = this;
    const shape = { h: this.h, w: this.w, hp: this.hp, wp, channels: C, sh: size };
    fillPoolGradient(spare, grad, rows, shape, this.ws, this.dxHint, (b, y, py, dy, out) => {
      const row = y - py * size;
      for (let px = 0; px < wp; px++)
        for (let c = 0; c < C; c++) {
          const q = this.argmax(b, py, px, c);
          if (Math.floor(q / size) === row) out[(size * px + (q % size)) * C + c] = dy[px * C + c];
        }
    });
    this.input = null;
    return spare;
  }
}
