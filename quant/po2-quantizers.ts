// Hardware-friendly fixed-point weight quantizers (docs/method.md §4; Bae, Zielinski, Chatterjee
// 2022): uniform, symmetric, per-tensor, power-of-two scale s = 2^e, b bits, Qn = Qp = 2^(b−1) − 1:
//   w_q = s · clip(round(w/s), −Qn, Qp)     round with the identity gradient (STE)
// Two ways to choose e, each with the paper's fixes as options:
//   MSQE-based: e recomputed every step by weighted least squares + a line search over exponents;
//     fixes: outlier mask (|w| > 2·std gets weight 0), second-moment weighting (m_i = sqrt of an
//     EMA of g_i² on unclipped elements), stable exponent (EMA 0.99 of e, then 2^round(EMA)).
//   Gradient-based (TQT/LSQ): a trainable real exponent ẽ, e = ceil(ẽ) (TQT) or MSQE-round (the
//     neighbour of ẽ with the lower weighted, masked MSQE).
// Fixed-point layers (src/layers/quant-dense.ts, quant-act.ts) use them through WeightQuantizer.

export interface Po2Format {
  bits: number;
  /** Unsigned (after ReLU): 0 .. 2^b − 1; signed: −Qn .. Qp. */
  unsigned?: boolean;
}

export function qRange(f: Po2Format): { lo: number; hi: number } {
  if (!Number.isInteger(f.bits) || f.bits < 2 || f.bits > 16) throw new Error(`fixed point: ${f.bits} bits is not supported (2 to 16)`);
  return f.unsigned ? { lo: 0, hi: 2 ** f.bits - 1 } : { lo: -(2 ** (f.bits - 1) - 1), hi: 2 ** (f.bits - 1) - 1 };
}

/** out = 2^e · clip(round(w/2^e), lo, hi); returns how many elements were clipped. */
export function quantizePo2(w: ArrayLike<number>, e: number, f: Po2Format, out: { [i: number]: number }): number {
  const { lo, hi } = qRange(f);
  const s = 2 ** e;
  let clipped = 0;
  for (let i = 0; i < w.length; i++) {
    let q = Math.round(w[i] / s);
    if (q < lo) {
      q = lo;
      clipped++;
    } else if (q > hi) {
      q = hi;
      clipped++;
    }
    out[i] = q * s;
  }
  return clipped;
}

/** Σ m_i·(w_i − Q(w_i))² (m absent: 1). */
export function weightedMsqe(w: ArrayLike<number>, e: number, f: Po2Format, m?: ArrayLike<number>): number {
  const { lo, hi } = qRange(f);
  const s = 2 ** e;
  let err = 0;
  for (let i = 0; i < w.length; i++) {
    const q = Math.min(hi, Math.max(lo, Math.round(w[i] / s))) * s;
    err += (m ? m[i] : 1) * (w[i] - q) ** 2;
  }
  return err;
}

/** e0 = round(log2(max|w| / Qp)), the max over the elements with non-zero weight in m (if given). */
export function initialExponent(w: ArrayLike<number>, f: Po2Format, m?: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < w.length; i++) if (!m || m[i] > 0) max = Math.max(max, Math.abs(w[i]));
  return Math.round(Math.log2(Math.max(max, 1e-30) / qRange(f).hi));
}

function std(w: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < w.length; i++) mean += w[i];
  mean /= w.length;
  let v = 0;
  for (let i = 0; i < w.length; i++) v += (w[i] - mean) ** 2;
  return Math.sqrt(v / w.length);
}

/** Outlier mask weights: 0 where |w| > k·std(w), else the given weight (or 1). */
export function outlierMasked(w: ArrayLike<number>, m: ArrayLike<number> | undefined, k = 2): Float64Array {
  const sd = std(w);
  return Float64Array.from({ length: w.length }, (_, i) => (Math.abs(w[i]) > k * sd ? 0 : m ? m[i] : 1));
}

/**
 * The MSQE-optimal power-of-two exponent: from `start` (last step's exponent), three weighted
 * least-squares iterations (q = clip(round(w/s)); s* = Σ m·w·q / Σ m·q²; s = 2^round(log2 s*)),
 * keeping the best by weighted MSQE, then a line search over best−3 … best+3.
 * One pass per distinct exponent gives both its MSQE and its least-squares sums (cached: the
 * iterations usually revisit the same few exponents).
 */
