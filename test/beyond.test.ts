// Beyond the published recipe: 8-bit block storage, Adam with int8 moments, Bop (with and without
// a weight-gradient buffer), ghost batch norm, ReSTE, and the tiny preset.
import { join } from 'node:path';
import t from 'tap';
import { BLOCK8, decodeBlock8, encodeBlock8 } from '../src/storage/block8.js';
import { BatchNormLayer } from '../src/layers/batchnorm.js';
import type { Param } from '../src/layers/layer.js';
import { RESTE, SignLayer } from '../src/layers/sign.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { MemoryLedger } from '../src/ledger.js';
import { loadData } from '../src/data/registry.js';
import { Network } from '../src/model/network.js';
import { planModel } from '../src/model/spec.js';
import { workspaceSizes } from '../src/model/sizes.js';
import { createWorkspace } from '../src/model/workspace.js';
import { modelMemory } from '../src/model/memory-model.js';
import { Adam } from '../src/optim/adam.js';
import { Bop } from '../src/optim/bop.js';
import { createOptimizer } from '../src/optim/optimizer.js';
import { applySettings, PRESETS } from '../src/recipe.js';
import { Rng } from '../src/rng.js';
import { createGradStore } from '../src/storage/grad-store.js';
import { bitStore, createParamStore } from '../src/storage/param-store.js';
import { train } from '../src/train/loop.js';
import { identityOrder, mlpSpec, randomFloats, syntheticDataset, tempDir } from './helpers.js';

t.test('8-bit blocks: linear error <= absmax/254, log code within 4.4% relative, zeros exact', async (t) => {
  const rng = new Rng(4);
  const v = randomFloats(rng, BLOCK8).map((x) => x * 1e-3);
  v[7] = 0;
  const codes = new Uint8Array(BLOCK8);
  const scales = new Float64Array(1);
  const out = new Float64Array(BLOCK8);
  encodeBlock8('linear', v, BLOCK8, codes, scales, 0);
  decodeBlock8('linear', codes, scales, 0, BLOCK8, out);
  const absmax = Math.max(...v.map(Math.abs));
  t.ok(
    v.every((x, k) => Math.abs(out[k] - x) <= absmax / 254 + 1e-18),
    'linear',
  );
  t.equal(out[7], 0);
  const pos = v.map((x) => x * x * 10 ** -rng.int(8));
  encodeBlock8('log', pos, BLOCK8, codes, scales, 0);
  decodeBlock8('log', codes, scales, 0, BLOCK8, out);
  const pmax = Math.max(...pos);
  t.ok(
    pos.every((x, k) => (x < pmax * 2 ** -31 ? out[k] <= pmax * 2 ** -31 : Math.abs(out[k] - x) <= 0.045 * x)),
    'log: relative error',
  );
  t.equal(out[7], 0, 'zero stays zero');
  encodeBlock8('linear', Float64Array.of(1, NaN), 2, codes, scales, 0);
  t.ok(Number.isNaN(scales[0]), 'NaN propagates to the block scale');
});

t.test('int8 store: aligned and partial block writes, get/set', async (t) => {
  const s = createParamStore('int8', 600, new MemoryLedger(), 'optimizer', 'p', 'm');
  const rng = new Rng(1);
  const v = randomFloats(rng, 600);
  s.writeBlock(0, 256, v.subarray(0, 256));
  s.writeBlock(256, 600, v.subarray(256));
  s.writeBlock(100, 130, v.subarray(100, 130)); // partial rewrite: decode, edit, encode
  const out = new Float64Array(600);
  s.readBlock(0, 600, out);
  const m = Math.max(...v.map(Math.abs));
  t.ok(
    v.every((x, k) => Math.abs(out[k] - x) <= 0.09 * Math.abs(x) + m * 2 ** -16),
    'within two log steps',
  );
  s.set(5, 0.5);
  t.ok(Math.abs(s.get(5) - 0.5) < 0.05);
  t.equal(s.raw.length, 600);
  t.equal(s.aux!.length, 3);
});

