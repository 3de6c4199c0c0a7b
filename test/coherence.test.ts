// Gradient coherence: the formula, the in-backward estimate (dense and conv, float and 1-bit dW,
// both recipes), and the exact per-example probe.
import t from 'tap';
import { coherenceOfVectors, coherencePairwise, mCoherence, networkCoherence } from '../src/coherence/coherence.js';
import { CoherenceProbe } from '../src/train/coherence-probe.js';
import { CoherenceTracker, parseCoherenceSpec } from '../src/coherence/tracker.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { selectKernels } from '../src/kernels/select.js';
import { Network } from '../src/model/network.js';
import type { ModelSpec } from '../src/model/spec.js';
import { modelMemory } from '../src/model/memory-model.js';
import { Adam } from '../src/optim/adam.js';
import { applySettings, PRESETS, type Recipe } from '../src/recipe.js';
import { Rng } from '../src/rng.js';
import { identityOrder, mlpSpec, randomFloats, syntheticDataset } from './helpers.js';

t.test('formula: duplicated example gives m, random high-dimensional vectors about 1, O(m) == pairwise', async (t) => {
  const rng = new Rng(3);
  const g = randomFloats(rng, 50);
  t.ok(Math.abs(coherenceOfVectors(Array.from({ length: 7 }, () => g)) - 7) < 1e-12, 'seven copies: 7');
  const random = Array.from({ length: 20 }, () => randomFloats(rng, 20000));
  const c = coherenceOfVectors(random);
  t.ok(Math.abs(c - 1) < 0.1, `random near-orthogonal: ${c}`);
  for (let trial = 0; trial < 5; trial++) {
    const gs = Array.from({ length: 2 + trial * 3 }, () => randomFloats(rng, 13).map((v) => v + 0.5 * trial));
    t.ok(Math.abs(coherenceOfVectors(gs) - coherencePairwise(gs)) < 1e-9 * coherencePairwise(gs), `trial ${trial}`);
  }
  t.ok(coherenceOfVectors([Float64Array.of(1, 0), Float64Array.of(-1, 0)]) === 0, 'opposite gradients cancel: 0');
  t.ok(Number.isNaN(mCoherence(0, 0)));
  t.equal(
    networkCoherence([
      { layer: 'a', sumSq: 6, exampleSq: 2 },
      { layer: 'b', sumSq: 2, exampleSq: 2 },
    ]),
    2,
  );
});

t.test('tracker: series per layer and network, epoch mean and peak; spec parsing', async (t) => {
  const tr = new CoherenceTracker(2);
  t.same(
    [1, 2, 3, 4].map((s) => tr.measures(s)),
    [false, true, false, true],
  );
  tr.beginEpoch();
  tr.record(2, [{ layer: 'fc1', sumSq: 4, exampleSq: 2 }]);
  tr.record(4, [{ layer: 'fc1', sumSq: 8, exampleSq: 2 }]);
  const e = tr.endEpoch()!;
  t.same(e.mean, { fc1: 3, network: 3 });
  t.same(e.peak, { fc1: 4, network: 4 });
  t.same(tr.series.steps, [2, 4]);
  t.same(parseCoherenceSpec('every=50,probe=256'), { every: 50, probe: 256 });
  t.same(parseCoherenceSpec('10'), { every: 10, probe: 0 });
  t.throws(() => parseCoherenceSpec('every=0'), /every=N/);
  t.throws(() => parseCoherenceSpec('often=3'), /every=N/);
});

function estimate(spec: ModelSpec, recipe: Recipe, seed = 5, batch = 24, kernels = referenceKernels as ReturnType<typeof selectKernels>) {
  const features = spec.input.h * spec.input.w * spec.input.c;
  const data = syntheticDataset(seed, batch, features, spec.classes);
  const net = new Network({ spec, recipe, batch, kernels, seed: 7, coherence: true });
  for (const p of net.params()) if (!p.binary) for (let i = 0; i < p.size; i++) p.value.set(i, 0.2 * Math.sin(i + p.size));
  net.setCoherence(true);
  net.computeGradients(data, identityOrder(batch), 0, batch);
  const stats = net.coherenceStats();
  net.dispose();
  return { stats, net };
}

t.test('a 3x3 valid conv on a 3x3 image is a dense layer: both estimates agree exactly', async (t) => {
  const conv: ModelSpec = { name: 'c', input: { h: 3, w: 3, c: 4 }, classes: 3, ops: [{ conv: 40, padding: 'valid' }, { dense: 8 }] };
  const dense: ModelSpec = { name: 'd', input: { h: 1, w: 1, c: 36 }, classes: 3, ops: [{ dense: 40 }, { dense: 8 }] };
  for (const recipe of [PRESETS.standard, PRESETS['low-memory']]) {
    const a = estimate(conv, recipe).stats;
    const b = estimate(dense, recipe).stats;
    t.equal(a.length, 3);
    for (let k = 0; k < 3; k++) {
      t.ok(Math.abs(a[k].sumSq - b[k].sumSq) <= 1e-5 * b[k].sumSq, `layer ${k} ||G||²`);
      t.ok(Math.abs(a[k].exampleSq - b[k].exampleSq) <= 1e-5 * b[k].exampleSq, `layer ${k} Σ||g_i||²: conv ${a[k].exampleSq} dense ${b[k].exampleSq}`);
    }
  }
});

