// ReLU + activation quantizer of a fixed-point network (src/layers/quant-act.ts).
import { IntExportError } from '../../formats/int-model.js';
import { PackedExportError } from '../../formats/packed-ops.js';
import { QuantActLayer } from '../../layers/quant-act.js';
import { paramBytes } from '../../storage/param-store.js';
import { precisionKind, type PlannedLayer } from '../spec.js';
import type { LayerKind } from './kind.js';

type QAct = Extract<PlannedLayer, { type: 'qact' }>;
const F = 4;

export const quantActKind: LayerKind<QAct> = {
  title: 'fixed-point activations',
  // actInput=bit keeps fixed-point activations as codes; float ones (a float layer in a model
  // mixing precisions) stay float32, while a float model asking for codes is refused by the layer
  build: (l, c) => {
    const codes = c.recipe.actInput === 'bit' && (l.quant.actBits !== null || precisionKind(c.spec) !== 'mixed');
    return new QuantActLayer(l.name, l.channels, l.quant, c.recipe.moments, c.batch, c.ws, c.ledger, l.spatial, codes);
  },
  memory(l, c) {
    const rows = c.batch * l.spatial;
    // output (the next layer's input): float32, or the integer codes (actInput=bit)
    const codes = c.recipe.actInput === 'bit' && l.quant.actBits !== null;
    if (codes) c.add(l.name, 'retained', rows * l.channels * (l.quant.actBits! <= 8 ? 1 : 2));
    else c.kept(l.name, 'float32', rows, l.channels);
    if (l.quant.actBits === null) return;
    c.kept(l.name, 'float32', rows, l.channels); // pre-activation
    c.add(l.name, 'weights', F);
    c.add(l.name, 'weight-grads', c.gradCopies * F);
    c.add(l.name, 'optimizer', 2 * paramBytes(c.recipe.moments, 1) + 3 * 8);
  },
  workspace(l, need) {
    need.chunk = Math.max(need.chunk, need.chunkRows * l.channels);
  },
  features: (l) => ({ in: l.spatial * l.channels, out: l.spatial * l.channels }),
  forwardMacs: () => 0,
  weights: () => 0,
  exports: {
    // ReLU + requantization of the accumulator to the next layer's codes
    int(l, at, out) {
      const a = at.layer as QuantActLayer;
      const e = a.exponent;
      if (e === null || a.bits === null) throw new IntExportError(`${l.name}: activation quantizer never ran (train at least one step)`);
      out.ops.push({ op: 'act', name: l.name, bits: a.bits, exponent: e, shift: e - out.accExponent });
      out.inputExponent = e;
      out.inputMax = 2 ** a.bits - 1;
      return 0;
    },
    packed(l, at, out) {
      const a = at.layer as QuantActLayer;
      if (a.bits !== null && a.exponent === null) throw new PackedExportError(`${l.name}: the activation quantizer never ran (train at least one step)`);
      out.ops.push({ op: 'qact', name: l.name, channels: l.channels, bits: a.bits, exponent: a.exponent });
      out.input = 'float';
      return 0;
    },
  },
};
