// Squared norms the coherence tracker needs inside the backward pass.
import type { Floats } from '../ledger.js';
import { readExamplePixels, type Activation } from '../layers/layer.js';

export function sumSquares(a: Floats, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i] * a[i];
  return s;
}

/** out[outOffset + r] += Σ_c src[r·cols + c]² for r < rows. */
export function addRowNormsSq(src: Floats, rows: number, cols: number, out: Floats, outOffset: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) s += src[o + c] * src[o + c];
    out[outOffset + r] += s;
  }
}

/** ||x_i||² of row i (n values) of a layer input: n for ±1 bits, else summed (pixels decoded into scratch). */
export function inputRowNormSq(x: Activation, i: number, n: number, scratch: Floats): number {
  if (x.kind === 'bits') return n;
  if (x.kind === 'float') {
    let s = 0;
    for (let k = i * n; k < (i + 1) * n; k++) s += x.data[k] * x.data[k];
    return s;
  }
  readExamplePixels(x, i, scratch, 0);
  return sumSquares(scratch, n);
}

export function addInto(acc: Floats, src: Floats, n: number): void {
  for (let i = 0; i < n; i++) acc[i] += src[i];
}
