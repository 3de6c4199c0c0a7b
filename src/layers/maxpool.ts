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
import type { GradStore } from '../storage/grad-store.js';
import { maxPoolFloatReference, maxPoolGradReference, maxPoolGradRowReference, POOL_ARGMAX, type PoolDims } from '../kernels/pool-reference.js';
import { fillPoolGradient } from './pool-gradient.js';
import { holdsAll, type Activation, type Layer, type Param, type Workspace } from './layer.js';

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
  private readonly dims: PoolDims;
  readonly wp: number;
  private readonly outFloat: Floats | null = null;
  private readonly outBits: Uint32Array | null = null;
  private readonly keptInput: Floats | null = null;
  private readonly argmaxBits: Uint32Array | null = null;
  private input: Activation | null = null;

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
    this.dims = { h, w, C: channels, size };
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

  forward(x: Activation, rows: number, training: boolean): Activation {
    const C = this.channels;
    if (x.cols !== C) throw new Error(`${this.name}: input has ${x.cols} channels, expected ${C}`);
    const B = rows / this.rowsPerExample;
    if (x.kind === 'bits') {
      const out = this.outBits!;
      maxPoolSignBits(x.data, out, B, this.h, this.w, C, this.size);
      this.input = training ? x : null;
      return { kind: 'bits', data: out, cols: C };
    }
    if (x.kind !== 'float') throw new Error(`${this.name}: pixel input cannot be pooled`);
    if (training && this.keptInput) this.keptInput.set(x.data.subarray(0, rows * C));
    const argmax = training ? this.argmaxBits : null;
    if (argmax) argmax.fill(0, 0, rows * wordsFor(C));
    // pooled output: into our own buffer after a sign, in place otherwise (never overtakes its input)
    const out = this.outFloat ?? x.data;
    const k = this.ws.kernels;
    const arrays = argmax ? [x.data, out, argmax] : [x.data, out];
    if (k.maxPoolFloat && holdsAll(k, ...arrays)) k.maxPoolFloat(x.data, out, B, this.dims, argmax);
    else maxPoolFloatReference(x.data, out, B, this.dims, argmax);
    this.input = training ? x : null;
    // the max of ±1 values is ±1
    return x.signs ? { kind: 'float', data: out, cols: C, signs: true } : { kind: 'float', data: out, cols: C };
  }

  backward(grad: GradStore, spare: GradStore, rows: number): GradStore {
    if (!this.input) throw new Error(`${this.name}: backward without a training forward`);
    const x = this.input;
    const shape = { h: this.h, w: this.w, hp: this.hp, wp: this.wp, channels: this.channels, sh: this.size };
    // the argmax from the mask forward wrote, the ±1 input's bits, or the float input
    const [src, source] = this.argmaxBits
      ? [this.argmaxBits, POOL_ARGMAX.mask]
      : x.kind === 'bits'
        ? [x.data, POOL_ARGMAX.signBits]
        : [this.keptInput ?? (x as { data: Floats }).data, POOL_ARGMAX.floats];
    const k = this.ws.kernels;
    // float32 in and out (the standard recipe): the batch in one call, written in place
    const whole = grad.floatView?.();
    if (whole && k.maxPoolGrad && spare.format === 'float32') {
      spare.setShape(rows, this.channels);
      const into = spare.floatView!();
      if (holdsAll(k, src, whole, into)) {
        k.maxPoolGrad(src, source, this.dims, rows / this.rowsPerExample, whole, into);
        this.input = null;
        return spare;
      }
    }
    // float16 in and out (low-memory): the batch in one call, threads taking examples
    const dyCodes = grad.halfView?.();
    if (dyCodes && k.maxPoolGradHalf) {
      spare.setShape(rows, this.channels);
      const outCodes = spare.halfView?.();
      if (outCodes && holdsAll(k, src) && k.maxPoolGradHalf(src, source, this.dims, rows / this.rowsPerExample, dyCodes, outCodes)) {
        this.input = null;
        return spare;
      }
    }
    // po2 in and out (tiny): the same, each thread's codes re-coded to the common bias after
    const dyPo2 = grad.po2View?.();
    if (dyPo2 && k.maxPoolGradPo2 && holdsAll(k, src)) {
      spare.setShape(rows, this.channels);
      const B = rows / this.rowsPerExample;
      if (spare.po2Fill?.((words) => k.maxPoolGradPo2!(src, source, this.dims, B, dyPo2.words, dyPo2.bias, words))) {
        this.input = null;
        return spare;
      }
    }
    // an example's argmax source: its h·w rows of floats or of sign / mask words
    const srcPerExample = this.h * this.w * (source === POOL_ARGMAX.floats ? this.channels : wordsFor(this.channels));
    fillPoolGradient(
      spare,
      grad,
      rows,
      shape,
      this.ws,
      (b, y, _py, dy, out) => {
        if (k.maxPoolGradRow && holdsAll(k, src, dy, out)) k.maxPoolGradRow(src, source, this.dims, b, y, dy, out);
        else maxPoolGradRowReference(src, source, this.dims, b, y, dy, out);
      },
      (count, first, dy, out) => {
        const examples = src.subarray(first * srcPerExample, (first + count) * srcPerExample);
        if (k.maxPoolGrad && holdsAll(k, examples, dy, out)) k.maxPoolGrad(examples, source, this.dims, count, dy, out);
        else maxPoolGradReference(examples, source, this.dims, count, dy, out);
      },
    );
    this.input = null;
    return spare;
  }
}
