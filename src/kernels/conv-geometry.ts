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

/**
 * Floats of lookup scratch the binary input-gradient kernel takes (kernels.convBwdData): a sign
 * index of 9·ci·⌈co/4⌉ words, then per output row ⌈co/4⌉·16 table rows of W floats, W the input
 * width rounded up to 12 plus the padding and 2, rounded up to 4 (convLutBytes in kernels.as.ts).
 */
export function convLutFloats(g: ConvGeometry): number {
  const groups = Math.ceil(g.co / 4);
  const width = (Math.ceil(g.wi / 12) * 12 + g.pad + 2 + 3) & ~3;
  const index = Math.ceil((taps(g) * groups * g.ci) / 4) * 4;
  return index + g.ho * groups * 16 * width;
}

/** Output widths up to which binary conv input gradients put 4 examples in the lanes (convBwdDataQuads in kernels.as.ts). */
export const DATA_QUADS_UP_TO = 4;

/**
 * Whether a binary conv's input gradient runs with examples in the lanes: 3x3, stride 1, an even
 * channel count, an output at most DATA_QUADS_UP_TO wide, and at most 1020 output channels (its
 * sign index holds a group's table offset in 16 bits).
 */
export function dataQuadsApply(g: ConvGeometry): boolean {
  return isBlocked3x3(g) && g.ci % 2 === 0 && g.wo <= DATA_QUADS_UP_TO && g.co <= 1020;
}

/** Output width from which weight gradients over sign inputs sum pixels in groups of 4 (FILTER_GROUPS_FROM in kernels.as.ts). */
export const FILTER_GROUPS_FROM = 10;

/** Whether the weight gradient over sign inputs runs by table lookups: 3x3, stride 1, an output at least FILTER_GROUPS_FROM wide. */
export function filterLookupApplies(g: ConvGeometry): boolean {
  return isBlocked3x3(g) && g.wo >= FILTER_GROUPS_FROM;
}

/** Patch sizes (k²·ci values) up to which a float × binary forward sums by table lookups (convFwdPatches in kernels.as.ts). */
export const PATCH_GROUPS_UP_TO = 128;

/**
 * Whether a float × binary conv forward sums each patch in groups of 4 values (first layers on
 * images): at most PATCH_GROUPS_UP_TO values a patch, and weights that re-laid in patch order fit
 * 16 KB of the kernels' scratch (output channels × ⌈patch/32⌉ words at most 4096).
 */
export function patchGroupsApply(g: ConvGeometry): boolean {
  const n = g.k * g.k * g.ci;
  return n <= PATCH_GROUPS_UP_TO && g.co * Math.ceil(n / 32) <= 4096;
}

/** Output widths up to which weight gradients over sign inputs, a batch at a time, group examples in fours. */
export const QUADS_UP_TO = 12;
/** Examples a call needs for the grouping in fours. */
export const QUADS_FROM_EXAMPLES = 4;

/**
 * Whether a weight gradient over sign inputs of `examples` examples in one call sums them in
 * quads (4 consecutive examples at one output pixel a group): 3x3, stride 1, an output at most
 * QUADS_UP_TO wide, QUADS_FROM_EXAMPLES examples or more.
 */
export function filterQuadsApply(g: ConvGeometry, examples: number): boolean {
  return isBlocked3x3(g) && g.wo <= QUADS_UP_TO && examples >= QUADS_FROM_EXAMPLES;
}

/**
 * Floats of lookup scratch a weight gradient in quads takes (kernels.convBwdFilter) where
 * filterQuadsApply: a u64 of sign bits per (quad, input channel, input row), then per 16 output
 * channels of `count` the tables of a band of rows (24 KB, at least one row) and the 16
 * channels' dw turned to (tap, input channel) × 16 (convFilterQuadBytes in kernels.as.ts).
 */
export function convFilterQuadFloats(g: ConvGeometry, count: number, examples: number): number {
  if (!filterQuadsApply(g, examples)) return 0;
  const band = Math.max(1, Math.floor(24 / g.wo));
  return Math.ceil(examples / 4) * g.ci * g.hi * 2 + Math.ceil(count / 16) * (band * g.wo * 256 + taps(g) * g.ci * 16);
}

/**
 * Floats of lookup scratch the weight gradient over sign inputs takes (kernels.convBwdFilter)
 * where filterLookupApplies: a sign row per input channel and row of each example, then per 16 output channels of
 * `count` a kilobyte table per group of 4 output pixels and two more per output row, and the 16
 * channels' dw turned to (tap, input channel) × 16 (convFilterLutBytes in kernels.as.ts); 0 elsewhere.
 */
export function convFilterLutFloats(g: ConvGeometry, count = g.co, examples = 1): number {
  if (!filterLookupApplies(g)) return 0;
  const signRows = (((Math.ceil((g.wi + 2) / 8) + 8 + 3) & ~3) * g.ci * g.hi + 15) & ~15;
  return (examples * signRows) / 4 + Math.ceil(count / 16) * (g.ho * (Math.ceil(g.wo / 4) + 2) * 256 + taps(g) * g.ci * 16);
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
