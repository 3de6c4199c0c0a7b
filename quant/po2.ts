// Power-of-two gradient quantizer (DESIGN section 2), per tensor G:
//   b = 8 - round(log2 max|G|);  e = clip(round(log2 |G·2^b|), -8, 7);  Q(G) = sign(G)·2^(e-b).
// Stored packed at 5 bits per element (1 sign bit + 4 exponent bits) plus one bias b per tensor.
// The exponent code 0 (e = -8) is reserved for an exact zero: gradients masked by the STE are
// zero very often, and 2^(-8-b) in their place would be a systematic error. So non-zero values
// use e in [-7, 7] and anything that rounds below -7 flushes to zero.

export const PO2_BITS = 5;
const E_MIN = -7;
const E_MAX = 7;

export function po2Bias(maxAbs: number): number {
  if (!(maxAbs > 0) || !Number.isFinite(maxAbs)) return 0;
  return 8 - Math.round(Math.log2(maxAbs));
}

/** 5-bit code for value v under bias b: bit 4 = sign, bits 0-3 = e + 8 (0 = zero). */
export function po2Encode(v: number, b: number): number {
  if (v === 0 || Number.isNaN(v)) return 0;
  const a = Math.abs(v) * 2 ** b;
  let e = Math.round(Math.log2(a));
  if (e < E_MIN) {
    // below half of the smallest code's geometric midpoint: flush to zero
    if (Math.log2(a) < E_MIN - 0.5) return 0;
    e = E_MIN;
  }
  if (e > E_MAX) e = E_MAX;
  return (v < 0 ? 16 : 0) | (e + 8);
}

const EXP_VALUE = new Float64Array(16);
for (let c = 1; c < 16; c++) EXP_VALUE[c] = 2 ** (c - 8);

export function po2Decode(code: number, b: number): number {
  const c = code & 15;
  if (c === 0) return 0;
  const mag = EXP_VALUE[c] * 2 ** -b;
  return code & 16 ? -mag : mag;
}

export function po2Quantize(v: number, b: number): number {
  return po2Decode(po2Encode(v, b), b);
}

/** Words needed for n packed 5-bit codes. */
export function po2Words(n: number): number {
  return Math.ceil((n * PO2_BITS) / 32);
}

export function po2Put(words: Uint32Array, index: number, code: number): void {
  const bit = index * PO2_BITS;
  const w = bit >>> 5;
  const off = bit & 31;
  words[w] = ((words[w] & ~(31 << off)) | (code << off)) >>> 0;
  if (off > 27) {
    const spill = off + PO2_BITS - 32; // bits that land in the next word
    const hiMask = (1 << spill) - 1;
    words[w + 1] = ((words[w + 1] & ~hiMask) | (code >>> (PO2_BITS - spill))) >>> 0;
  }
}

export function po2Get(words: Uint32Array, index: number): number {
  const bit = index * PO2_BITS;
  const w = bit >>> 5;
  const off = bit & 31;
  let code = words[w] >>> off;
  if (off > 27) code |= words[w + 1] << (32 - off);
  return code & 31;
}
