// Fixed-point (or float) convolution with bias (src/layers/quant-conv.ts).
import { taps } from '../../kernels/conv-geometry.js';
import { QuantConvLayer } from '../../layers/quant-conv.js';
import type { PlannedLayer } from '../spec.js';
import { intWeightFields, packedWeightFields } from './quant-export.js';
import { convFeatures, convMacs, convWorkspace } from './conv-sizes.js';
import type { LayerKind } from './kind.js';
import { quantWeightMemory } from './quant-memory.js';

type QConv = Extract<PlannedLayer, { type: 'qconv' }>;

export const quantConvKind: LayerKind<QConv> = {
  title: 'fixed-point convolutions',
  build: (l, c) => new QuantConvLayer(l.name, l.g, l.first, { quant: l.quant, moments: c.recipe.moments, ws: c.ws, ledger: c.ledger, rng: c.rng }),
  memory: (l, c) => quantWeightMemory(l.name, l.g.co, taps(l.g) * l.g.ci, l.quant, c),
  workspace: (l, need) => convWorkspace(l.g, l.first, need),
  features: (l) => convFeatures(l.g),
  forwardMacs: (l) => convMacs(l.g),
  weights: (l) => l.g.co * taps(l.g) * l.g.ci,
  exports: {
    int(l, at, out) {
      out.ops.push({ ...intWeightFields(at.layer as QuantConvLayer, l.g.ci, out), op: 'conv', conv: (at.layer as QuantConvLayer).g });
      return 0;
    },
    packed(l, at, out) {
      out.ops.push({ op: 'qconv', g: { ...l.g }, ...packedWeightFields(at.layer as QuantConvLayer, out) });
      return 0;
    },
  },
};
