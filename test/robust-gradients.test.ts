// RM3 and M3: medians of three gradients (majority for 1-bit gradients), their buffers in the
// ledger and the memory model, exact resume with RM3's history, and that they train.
import { join } from 'node:path';
import t from 'tap';
import { parseQuantConfig } from '../quant/quant-config.js';
import { loadData } from '../src/data/registry.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { modelMemory } from '../src/model/memory-model.js';
import { Network } from '../src/model/network.js';
import { Adam } from '../src/optim/adam.js';
import { createGradientMethod, median3 } from '../src/train/gradient-methods.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/train/loop.js';
import { identityOrder, mlpSpec, syntheticDataset, tempDir } from './helpers.js';

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
    const copy = (net: Network) =>
      net.params().map((p) => (p.grad.kind === 'float' ? p.grad.data.slice() : p.grad.kind === 'sign' ? p.grad.bits.slice() : new Uint32Array(0)));
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
  const dir = tempDir('bitlearn-rm3-');
  const whole = await train({ ...base, epochs: 2, gradients: 'rm3' }, data());
  await train({ ...base, epochs: 1, gradients: 'rm3', checkpoint: join(dir, 'c.ckpt') }, data());
  const resumed = await train({ ...base, epochs: 2, gradients: 'rm3', checkpoint: join(dir, 'c.ckpt'), resume: true }, data());
  t.same(
    resumed.history.map((h) => h.trainLoss),
    whole.history.map((h) => h.trainLoss),
    'bit-identical after resume',
  );
  await t.rejects(
    train({ ...base, epochs: 3, gradients: 'm3', checkpoint: join(dir, 'c.ckpt'), resume: true }, data()),
    /trained with gradients rm3 \(this run: m3\)/,
  );
  await t.rejects(train({ ...base, epochs: 1, gradients: 'm3', coherence: { every: 5 } }, data()), /measure coherence with --gradients plain or rm3/);
  await t.rejects(
    train({ ...base, epochs: 1, gradients: 'winsorized', coherence: { every: 5 } }, data()),
    /winsorized changes how the batch gradient is formed/,
  );
});

t.test('winsorized sums: brute force on random columns; c = 0 is the plain sum; dense layers only', async (t) => {
  const { winsorizedColumnSums } = await import('../src/layers/winsorize.js');
  const { Rng } = await import('../src/rng.js');
  const rng = new Rng(6);
  for (const c of [0, 1, 3]) {
    const B = 12;
    const n = 9;
    const d = Float64Array.from({ length: B }, () => rng.normal());
    const x = Float64Array.from({ length: B * n }, () => rng.normal());
    const out = new Float64Array(n);
    winsorizedColumnSums(d, x, B, n, c, new Float64Array((2 * c + 3) * n), out);
    for (let k = 0; k < n; k++) {
      const v = Array.from({ length: B }, (_, i) => d[i] * x[i * n + k]).sort((a, b) => a - b);
      const lo = v[c];
      const hi = v[B - 1 - c];
      const want = v.reduce((s, y) => s + Math.min(hi, Math.max(lo, y)), 0);
      t.ok(Math.abs(out[k] - want) < 1e-12, `c=${c} column ${k}`);
    }
  }
  const spec = mlpSpec(20, [16], 4);
  const data = syntheticDataset(2, 20, 20, 4);
  const [plain, wins] = [undefined, 1].map(
    (winsorize) => new Network({ spec, recipe: PRESETS.standard, batch: 20, kernels: referenceKernels, seed: 3, winsorize }),
  );
  for (const n of [plain, wins]) n.computeGradients(data, identityOrder(20), 0, 20);
  const g = (n: Network) =>
    n
      .params()
      .filter((p) => p.binary)
      .map((p) => (p.grad as { data: Float32Array }).data);
  const [gp, gw] = [g(plain), g(wins)];
  t.ok(
    gp.every((a, k) => a.some((v, i) => v !== gw[k][i])),
    'winsorizing changes the gradient',
  );
  t.ok(
    gp.every((a, k) => a.every((v, i) => Math.sign(v) === Math.sign(gw[k][i]) || Math.abs(v - gw[k][i]) < 0.5 * Math.max(...a.map(Math.abs)))),
    'and stays close to it',
  );
  t.equal(
    wins.ledger.totalBytes - plain.ledger.totalBytes,
    modelMemory(spec, PRESETS.standard, 20, { gradients: 'winsorized', winsorC: 1 }).total - modelMemory(spec, PRESETS.standard, 20).total,
    'its buffers are modeled',
  );
  t.throws(
    () =>
      new Network({
        spec: { name: 'c', input: { h: 5, w: 5, c: 1 }, classes: 2, ops: [{ conv: 32, padding: 'valid' }, { dense: 4 }] },
        recipe: PRESETS.standard,
        batch: 8,
        kernels: referenceKernels,
        seed: 1,
        winsorize: 1,
      }),
    /dense layers only/,
  );
});

