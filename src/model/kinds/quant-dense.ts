// Fixed-point (or float) dense layer with bias (src/layers/quant-dense.ts).
import { QuantDenseLayer } from '../../layers/quant-dense.js';
import type { PlannedLayer } from '../spec.js';
import { denseKind } from './dense.js';
import type { LayerKind } from './kind.js';
import { quantWeightMemory } from './quant-memory.js';

type QDense = Extract<PlannedLayer, { type: 'qdense' }>;

export const quantDenseKind: LayerKind<QDense> = {
  build: (l, c) => new QuantDenseLayer(l.name, l.nIn, l.nOut, l.first, { quant: l.quant, moments: c.recipe.moments, ws: c.ws, ledger: c.ledger, rng: c.rng }),
  memory: (l, c) => quantWeightMemory(l.name, l.nOut, l.nIn, l.quant, c),
  workspace: (l, need) => denseKind.workspace({ ...l, type: 'dense' }, need),
  forwardMacs: (l) => l.nIn * l.nOut,
  weights: (l) => l.nIn * l.nOut,
};