function param(format: 'float32' | 'int8', n: number, seed: number): Param {
  const ledger = new MemoryLedger();
  const value = createParamStore('float32', n, ledger, 'weights', 'p', 'w');
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) value.set(i, rng.normal());
  return { owner: 'p', name: 'w', size: n, value, grad: { kind: 'float', data: new Float32Array(n) }, binary: false, momentFormat: format };
}

/** Run float32 and int8-moment Adam on the same gradients; mean |difference| over mean distance travelled. */
function adamDrift(spread: number, steps: number): number {
  const n = 1000;
  const [a, b] = [param('float32', n, 1), param('int8', n, 1)];
  const w0 = Float64Array.from({ length: n }, (_, i) => a.value.get(i));
  const [oa, ob] = [new Adam([a], new MemoryLedger()), new Adam([b], new MemoryLedger())];
  const rng = new Rng(9);
  for (let s = 0; s < steps; s++) {
    // noisy gradients with a consistent direction per coordinate, magnitudes over `spread` decades
    for (let i = 0; i < n; i++) {
      const g = (Math.sin(i) + 0.5 * rng.normal()) * 10 ** -(i % (spread + 1));
      (a.grad as { data: Float32Array }).data[i] = g;
      (b.grad as { data: Float32Array }).data[i] = g;
    }
    oa.update(1e-2);
    ob.update(1e-2);
  }
  let travel = 0;
  let diff = 0;
  for (let i = 0; i < n; i++) {
    travel += Math.abs(a.value.get(i) - w0[i]);
    diff += Math.abs(a.value.get(i) - b.value.get(i));
  }
  return diff / travel;
}

t.test('Adam with int8 moments follows float32 Adam (stated tolerances)', async (t) => {
  const oneScale = adamDrift(0, 300);
  t.ok(oneScale <= 0.08, `gradients of one scale, 300 steps: drift ${(100 * oneScale).toFixed(1)}% of the distance travelled (<= 8%)`);
  const early = adamDrift(4, 20);
  t.ok(early <= 0.05, `4 decades within a block, 20 steps: ${(100 * early).toFixed(1)}% (<= 5%)`);
  const long = adamDrift(4, 300);
  t.ok(long <= 0.15, `4 decades within a block, 300 steps: ${(100 * long).toFixed(1)}% (<= 15%)`);
});

t.test('Bop: momentum and the flip rule (|m| > τ and sign(m) = sign(w)), on packed bits', async (t) => {
  const ledger = new MemoryLedger();
  const bits = new Uint32Array(2); // 2 rows × 3 columns
  const value = bitStore(bits, 2, 3);
  [1, -1, 1, -1, 1, -1].forEach((v, i) => {
    value.set(i, v);
  });
  const grad = new Float32Array([1, 1, -1, -1, 1e-9, 0]);
  const p: Param = { owner: 'l', name: 'W', size: 6, value, grad: { kind: 'float', data: grad }, binary: true, momentFormat: 'float32' };
  const bop = new Bop([p], ledger, { gamma: 0.5, tau: 1e-3 });
  bop.update();
  // m = 0.5·g: flip where m·w > 0 and |m| > τ: elements 0 (+,+) and 3 (−,−); 4 is below τ
  t.same(
    Array.from({ length: 6 }, (_, i) => value.get(i)),
    [-1, -1, 1, 1, 1, -1],
  );
  t.equal(bop.lastFlips, 2);
  t.equal(bop.lastFlipRatio, 2 / 6);
  grad.fill(0);
  bop.update(); // m halves, keeps its sign: the flipped weights now disagree with m, nothing flips
  t.equal(bop.lastFlips, 0);
  t.throws(() => new Bop([{ ...p, value: createParamStore('float32', 6, ledger, 'weights', 'l', 'w') }], ledger), /without latent copies/);
});

