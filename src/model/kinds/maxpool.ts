// Max-pool, size × size windows with stride = size (src/layers/maxpool.ts): on sign outputs (binary input) or on float pre-activations.
import { MaxPoolLayer } from '../../layers/maxpool.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type Pool = Extract<PlannedLayer, { type: 'pool' }>;

export const maxPoolKind: LayerKind<Pool> = {
  build: (l, c) => new MaxPoolLayer(l.name, l.h, l.w, l.channels, l.binaryInput, c.recipe, c.batch, c.ws, c.ledger, l.size, l.noBackward),
  memory(l, c) {
    if (l.binaryInput) c.kept(l.name, c.recipe.actInput, c.batch * Math.floor(l.h / l.size) * Math.floor(l.w / l.size), l.channels);
    else if (!l.noBackward) c.kept(l.name, c.recipe.poolMask, c.batch * l.h * l.w, l.channels);
  },
  workspace(l, need) {
    if (!l.noBackward) need.grad = Math.max(need.grad, need.batch * l.h * l.w * l.channels);
    need.chunk = Math.max(need.chunk, l.w * l.channels); // dY of one pooled image row
  },
  forwardMacs: () => 0,
  weights: () => 0,
};
