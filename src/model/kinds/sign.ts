// Sign activation with the straight-through estimator (src/layers/sign.ts).
import { SignLayer } from '../../layers/sign.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type Sign = Extract<PlannedLayer, { type: 'sign' }>;

export const signKind: LayerKind<Sign> = {
  title: 'sign activations',
  build: (l, c) => new SignLayer(l.name, l.channels, c.recipe, c.batch, c.ws, c.ledger, l.spatial, l.noBackward),
  memory(l, c) {
    c.kept(l.name, c.recipe.actInput, c.batch * l.spatial, l.channels);
    if (!l.noBackward) c.kept(l.name, c.recipe.steMask, c.batch * l.spatial, l.channels);
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
