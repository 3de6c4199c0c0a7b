// Models mixing precisions: a float or fixed-point layer next to binary ones. The junctions (sign
// bits into a fixed-point layer, integer codes into a binary one) change nothing but storage, every
// preset recipe trains such a model from an image folder, and its checkpoint predicts the same in a
// fresh process.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pngjs from 'pngjs';
import t, { type Test } from 'tap';
import { parseQuantConfig } from '../quant/quant-config.js';
import { loadOwnData, parseDataSource } from '../src/data/own.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { loadModelFile } from '../src/model/definition.js';
import { Network } from '../src/model/network.js';
import type { ModelSpec } from '../src/model/spec.js';
import { PRESETS } from '../src/recipe.js';
import { Rng } from '../src/rng.js';
import { train } from '../src/train/loop.js';
import { identityOrder, maxAbs, maxAbsDiff, syntheticDataset, tempDir } from './helpers.js';

const AVERAGED: ModelSpec = {
  name: 'averaged',
  input: { h: 10, w: 10, c: 2 },
  classes: 4,
  ops: [{ conv: 16, padding: 'same' }, { avgpool: 2 }, { conv: 16, padding: 'same', quant: parseQuantConfig('w8a8') }, { avgpool: 'global' }, { dense: 8 }],
};

const JUNCTIONS: ModelSpec = {
  name: 'junctions',
  input: { h: 10, w: 10, c: 2 },
  classes: 4,
  ops: [
    { conv: 16, padding: 'same', kernel: 5, stride: 2, quant: parseQuantConfig('w8a8') },
    { conv: 32, padding: 'valid', kernel: 1 },
    { dense: 24, quant: parseQuantConfig('w4a8') },
    { dense: 32 },
  ],
  classifierQuant: parseQuantConfig('w8a8'),
};

async function junctions(t: Test, spec: ModelSpec) {
  const data = syntheticDataset(3, 12, 200, 4);
  const run = (actInput: 'float32' | 'bit') => {
    const net = new Network({ spec, recipe: { ...PRESETS.standard, actInput }, batch: 12, kernels: referenceKernels, seed: 5 });
    const r = net.computeGradients(data, identityOrder(12), 0, 12);
    return { loss: r.loss, grads: net.params().map((p) => (p.grad.kind === 'float' ? Array.from(p.grad.data) : [])) };
  };
  const kept = run('float32');
  const packed = run('bit');
  t.equal(packed.loss, kept.loss, 'same loss');
  kept.grads.forEach((g, i) => {
    const rel = maxAbsDiff(packed.grads[i], g) / Math.max(1e-12, maxAbs(g));
    t.ok(rel < 1e-6, `parameter ${i}: gradients agree (${rel.toExponential(1)})`);
  });
  t.ok(
    kept.grads.some((g) => maxAbs(g) > 0),
    `${spec.name}: gradients are not all zero`,
  );
}

t.test('junctions: sign bits into a fixed-point layer and codes into a binary one give the float-kept gradients', async (t) => {
  for (const spec of [JUNCTIONS, AVERAGED]) await junctions(t, spec);
});

t.test('5x5 stride-2 float first layer, 1x1 conv, 8-bit classifier: every preset trains it on images; a fresh process predicts the same', async (t) => {
  const dir = tempDir('bitlearn-mixed-');
  const images = join(dir, 'images');
  const rng = new Rng(9);
  // three classes: a bright band at the top, the middle or the bottom of a 20x20 image
  ['top', 'middle', 'bottom'].forEach((name, c) => {
    mkdirSync(join(images, name), { recursive: true });
    for (let i = 0; i < 40; i++) {
      const png = new pngjs.PNG({ width: 20, height: 20 });
      for (let y = 0; y < 20; y++)
        for (let x = 0; x < 20; x++) {
          const v = Math.max(0, Math.min(255, Math.round((Math.floor(y / 7) === c ? 180 : 60) + 40 * rng.normal())));
          png.data.set([v, v, v, 255], (y * 20 + x) * 4);
        }
      writeFileSync(join(images, name, `${i}.png`), pngjs.PNG.sync.write(png));
    }
  });
  const modelFile = join(dir, 'mixed.json');
  writeFileSync(
    modelFile,
    JSON.stringify({
      name: 'mixed',
      input: { height: 16, width: 16, channels: 1 },
      classes: 3,
      classifierPrecision: 'w8a8',
      layers: [
        { type: 'conv', filters: 32, kernel: 5, stride: 2, padding: 'same', precision: 'float' },
        { type: 'conv', filters: 64, kernel: 1 },
        { type: 'maxpool' },
        { type: 'dense', units: 64 },
      ],
    }),
  );
  const spec = loadModelFile(modelFile);
  for (const preset of ['standard', 'low-memory', 'tiny']) {
    const data = await loadOwnData(parseDataSource(`images:${images}`)!, { shape: spec.input, seed: 2 });
    const checkpoint = join(dir, `${preset}.ckpt`);
    const r = await train(
      { model: modelFile, recipeName: preset, recipe: PRESETS[preset], batch: 16, epochs: 6, seed: 1, lr: 1e-3, threads: 1, checkpoint },
      data,
    );
    const accuracy = r.history.at(-1)!.testAccuracy;
    t.ok(accuracy >= 0.8, `${preset}: test accuracy ${accuracy}`);
    const ours = new Int32Array(data.test.count);
    r.network.predict(data.test, ours);
    r.network.dispose();
    const probe = `
      import { loadTrainedNetwork } from ${JSON.stringify(join(process.cwd(), 'build/src/model/load.js'))};
      import { loadOwnData, parseDataSource } from ${JSON.stringify(join(process.cwd(), 'build/src/data/own.js'))};
      const m = loadTrainedNetwork(${JSON.stringify(checkpoint)});
      const data = await loadOwnData(parseDataSource(${JSON.stringify(`images:${images}`)}), { shape: m.spec.input, seed: 2 });
      const classes = new Int32Array(data.test.count);
      m.network.predict(data.test, classes);
      console.log(JSON.stringify(Array.from(classes)));
    `;
    const p = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    t.equal(p.status, 0, p.stderr);
    t.same(JSON.parse(p.stdout), Array.from(ours), `${preset}: the reloaded checkpoint predicts every test image as the trained network did`);
  }
});
