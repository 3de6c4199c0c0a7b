// Binary dense layer: y = X·Ŵᵀ with sign weights (src/layers/dense.ts).
import { DenseLayer } from '../../layers/dense.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type Dense = Extract<PlannedLayer, { type: 'dense' }>;

export const denseKind: LayerKind<Dense> = {
  build: (l, c) => new DenseLayer(l.name, l.nIn, l.nOut, l.first, c.recipe, c.ws, c.ledger, c.rng, l),
  memory: (l, c) => c.binaryWeights(l.name, l.nOut, l.nIn, l.frozen),
  workspace(l, need) {
    need.act = Math.max(need.act, need.batch * l.nOut);
    need.chunk = Math.max(need.chunk, need.chunkRows * Math.max(l.nIn, l.nOut));
    // below a partial update's lowest trainable layer no gradient flows; the lowest gives no dX
    if (!l.noBackward) need.grad = Math.max(need.grad, need.batch * l.nOut, l.first || l.stop ? 0 : need.batch * l.nIn);
  },
  forwardMacs: (l) => l.nIn * l.nOut,
  weights: (l) => l.nIn * l.nOut,
};
