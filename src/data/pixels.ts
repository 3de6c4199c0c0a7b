// Pixels are scaled to [-1, 1] (DESIGN section 2).
const PIXEL_SCALE = 2 / 255;

/** out[outOffset + c] = images[src + c]·2/255 − 1 for c < n. */
export function pixelsToFloat(
  images: Uint8Array,
  src: number,
  n: number,
  out: { [i: number]: number },
  outOffset: number,
): void {
  for (let c = 0; c < n; c++) out[outOffset + c] = images[src + c] * PIXEL_SCALE - 1;
}
