// TF.js export: the LayersModel loaded with tf.loadLayersModel predicts exactly what bitlearn's
// own inference predicts (MLP, valid conv + pool after sign, same conv + pool before BN).
import * as tf from '@tensorflow/tfjs';
import t, { type Test } from 'tap';
import { loadData } from '../src/data/registry.js';
import { tfjsArtifacts } from '../src/export/tfjs.js';
import { checkExport } from '../src/export/verify.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { Network } from '../src/model/network.js';
import type { ModelSpec } from '../src/model/spec.js';
import { modelSpec } from '../src/model/models.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/train/loop.js';
import { syntheticDataset } from './helpers.js';

tf.env().set('PROD', true);
await tf.setBackend('cpu');

t.test('MLP trained on MNIST: TF.js predictions equal bitlearn predictions on 2000 test images', async (t) => {
  const data = loadData('mnist', { limitTrain: 3000, limitTest: 2000 });
  const r = await train({ model: 'mlp', recipeName: 'low-memory', recipe: PRESETS['low-memory'], batch: 100, epochs: 1, seed: 3, lr: 1e-3, threads: 1 }, data);
  const spec = modelSpec('mlp');
  const a = await tfjsArtifacts(r.network, spec);
  const c = await checkExport(a, r.network, spec, data.test);
  t.equal(c.agree, c.examples, `agreement ${c.agree}/${c.examples}`);
  t.ok(c.tfjsAccuracy > 0.7, `TF.js accuracy ${c.tfjsAccuracy}`);
  t.equal(c.tfjsAccuracy, c.bitlearnAccuracy);
  r.network.dispose();
});

/** A random-weight conv net with recalibrated batch-norm statistics (no training needed). */
async function convCase(t: Test, spec: ModelSpec) {
  const B = 16;
  const features = spec.input.h * spec.input.w * spec.input.c;
  const data = syntheticDataset(5, 64, features, spec.classes);
  const net = new Network({ spec, recipe: PRESETS.standard, batch: B, kernels: referenceKernels, seed: 11 });
  // non-zero betas so thresholds are not all at the mean
  for (const p of net.params()) if (!p.binary) for (let i = 0; i < p.size; i++) p.value.set(i, 0.3 * Math.sin(3 * i + p.size));
  net.recalibrateBatchNorm(data, 4);
  const c = await checkExport(await tfjsArtifacts(net, spec), net, spec, data);
  t.equal(c.agree, c.examples, `${spec.name}: agreement ${c.agree}/${c.examples}`);
}

t.test('valid conv, pool after sign, flatten (mnist-conv shape, small)', async (t) => {
  await convCase(t, {
    name: 'conv-valid',
    input: { h: 10, w: 10, c: 1 },
    classes: 4,
    ops: [{ conv: 8, padding: 'valid' }, { conv: 32, padding: 'valid' }, { pool: 2 }, { dense: 16 }],
  });
});

t.test('same conv, pool before BN (BinaryNet style), RGB input', async (t) => {
  await convCase(t, {
    name: 'conv-same',
    input: { h: 8, w: 8, c: 3 },
    classes: 5,
    ops: [{ conv: 8, padding: 'same' }, { conv: 32, padding: 'same' }, { pool: 2 }, { dense: 12 }],
    poolBeforeBn: true,
  });
});

t.test('5x5 stride-2 (same), 1x1 and 3x3 stride-2 (valid) convolutions', async (t) => {
  await convCase(t, {
    name: 'conv-general',
    input: { h: 12, w: 12, c: 3 },
    classes: 4,
    ops: [
      { conv: 8, padding: 'same', kernel: 5, stride: 2 },
      { conv: 32, padding: 'valid', kernel: 1 },
      { conv: 32, padding: 'valid', stride: 2 },
      { dense: 16 },
    ],
  });
  await convCase(t, {
    name: 'pool-3x3',
    input: { h: 12, w: 12, c: 1 },
    classes: 3,
    ops: [{ conv: 32, padding: 'same' }, { pool: 3 }, { conv: 32, padding: 'same' }, { pool: 4 }, { dense: 8 }],
    poolBeforeBn: true,
  });
  await convCase(t, {
    name: 'conv-5x5-same',
    input: { h: 9, w: 9, c: 1 },
    classes: 3,
    ops: [{ conv: 32, padding: 'same', kernel: 5 }, { pool: 2 }, { dense: 8 }],
  });
});

t.test('the exported mnist-conv model loads with its documented layer types only', async (t) => {
  const net = new Network({ spec: modelSpec('mnist-conv'), recipe: PRESETS['low-memory'], batch: 2, kernels: referenceKernels, seed: 1 });
  const a = await tfjsArtifacts(net, modelSpec('mnist-conv'));
  const layers = (a.modelTopology as { config: { layers: { class_name: string }[] } }).config.layers.map((l) => l.class_name);
  t.same([...new Set(layers)].sort(), ['Conv2D', 'Dense', 'Flatten', 'MaxPooling2D']);
});
