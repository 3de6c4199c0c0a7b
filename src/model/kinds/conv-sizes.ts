// What every 3x3 convolution kind (binary or fixed-point) needs of the shared workspace.
import { wordsFor } from '../../bits.js';
import {
  convFilterLutFloats,
  convFilterQuadFloats,
  convLutFloats,
  filterLookupApplies,
  filterQuadsApply,
  taps,
  type ConvGeometry,
} from '../../kernels/conv-geometry.js';
import type { WorkspaceNeeds } from './kind.js';
import type { ScopeFlags } from '../../layers/layer.js';

export function convWorkspace(g: ConvGeometry, first: boolean, need: WorkspaceNeeds, scope: ScopeFlags = {}, binary = false): void {
  const inPix = g.hi * g.wi * g.ci;
  const outPix = g.ho * g.wo * g.co;
  need.act = Math.max(need.act, need.batch * outPix);
  // a binary layer's gradients borrow the pre-activations (idle in backward) for their lookup
  // tables (input gradient; weight gradient over sign inputs, all but the first layer): as
  // large as the batch's outputs from about 5 examples up
  // (the weight gradient of a whole batch at once, conv.ts batchSignDw: every example's sign rows,
  // and ±1 inputs packed first; it covers the one-example calls too)
  // (narrow maps: the batch in quads of examples, filterQuadsApply)
  const packed = (need.batch * g.hi * g.wi * wordsFor(g.ci) + 3) & ~3;
  const batchDw =
    filterLookupApplies(g) || filterQuadsApply(g, need.batch)
      ? Math.max(convFilterLutFloats(g, g.co, need.batch), convFilterQuadFloats(g, g.co, need.batch)) + packed
      : 0;
  if (binary && !first && !scope.noBackward) need.act = Math.max(need.act, batchDw, scope.stop ? 0 : convLutFloats(g));
  // one example at a time: dY (ho·wo·co), dX (hi·wi·ci), decoded pixels (first layer), dW tile (>= 9·ci)
  need.chunk = Math.max(need.chunk, outPix, inPix, taps(g) * g.ci);
  // below a partial update's lowest trainable layer no gradient flows; the lowest gives no dX
  if (!scope.noBackward) need.grad = Math.max(need.grad, need.batch * outPix, first || scope.stop ? 0 : need.batch * inPix);
}

/** Multiply-adds of one example's forward pass. */
export function convMacs(g: ConvGeometry): number {
  return g.ho * g.wo * g.co * taps(g) * g.ci;
}

/** Elements of one example's input and output maps. */
export function convFeatures(g: ConvGeometry): { in: number; out: number } {
  return { in: g.hi * g.wi * g.ci, out: g.ho * g.wo * g.co };
}