/** Σ m·(w − s·q)², Σ m·w·q and Σ m·q², q = clip(round(w/s), lo, hi), s = 2^e: one pass (the reference for kernels). */
export function msqeSums(
  w: ArrayLike<number>,
  m: ArrayLike<number> | undefined | null,
  e: number,
  lo: number,
  hi: number,
): { err: number; num: number; den: number } {
  const s = 2 ** e;
  const inv = 1 / s; // exact: s is a power of two
  let err = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i];
    let q = Math.round(wi * inv);
    q = q < lo ? lo : q > hi ? hi : q;
    const mi = m ? m[i] : 1;
    const d = wi - q * s;
    err += mi * d * d;
    num += mi * wi * q;
    den += mi * q * q;
  }
  return { err, num, den };
}

export function msqeExponent(w: ArrayLike<number>, f: Po2Format, start: number, m?: ArrayLike<number>, sums?: MsqeSumsAt): number {
  const { lo, hi } = qRange(f);
  const cache = new Map<number, { err: number; num: number; den: number }>();
  const evaluate = (e: number) => {
    let r = cache.get(e);
    if (!r) cache.set(e, (r = sums ? sums(e, lo, hi) : msqeSums(w, m, e, lo, hi)));
    return r;
  };
  let e = start;
  let best = start;
  let bestErr = evaluate(start).err;
  for (let it = 0; it < 3; it++) {
    const { num, den } = evaluate(e);
    // everything rounded to 0 (a start far above the weights): restart from the max-based exponent
    e = den > 0 && num > 0 ? Math.round(Math.log2(num / den)) : initialExponent(w, f, m);
    const err = evaluate(e).err;
    if (err < bestErr) [best, bestErr] = [e, err];
  }
  let chosen = best;
  for (let d = -3; d <= 3; d++) {
    const err = evaluate(best + d).err;
    if (err < bestErr) [chosen, bestErr] = [best + d, err];
  }
  return chosen;
}

/** A fast evaluation of the MSQE sums at exponent e (a kernel), bound to the tensor and its weights. */
export type MsqeSumsAt = (e: number, lo: number, hi: number) => { err: number; num: number; den: number };

export interface MsqeOptions {
  outlierMask?: boolean;
  secondMoment?: boolean;
  /** Stable exponent: from this fraction of training on, the exponent is fixed at 2^round(EMA of e). */
  stableFrom?: number;
}

type Buffer = { [i: number]: number; length: number };

/** Scalars a weight quantizer checkpoints (NaN = unset). */
export const QUANTIZER_SCALARS = 5;

/**
 * What a fixed-point layer needs from its weight quantizer, MSQE-based or gradient-based: the
 * quantized weights of each step, the straight-through backward, and state for checkpoints and
 * reports (the exponent in use and how often it changed).
 */
export interface WeightQuantizer {
  readonly format: Po2Format;
  readonly exponent: number | null;
  readonly flips: number;
  /** Choose this step's exponent (progress: fraction of training done) and quantize w into out. */
  quantize(w: ArrayLike<number>, out: Buffer, progress: number): number;
  /** dL/dw from dL/dw_q into out (identity inside the range, 0 where clipped); returns dL/d(log2 scale), 0 when the scale is not trained. */
  backward(w: ArrayLike<number>, gq: ArrayLike<number>, out: Buffer): number;
  /** The weights were rescaled (batch norm folded in): start the scale over, not counted as a flip. */
  restart(w: ArrayLike<number>): void;
  /** QUANTIZER_SCALARS numbers for checkpoints, and back. */
  saveScalars(): number[];
  loadScalars(v: ArrayLike<number>): void;
}

const orNull = (x: number) => (Number.isNaN(x) ? null : x);

/** The exponent in use and how often it changed (the instability the paper reports). */
abstract class ExponentHistory {
  exponent: number | null = null;
  flips = 0;
  abstract readonly format: Po2Format;

  /** Take e as this step's exponent and quantize w with it into out. */
  protected apply(e: number, w: ArrayLike<number>, out: { [i: number]: number }): number {
    if (this.exponent !== null && e !== this.exponent) this.flips++;
    this.exponent = e;
    quantizePo2(w, e, this.format, out);
    return e;
  }
}