t.test('winsorized fixed-point and float dense layers: every weight and bias coordinate clipped over the exact per-example terms', async (t) => {
  const B = 12;
  const data = syntheticDataset(6, B, 20, 4);
  for (const q of ['float', 'w4a8']) {
    const spec = { ...mlpSpec(20, [16, 8], 4), quant: parseQuantConfig(q, 'gradient') };
    const [plain, wins] = [undefined, 1].map(
      (winsorize) => new Network({ spec, recipe: PRESETS.standard, batch: B, kernels: referenceKernels, seed: 3, winsorize }),
    );
    const dense = (n: Network) => n.params().filter((p) => p.name === 'W' || p.name === 'b');
    const copy = (n: Network) => dense(n).map((p) => Float64Array.from((p.grad as { data: Float32Array }).data));
    // no batch norm: example i's term of every gradient is the backward of its loss term alone
    const terms = Array.from({ length: B }, (_, i) => {
      plain.computeGradients(data, identityOrder(B), 0, B, i);
      return copy(plain);
    });
    plain.computeGradients(data, identityOrder(B), 0, B);
    const batchGrad = copy(plain);
    wins.computeGradients(data, identityOrder(B), 0, B);
    const got = copy(wins);
    let worst = 0;
    let worstSum = 0;
    let changed = 0;
    batchGrad.forEach((g, p) => {
      const scale = Math.max(1e-12, ...g.map(Math.abs));
      for (let k = 0; k < g.length; k++) {
        const v = terms.map((x) => x[p][k]).sort((a, b) => a - b);
        const want = v.reduce((s, y) => s + Math.min(v[B - 2], Math.max(v[1], y)), 0);
        worst = Math.max(worst, Math.abs(got[p][k] - want) / scale);
        worstSum = Math.max(worstSum, Math.abs(v.reduce((s, y) => s + y, 0) - g[k]) / scale);
        if (Math.abs(got[p][k] - g[k]) > 1e-6 * scale) changed++;
      }
    });
    t.ok(worstSum < 1e-5, `${q}: the per-example terms sum to the batch gradient (${worstSum})`);
    t.ok(worst < 1e-5, `${q}: winsorized == clipping the exact per-example terms (${worst})`);
    t.ok(changed > 100, `${q}: ${changed} coordinates changed by winsorizing`);
    t.equal(
      wins.ledger.totalBytes - plain.ledger.totalBytes,
      modelMemory(spec, PRESETS.standard, B, { gradients: 'winsorized', winsorC: 1 }).total - modelMemory(spec, PRESETS.standard, B).total,
      `${q}: its buffers are modeled`,
    );
  }
  const conv = {
    name: 'qc',
    input: { h: 6, w: 6, c: 1 },
    classes: 2,
    ops: [{ conv: 4, padding: 'valid' as const }, { dense: 4 }],
    quant: parseQuantConfig('float'),
  };
  t.throws(() => new Network({ spec: conv, recipe: PRESETS.standard, batch: 8, kernels: referenceKernels, seed: 1, winsorize: 1 }), /dense layers only/);
});

t.test('winsorized: a batch too small is refused before training; a short last batch keeps plain sums', async (t) => {
  const spec = { ...mlpSpec(20, [16], 4), quant: parseQuantConfig('float') };
  t.throws(
    () => new Network({ spec, recipe: PRESETS.standard, batch: 5, kernels: referenceKernels, seed: 1, winsorize: 2 }),
    /winsorizing 2 values on each side needs a batch of at least 6, got 5/,
  );
  const data = syntheticDataset(4, 23, 20, 4); // batches of 10, 10 and 3 (< 6)
  for (const quant of [parseQuantConfig('float'), undefined]) {
    const model = quant ? 'tiny-float' : 'tiny-binary';
    const net = new Network({
      spec: quant ? spec : mlpSpec(20, [32], 4),
      recipe: PRESETS.standard,
      batch: 10,
      kernels: referenceKernels,
      seed: 1,
      winsorize: 2,
    });
    const plain = new Network({ spec: quant ? spec : mlpSpec(20, [32], 4), recipe: PRESETS.standard, batch: 10, kernels: referenceKernels, seed: 1 });
    const order = identityOrder(23);
    const grads = (n: Network) => n.params().map((p) => Array.from((p.grad as { data: Float32Array }).data ?? []));
    net.computeGradients(data, order, 20, 3);
    plain.computeGradients(data, order, 20, 3);
    t.same(grads(net), grads(plain), `${model}: the last 3 examples get plain sums`);
    net.computeGradients(data, order, 0, 10);
    plain.computeGradients(data, order, 0, 10);
    t.notSame(grads(net), grads(plain), `${model}: full batches are winsorized`);
  }
});
