// Batch norm (src/layers/batchnorm.ts): the shift β trained, running statistics kept.
import { IntExportError } from '../../formats/int-model.js';
import { BatchNormLayer } from '../../layers/batchnorm.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';
import { signThresholds } from './sign-thresholds.js';

type Bn = Extract<PlannedLayer, { type: 'bn' }>;
const F = 4;

export const batchNormKind: LayerKind<Bn> = {
  title: 'batch norm',
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
  features: (l) => ({ in: l.spatial * l.channels, out: l.spatial * l.channels }),
  forwardMacs: () => 0,
  weights: () => 0,
  // TF.js: written with the binary layer before it (binary-tfjs.ts)
  exports: {
    int(l, at) {
      if (!(at.layer as BatchNormLayer).folded)
        throw new IntExportError(`${l.name}: batch norm is not folded into the weights yet (train past the --bn-fold point)`);
      return 0; // folded into the weight layer before it: the identity
    },
    packed(l, at, out) {
      const bn = at.layer as BatchNormLayer;
      if (bn.folded) return 0;
      if (at.ahead(1)?.plan.type === 'sign') {
        // with the sign after it: one threshold per channel on the weight layer's z
        out.ops.push({ op: 'threshold', name: l.name, channels: l.channels, thresholds: out.sections.add(signThresholds(bn, out.zRange)) });
        out.input = 'bits';
        return 1;
      }
      const f32 = (a: ArrayLike<number>) => out.sections.add(Float32Array.from(a));
      out.ops.push({
        op: 'batchnorm',
        name: l.name,
        channels: l.channels,
        mean: f32(bn.runMean),
        sigma: f32(bn.runSigma),
        beta: f32(bn.beta.raw as Float32Array),
      });
      out.input = 'float';
      return 0;
    },
  },
};