/**
 * The MSQE-based quantizer of one tensor, with its state (exponent, EMAs, flips). Buffers can be
 * handed in (the layers take them from the memory ledger): `gradSq` (second-moment EMA) and
 * `weights` (the per-element weights of the least squares, rebuilt every step).
 */
export class MsqeQuantizer extends ExponentHistory implements WeightQuantizer {
  emaExponent: number | null = null;
  /** The stable exponent, once the switch happened (it never changes after that). */
  frozen: number | null = null;
  /** EMA 0.999 of g² on unclipped elements (second-moment weighting). */
  readonly gradSq: Buffer | null;
  private readonly weights: Buffer | null;
  private gradsSeen = false;

  constructor(
    readonly format: Po2Format,
    readonly size: number,
    readonly opts: MsqeOptions = {},
    buffers: { gradSq?: Buffer; weights?: Buffer } = {},
    /** A kernel for the MSQE sums of the tensor this quantizer serves, given the element weights in use. */
    private readonly fastSums?: (m: Buffer | undefined) => MsqeSumsAt,
  ) {
    super();
    this.gradSq = opts.secondMoment ? (buffers.gradSq ?? new Float64Array(size)) : null;
    this.weights = opts.secondMoment || opts.outlierMask ? (buffers.weights ?? new Float64Array(size)) : null;
  }

  /** Per-element weights of this step: sqrt of the second moments (once gradients were seen), 0 for outliers. */
  private elementWeights(w: ArrayLike<number>): Buffer | undefined {
    const m = this.weights;
    if (!m) return undefined;
    const sm = this.gradsSeen ? this.gradSq : null;
    for (let i = 0; i < w.length; i++) m[i] = sm ? Math.sqrt(sm[i]) : 1;
    if (this.opts.outlierMask) {
      const limit = 2 * std(w);
      for (let i = 0; i < w.length; i++) if (Math.abs(w[i]) > limit) m[i] = 0;
    }
    return m;
  }

  /** Choose this step's exponent for w (progress: fraction of training done) and quantize into out. */
  quantize(w: ArrayLike<number>, out: Buffer, progress = 0): number {
    if (this.frozen !== null) return this.apply(this.frozen, w, out);
    const m = this.elementWeights(w) as ArrayLike<number> | undefined;
    const start = this.exponent ?? initialExponent(w, this.format, m);
    let e = msqeExponent(w, this.format, start, m, this.fastSums?.(m as Buffer | undefined));
    this.emaExponent = this.emaExponent === null ? e : 0.99 * this.emaExponent + 0.01 * e;
    if (this.opts.stableFrom !== undefined && progress >= this.opts.stableFrom) e = this.frozen = Math.round(this.emaExponent);
    return this.apply(e, w, out);
  }

  /** dL/dw from dL/dw_q (STE inside the range, 0 where clipped); updates the second-moment EMA. No trained scale: returns 0. */
  backward(w: ArrayLike<number>, gq: ArrayLike<number>, out: { [i: number]: number }): number {
    const { lo, hi } = qRange(this.format);
    const s = 2 ** this.exponent!;
    const sm = this.gradSq;
    for (let i = 0; i < w.length; i++) {
      const r = Math.round(w[i] / s);
      const inside = r >= lo && r <= hi;
      out[i] = inside ? gq[i] : 0;
      if (sm && inside) sm[i] = 0.999 * sm[i] + 0.001 * gq[i] * gq[i];
    }
    if (sm) this.gradsSeen = true;
    return 0;
  }

  restart(): void {
    [this.exponent, this.emaExponent, this.frozen] = [null, null, null];
  }

  saveScalars(): number[] {
    return [this.exponent ?? NaN, this.emaExponent ?? NaN, this.frozen ?? NaN, this.flips, this.gradsSeen ? 1 : 0];
  }
  loadScalars(v: ArrayLike<number>): void {
    [this.exponent, this.emaExponent, this.frozen] = [orNull(v[0]), orNull(v[1]), orNull(v[2])];
    this.flips = Number.isNaN(v[3]) ? 0 : v[3];
    this.gradsSeen = v[4] === 1;
  }
}

/** Where the trainable ẽ lives (a layer keeps it in a parameter the optimizer updates). */
export interface ScaleCell {
  get(): number;
  set(v: number): void;
}

