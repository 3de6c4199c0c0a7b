// Batch norm (src/layers/batchnorm.ts): the shift β trained, running statistics kept.
import { BatchNormLayer } from '../../layers/batchnorm.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type Bn = Extract<PlannedLayer, { type: 'bn' }>;
const F = 4;

export const batchNormKind: LayerKind<Bn> = {
  build: (l, c) =>
    new BatchNormLayer(l.name, l.channels, c.recipe.bn, c.recipe.bnBackward, c.batch, c.ws, c.ledger, l.spatial, c.recipe.ghostBatch, l.folding, l),
  memory(l, c) {
    const C = l.channels;
    c.add(l.name, 'weights', 3 * C * F + (l.folding ? 1 : 0)); // beta, running mean, running sigma (+ folded flag)
    if (!l.frozen) {
      c.add(l.name, 'weight-grads', c.gradCopies * C * F);
      c.add(l.name, 'optimizer', 2 * C * F);
    }
    const groups = c.recipe.ghostBatch > 0 ? Math.ceil(c.batch / c.recipe.ghostBatch) : 1;
    c.add(l.name, 'retained', groups * C * F); // sigma (per ghost batch)
    if (groups > 1) c.add(l.name, 'workspace', 3 * groups * C * F); // per-ghost statistics
    if (!l.noBackward) c.kept(l.name, c.recipe.bnBackward === 'exact' ? 'float32' : 'bit', c.batch * l.spatial, C);
  },
  workspace(l, need) {
    need.chan = Math.max(need.chan, 3 * l.channels);
    need.chunk = Math.max(need.chunk, need.chunkRows * l.channels);
  },
  forwardMacs: () => 0,
  weights: () => 0,
};
