// Feature map to vector (src/layers/flatten.ts): nothing moves, nothing is kept.
import { FlattenLayer } from '../../layers/flatten.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type Flatten = Extract<PlannedLayer, { type: 'flatten' }>;

export const flattenKind: LayerKind<Flatten> = {
  title: 'flatten',
  build: (l) => new FlattenLayer(l.name, l.h, l.w, l.channels),
  memory: () => {},
  workspace: () => {},
  features: (l) => ({ in: l.h * l.w * l.channels, out: l.h * l.w * l.channels }),
  forwardMacs: () => 0,
  weights: () => 0,
  // feature maps are channels-last: flattening moves nothing in the int and packed forms
  exports: {
    tfjs(l, _at, out) {
      out.stages.push({ layer: 'flatten', config: { name: l.name } });
      return 0;
    },
    int: () => 0,
    packed: () => 0,
  },
};
