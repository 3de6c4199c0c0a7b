// Hardware-friendly fixed-point weight quantizers (DESIGN section 4; Bae, Zielinski, Chatterjee
// 2022): uniform, symmetric, per-tensor, power-of-two scale s = 2^e, b bits, Qn = Qp = 2^(b−1) − 1:
//   w_q = s · clip(round(w/s), −Qn, Qp)     round with the identity gradient (STE)
// Two ways to choose e, each with the paper's fixes as options:
//   MSQE-based: e recomputed every step by weighted least squares + a line search over exponents;
//     fixes: outlier mask (|w| > 2·std gets weight 0), second-moment weighting (m_i = sqrt of an
//     EMA of g_i² on unclipped elements), stable exponent (EMA 0.99 of e, then 2^round(EMA)).
//   Gradient-based (TQT/LSQ): a trainable real exponent ẽ, e = ceil(ẽ) (TQT) or MSQE-round (the
//     neighbour of ẽ with the lower weighted, masked MSQE).
// This module is the quantizers' arithmetic; layers and models that use them are still to come.

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
 */
export function msqeExponent(w: ArrayLike<number>, f: Po2Format, start: number, m?: ArrayLike<number>): number {
  const { lo, hi } = qRange(f);
  let e = start;
  let best = start;
  let bestErr = weightedMsqe(w, start, f, m);
  for (let it = 0; it < 3; it++) {
    const s = 2 ** e;
    let num = 0;
    let den = 0;
    for (let i = 0; i < w.length; i++) {
      const q = Math.min(hi, Math.max(lo, Math.round(w[i] / s)));
      const mi = m ? m[i] : 1;
      num += mi * w[i] * q;
      den += mi * q * q;
    }
    // everything rounded to 0 (a start far above the weights): restart from the max-based exponent
    e = den > 0 && num > 0 ? Math.round(Math.log2(num / den)) : initialExponent(w, f, m);
    const err = weightedMsqe(w, e, f, m);
    if (err < bestErr) [best, bestErr] = [e, err];
  }
  let chosen = best;
  for (let d = -3; d <= 3; d++) {
    const err = weightedMsqe(w, best + d, f, m);
    if (err < bestErr) [chosen, bestErr] = [best + d, err];
  }
  return chosen;
}

export interface MsqeOptions {
  outlierMask?: boolean;
  secondMoment?: boolean;
  /** Stable exponent: after this fraction of training, use 2^round(EMA of e). */
  stableFrom?: number;
}

/** The exponent of each step, and how often it changed (the instability the paper reports). */
abstract class ExponentHistory {
  exponent: number | null = null;
  readonly history: number[] = [];
  flips = 0;
  abstract readonly format: Po2Format;

  /** Take e as this step's exponent and quantize w with it into out. */
  protected apply(e: number, w: ArrayLike<number>, out: { [i: number]: number }): number {
    if (this.exponent !== null && e !== this.exponent) this.flips++;
    this.exponent = e;
    this.history.push(e);
    quantizePo2(w, e, this.format, out);
    return e;
  }
}

/** The MSQE-based quantizer of one tensor, with its state (exponent, EMAs, history). */
export class MsqeQuantizer extends ExponentHistory {
  emaExponent: number | null = null;
  /** EMA 0.999 of g² on unclipped elements (second-moment weighting). */
  readonly gradSq: Float64Array | null;

  constructor(
    readonly format: Po2Format,
    readonly size: number,
    readonly opts: MsqeOptions = {},
  ) {
    super();
    this.gradSq = opts.secondMoment ? new Float64Array(size) : null;
  }

