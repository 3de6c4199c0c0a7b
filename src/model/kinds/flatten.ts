// Feature map to vector (src/layers/flatten.ts): nothing moves, nothing is kept.
import { FlattenLayer } from '../../layers/flatten.js';
import type { PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type Flatten = Extract<PlannedLayer, { type: 'flatten' }>;

export const flattenKind: LayerKind<Flatten> = {
  build: (l) => new FlattenLayer(l.name, l.h, l.w, l.channels),
  memory: () => {},
  workspace: () => {},
  forwardMacs: () => 0,
  weights: () => 0,
};
