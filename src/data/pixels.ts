// Pixels are scaled to [-1, 1] (docs/method.md §2). Augmentation (random shift and horizontal
// flip) is applied while pixels are read, so the low-memory recipe's re-read in backward sees
// exactly the image the forward saw: the per-example parameters are kept, not the image.
const PIXEL_SCALE = 2 / 255;

/** out[outOffset + c] = images[src + c]·2/255 − 1 for c < n. */
export function pixelsToFloat(images: Uint8Array, src: number, n: number, out: { [i: number]: number }, outOffset: number): void {
  for (let c = 0; c < n; c++) out[outOffset + c] = images[src + c] * PIXEL_SCALE - 1;
}

/** out[r·cols + c] = bytes[r·stride + c]·2/255 − 1 for r < rows, c < cols. */
export function pixelRowsToFloat(bytes: Uint8Array, rows: number, stride: number, cols: number, out: { [i: number]: number }): void {
  for (let r = 0; r < rows; r++) pixelsToFloat(bytes, r * stride, cols, out, r * cols);
}

export interface ImageShape {
  h: number;
  w: number;
  c: number;
}

/** Largest random shift, in pixels (shifted-in pixels read as 0). */
export const MAX_SHIFT = 4;

/**
 * Example `example` of the data set into out (h·w·c floats), shifted by (dy, dx) and mirrored
 * when flip != 0: out(y, x) = image(y − dy, flip ? w − 1 − (x − dx) : x − dx).
 */
export function readImage(
  images: Uint8Array,
  example: number,
  shape: ImageShape,
  dy: number,
  dx: number,
  flip: number,
  out: { [i: number]: number },
  outOffset: number,
): void {
  const { h, w, c } = shape;
  const n = h * w * c;
  if (dy === 0 && dx === 0 && !flip) {
    pixelsToFloat(images, example * n, n, out, outOffset);
    return;
  }
  const base = example * n;
  for (let y = 0; y < h; y++) {
    const sy = y - dy;
    for (let x = 0; x < w; x++) {
      let sx = x - dx;
      const o = outOffset + (y * w + x) * c;
      if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
        for (let k = 0; k < c; k++) out[o + k] = 0;
        continue;
      }
      if (flip) sx = w - 1 - sx;
      const s = base + (sy * w + sx) * c;
      for (let k = 0; k < c; k++) out[o + k] = images[s + k] * PIXEL_SCALE - 1;
    }
  }
}
