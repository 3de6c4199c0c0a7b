// Winsorized weight gradients (Chatterjee & Zielinski; DESIGN section 5) for dense layers: per
// coordinate (j, k), over the per-example terms v_i = dY_ij·x_ik of the batch, the c largest and c
// smallest values are clipped to the (c+1)-th largest / smallest before summing, so a few examples
// cannot dominate a direction. O(batch·n) per output unit, nothing per example kept beyond the
// layer's input rows, decoded once per backward.
import type { Floats } from '../ledger.js';

export interface WinsorWorkspace {
  readonly c: number;
  /** The layer's input rows as floats, batch × widest dense input. */
  readonly rows: Floats;
  /** Per input column: running sum, the c+1 largest and the c+1 smallest values. */
  readonly scratch: Floats;
  /** One output unit's dY over the batch. */
  readonly column: Floats;
  /** Ones, one per example: a bias's per-example terms are its dY column times 1. */
  readonly ones: Floats;
}

/** Smallest batch whose terms can be winsorized with c: c clipped on each side and two kept. */
export function winsorMinRows(c: number): number {
  return 2 * c + 2;
}

/**
 * Winsorize this batch? A short last batch of an epoch (fewer than winsorMinRows rows) keeps its
 * plain sums, as m3 does for groups it cannot form; full batches are checked when the network is built.
 */
export function winsorizes(w: WinsorWorkspace | null, rows: number): w is WinsorWorkspace {
  return w !== null && rows >= winsorMinRows(w.c);
}

/** Floats the winsorized workspace needs. */
export function winsorFloats(c: number, batch: number, widestInput: number): { rows: number; scratch: number; column: number; ones: number } {
  return { rows: batch * widestInput, scratch: (2 * c + 3) * Math.max(1, widestInput), column: batch, ones: batch };
}

/**
 * out[k] = winsorized Σ_i d[i]·x[i·n + k] for k < n (d: one output unit's dY column over the
 * batch, x: the batch's input rows). Needs batch >= 2c + 2.
 */
export function winsorizedColumnSums(d: ArrayLike<number>, x: Floats, B: number, n: number, c: number, scratch: Floats, out: Floats): void {
  const k1 = c + 1;
  const sum = scratch.subarray(0, n);
  const top = scratch.subarray(n, n + k1 * n); // top[r·n + k], r = 0 largest
  const bot = scratch.subarray(n + k1 * n, n + 2 * k1 * n); // bot[r·n + k], r = 0 smallest
  sum.fill(0);
  top.fill(-Infinity);
  bot.fill(Infinity);
  for (let i = 0; i < B; i++) {
    const di = d[i];
    const row = i * n;
    for (let k = 0; k < n; k++) {
      const v = di * x[row + k];
      sum[k] += v;
      if (v > top[c * n + k]) {
        let r = c;
        while (r > 0 && v > top[(r - 1) * n + k]) {
          top[r * n + k] = top[(r - 1) * n + k];
          r--;
        }
        top[r * n + k] = v;
      }
      if (v < bot[c * n + k]) {
        let r = c;
        while (r > 0 && v < bot[(r - 1) * n + k]) {
          bot[r * n + k] = bot[(r - 1) * n + k];
          r--;
        }
        bot[r * n + k] = v;
      }
    }
  }
  for (let k = 0; k < n; k++) {
    let s = sum[k];
    for (let r = 0; r < c; r++) s += top[c * n + k] - top[r * n + k] + bot[c * n + k] - bot[r * n + k];
    out[k] = s;
  }
}
