// Plain TypeScript reference kernels: the definition every fast kernel is tested against.
// They never expand a binary operand to a float matrix: bits are read in place.
import { popcount32, wordsFor } from '../bits.js';
import type { Floats } from '../ledger.js';
import type { Kernels } from './kernels.js';
import { convBwdData, convBwdDataFloat, convBwdDataIndex, convBwdFilter, convFwdBin, convFwdFloat, convFwdFloatFloat } from './conv-reference.js';

export const referenceKernels: Kernels = {
  name: 'reference',
  convFwdBin,
  convFwdFloat,
  convBwdData,
  convBwdDataIndex,
  convBwdFilter,
  convFwdFloatFloat,
  convBwdDataFloat,

  gemmBinBin(x, w, B, m, n, y) {
    const wpr = wordsFor(n);
    for (let i = 0; i < B; i++) {
      const xo = i * wpr;
      for (let j = 0; j < m; j++) {
        const wo = j * wpr;
        let diff = 0;
        for (let k = 0; k < wpr; k++) diff += popcount32(x[xo + k] ^ w[wo + k]);
        y[i * m + j] = n - 2 * diff;
      }
    }
  },

  gemmFloatBin(x, w, B, m, n, y) {
    // Σ_k x_k ŵ_k = 2·Σ_{ŵ_k=+1} x_k − Σ_k x_k
    const wpr = wordsFor(n);
    for (let i = 0; i < B; i++) {
      const xo = i * n;
      let rowSum = 0;
      for (let k = 0; k < n; k++) rowSum += x[xo + k];
      for (let j = 0; j < m; j++) {
        y[i * m + j] = 2 * sumSelected(x, xo, w, j * wpr, wpr) - rowSum;
      }
    }
  },

  gemmFloatBinTIndex() {},

  gemmFloatBinT(dy, w, B, m, n, dx) {
    const wpr = wordsFor(n);
    for (let i = 0; i < B; i++) {
      const xo = i * n;
      dx.fill(0, xo, xo + n);
      let total = 0;
      for (let j = 0; j < m; j++) {
        const d = dy[i * m + j];
        if (d === 0) continue; // STE-masked gradients are often exactly zero
        total += d;
        addSelected(dx, xo, d, w, j * wpr, wpr);
      }
      for (let k = 0; k < n; k++) dx[xo + k] = 2 * dx[xo + k] - total;
    }
  },

  gemmFloatFloat(x, w, B, m, n, y) {
    for (let i = 0; i < B; i++)
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += x[i * n + k] * w[j * n + k];
        y[i * m + j] = s;
      }
  },

  gemmFloatFloatT(dy, w, B, m, n, dx) {
    for (let i = 0; i < B; i++) {
      const xo = i * n;
      dx.fill(0, xo, xo + n);
      for (let j = 0; j < m; j++) {
        const d = dy[i * m + j];
        if (d === 0) continue;
        for (let k = 0; k < n; k++) dx[xo + k] += d * w[j * n + k];
      }
    }
  },

  gemmTnFloat(dy, x, B, m, n, dw) {
    for (let i = 0; i < B; i++) {
      const xo = i * n;
      for (let j = 0; j < m; j++) {
        const d = dy[i * m + j];
        if (d === 0) continue;
        const wo = j * n;
        for (let k = 0; k < n; k++) dw[wo + k] += d * x[xo + k];
      }
    }
  },

  gemmTnBin(dy, x, B, m, n, dw) {
    const wpr = wordsFor(n);
    for (let i = 0; i < B; i++) {
      const xo = i * wpr;
      for (let j = 0; j < m; j++) {
        const d = dy[i * m + j];
        if (d === 0) continue;
        const wo = j * n;
        for (let k = 0; k < wpr; k++) {
          const word = x[xo + k];
          const base = wo + (k << 5);
          const lim = Math.min(32, n - (k << 5));
          for (let b = 0; b < lim; b++) dw[base + b] += (word >>> b) & 1 ? d : -d;
        }
      }
    }
  },
};

/** Σ of x[xo + k] over the set bits k of the packed row w[wo .. wo+wpr). */
function sumSelected(x: Floats, xo: number, w: Uint32Array, wo: number, wpr: number): number {
  let s = 0;
  for (let k = 0; k < wpr; k++) {
    let word = w[wo + k];
    const base = xo + (k << 5);
    while (word !== 0) {
      const low = word & -word;
      s += x[base + 31 - Math.clz32(low)];
      word ^= low;
    }
  }
  return s;
}

/** out[o + k] += d for the set bits k of the packed row w[wo .. wo+wpr). */
function addSelected(out: Floats, o: number, d: number, w: Uint32Array, wo: number, wpr: number): void {
  for (let k = 0; k < wpr; k++) {
    let word = w[wo + k];
    const base = o + (k << 5);
    while (word !== 0) {
      const low = word & -word;
      out[base + 31 - Math.clz32(low)] += d;
      word ^= low;
    }
  }
}
