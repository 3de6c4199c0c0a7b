// Geometry of a 3x3, stride-1 convolution over one example, channels-last.
export interface ConvGeometry {
  hi: number;
  wi: number;
  ci: number;
  ho: number;
  wo: number;
  co: number;
  /** 0 = valid, 1 = same */
  pad: number;
}

export const KERNEL = 3;
export const TAPS = KERNEL * KERNEL;

export function convGeometry(hi: number, wi: number, ci: number, co: number, padding: 'valid' | 'same'): ConvGeometry {
  const pad = padding === 'same' ? 1 : 0;
  const ho = hi - KERNEL + 1 + 2 * pad;
  const wo = wi - KERNEL + 1 + 2 * pad;
  if (ho < 1 || wo < 1) throw new Error(`a 3x3 ${padding} convolution does not fit a ${hi}x${wi} input`);
  return { hi, wi, ci, ho, wo, co, pad };
}
