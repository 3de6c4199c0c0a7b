// Sign activation with the straight-through estimator (src/layers/sign.ts).
import { BatchNormLayer } from '../../layers/batchnorm.js';
import { SignLayer, zFromBatchNorm, type ShiftedXhat } from '../../layers/sign.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type Sign = Extract<PlannedLayer, { type: 'sign' }>;

export const signKind: LayerKind<Sign> = {
  title: 'sign activations',
  build(l, c) {
    let zFrom: ShiftedXhat | null = null;
    if (!l.noBackward && zFromBatchNorm(c.recipe) && !c.keepZ) {
      zFrom = c.previous instanceof BatchNormLayer ? c.previous.keptXhat() : null;
      if (!zFrom) throw new Error(`internal: ${l.name} takes its STE mask from a batch norm's x̂, and the layer before it keeps none`);
    }
    return new SignLayer(l.name, l.channels, c.recipe, c.batch, c.ws, c.ledger, l.spatial, l.noBackward, zFrom);
  },
  memory(l, c) {
    c.kept(l.name, c.recipe.actInput, c.batch * l.spatial, l.channels);
    // the STE mask: z kept (float32) or its bits, unless rebuilt from the batch norm's x̂ + β
    if (!l.noBackward && !zFromBatchNorm(c.recipe)) c.kept(l.name, c.recipe.steMask, c.batch * l.spatial, l.channels);
  },
  workspace(l, need) {
    need.chunk = Math.max(need.chunk, need.chunkRows * l.channels);
  },
  features: (l) => ({ in: l.spatial * l.channels, out: l.spatial * l.channels }),
  forwardMacs: () => 0,
  weights: () => 0,
  // written with the batch norm before it: a threshold (packed), tanh of the shifted sum (TF.js)
  exports: {},
};
