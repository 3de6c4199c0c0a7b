// Binary dense layer: y = X·Ŵᵀ with sign weights (src/layers/dense.ts).
import { wordsFor } from '../../bits.js';
import { denseLutFloats } from '../../kernels/dense-lut.js';
import { DenseLayer } from '../../layers/dense.js';
import type { PlannedLayer } from '../spec.js';
import { writeBinaryBlockTfjs } from './binary-tfjs.js';
import type { LayerKind } from './kind.js';

type Dense = Extract<PlannedLayer, { type: 'dense' }>;

export const denseKind: LayerKind<Dense> = {
  title: 'binary dense layers',
  build: (l, c) => new DenseLayer(l.name, l.nIn, l.nOut, l.first, c.recipe, c.ws, c.ledger, c.rng, l, c.dwTilesToOptimizer?.has(l.name)),
  memory: (l, c) => c.binaryWeights(l.name, l.nOut, l.nIn, l.frozen),
  workspace(l, need) {
    need.act = Math.max(need.act, need.batch * l.nOut);
    // the input gradient's sign index borrows the pre-activations, idle in backward
    if (!l.first && !l.stop && !l.noBackward) need.act = Math.max(need.act, denseLutFloats(l.nOut, l.nIn));
    need.chunk = Math.max(need.chunk, need.chunkRows * Math.max(l.nIn, l.nOut));
    // below a partial update's lowest trainable layer no gradient flows; the lowest gives no dX
    if (!l.noBackward) need.grad = Math.max(need.grad, need.batch * l.nOut, l.first || l.stop ? 0 : need.batch * l.nIn);
  },
  features: (l) => ({ in: l.nIn, out: l.nOut }),
  forwardMacs: (l) => l.nIn * l.nOut,
  weights: (l) => l.nIn * l.nOut,
  exports: {
    tfjs: (l, at, out) =>
      writeBinaryBlockTfjs(
        l.name,
        {
          // bitlearn: row o holds nIn weights; TF.js: [nIn][nOut]
          kernel(w, scale) {
            const values = new Float32Array(l.nIn * l.nOut);
            for (let o = 0; o < l.nOut; o++) {
              const s = scale(o);
              for (let i = 0; i < l.nIn; i++) values[i * l.nOut + o] = w.latent.get(o * l.nIn + i) >= 0 ? s : -s;
            }
            return { values, shape: [l.nIn, l.nOut] };
          },
          stages: (useBias, activation) => [{ layer: 'dense', config: { name: l.name, units: l.nOut, useBias, activation } }],
        },
        at,
        out,
      ),
    packed(l, at, out) {
      const bits = (at.layer as DenseLayer).wbits.slice(0, l.nOut * wordsFor(l.nIn));
      out.ops.push({ op: 'dense', name: l.name, nIn: l.nIn, nOut: l.nOut, input: out.input, weights: out.sections.add(bits) });
      out.zRange = out.input === 'bits' ? l.nIn : null;
      out.input = 'float';
      return 0;
    },
  },
};
