// Geometry of a convolution over one example, channels-last: a square k×k kernel (1, 3 or 5),
// stride 1 or 2, no padding ("valid") or (k − 1)/2 pixels of zeros on every side ("same").
export interface ConvGeometry {
  hi: number;
  wi: number;
  ci: number;
  ho: number;
  wo: number;
  co: number;
  /** Pixels of zero padding on each side: 0 = valid, (k − 1)/2 = same. */
  pad: number;
  /** Kernel height and width. */
  k: number;
  stride: number;
}

export const KERNELS = [1, 3, 5] as const;
export const STRIDES = [1, 2] as const;

/** Taps (kernel positions) per output pixel and channel: k². */
export function taps(g: ConvGeometry): number {
  return g.k * g.k;
}

/** Whether the register-blocked 3x3, stride-1 kernels apply (others take the general ones). */
export function isBlocked3x3(g: ConvGeometry): boolean {
  return g.k === 3 && g.stride === 1;
}

export function convGeometry(hi: number, wi: number, ci: number, co: number, padding: 'valid' | 'same', k = 3, stride = 1): ConvGeometry {
  if (!(KERNELS as readonly number[]).includes(k)) throw new Error(`a ${k}x${k} kernel is not supported (${KERNELS.join(', ')})`);
  if (!(STRIDES as readonly number[]).includes(stride)) throw new Error(`stride ${stride} is not supported (${STRIDES.join(', ')})`);
  const pad = padding === 'same' ? (k - 1) / 2 : 0;
  const ho = Math.floor((hi + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((wi + 2 * pad - k) / stride) + 1;
  if (ho < 1 || wo < 1 || hi + 2 * pad < k || wi + 2 * pad < k) throw new Error(`a ${k}x${k} ${padding} convolution does not fit a ${hi}x${wi} input`);
  return { hi, wi, ci, ho, wo, co, pad, k, stride };
}
