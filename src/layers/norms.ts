// Squared norms the coherence tracker needs inside the backward pass.
import type { Floats } from '../ledger.js';
import { decodeCodes, readExamplePixels, type Activation } from './layer.js';

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

/** Row i (n values) of a layer input as floats: a view, or decoded (bits, pixels) into scratch. */
function inputRow(x: Activation, i: number, n: number, scratch: Floats): Floats {
  if (x.kind === 'float') return x.data.subarray(i * n, (i + 1) * n);
  if (x.kind === 'codes') decodeCodes(x, i * n, n, scratch);
  else if (x.kind === 'pixels') readExamplePixels(x, i, scratch, 0);
  else {
    const wpr = (n + 31) >>> 5;
    for (let k = 0; k < n; k++) scratch[k] = (x.data[i * wpr + (k >>> 5)] >>> (k & 31)) & 1 ? 1 : -1;
  }
  return scratch;
}

/**
 * ||x_i − x̄||² for every row of a layer input (x̄: the batch mean row, written to `mean`).
 * Batch norm after the layer makes every column of dY sum to zero over the batch, so the batch
 * gradient Σ x_iᵀdY_i equals Σ (x_i − x̄)ᵀdY_i: the centred terms are the per-example gradients
 * without the common component that cancels anyway.
 */
export function centredRowNormsSq(x: Activation, rows: number, n: number, mean: Floats, scratch: Floats, out: Floats): void {
  mean.fill(0, 0, n);
  for (let i = 0; i < rows; i++) addInto(mean, inputRow(x, i, n, scratch), n);
  for (let k = 0; k < n; k++) mean[k] /= rows;
  for (let i = 0; i < rows; i++) {
    const r = inputRow(x, i, n, scratch);
    let s = 0;
    for (let k = 0; k < n; k++) s += (r[k] - mean[k]) * (r[k] - mean[k]);
    out[i] = s;
  }
}

export function addInto(acc: Floats, src: Floats, n: number): void {
  for (let i = 0; i < n; i++) acc[i] += src[i];
}

/**
 * ||tile − s ⊗ p̄||² for one example's dW tile of `count` output channels (perChannel values
 * each), s_c = Σ_p dY[p·count + c] over the example's outPix pixels.
 */
export function centredTileNormSq(tile: Floats, dy: Floats, outPix: number, count: number, mean: Floats, perChannel: number): number {
  let total = 0;
  for (let c = 0; c < count; c++) {
    let s = 0;
    for (let p = 0; p < outPix; p++) s += dy[p * count + c];
    const o = c * perChannel;
    for (let k = 0; k < perChannel; k++) {
      const v = tile[o + k] - s * mean[k];
      total += v * v;
    }
  }
  return total;
}

/** ||x_i||² for every row of a layer input (layers with a bias and no batch norm after them). */
export function rowNormsSq(x: Activation, rows: number, n: number, scratch: Floats, out: Floats): void {
  for (let i = 0; i < rows; i++) {
    const r = inputRow(x, i, n, scratch);
    let s = 0;
    for (let k = 0; k < n; k++) s += r[k] * r[k];
    out[i] = s;
  }
}
