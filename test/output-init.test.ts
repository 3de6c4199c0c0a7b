// --output-init-scale: the classifier's initial weights scaled down give nearly uniform first
// predictions (what the coherence experiments start from); impossible uses are refused.
import t from 'tap';
import { referenceKernels } from '../src/kernels/reference.js';
import { Network } from '../src/model/network.js';
import type { ModelSpec } from '../src/model/spec.js';
import { PRESETS } from '../src/recipe.js';
import { parseQuantConfig } from '../quant/quant-config.js';
import { identityOrder, mlpSpec, syntheticDataset } from './helpers.js';

const spec = (q?: string): ModelSpec => ({ ...mlpSpec(20, [12, 9], 5), ...(q ? { quant: parseQuantConfig(q, 'gradient') } : {}) });
const net = (s: ModelSpec, outputInitScale?: number) =>
  new Network({ spec: s, recipe: PRESETS.standard, batch: 8, kernels: referenceKernels, seed: 4, outputInitScale });
const data = syntheticDataset(2, 8, 20, 5);
const firstLoss = (n: Network) => n.computeGradients(data, identityOrder(8), 0, 8).loss;

t.test('a zero or small classifier init gives (nearly) uniform first predictions', async (t) => {
  const uniform = Math.log(5);
  const plain = firstLoss(net(spec('float')));
  t.ok(Math.abs(plain - uniform) > 0.05, `default init is not uniform (loss ${plain})`);
  t.ok(Math.abs(firstLoss(net(spec('float'), 0)) - uniform) < 1e-6, 'float, scale 0: exactly uniform');
  t.ok(Math.abs(firstLoss(net(spec('float'), 0.01)) - uniform) < 0.01, 'float, scale 0.01');
  const q = net(spec('w4a8'), 0.01);
  t.ok(Math.abs(firstLoss(q) - uniform) < 0.01, '4-bit weights, scale 0.01: the quantizer restarted on the scaled weights');
  t.equal(firstLoss(net(spec('float'), 1)), plain, 'scale 1 is the default init');
});

t.test('impossible output init scales are refused with the reason', async (t) => {
  t.doesNotThrow(() => net(spec()), 'binary without the option');
  t.throws(() => net(spec(), 0.5), /binary classifier ends in batch norm/);
  t.throws(() => net(spec('w4a8'), 0), /4-bit power-of-two quantizer cannot take its scale from all-zero weights/);
  t.throws(() => net(spec('float'), 2), /from 0 to 1/);
});
