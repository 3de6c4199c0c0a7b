// Average pooling (src/layers/avgpool.ts): keeps its float output for the next layer's backward.
import { AvgPoolLayer } from '../../layers/avgpool.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type AvgPool = Extract<PlannedLayer, { type: 'avgpool' }>;

export const avgPoolKind: LayerKind<AvgPool> = {
  title: 'average pooling',
  build: (l, c) => new AvgPoolLayer(l.name, l.h, l.w, l.channels, l.sh, l.sw, c.batch, c.ws, c.ledger),
  memory: (l, c) => c.kept(l.name, 'float32', c.batch * Math.floor(l.h / l.sh) * Math.floor(l.w / l.sw), l.channels),
  workspace(l, need) {
    if (!l.noBackward) need.grad = Math.max(need.grad, need.batch * l.h * l.w * l.channels);
    need.chunk = Math.max(need.chunk, l.w * l.channels); // dX of one input image row
  },
  features: (l) => ({ in: l.h * l.w * l.channels, out: Math.floor(l.h / l.sh) * Math.floor(l.w / l.sw) * l.channels }),
  forwardMacs: () => 0,
  weights: () => 0,
  // TF.js and int: after an average pool a layer's inputs leave the lattice (TF.js thresholds) or the code grid (int) those exports rely on
  exports: {
    packed(l, _at, out) {
      out.ops.push({ op: 'avgpool', name: l.name, h: l.h, w: l.w, channels: l.channels, sh: l.sh, sw: l.sw, input: out.input });
      out.input = 'float';
      return 0;
    },
  },
};