/** Gradient-based (TQT) quantizer: trainable real exponent ẽ (logScale). */
export class GradientQuantizer extends ExponentHistory implements WeightQuantizer {
  private readonly cell: ScaleCell;

  constructor(
    readonly format: Po2Format,
    /** ceil: TQT; msqe-round: floor(ẽ) or ceil(ẽ), whichever has the lower weighted, masked MSQE. */
    readonly rounding: 'ceil' | 'msqe-round',
    logScale: number | ScaleCell,
    /** Outlier fix: elements clipped beyond the learned range 2^ẽ·(Qp + 0.5) do not pull ẽ. */
    readonly maskOutliers = false,
  ) {
    super();
    if (typeof logScale === 'number') {
      let v = logScale;
      this.cell = { get: () => v, set: (x) => void (v = x) };
    } else this.cell = logScale;
  }

  get logScale(): number {
    return this.cell.get();
  }
  set logScale(v: number) {
    this.cell.set(v);
  }

  restart(w: ArrayLike<number>): void {
    this.exponent = null;
    this.logScale = GradientQuantizer.initialLogScale(w, this.format);
  }

  saveScalars(): number[] {
    return [this.exponent ?? NaN, NaN, NaN, this.flips, NaN];
  }
  loadScalars(v: ArrayLike<number>): void {
    this.exponent = orNull(v[0]);
    this.flips = Number.isNaN(v[3]) ? 0 : v[3];
  }

  static initialLogScale(w: ArrayLike<number>, f: Po2Format): number {
    return Math.log2(Math.max((3 * std(w)) / qRange(f).hi, 1e-5));
  }

  static init(w: ArrayLike<number>, f: Po2Format, rounding: 'ceil' | 'msqe-round'): GradientQuantizer {
    return new GradientQuantizer(f, rounding, GradientQuantizer.initialLogScale(w, f));
  }

  /** The integer exponent for w under the rounding rule (outliers beyond the learned range masked). */
  exponentFor(w: ArrayLike<number>): number {
    if (this.rounding === 'ceil') return Math.ceil(this.logScale);
    const lo = Math.floor(this.logScale);
    const hi = Math.ceil(this.logScale);
    if (lo === hi) return lo;
    const limit = 2 ** this.logScale * (qRange(this.format).hi + 0.5);
    return maskedMsqe(w, lo, this.format, limit) <= maskedMsqe(w, hi, this.format, limit) ? lo : hi;
  }

  quantize(w: ArrayLike<number>, out: Buffer): number {
    return this.apply(this.exponentFor(w), w, out);
  }

  /**
   * From dL/dw_q: dL/dw (identity inside the range, 0 where clipped) into out, and dL/dẽ:
   * Σ g·s·ln2·(round(w/s) − w/s) inside, g·s·ln2·lo below, g·s·ln2·hi above (s = 2^e, the STE
   * through the rounding of ẽ).
   */
  backward(w: ArrayLike<number>, gq: ArrayLike<number>, out: Buffer | null): number {
    const { lo, hi } = qRange(this.format);
    const e = this.exponent ?? this.exponentFor(w);
    const s = 2 ** e;
    let dLog = 0;
    for (let i = 0; i < w.length; i++) {
      const x = w[i] / s;
      const r = Math.round(x);
      if (r < lo) {
        if (out) out[i] = 0;
        if (!this.maskOutliers) dLog += gq[i] * lo;
      } else if (r > hi) {
        if (out) out[i] = 0;
        if (!this.maskOutliers) dLog += gq[i] * hi;
      } else {
        if (out) out[i] = gq[i];
        dLog += gq[i] * (r - x);
      }
    }
    return dLog * s * Math.LN2;
  }
}

/** Σ (w − Q(w))² over the elements with |w| <= limit (no buffer needed). */
function maskedMsqe(w: ArrayLike<number>, e: number, f: Po2Format, limit: number): number {
  const { lo, hi } = qRange(f);
  const s = 2 ** e;
  let err = 0;
  for (let i = 0; i < w.length; i++) {
    if (Math.abs(w[i]) > limit) continue;
    const q = Math.min(hi, Math.max(lo, Math.round(w[i] / s))) * s;
    err += (w[i] - q) ** 2;
  }
  return err;
}
