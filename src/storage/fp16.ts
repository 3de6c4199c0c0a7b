// IEEE 754 binary16 encode/decode (Node 20 has no Float16Array). Round to nearest, ties to even;
// subnormals kept; NaN stays NaN; overflow gives ±Infinity unless the caller asks to saturate
// (stores saturate: a stored gradient or moment must never become infinite).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export const FP16_MAX = 65504;
export const FP16_MIN_NORMAL = 2 ** -14;
export const FP16_MIN_SUBNORMAL = 2 ** -24;

export function toHalf(value: number, saturate = false): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return mant ? sign | 0x7e00 : saturate ? sign | 0x7bff : sign | 0x7c00;
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 31) return saturate ? sign | 0x7bff : sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry may reach the exponent: correct
  if (saturate && (half & 0x7c00) === 0x7c00) half = 0x7bff;
  return sign | half;
}

const POW2 = new Float64Array(32);
for (let e = 0; e < 32; e++) POW2[e] = 2 ** (e - 25);

export function fromHalf(h: number): number {
  const e = (h >>> 10) & 31;
  const m = h & 1023;
  const s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * FP16_MIN_SUBNORMAL;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * POW2[e];
}

export function encodeHalfArray(src: ArrayLike<number>, dst: Uint16Array, saturate = true): void {
  for (let i = 0; i < src.length; i++) dst[i] = toHalf(src[i], saturate);
}

export function decodeHalfArray(src: Uint16Array, dst: { [i: number]: number; length: number }): void {
  for (let i = 0; i < src.length; i++) dst[i] = fromHalf(src[i]);
}
