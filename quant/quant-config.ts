// How a fixed-point model is quantized: bits of weights and activations, the weight quantizer,
// and which of the published fixes are on (docs/method.md §4). Parsed from the command line:
//   --quant w4a8 --quantizer msqe --fix outlier,second-moment,stable=0.5
//   --quant w4a8 --quantizer gradient --fix msqe-round
//   --quant float   (the float32 twin: the same ReLU network, nothing quantized)

export const QUANTIZERS = ['msqe', 'gradient'] as const;
export type QuantizerName = (typeof QUANTIZERS)[number];
export const FIXES = ['outlier', 'second-moment', 'stable', 'msqe-round'] as const;

export interface QuantConfig {
  /** Bits of the weights (null: float32 weights). */
  weightBits: number | null;
  /** Bits of the activations after ReLU (null: float32 activations). */
  actBits: number | null;
  quantizer: QuantizerName;
  /** Batch norm after every hidden weight layer, folded into the weights from this fraction of training on (null: no batch norm). */
  bnFoldAt?: number | null;
  fixes: {
    /** MSQE: elements beyond 2 std get weight 0; gradient: elements clipped beyond the learned range do not move ẽ. */
    outlier: boolean;
    /** MSQE: weigh elements by sqrt(EMA 0.999 of dL/dw_q²). */
    secondMoment: boolean;
    /** MSQE: fix the exponent at round(EMA 0.99) from this fraction of training on (null: off). */
    stableFrom: number | null;
    /** Gradient-based weights: floor(ẽ) or ceil(ẽ) by lower MSQE instead of ceil(ẽ) (activations keep ceil). */
    msqeRound: boolean;
  };
}

export class QuantConfigError extends Error {}

/** Input pixels of fixed-point models are 8-bit signed with scale 2^-7 (value (2p − 255)/255). */
export const INPUT_EXPONENT = -7;
export const INPUT_BITS = 8;

export function parseQuantBits(spec: string): { weightBits: number | null; actBits: number | null } {
  if (spec === 'float') return { weightBits: null, actBits: null };
  const m = /^w(\d+|32)a(\d+|32)$/.exec(spec);
  if (!m) throw new QuantConfigError(`--quant "${spec}" is not wNaM (e.g. w4a8: 4-bit weights, 8-bit activations) or "float"`);
  const bits = (s: string, what: string) => {
    const b = Number(s);
    if (b === 32) return null;
    if (b < 2 || b > 16) throw new QuantConfigError(`--quant ${spec}: ${b}-bit ${what} are not supported (2 to 16, or 32 for float)`);
    return b;
  };
  return { weightBits: bits(m[1], 'weights'), actBits: bits(m[2], 'activations') };
}

export function parseFixes(list: string | undefined, quantizer: QuantizerName): QuantConfig['fixes'] {
  const fixes: QuantConfig['fixes'] = { outlier: false, secondMoment: false, stableFrom: null, msqeRound: false };
  for (const raw of (list ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, value] = raw.split('=');
    if (!(FIXES as readonly string[]).includes(name)) throw new QuantConfigError(`unknown fix "${name}" (available: ${FIXES.join(', ')})`);
    if (value !== undefined && name !== 'stable') throw new QuantConfigError(`fix "${name}" takes no value`);
    if (name === 'outlier') fixes.outlier = true;
    else if (name === 'second-moment') fixes.secondMoment = true;
    else if (name === 'msqe-round') fixes.msqeRound = true;
    else {
      const f = value === undefined ? 0.5 : Number(value);
      if (!(f >= 0 && f <= 1)) throw new QuantConfigError(`stable=${value}: the switch point is a fraction of training, 0 to 1`);
      fixes.stableFrom = f;
    }
  }
  const msqeOnly = fixes.secondMoment || fixes.stableFrom !== null;
  if (quantizer === 'gradient' && msqeOnly) throw new QuantConfigError('fixes second-moment and stable belong to the MSQE quantizer (--quantizer msqe)');
  if (quantizer === 'msqe' && fixes.msqeRound) throw new QuantConfigError('fix msqe-round belongs to the gradient-based quantizer (--quantizer gradient)');
  return fixes;
}

export function parseQuantConfig(quant: string, quantizer = 'msqe', fixes?: string, bnFold?: string): QuantConfig {
  if (!(QUANTIZERS as readonly string[]).includes(quantizer))
    throw new QuantConfigError(`unknown quantizer "${quantizer}" (available: ${QUANTIZERS.join(', ')})`);
  const q = quantizer as QuantizerName;
  let bnFoldAt: number | null = null;
  if (bnFold !== undefined) {
    bnFoldAt = Number(bnFold);
    if (bnFold.trim() === '' || !(bnFoldAt >= 0 && bnFoldAt <= 1))
      throw new QuantConfigError(`--bn-fold ${bnFold}: the folding point is a fraction of training, 0 to 1`);
  }
  return { ...parseQuantBits(quant), quantizer: q, ...(bnFoldAt !== null ? { bnFoldAt } : {}), fixes: parseFixes(fixes, q) };
}

/** A short name: "w4a8 msqe+outlier+stable=0.5", "float". */
export function describeQuant(q: QuantConfig): string {
  const bn = q.bnFoldAt !== undefined && q.bnFoldAt !== null ? ` bn-fold=${q.bnFoldAt}` : '';
  if (q.weightBits === null && q.actBits === null) return `float${bn}`;
  const bits = `w${q.weightBits ?? 32}a${q.actBits ?? 32}`;
  const f = q.fixes;
  const fixes = [
    f.outlier && 'outlier',
    f.secondMoment && 'second-moment',
    f.stableFrom !== null && `stable=${f.stableFrom}`,
    f.msqeRound && 'msqe-round',
  ].filter(Boolean);
  return `${bits} ${q.quantizer}${fixes.length ? `+${fixes.join('+')}` : ''}${bn}`;
}