t.test('Bop with fused dW (no gradient buffer) is bit-identical to Bop with a float32 dW buffer', async (t) => {
  const spec = mlpSpec(40, [32, 32], 5);
  const data = syntheticDataset(3, 60, 40, 5);
  const base = applySettings(PRESETS.standard, ['optimizer=bop', 'weights=bit', 'moments=float32']);
  const nets = ['float32', 'fused'].map((dw) => {
    const recipe = applySettings(base, [`dw=${dw}`]);
    const net = new Network({ spec, recipe, batch: 20, kernels: referenceKernels, seed: 4 });
    const opt = createOptimizer(net.params(), recipe, net.ledger, undefined, { gamma: 1e-2, tau: 1e-6 });
    return { net, opt };
  });
  for (let s = 0; s < 6; s++)
    for (const { net, opt } of nets) {
      net.computeGradients(data, identityOrder(60), (s % 3) * 20, 20);
      opt.update(1e-3, 1e-2);
    }
  const bitsOf = (n: Network) =>
    n
      .params()
      .filter((p) => p.binary)
      .map((p) => Array.from(p.value.raw));
  t.same(bitsOf(nets[1].net), bitsOf(nets[0].net));
  t.ok(nets[0].opt.flipRatio()! >= 0);
  const fused = nets[1].net.params().filter((p) => p.binary);
  t.ok(fused.every((p) => p.grad.kind === 'fused'));
  t.equal(nets[1].net.ledger.byCategory()['weight-grads'], 4 * (32 + 32 + 5), 'only the batch-norm shifts keep a gradient');
});

t.test('ghost batch norm: ghost = whole batch is plain BN; groups are normalized on their own', async (t) => {
  const C = 4;
  const B = 8;
  const mk = (ghost: number) => {
    const ledger = new MemoryLedger({ float64: true });
    const ws = createWorkspace(workspaceSizes(planModel(mlpSpec(C, [C], C)), B), referenceKernels, ledger);
    return { bn: new BatchNormLayer('bn', C, 'l2', 'exact', B, ws, ledger, 1, ghost), ws, ledger };
  };
  const rng = new Rng(5);
  const y = randomFloats(rng, B * C);
  const run = (ghost: number, rows = B, input = y) => {
    const { bn, ws } = mk(ghost);
    ws.act.set(input.subarray(0, rows * C));
    bn.forward({ kind: 'float', data: ws.act, cols: C }, rows, true);
    return Float64Array.from(ws.act.subarray(0, rows * C));
  };
  t.same(run(8), run(0), 'ghost batch of 8 in a batch of 8');
  const ghosted = run(4);
  const firstHalf = run(0, 4);
  const secondHalf = run(0, 4, y.subarray(4 * C));
  t.same(ghosted, Float64Array.from([...firstHalf, ...secondHalf]), 'two ghost batches = two batches');
  // backward: the same with the gradient of each half computed on its own
  const { bn, ws, ledger } = mk(4);
  ws.act.set(y);
  bn.forward({ kind: 'float', data: ws.act, cols: C }, B, true);
  const g = createGradStore('float32', B * C, ledger, 't', 'g');
  const spare = createGradStore('float32', B * C, ledger, 't', 'spare');
  const r = randomFloats(rng, B * C);
  g.setShape(B, C);
  g.beginWrite(1);
  g.write(0, B, r);
  const out = new Float64Array(B * C);
  bn.backward(g, spare, B)!.read(0, B, 0, C, out);
  for (const half of [0, 1]) {
    const h = mk(0);
    h.ws.act.set(y.subarray(half * 4 * C, (half + 1) * 4 * C));
    h.bn.forward({ kind: 'float', data: h.ws.act, cols: C }, 4, true);
    const hg = createGradStore('float32', 4 * C, h.ledger, 't', 'g');
    hg.setShape(4, C);
    hg.beginWrite(1);
    hg.write(0, 4, r.subarray(half * 4 * C));
    const ho = new Float64Array(4 * C);
    h.bn.backward(hg, createGradStore('float32', 4 * C, h.ledger, 't', 's'), 4)!.read(0, 4, 0, C, ho);
    t.same(out.subarray(half * 4 * C, (half + 1) * 4 * C), ho, `ghost ${half}: dy`);
  }
  t.equal(
    new Network({ spec: mlpSpec(8, [8], 3), recipe: applySettings(PRESETS.standard, ['ghostBatch=32']), batch: 100, kernels: referenceKernels, seed: 1 }).ledger
      .totalBytes,
    modelMemory(mlpSpec(8, [8], 3), applySettings(PRESETS.standard, ['ghostBatch=32']), 100).total -
      (modelMemory(mlpSpec(8, [8], 3), PRESETS.standard, 100).total -
        new Network({ spec: mlpSpec(8, [8], 3), recipe: PRESETS.standard, batch: 100, kernels: referenceKernels, seed: 1 }).ledger.totalBytes),
    'ghost statistics buffers are modeled',
  );
});

