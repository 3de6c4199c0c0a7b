// RM3 and M3: medians of three gradients (majority for 1-bit gradients), their buffers in the
// ledger and the memory model, exact resume with RM3's history, and that they train.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadData } from '../src/data/registry.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { modelMemory } from '../src/model/memory-model.js';
import { Network } from '../src/model/network.js';
import { Adam } from '../src/optim/adam.js';
import { createGradientMethod, median3 } from '../src/optim/robust-gradients.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/trainer.js';
import { identityOrder, mlpSpec, syntheticDataset } from './helpers.js';

t.test('median of three, and majority of three packed signs', async (t) => {
  const out = new Float32Array(6);
  median3(Float32Array.of(1, 5, 3, -1, 0, 2), Float32Array.of(2, 4, 3, -3, 0, 9), Float32Array.of(3, 6, 1, -2, 7, -9), out, false);
  t.same(Array.from(out), [2, 5, 3, -2, 0, 2]);
  const bits = new Uint32Array(1);
  median3(Uint32Array.of(0b1100), Uint32Array.of(0b1010), Uint32Array.of(0b1001), bits, true);
  t.equal(bits[0], 0b1000);
  median3(Uint32Array.of(0xffffffff), Uint32Array.of(0xffffffff), Uint32Array.of(0), bits, true);
  t.equal(bits[0], 0xffffffff, 'unsigned result');
});

t.test('RM3: from the third step the gradient is the median of the last three raw gradients', async (t) => {
  const spec = mlpSpec(20, [16], 4);
  const data = syntheticDataset(2, 40, 20, 4);
  for (const name of ['standard', 'low-memory']) {
    const plainNet = new Network({ spec, recipe: PRESETS[name], batch: 10, kernels: referenceKernels, seed: 3 });
    const rmNet = new Network({ spec, recipe: PRESETS[name], batch: 10, kernels: referenceKernels, seed: 3 });
    const rm3 = createGradientMethod('rm3', rmNet);
    const raw: (Float32Array | Float64Array | Uint32Array)[][] = [];
    const copy = (net: Network) => net.params().map((p) => (p.grad.kind === 'float' ? p.grad.data.slice() : p.grad.kind === 'sign' ? p.grad.bits.slice() : new Uint32Array(0)));
    for (let step = 0; step < 4; step++) {
      plainNet.computeGradients(data, identityOrder(40), step * 10, 10);
      raw.push(copy(plainNet));
      rm3.compute(data, identityOrder(40), step * 10, 10);
      const got = copy(rmNet);
      got.forEach((g, k) => {
        const bits = g instanceof Uint32Array;
        const want = g.slice();
        if (step < 2) want.set(raw[step][k]);
        else median3(raw[step][k], raw[step - 1][k], raw[step - 2][k], want, bits);
        t.same(Array.from(g), Array.from(want), `${name} step ${step} param ${k}`);
      });
    }
  }
});

t.test('M3 and RM3 buffers: ledger == memory model', async (t) => {
  const spec = mlpSpec(30, [20], 3);
  for (const gradients of ['rm3', 'm3'])
    for (const name of ['standard', 'low-memory']) {
      const net = new Network({ spec, recipe: PRESETS[name], batch: 12, kernels: referenceKernels, seed: 1 });
      new Adam(net.params(), net.ledger);
      createGradientMethod(gradients, net);
      t.equal(net.ledger.totalBytes, modelMemory(spec, PRESETS[name], 12, { gradients }).total, `${gradients} ${name}`);
    }
});

t.test('train with rm3 and m3; rm3 resumes exactly', async (t) => {
  const data = () => loadData('mnist', { limitTrain: 600, limitTest: 300 });
  const base = { model: 'mlp', recipeName: 'low-memory', recipe: PRESETS['low-memory'], batch: 50, seed: 5, lr: 1e-3, threads: 1 } as const;
  for (const gradients of ['rm3', 'm3'] as const) {
    const r = await train({ ...base, epochs: 2, gradients }, data());
    t.ok(r.history[1].testAccuracy > 0.5, `${gradients} learns: ${r.history[1].testAccuracy}`);
    r.network.dispose();
  }
  const dir = mkdtempSync(join(tmpdir(), 'bitlearn-rm3-'));
  const whole = await train({ ...base, epochs: 2, gradients: 'rm3' }, data());
  await train({ ...base, epochs: 1, gradients: 'rm3', checkpoint: join(dir, 'c.ckpt') }, data());
  const resumed = await train({ ...base, epochs: 2, gradients: 'rm3', checkpoint: join(dir, 'c.ckpt'), resume: true }, data());
  t.same(resumed.history.map((h) => h.trainLoss), whole.history.map((h) => h.trainLoss), 'bit-identical after resume');
  await t.rejects(train({ ...base, epochs: 3, gradients: 'm3', checkpoint: join(dir, 'c.ckpt'), resume: true }, data()), /gradients "rm3", this run asks for "m3"/);
  await t.rejects(train({ ...base, epochs: 1, gradients: 'm3', coherence: { every: 5 } }, data()), /measure coherence with --gradients plain or rm3/);
});