  /** Choose this step's exponent for w (progress: fraction of training done) and quantize into out. */
  forward(w: ArrayLike<number>, out: { [i: number]: number }, progress = 0): number {
    // second-moment weights once gradients have been seen (all-zero weights would weigh nothing)
    const m0 = this.gradSq?.some((v) => v > 0) ? Float64Array.from(this.gradSq, Math.sqrt) : undefined;
    const m = this.opts.outlierMask ? outlierMasked(w, m0) : m0;
    const start = this.exponent ?? initialExponent(w, this.format, m);
    let e = msqeExponent(w, this.format, start, m);
    this.emaExponent = this.emaExponent === null ? e : 0.99 * this.emaExponent + 0.01 * e;
    if (this.opts.stableFrom !== undefined && progress >= this.opts.stableFrom) e = Math.round(this.emaExponent);
    return this.apply(e, w, out);
  }

  /** dL/dw from dL/dw_q (STE inside the range, 0 where clipped); updates the second-moment EMA. */
  backward(w: ArrayLike<number>, gq: ArrayLike<number>, out: { [i: number]: number }): void {
    const { lo, hi } = qRange(this.format);
    const s = 2 ** this.exponent!;
    for (let i = 0; i < w.length; i++) {
      const r = Math.round(w[i] / s);
      const inside = r >= lo && r <= hi;
      out[i] = inside ? gq[i] : 0;
      if (this.gradSq && inside) this.gradSq[i] = 0.999 * this.gradSq[i] + 0.001 * gq[i] * gq[i];
    }
  }
}

/** Gradient-based (TQT) quantizer: trainable real exponent ẽ. */
export class GradientQuantizer extends ExponentHistory {
  constructor(
    readonly format: Po2Format,
    /** ceil: TQT; msqe-round: floor(ẽ) or ceil(ẽ), whichever has the lower weighted, masked MSQE. */
    readonly rounding: 'ceil' | 'msqe-round',
    public logScale: number,
  ) {
    super();
  }

  static init(w: ArrayLike<number>, f: Po2Format, rounding: 'ceil' | 'msqe-round'): GradientQuantizer {
    return new GradientQuantizer(f, rounding, Math.log2(Math.max((3 * std(w)) / qRange(f).hi, 1e-5)));
  }

  /** The integer exponent for w under the rounding rule (outliers beyond the learned range masked). */
  exponentFor(w: ArrayLike<number>): number {
    if (this.rounding === 'ceil') return Math.ceil(this.logScale);
    const lo = Math.floor(this.logScale);
    const hi = Math.ceil(this.logScale);
    if (lo === hi) return lo;
    const limit = 2 ** this.logScale * (qRange(this.format).hi + 0.5);
    const m = Float64Array.from({ length: w.length }, (_, i) => (Math.abs(w[i]) > limit ? 0 : 1));
    return weightedMsqe(w, lo, this.format, m) <= weightedMsqe(w, hi, this.format, m) ? lo : hi;
  }

  forward(w: ArrayLike<number>, out: { [i: number]: number }): number {
    return this.apply(this.exponentFor(w), w, out);
  }

  /**
   * From dL/dw_q: dL/dw (identity inside the range, 0 where clipped) into out, and dL/dẽ:
   * Σ g·s·ln2·(round(w/s) − w/s) inside, g·s·ln2·lo below, g·s·ln2·hi above (s = 2^e, the STE
   * through the rounding of ẽ).
   */
  backward(w: ArrayLike<number>, gq: ArrayLike<number>, out: { [i: number]: number }): number {
    const { lo, hi } = qRange(this.format);
    const e = this.exponent ?? this.exponentFor(w);
    const s = 2 ** e;
    let dLog = 0;
    for (let i = 0; i < w.length; i++) {
      const x = w[i] / s;
      const r = Math.round(x);
      if (r < lo) {
        out[i] = 0;
        dLog += gq[i] * s * Math.LN2 * lo;
      } else if (r > hi) {
        out[i] = 0;
        dLog += gq[i] * s * Math.LN2 * hi;
      } else {
        out[i] = gq[i];
        dLog += gq[i] * s * Math.LN2 * (r - x);
      }
    }
    return dLog;
  }
}
