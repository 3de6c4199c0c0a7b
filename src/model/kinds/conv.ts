// Binary convolution (src/layers/conv.ts).
import { wordsFor } from '../../bits.js';
import { taps } from '../../kernels/conv-geometry.js';
import { ConvLayer } from '../../layers/conv.js';
import type { PlannedLayer } from '../spec.js';
import { writeBinaryBlockTfjs } from './binary-tfjs.js';
import { convFeatures, convMacs, convWorkspace } from './conv-sizes.js';
import type { LayerKind } from './kind.js';

type Conv = Extract<PlannedLayer, { type: 'conv' }>;

export const convKind: LayerKind<Conv> = {
  title: 'binary convolutions',
  build: (l, c) => new ConvLayer(l.name, l.g, l.first, c.recipe, c.ws, c.ledger, c.rng, l),
  memory: (l, c) => c.binaryWeights(l.name, l.g.co * taps(l.g), l.g.ci, l.frozen),
  workspace: (l, need) => convWorkspace(l.g, l.first, need, l, true),
  features: (l) => convFeatures(l.g),
  forwardMacs: (l) => convMacs(l.g),
  weights: (l) => l.g.co * taps(l.g) * l.g.ci,
  exports: {
    tfjs(l, at, out) {
      const { ci, co, k, pad, stride } = l.g;
      // TF.js pads a strided 'same' convolution unevenly; bitlearn pads (k − 1)/2 on every side
      const padFirst = pad > 0 && stride > 1;
      return writeBinaryBlockTfjs(
        l.name,
        {
          // bitlearn: row (output channel c, tap t) holds ci weights; TF.js: [ky][kx][ci][co]
          kernel(w, scale) {
            const kk = k * k;
            const values = new Float32Array(kk * ci * co);
            for (let c = 0; c < co; c++) {
              const s = scale(c);
              for (let t = 0; t < kk; t++) for (let i = 0; i < ci; i++) values[(t * ci + i) * co + c] = w.latent.get((c * kk + t) * ci + i) >= 0 ? s : -s;
            }
            return { values, shape: [k, k, ci, co] };
          },
          stages: (useBias, activation) => [
            ...(padFirst ? [{ layer: 'zeroPadding2d' as const, config: { name: `${l.name}_pad`, padding: [pad, pad] } }] : []),
            {
              layer: 'conv2d',
              config: { name: l.name, filters: co, kernelSize: k, strides: stride, padding: pad && !padFirst ? 'same' : 'valid', useBias, activation },
            },
          ],
        },
        at,
        out,
      );
    },
    packed(l, at, out) {
      const g = l.g;
      const bits = (at.layer as ConvLayer).wbits.slice(0, g.co * taps(g) * wordsFor(g.ci));
      out.ops.push({ op: 'conv', name: l.name, g: { ...g }, input: out.input, weights: out.sections.add(bits) });
      out.zRange = out.input === 'bits' ? taps(g) * g.ci : null;
      out.input = 'float';
      return 0;
    },
  },
};
