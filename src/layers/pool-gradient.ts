// What the pooling layers' backward passes share: dX filled one input image row at a time, each
// row needing only the pooled row of dY above it (so a chunk is w × C values, whatever the batch).
import type { Floats } from '../ledger.js';
import { fillStore, type GradStore } from '../storage/grad-store.js';
import type { Workspace } from './layer.js';

export interface PoolShape {
  h: number;
  w: number;
  hp: number;
  wp: number;
  channels: number;
  /** Rows of input per pooled row (the window's height). */
  sh: number;
}

/**
 * Fill `spare` (rows × C) with dX: for input row y of example b, `place(b, y, py, dy, out)` writes
 * the w × C values of out (cleared first) from dy, the wp × C gradients of pooled row py; rows below
 * the last whole window stay 0.
 */
export function fillPoolGradient(
  spare: GradStore,
  grad: GradStore,
  rows: number,
  s: PoolShape,
  ws: Workspace,
  place: (b: number, y: number, py: number, dy: Floats, out: Floats) => void,
): GradStore {
  const { h, w, hp, wp, channels: C } = s;
  spare.setShape(rows, C);
  fillStore(
    spare,
    w,
    ws.chunkDx,
    (i0, _i1, out) => {
      const b = Math.floor(i0 / (h * w));
      const y = (i0 - b * h * w) / w;
      const py = Math.floor(y / s.sh);
      out.fill(0, 0, w * C);
      if (py >= hp) return;
      const o = (b * hp + py) * wp;
      grad.read(o, o + wp, 0, C, ws.chunkDy);
      place(b, y, py, ws.chunkDy, out);
    },
    true, // place never reads spare
  );
  return spare;
}
