// Packed binary tensors: one bit per element in Uint32 words, rows padded to whole words.
// Bit 1 means +1, bit 0 means -1 (sign(0) = +1). Padding bits are always 0 so that
// xnor-popcount over a padded row counts only real elements.

export function wordsFor(bits: number): number {
  return (bits + 31) >>> 5;
}

export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Pack sign(src[row*cols + c] >= 0) into rows of wordsFor(cols) words. */
export function packSignRows(src: ArrayLike<number>, rows: number, cols: number, dst: Uint32Array, dstOffset = 0, dstRowWords = wordsFor(cols)): void {
  const wpr = wordsFor(cols);
  for (let r = 0; r < rows; r++) {
    const s = r * cols;
    const d = dstOffset + r * dstRowWords;
    for (let w = 0; w < wpr; w++) {
      let word = 0;
      const c0 = w << 5;
      const c1 = Math.min(cols, c0 + 32);
      for (let c = c0; c < c1; c++) if (src[s + c] >= 0) word |= 1 << (c - c0);
      dst[d + w] = word >>> 0;
    }
  }
}

export function getBit(bits: Uint32Array, rowWords: number, row: number, col: number): number {
  return (bits[row * rowWords + (col >>> 5)] >>> (col & 31)) & 1;
}

/** Unpack rows of bits to ±1 values. */
export function unpackSignRows(bits: Uint32Array, rows: number, cols: number, dst: { [i: number]: number }): void {
  const wpr = wordsFor(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[r * cols + c] = getBit(bits, wpr, r, c) ? 1 : -1;
}

/** bits of rows x cols: bit c of row r set where |z[r, c]| <= clip (the reference of Kernels.packMask). */
export function packMaskReference(z: ArrayLike<number>, rows: number, cols: number, bits: Uint32Array, clip: number): void {
  const wpr = wordsFor(cols);
  for (let i = 0; i < rows; i++)
    for (let w = 0; w < wpr; w++) {
      let word = 0;
      const c0 = w << 5;
      const c1 = Math.min(cols, c0 + 32);
      for (let c = c0; c < c1; c++) if (Math.abs(z[i * cols + c]) <= clip) word |= 1 << (c - c0);
      bits[i * wpr + w] = word >>> 0;
    }
}

/** x[r, c] = 0 where bit c of mask row row0 + r is 0 (the reference of Kernels.applyMask). */
export function applyMaskReference(x: { [i: number]: number }, rows: number, cols: number, mask: Uint32Array, row0: number): void {
  const wpr = wordsFor(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (!((mask[(row0 + r) * wpr + (c >>> 5)] >>> (c & 31)) & 1)) x[r * cols + c] = 0;
}

/** out[k] = z[k] >= 0 ? 1 : -1 (sign(0) = +1; the reference of Kernels.signFloat). */
export function signFloatReference(z: ArrayLike<number>, n: number, out: { [i: number]: number }): void {
  for (let k = 0; k < n; k++) out[k] = z[k] >= 0 ? 1 : -1;
}

/**
 * x[r, c] = 0 where |x̂[r, c] + β[c]| > clip, the sum rounded to float32 as batch norm's forward
 * rounds z = x̂ + β (the reference of Kernels.clipZeroShifted): the STE mask from the batch norm's
 * kept x̂, without z kept.
 */
export function clipZeroShiftedReference(
  x: { [i: number]: number },
  xhat: ArrayLike<number>,
  beta: ArrayLike<number>,
  rows: number,
  C: number,
  clip: number,
): void {
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < C; c++) {
      const k = r * C + c;
      if (Math.abs(Math.fround(xhat[k] + beta[c])) > clip) x[k] = 0;
    }
}

/** x[k] = 0 where |z[k]| > clip (the reference of Kernels.clipZero). */
export function clipZeroReference(x: { [i: number]: number }, z: ArrayLike<number>, n: number, clip: number): void {
  for (let k = 0; k < n; k++) if (Math.abs(z[k]) > clip) x[k] = 0;
}
