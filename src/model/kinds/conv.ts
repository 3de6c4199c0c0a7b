// Binary 3x3 convolution (src/layers/conv.ts).
import { taps } from '../../kernels/conv-geometry.js';
import { ConvLayer } from '../../layers/conv.js';
import type { PlannedLayer } from '../spec.js';
import { convMacs, convWorkspace } from './conv-sizes.js';
import type { LayerKind } from './kind.js';

type Conv = Extract<PlannedLayer, { type: 'conv' }>;

export const convKind: LayerKind<Conv> = {
  build: (l, c) => new ConvLayer(l.name, l.g, l.first, c.recipe, c.ws, c.ledger, c.rng, l),
  memory: (l, c) => c.binaryWeights(l.name, l.g.co * taps(l.g), l.g.ci, l.frozen),
  workspace: (l, need) => convWorkspace(l.g, l.first, need, l),
  forwardMacs: (l) => convMacs(l.g),
  weights: (l) => l.g.co * taps(l.g) * l.g.ci,
};