t.test('1-bit dW tiles give the same coherence as float dW (dense and conv)', async (t) => {
  const specs: ModelSpec[] = [
    mlpSpec(40, [70, 33], 5),
    { name: 'cv', input: { h: 7, w: 7, c: 2 }, classes: 4, ops: [{ conv: 33, padding: 'same' }, { conv: 32, padding: 'valid' }, { pool: 2 }, { dense: 9 }] },
  ];
  for (const spec of specs) {
    const sign = estimate(spec, PRESETS['low-memory']).stats;
    const float = estimate(spec, applySettings(PRESETS['low-memory'], ['dw=float32'])).stats;
    for (let k = 0; k < sign.length; k++) {
      t.ok(Math.abs(sign[k].sumSq - float[k].sumSq) <= 1e-6 * float[k].sumSq, `${spec.name} ${sign[k].layer} ||G||²`);
      t.ok(Math.abs(sign[k].exampleSq - float[k].exampleSq) <= 1e-6 * float[k].exampleSq, `${spec.name} ${sign[k].layer} Σ||g_i||²`);
    }
  }
});

t.test('wasm kernels give the reference estimate', async (t) => {
  const spec = mlpSpec(50, [64], 4);
  const a = estimate(spec, PRESETS['low-memory']).stats;
  const b = estimate(spec, PRESETS['low-memory'], 5, 24, selectKernels('wasm')).stats;
  for (let k = 0; k < a.length; k++) t.ok(Math.abs(a[k].exampleSq - b[k].exampleSq) <= 1e-4 * a[k].exampleSq, a[k].layer);
});

t.test('coherence buffers are in the ledger and the memory model', async (t) => {
  const spec = mlpSpec(30, [20], 3);
  const net = new Network({ spec, recipe: PRESETS['low-memory'], batch: 10, kernels: referenceKernels, seed: 1, coherence: true });
  new Adam(net.params(), net.ledger);
  t.equal(net.ledger.totalBytes, modelMemory(spec, PRESETS['low-memory'], 10, { coherence: true }).total);
  t.ok(modelMemory(spec, PRESETS['low-memory'], 10, { coherence: true }).total > modelMemory(spec, PRESETS['low-memory'], 10).total);
  t.throws(
    () => new Network({ spec, recipe: PRESETS.standard, batch: 10, kernels: referenceKernels, seed: 1 }).setCoherence(true),
    /built without coherence buffers/,
  );
});

t.test('exact per-example probe: the same batch gradient; coherence close to the estimate (they differ by batch-norm centring)', async (t) => {
  const spec = mlpSpec(60, [48, 48], 6);
  const m = 64;
  // structured data (the class sets a block of pixels): gradients agree early, coherence well above 1
  const noise = syntheticDataset(9, m, 60, 6);
  const images = noise.images.map((v, i) => (Math.floor((i % 60) / 10) === noise.labels[Math.floor(i / 60)] ? 255 : v >> 2));
  const data = { ...noise, images };
  for (const name of ['standard', 'low-memory']) {
    const net = new Network({ spec, recipe: PRESETS[name], batch: 32, kernels: referenceKernels, seed: 2 });
    const probe = new CoherenceProbe(net, data, identityOrder(m), PRESETS[name]);
    const r = probe.run();
    r.exactStats.forEach((e, k) => {
      t.ok(Math.abs(e.sumSq - r.estimateStats[k].sumSq) <= 1e-6 * e.sumSq, `${name} ${e.layer}: Σ g_i is the batch gradient in both`);
    });
    for (const layer of ['fc1', 'fc2', 'fc3', 'network']) {
      const [ex, es] = [r.exact[layer], r.estimate[layer]];
      const tol = 0.25;
      t.ok(ex > 4 && Math.abs(ex - es) <= tol * ex, `${name} ${layer}: exact ${ex.toFixed(3)}, estimate ${es.toFixed(3)}`);
    }
    probe.dispose();
  }
});

t.test('measuring coherence does not change training (same losses with and without)', async (t) => {
  const { train } = await import('../src/train/loop.js');
  const { loadData } = await import('../src/data/registry.js');
  const run = (coherence?: { every: number }) =>
    train(
      { model: 'mlp', recipeName: 'low-memory', recipe: PRESETS['low-memory'], batch: 50, epochs: 1, seed: 2, lr: 1e-3, threads: 1, coherence },
      loadData('mnist', { limitTrain: 400, limitTest: 100 }),
    );
  const [a, b] = [await run(), await run({ every: 1 })];
  t.same(
    b.history.map((h) => [h.trainLoss, h.testLoss]),
    a.history.map((h) => [h.trainLoss, h.testLoss]),
  );
  t.equal(b.coherence!.steps.length, 8, 'every step measured');
  t.same(Object.keys(b.coherence!.layers).sort(), ['fc1', 'fc2', 'fc3', 'fc4', 'fc5', 'network']);
  t.equal(a.coherence, null);
  a.network.dispose();
  b.network.dispose();
});

t.test('smoothed peak: the largest running median, so one noisy step does not make the peak', async (t) => {
  const { smoothedPeak } = await import('../src/cli/coherence.js');
  const flat = Array.from({ length: 60 }, (_, i) => 1 + 0.01 * (i % 3));
  const spike = [...flat];
  spike[30] = 40;
  t.equal(smoothedPeak(spike), smoothedPeak(flat), 'a single spike is ignored');
  const hump = [...flat];
  for (let i = 20; i < 35; i++) hump[i] = 6;
  t.equal(smoothedPeak(hump), 6, 'a sustained rise is kept');
  t.equal(smoothedPeak([3, 1, 2]), 2, 'shorter than the window: the median');
  t.equal(smoothedPeak([1, 2, 3, 4], 11), 2.5);
  t.equal(smoothedPeak([5, NaN, 1, 3]), 3, 'unmeasured steps skipped');
});
