// 8-bit block-quantized storage for optimizer state (docs/method.md §6; after Dettmers et al.'s
// 8-bit optimizers): blocks of 256 values, one float32 scale per block (its largest magnitude)
// and one byte per value, logarithmic (as the dynamic codes of 8-bit optimizers): entries of one
// block span decades, and a linear code would round the small ones to 0 (Adam normalizes each
// coordinate, so those still matter; a zero v next to a non-zero m would blow the step up).
//   log (non-negative: Adam v): c in 1..255 stands for max·2^((c − 255)/8), 0 for an exact 0:
//     8 steps per octave over 32 octaves, ~4% relative precision.
//   slog (signed: Adam m, Bop momentum): bit 7 = sign, c in 1..127 stands for max·2^((c − 127)/8):
//     16 octaves below the block maximum, ~4% relative precision.
//   linear (signed): round(127·x/absmax) as int8, for values of one scale.
export const BLOCK8 = 256;
const LOG_STEPS = 8;

export type Block8Code = 'linear' | 'log' | 'slog';

// Fast log codes (this runs for every optimizer-state element every step): 8·log2(a) from the
// float's exponent plus a table of 8·log2(1 + mantissa) on the top 12 mantissa bits (error far
// below the 1/16-octave rounding step), and decoding through a table of 2^(k/8).
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const HI = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 1 : 0;
const MANT_BITS = 12;
/** 8·log2(1 + (k + 0.5)/4096): the log code's mantissa table (src/kernels/wasm/tables.gen.mjs compiles the same one). */
export const LOG_MANT_TABLE = Float64Array.from({ length: 1 << MANT_BITS }, (_, k) => LOG_STEPS * Math.log2(1 + (k + 0.5) / (1 << MANT_BITS)));
/** 8·log2(a) for a > 0 (normal numbers). */
function log2x8(a: number): number {
  F64[0] = a;
  const hi = U32[HI];
  return LOG_STEPS * (((hi >>> 20) & 0x7ff) - 1023) + LOG_MANT_TABLE[(hi >>> (20 - MANT_BITS)) & ((1 << MANT_BITS) - 1)];
}
/** 2^((c − top)/8) for c = 0 .. 255 (top = 255) and 0 .. 127 (top = 127). */
const POW_LOG = Float64Array.from({ length: 256 }, (_, c) => 2 ** ((c - 255) / LOG_STEPS));
export const POW_SLOG_TABLE = Float64Array.from({ length: 128 }, (_, c) => 2 ** ((c - 127) / LOG_STEPS));

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
  const top = code === 'log' ? 255 : 127;
  const logMax = log2x8(max);
  for (let k = 0; k < len; k++) {
    const v = src[k];
    const a = code === 'log' ? v : Math.abs(v);
    if (!(a > 0)) {
      codes[o + k] = 0;
      continue;
    }
    const c = top + Math.round(log2x8(a) - logMax);
    codes[o + k] = c < 1 ? 0 : c | (code === 'slog' && v < 0 ? 128 : 0);
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
  if (code === 'log') {
    for (let k = 0; k < len; k++) {
      const c = codes[o + k];
      out[k] = c === 0 ? 0 : max * POW_LOG[c];
    }
    return;
  }
  for (let k = 0; k < len; k++) {
    const c = codes[o + k];
    const mag = c & 127;
    const v = mag === 0 ? 0 : max * POW_SLOG_TABLE[mag];
    out[k] = c & 128 ? -v : v;
  }
}
