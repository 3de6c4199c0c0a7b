// 8-bit block-quantized storage for optimizer state (DESIGN section 6; after Dettmers et al.'s
// 8-bit optimizers): blocks of 256 values, one float32 scale per block (its largest magnitude)
// and one byte per value.
//   signed (Adam m, Bop momentum): linear, code = round(127·x/absmax) as int8.
//   non-negative (Adam v): logarithmic, code c in 1..255 stands for max·2^((c − 255)/8), 0 for an
//   exact 0: 8 steps per octave over 32 octaves, so small entries keep ~4% relative precision
//   instead of rounding to 0 (a zero v next to a non-zero m would blow the Adam step up).
export const BLOCK8 = 256;
const LOG_STEPS = 8;

export type Block8Code = 'linear' | 'log';

export function block8Count(n: number): number {
  return Math.ceil(n / BLOCK8);
}

/** Encode values src[0 .. len) as block `b` (len <= BLOCK8) into codes[b·BLOCK8 ..] and scales[b]. */
export function encodeBlock8(code: Block8Code, src: ArrayLike<number>, len: number, codes: Uint8Array, scales: { [i: number]: number }, b: number): void {
  let max = 0;
  for (let k = 0; k < len; k++) max = Math.max(max, Math.abs(src[k]));
  scales[b] = max;
  const o = b * BLOCK8;
  if (max === 0 || !Number.isFinite(max)) {
    codes.fill(0, o, o + len);
    if (!Number.isFinite(max)) scales[b] = max; // propagate NaN/∞ so the caller's checks see it
    return;
  }
  if (code === 'linear') {
    const inv = 127 / max;
    for (let k = 0; k < len; k++) codes[o + k] = Math.round(src[k] * inv) & 0xff;
    return;
  }
  for (let k = 0; k < len; k++) {
    const v = src[k];
    if (v <= 0) {
      codes[o + k] = 0;
      continue;
    }
    const c = 255 + Math.round(LOG_STEPS * Math.log2(v / max));
    codes[o + k] = c < 1 ? 0 : c;
  }
}

/** Decode block `b` (len values) into out[0 ..]. */
export function decodeBlock8(code: Block8Code, codes: Uint8Array, scales: ArrayLike<number>, b: number, len: number, out: { [i: number]: number }): void {
  const max = scales[b];
  const o = b * BLOCK8;
  if (code === 'linear') {
    const s = max / 127;
    for (let k = 0; k < len; k++) out[k] = ((codes[o + k] << 24) >> 24) * s;
    return;
  }
  for (let k = 0; k < len; k++) {
    const c = codes[o + k];
    out[k] = c === 0 ? 0 : max * 2 ** ((c - 255) / LOG_STEPS);
  }
}
