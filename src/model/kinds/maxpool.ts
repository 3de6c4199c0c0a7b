// Max-pool, size × size windows with stride = size (src/layers/maxpool.ts): on sign outputs (binary input) or on float pre-activations.
import { TfjsExportError } from '../../formats/tfjs-stage.js';
import { MaxPoolLayer } from '../../layers/maxpool.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type Pool = Extract<PlannedLayer, { type: 'pool' }>;

export const maxPoolKind: LayerKind<Pool> = {
  title: 'max pooling',
  build: (l, c) => new MaxPoolLayer(l.name, l.h, l.w, l.channels, l.binaryInput, c.recipe, c.batch, c.ws, c.ledger, l.size, l.noBackward),
  memory(l, c) {
    if (l.binaryInput) c.kept(l.name, c.recipe.actInput, c.batch * Math.floor(l.h / l.size) * Math.floor(l.w / l.size), l.channels);
    else if (!l.noBackward) c.kept(l.name, c.recipe.poolMask, c.batch * l.h * l.w, l.channels);
  },
  workspace(l, need) {
    if (!l.noBackward) need.grad = Math.max(need.grad, need.batch * l.h * l.w * l.channels);
    need.chunk = Math.max(need.chunk, l.w * l.channels); // dY of one pooled image row
  },
  features: (l) => ({ in: l.h * l.w * l.channels, out: Math.floor(l.h / l.size) * Math.floor(l.w / l.size) * l.channels }),
  forwardMacs: () => 0,
  weights: () => 0,
  exports: {
    // a pool before batch norm is written with the binary layer before it (binary-tfjs.ts)
    tfjs(l, _at, out) {
      if (!l.binaryInput) throw new TfjsExportError(`${l.name}: a max-pool of float values exports to TF.js only after a binary layer`);
      out.stages.push({ layer: 'maxPooling2d', config: { name: l.name, poolSize: l.size, strides: l.size, padding: 'valid' } });
      return 0;
    },
    // pools accumulators (before requantization: the same result, ReLU and rounding are monotone)
    int(l, _at, out) {
      out.ops.push({ op: 'maxpool', name: l.name, h: l.h, w: l.w, channels: l.channels, ...(l.size !== 2 ? { size: l.size } : {}) });
      return 0;
    },
    packed(l, _at, out) {
      out.ops.push({ op: 'maxpool', name: l.name, h: l.h, w: l.w, channels: l.channels, size: l.size, input: out.input });
      return 0;
    },
  },
};
