// A batch norm followed by a sign, as one threshold per channel (bit = z >= t): the packed file's
// `threshold` op (written by the batch-norm kind). Each threshold is found by searching the
// float32 line for the first z where the network's own inference arithmetic,
// sign((z − μ)/σ + β), turns positive, so the file gives the checkpoint's predictions exactly.
// After an xnor-popcount layer z is an integer and so is t; after float inputs t is a float32.
import { bnInference, type BatchNormLayer } from '../../layers/batchnorm.js';

/** A float32's position on the ordered float32 line (±0 both 0; −∞ and +∞ at the ends). */
const F32_INF = 0x7f800000;
const bitsView = new DataView(new ArrayBuffer(4));
function floatAt(key: number): number {
  bitsView.setUint32(0, Math.abs(key));
  const v = bitsView.getFloat32(0);
  return key < 0 ? -v : v;
}

/** The smallest key in [lo, hi] where `positive` holds (monotone), or hi + 1 when none. */
function firstTrue(lo: number, hi: number, positive: (k: number) => boolean): number {
  let a = lo;
  let b = hi + 1;
  while (a < b) {
    const mid = Math.floor((a + b) / 2);
    if (positive(mid)) b = mid;
    else a = mid + 1;
  }
  return a;
}

/**
 * Thresholds of a batch norm followed by a sign, in the inference arithmetic of BatchNormLayer
 * (float32 z, doubles, a float32 result) and of the sign (>= 0, so −0 counts as +1). `range`:
 * z is an integer in [−range, range] (null: any float32).
 */
export function signThresholds(bn: BatchNormLayer, range: number | null): Float32Array | Int16Array | Int32Array {
  const C = bn.channels;
  const beta = bn.beta.raw as Float32Array;
  const out = range === null ? new Float32Array(C) : range < 32767 ? new Int16Array(C) : new Int32Array(C);
  for (let c = 0; c < C; c++) {
    const m = bn.runMean[c];
    const s = bn.runSigma[c];
    const b = beta[c];
    const positive = (z: number) => Math.fround(bnInference(z, m, s, b)) >= 0;
    // integers: t in [−range, range + 1] (the ends mean "always +1" and "never")
    if (range !== null) out[c] = firstTrue(-range, range, positive);
    else out[c] = floatAt(firstTrue(-F32_INF, F32_INF, (k) => positive(floatAt(k))));
  }
  return out;
}