t.test('ReSTE: (1/o)·max(|z|, m)^(1/o − 1) inside |z| <= t, o rising from 1 to 3', async (t) => {
  const C = 6;
  const ledger = new MemoryLedger({ float64: true });
  const ws = createWorkspace(workspaceSizes(planModel(mlpSpec(C, [C], C)), 1), referenceKernels, ledger);
  const recipe = applySettings(PRESETS.standard, ['ste=reste']);
  const sign = new SignLayer('s', C, recipe, 1, ws, ledger);
  const z = Float64Array.of(-2, -1.4, -0.5, 0.05, 0.9, 1.6);
  const g = createGradStore('float32', C, ledger, 't', 'g');
  const back = (progress: number) => {
    sign.setTrainingProgress(progress);
    ws.act.set(z);
    sign.forward({ kind: 'float', data: ws.act, cols: C }, 1, true);
    g.setShape(1, C);
    g.beginWrite(1);
    g.write(0, 1, new Float64Array(C).fill(1));
    const out = new Float64Array(C);
    sign.backward(g, g, 1).read(0, 1, 0, C, out);
    return Array.from(out);
  };
  t.same(back(0), [0, 1, 1, 1, 1, 0], 'o = 1: the clipped STE with t = 1.5');
  const o = RESTE.oEnd;
  const want = Array.from(z, (v) => (Math.abs(v) > RESTE.t ? 0 : (1 / o) * Math.max(Math.abs(v), RESTE.m) ** (1 / o - 1)));
  back(1).forEach((v, k) => {
    t.ok(Math.abs(v - want[k]) < 1e-6, `o = 3, z = ${z[k]}: ${v} vs ${want[k]}`);
  });
});

t.test('tiny trains, checkpoints Bop state and resumes exactly', async (t) => {
  const dir = tempDir('bitlearn-tiny-');
  const data = () => loadData('mnist', { limitTrain: 1000, limitTest: 300 });
  const base = { model: 'mlp', recipeName: 'tiny', recipe: PRESETS.tiny, batch: 50, seed: 2, lr: 1e-3, threads: 1 };
  const whole = await train({ ...base, epochs: 2 }, data());
  t.ok(whole.history[1].testAccuracy > 0.6, `learns: ${whole.history[1].testAccuracy}`);
  t.ok(whole.history[1].flipRatio! > 0 && whole.history[1].flipRatio! < 0.2, `flip ratio ${whole.history[1].flipRatio}`);
  await train({ ...base, epochs: 1, checkpoint: join(dir, 'c.ckpt') }, data());
  const resumed = await train({ ...base, epochs: 2, checkpoint: join(dir, 'c.ckpt'), resume: true }, data());
  t.same(
    resumed.history.map((h) => h.trainLoss),
    whole.history.map((h) => h.trainLoss),
  );
  t.equal(whole.network.ledger.totalBytes, modelMemory(whole.network.opts.spec, PRESETS.tiny, 50).total);
});

t.test('signed log code: sign kept, ~4% relative precision over 16 octaves', async (t) => {
  const v = Float64Array.from({ length: BLOCK8 }, (_, k) => (k % 2 ? -1 : 1) * 2 ** -(k % 15) * (1 + (k % 7) / 10));
  const codes = new Uint8Array(BLOCK8);
  const scales = new Float64Array(1);
  const out = new Float64Array(BLOCK8);
  encodeBlock8('slog', v, BLOCK8, codes, scales, 0);
  decodeBlock8('slog', codes, scales, 0, BLOCK8, out);
  t.ok(v.every((x, k) => Math.sign(out[k]) === Math.sign(x) && Math.abs(out[k] - x) <= 0.045 * Math.abs(x)));
});
