// Winsorized weight gradients (Chatterjee & Zielinski; docs/method.md §5) for dense layers: per
// coordinate (j, k), over the per-example terms v_i = dY_ij·x_ik of the batch, the c largest and c
// smallest values are clipped to the (c+1)-th largest / smallest before summing, so a few examples
// cannot dominate a direction. O(batch·n) per output unit, nothing per example kept beyond the
// layer's input rows, decoded once per backward.
import type { Kernels } from '../kernels/kernels.js';
import type { Floats } from '../ledger.js';
import type { GradStore } from '../storage/grad-store.js';

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

/** Where dense layers' winsorized backward must go: dW rows, the bias cells, what to do after each tile. */
export interface WinsorTargets {
  /** Output unit j's dW row (n floats); j0 starts the tile it is in. */
  dwRow(j: number, j0: number): Floats;
  /** Output unit j's bias gradient (one float), for layers with a bias. */
  dbCell?(j: number): Floats;
  /** At most this many output units per tile (default: as many as the dY tile holds). */
  tileUnits?: number;
  afterTile?(j0: number, j1: number): void;
}

/**
 * Winsorized gradients of a dense layer with m output units over n inputs, input rows x (rows × n):
 * dY is read from grad a tile of output units at a time into ws.chunkDy, each unit's column copied
 * out and its terms summed (fast kernel when there is one) against x and, for a bias, against ones.
 */
export function winsorizedDense(
  ws: { winsor: WinsorWorkspace | null; kernels: Kernels; chunkDy: Floats },
  grad: GradStore,
  rows: number,
  m: number,
  n: number,
  x: Floats,
  to: WinsorTargets,
): void {
  const { c, scratch, column, ones } = ws.winsor!;
  const sums = ws.kernels.winsorizedColumnSums ?? winsorizedColumnSums;
  const t = Math.max(1, Math.min(to.tileUnits ?? Infinity, Math.floor(ws.chunkDy.length / rows)));
  for (let j0 = 0; j0 < m; j0 += t) {
    const j1 = Math.min(m, j0 + t);
    grad.read(0, rows, j0, j1, ws.chunkDy);
    for (let j = j0; j < j1; j++) {
      for (let i = 0; i < rows; i++) column[i] = ws.chunkDy[i * (j1 - j0) + (j - j0)];
      sums(column, x, rows, n, c, scratch, to.dwRow(j, j0));
      if (to.dbCell) sums(column, ones, rows, 1, c, scratch, to.dbCell(j));
    }
    to.afterTile?.(j0, j1);
  }
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
