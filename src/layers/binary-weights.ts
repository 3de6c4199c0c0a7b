// The packed sign(W) of a layer's latent weights, rows × cols bits (rows padded to whole words).
// Reads the raw storage: this runs after every optimizer step.
import { wordsFor } from '../bits.js';
import type { ParamStore } from '../storage/param-store.js';

export function packLatentSigns(latent: ParamStore, rows: number, cols: number, dst: Uint32Array): void {
  const raw = latent.raw;
  const half = latent.format === 'float16';
  const wpr = wordsFor(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let w = 0; w < wpr; w++) {
      let word = 0;
      const c0 = w << 5;
      const c1 = Math.min(cols, c0 + 32);
      for (let c = c0; c < c1; c++) {
        const h = raw[base + c];
        // float16: non-negative when the sign bit is clear, or for -0 (sign(0) = +1)
        const nonNegative = half ? (h & 0x8000) === 0 || (h & 0x7fff) === 0 : h >= 0;
        if (nonNegative) word |= 1 << (c - c0);
      }
      dst[r * wpr + w] = word >>> 0;
    }
  }
}
