// Max-pool kernels in plain form: the reference the WebAssembly ones are tested against.
// Windows of size × size, stride = size (edges that do not fill a window dropped), channels-last.
import { wordsFor } from '../bits.js';
import type { Floats } from '../ledger.js';

/** Where backward finds a window's argmax. */
export const POOL_ARGMAX = {
  /** The float input, kept: the first largest value, recomputed. */
  floats: 0,
  /** The ±1 input as sign bits: the first +1, else position 0. */
  signBits: 1,
  /** A 1-bit mask written by forward: the marked position (the last one when none before it is). */
  mask: 2,
} as const;
export type PoolArgmaxSource = (typeof POOL_ARGMAX)[keyof typeof POOL_ARGMAX];

/** A pooling layer's input shape: h × w pixels of C channels, size × size windows. */
export interface PoolDims {
  h: number;
  w: number;
  C: number;
  size: number;
}

/** Input row (pixel) of window position q (0 .. size² − 1, row by row) of pooled pixel (b, py, px). */
export function poolInputRow(d: PoolDims, b: number, py: number, px: number, q: number): number {
  const s = d.size;
  return (b * d.h + s * py + Math.floor(q / s)) * d.w + s * px + (q % s);
}

/**
 * out[b, py, px, c] = the largest of the window's values, B examples (a NaN never wins; all NaN or
 * −Infinity: −Infinity). With `argmax`, bit c of the first largest value's row is set there (the
 * caller clears it first). out may be x itself: a pooled row never overtakes the rows it reads.
 */
export function maxPoolFloatReference(x: Floats, out: Floats, B: number, d: PoolDims, argmax: Uint32Array | null): void {
  const { C, size } = d;
  const hp = Math.floor(d.h / size);
  const wp = Math.floor(d.w / size);
  const area = size * size;
  const wpc = wordsFor(C);
  for (let b = 0; b < B; b++)
    for (let py = 0; py < hp; py++)
      for (let px = 0; px < wp; px++) {
        const o = ((b * hp + py) * wp + px) * C;
        for (let c = 0; c < C; c++) {
          let best = 0;
          let bestV = -Infinity;
          for (let q = 0; q < area; q++) {
            const v = x[poolInputRow(d, b, py, px, q) * C + c];
            if (v > bestV) {
              best = q;
              bestV = v;
            }
          }
          out[o + c] = bestV;
          if (argmax) {
            const at = poolInputRow(d, b, py, px, best) * wpc + (c >>> 5);
            argmax[at] = (argmax[at] | (1 << (c & 31))) >>> 0;
          }
        }
      }
}

/**
 * Input row y of example b's gradient: out (w × C, cleared by the caller) gets dy (the wp × C
 * gradients of the pooled row above it) at each window's argmax found from `src` as `source`
 * says; rows below the last whole window are left alone.
 */
export function maxPoolGradRowReference(src: Floats | Uint32Array, source: PoolArgmaxSource, d: PoolDims, b: number, y: number, dy: Floats, out: Floats): void {
  const { C, size } = d;
  const py = Math.floor(y / size);
  if (py >= Math.floor(d.h / size)) return;
  const wp = Math.floor(d.w / size);
  const area = size * size;
  const wpc = wordsFor(C);
  // window positions of this input row: [first, first + size)
  const first = (y - py * size) * size;
  for (let px = 0; px < wp; px++)
    for (let c = 0; c < C; c++) {
      let q: number;
      if (source === POOL_ARGMAX.floats) {
        q = 0;
        let bestV = src[poolInputRow(d, b, py, px, 0) * C + c];
        for (let k = 1; k < area; k++) {
          const v = src[poolInputRow(d, b, py, px, k) * C + c];
          if (v > bestV) {
            q = k;
            bestV = v;
          }
        }
      } else {
        const scan = source === POOL_ARGMAX.mask ? area - 1 : area;
        q = source === POOL_ARGMAX.mask ? area - 1 : 0;
        for (let k = 0; k < scan; k++)
          if ((src[poolInputRow(d, b, py, px, k) * wpc + (c >>> 5)] >>> (c & 31)) & 1) {
            q = k;
            break;
          }
      }
      if (q >= first && q < first + size) out[(size * px + q - first) * C + c] = dy[px * C + c];
    }
}

/** A batch's gradient: out (B·h·w × C) gets every input row of B examples from dy (B·hp·wp × C), rows below the last whole window 0. */
export function maxPoolGradReference(src: Floats | Uint32Array, source: PoolArgmaxSource, d: PoolDims, B: number, dy: Floats, out: Floats): void {
  const hp = Math.floor(d.h / d.size);
  const wp = Math.floor(d.w / d.size);
  const rowLen = d.w * d.C;
  for (let b = 0; b < B; b++)
    for (let y = 0; y < d.h; y++) {
      const row = out.subarray((b * d.h + y) * rowLen, (b * d.h + y + 1) * rowLen);
      row.fill(0);
      const py = Math.floor(y / d.size);
      if (py < hp) maxPoolGradRowReference(src, source, d, b, y, dy.subarray((b * hp + py) * wp * d.C), row);
    }
}
