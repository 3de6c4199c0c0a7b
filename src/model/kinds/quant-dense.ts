// Fixed-point (or float) dense layer with bias (src/layers/quant-dense.ts).
import { QuantDenseLayer } from '../../layers/quant-dense.js';
import type { PlannedLayer } from '../spec.js';
import { denseKind } from './dense.js';
import type { LayerKind } from './kind.js';
import { intWeightFields, packedWeightFields } from './quant-export.js';
import { quantWeightMemory } from './quant-memory.js';

type QDense = Extract<PlannedLayer, { type: 'qdense' }>;

export const quantDenseKind: LayerKind<QDense> = {
  title: 'fixed-point dense layers',
  build: (l, c) => new QuantDenseLayer(l.name, l.nIn, l.nOut, l.first, { quant: l.quant, moments: c.recipe.moments, ws: c.ws, ledger: c.ledger, rng: c.rng }),
  memory: (l, c) => quantWeightMemory(l.name, l.nOut, l.nIn, l.quant, c),
  workspace: (l, need) => denseKind.workspace({ ...l, type: 'dense' }, need),
  features: (l) => ({ in: l.nIn, out: l.nOut }),
  forwardMacs: (l) => l.nIn * l.nOut,
  weights: (l) => l.nIn * l.nOut,
  exports: {
    int(l, at, out) {
      out.ops.push({ ...intWeightFields(at.layer as QuantDenseLayer, l.nIn, out), op: 'dense' });
      return 0;
    },
    packed(l, at, out) {
      out.ops.push({ op: 'qdense', nIn: l.nIn, nOut: l.nOut, ...packedWeightFields(at.layer as QuantDenseLayer, out) });
      return 0;
    },
  },
};
