// Fixed-point networks (docs/method.md §4): backward vs finite differences (float twin, where the
// network is differentiable), fixed-point values on their power-of-two grids, the activation
// quantizer's gradients vs their formula, memory model == ledger, exact resume with quantizer
// state, the instability record, and the integer-only forward of the export == the float
// simulation.
import { join } from 'node:path';
import t from 'tap';
import { loadData } from '../src/data/registry.js';
import { intArtifacts, intRunner, checkIntExport } from '../src/export/int.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { QuantActLayer } from '../src/layers/quant-act.js';
import { QuantDenseLayer } from '../src/layers/quant-dense.js';
import { MemoryLedger, type Floats } from '../src/ledger.js';
import { modelMemory } from '../src/model/memory-model.js';
import { Network } from '../src/model/network.js';
import { loadTrainedNetwork } from '../src/model/load.js';
import type { ModelSpec } from '../src/model/spec.js';
import { createOptimizer } from '../src/optim/optimizer.js';
import { applySettings, PRESETS } from '../src/recipe.js';
import { train } from '../src/train/loop.js';
import type { TrainConfig } from '../src/train/records.js';
import { parseQuantConfig } from '../quant/quant-config.js';
import { quantizerRows } from '../src/report/quantizer-table.js';
import { CoherenceProbe } from '../src/train/coherence-probe.js';
import { identityOrder, maxAbs, maxAbsDiff, mlpSpec, syntheticDataset, tempDir } from './helpers.js';

const quantSpec = (q: string, quantizer = 'msqe', fixes?: string): ModelSpec => ({ ...mlpSpec(20, [12, 9], 5), quant: parseQuantConfig(q, quantizer, fixes) });

t.test('quantization options: parsed, and bad ones refused with a reason', async (t) => {
  const q = parseQuantConfig('w4a8', 'msqe', 'outlier,second-moment,stable=0.6');
  t.same([q.weightBits, q.actBits, q.fixes.outlier, q.fixes.secondMoment, q.fixes.stableFrom, q.fixes.msqeRound], [4, 8, true, true, 0.6, false]);
  t.same(parseQuantConfig('float').weightBits, null);
  t.same(parseQuantConfig('w4a32').actBits, null);
  t.throws(() => parseQuantConfig('w1a8'), /1-bit weights are not supported/);
  t.throws(() => parseQuantConfig('4bit'), /wNaM/);
  t.throws(() => parseQuantConfig('w4a8', 'msqe', 'msqe-round'), /gradient-based/);
  t.throws(() => parseQuantConfig('w4a8', 'gradient', 'stable'), /MSQE quantizer/);
  t.throws(() => parseQuantConfig('w4a8', 'msqe', 'bogus'), /unknown fix "bogus"/);
  t.throws(() => parseQuantConfig('w4a8', 'msqe', 'stable=2'), /fraction of training/);
  t.throws(() => parseQuantConfig('w4a8', 'sgd'), /unknown quantizer/);
  t.throws(
    () => new Network({ spec: quantSpec('w4a8'), recipe: PRESETS['low-memory'], batch: 4, kernels: referenceKernels, seed: 1 }),
    /weights=float16, dw=sign/,
  );
});

const convSpec = (q: string, quantizer = 'msqe', fixes?: string): ModelSpec => ({
  name: 't-conv',
  input: { h: 7, w: 7, c: 2 },
  classes: 3,
  ops: [{ conv: 4, padding: 'same' }, { pool: 2 }, { conv: 3, padding: 'valid' }, { dense: 5 }],
  quant: parseQuantConfig(q, quantizer, fixes),
});

for (const [what, spec] of [
  ['MLP', quantSpec('float')],
  ['conv net (same and valid padding, max-pool, flatten)', convSpec('float')],
] as const)
  t.test(`float32 twin, ${what}: the whole network backward matches finite differences`, async (t) => {
    const ledger = new MemoryLedger({ float64: true });
    const net = new Network({ spec, recipe: PRESETS.standard, batch: 6, kernels: referenceKernels, seed: 4, ledger });
    const features = spec.input.h * spec.input.w * spec.input.c;
    const data = syntheticDataset(3, 6, features, spec.classes);
    const order = identityOrder(6);
    // biases away from zero so pre-activations are not at ReLU's kink
    for (const p of net.params()) if (p.name === 'b') for (let i = 0; i < p.size; i++) p.value.set(i, 0.05 * ((i % 5) - 2));
    net.computeGradients(data, order, 0, 6);
    const analytic = net.params().map((p) => Float64Array.from((p.grad as { data: Floats }).data));
    const H = 1e-6;
    net.params().forEach((p, pi) => {
      const raw = p.value.raw as Floats;
      const numeric = new Float64Array(p.size);
      for (let k = 0; k < p.size; k++) {
        const v = raw[k];
        raw[k] = v + H;
        const up = net.computeGradients(data, order, 0, 6).loss;
        raw[k] = v - H;
        const down = net.computeGradients(data, order, 0, 6).loss;
        raw[k] = v;
        numeric[k] = (up - down) / (2 * H);
      }
      const rel = maxAbsDiff(analytic[pi], numeric) / Math.max(1e-12, maxAbs(numeric));
      t.ok(rel < 1e-5, `${p.owner}.${p.name}: rel. error ${rel.toExponential(2)}`);
    });
  });

t.test('fixed point: weights, activations and biases sit on their power-of-two grids; STE and dL/dẽ as defined', async (t) => {
  const spec = quantSpec('w3a4', 'gradient', 'msqe-round');
  const ledger = new MemoryLedger({ float64: true });
  const net = new Network({ spec, recipe: PRESETS.standard, batch: 8, kernels: referenceKernels, seed: 2, ledger });
  const data = syntheticDataset(5, 8, 20, 5);
  const acts: { layer: QuantActLayer; x: Float64Array; out: Float64Array; exp: number }[] = [];
  for (const l of net.layers)
    if (l instanceof QuantActLayer) {
      const f = l.forward.bind(l);
      l.forward = (x, rows, training) => {
        const xin = Float64Array.from((x as { data: Floats }).data.subarray(0, rows * l.channels));
        const y = f(x, rows, training);
        if (y.kind !== 'float' || y.exp === undefined) throw new Error('fixed-point activations carry their exponent');
        acts.push({ layer: l, x: xin, out: Float64Array.from(y.data.subarray(0, rows * l.channels)), exp: y.exp });
        return y;
      };
    }
  net.computeGradients(data, identityOrder(8), 0, 8);
  for (const l of net.layers)
    if (l instanceof QuantDenseLayer) {
      const e = l.weights.exponent!;
      const codes = Array.from(l.weights.wq, (v) => v / 2 ** e);
      t.ok(
        codes.every((c) => Number.isInteger(c) && c >= -3 && c <= 3),
        `${l.name}: 3-bit weight codes in [-3, 3] at 2^${e}`,
      );
      t.ok(
        Array.from(l.biasQ).every((b) => Number.isInteger(b / 2 ** l.biasExponent!)),
        `${l.name}: bias on the accumulator grid 2^${l.biasExponent}`,
      );
    }
  t.equal(acts.length, 2);
  for (const a of acts) {
    const s = 2 ** a.exp;
    t.ok(
      Array.from(a.out).every((v) => Number.isInteger(v / s) && v >= 0 && v <= 15 * s),
      `${a.layer.name}: 4-bit unsigned codes at 2^${a.exp}`,
    );
    t.ok(
      a.out.every((v, k) => (a.x[k] <= 0 ? v === 0 : true)),
      'ReLU: non-positive inputs give 0',
    );
  }
  // the activation quantizer's backward, against its definition (one layer, its own gradient)
  const a = acts[1];
  const C = a.layer.channels;
  const rows = 8;
  const s = 2 ** a.exp;
  const dy = Float64Array.from({ length: rows * C }, (_, k) => Math.sin(k + 1));
  const store = { rows, cols: C, data: Float64Array.from(dy) };
  const grad = {
    format: 'float32' as const,
    rows,
    cols: C,
    needsMaxAbs: false,
    setShape() {},
    beginWrite() {},
    read: (i0: number, i1: number, c0: number, c1: number, out: Floats) => {
      for (let i = i0; i < i1; i++) for (let c = c0; c < c1; c++) out[(i - i0) * (c1 - c0) + c - c0] = store.data[i * C + c];
    },
    write: (i0: number, i1: number, src: Floats) => store.data.set(src.subarray(0, (i1 - i0) * C), i0 * C),
  };
  a.layer.forward({ kind: 'float', data: Float64Array.from(a.x), cols: C }, rows, true);
  a.layer.backward(grad, grad, rows);
  let dLog = 0;
  const dx = Float64Array.from(dy, (g, k) => {
    const x = a.x[k];
    if (x <= 0) return 0;
    const r = Math.round(x / s);
    dLog += g * (r > 15 ? 15 : r - x / s);
    return r > 15 ? 0 : g;
  });
  t.ok(maxAbsDiff(store.data, dx) < 1e-12, 'dx = dy inside the range, 0 where clipped or cut by ReLU');
  const dLogLayer = (a.layer.params()[0].grad as { data: Floats }).data[0];
  t.ok(Math.abs(dLogLayer - dLog * s * Math.LN2) < 1e-9 * Math.max(1, Math.abs(dLogLayer)), `dL/dẽ = s·ln2·Σ dy·(round(x/s) − x/s | Qp): ${dLogLayer}`);
});

t.test('memory model == ledger for fixed-point networks, every quantizer and fix', async (t) => {
  const specs = [
    quantSpec('float'),
    quantSpec('w4a8'),
    quantSpec('w4a8', 'msqe', 'outlier,second-moment,stable=0.5'),
    quantSpec('w2a4', 'msqe', 'outlier'),
    quantSpec('w4a8', 'gradient', 'msqe-round'),
    quantSpec('w4a32', 'gradient'),
    convSpec('float'),
    convSpec('w4a8', 'msqe', 'outlier,second-moment,stable=0.5'),
    convSpec('w3a6', 'gradient', 'msqe-round'),
    { ...quantSpec('w4a8'), quant: parseQuantConfig('w4a8', 'msqe', 'stable', '0.5') },
    { ...convSpec('float'), quant: parseQuantConfig('float', 'msqe', undefined, '0.3') },
  ];
  const recipes = [PRESETS.standard, applySettings(PRESETS.standard, ['dy=po2', 'moments=int8', 'firstInput=reread', 'poolMask=bit'])];
  const codes = applySettings(PRESETS.standard, ['actInput=bit', 'dy=float16']);
  for (const spec of specs)
    for (const recipe of spec.quant!.actBits === null ? recipes : [...recipes, codes])
      for (const coherence of [false, true]) {
        const net = new Network({ spec, recipe, batch: 7, kernels: referenceKernels, seed: 1, coherence });
        createOptimizer(net.params(), recipe, net.ledger);
        const m = modelMemory(spec, recipe, 7, { coherence });
        t.equal(net.ledger.totalBytes, m.total, `${JSON.stringify(spec.quant)} dy=${recipe.dy} coherence=${coherence}`);
        for (const [owner, bytes] of net.ledger.byOwner()) t.same(bytes, m.byOwner.get(owner), `  ${owner}`);
      }
});

const mnist = loadData('mnist', { limitTrain: 1000, limitTest: 1000 });
const cfg = (quant: string, quantizer: string, fixes: string | undefined, extra: Partial<TrainConfig> = {}): TrainConfig => ({
  model: 'mlp',
  quant: parseQuantConfig(quant, quantizer, fixes),
  recipeName: 'standard',
  recipe: PRESETS.standard,
  batch: 50,
  epochs: 2,
  seed: 7,
  lr: 1e-3,
  threads: 1,
  ...extra,
});

for (const [quantizer, fixes] of [
  ['msqe', 'outlier,second-moment,stable=0.5'],
  ['gradient', 'msqe-round'],
] as const)
  t.test(`${quantizer} ${fixes}: learns on MNIST; resume continues exactly (quantizer state in the checkpoint)`, async (t) => {
    const dir = tempDir('bitlearn-fixed-');
    const full = await train(cfg('w4a8', quantizer, fixes, { checkpoint: join(dir, 'full.ckpt') }), mnist);
    t.ok(full.history[1].testAccuracy > 0.7, `test accuracy after 2 short epochs: ${full.history[1].testAccuracy}`);
    const ck = join(dir, 'part.ckpt');
    await train(cfg('w4a8', quantizer, fixes, { epochs: 1, checkpoint: ck }), mnist);
    const resumed = await train(cfg('w4a8', quantizer, fixes, { checkpoint: ck, resume: true }), mnist);
    t.same(
      resumed.history.map((h) => [h.trainLoss, h.testAccuracy, h.quantizers]),
      full.history.map((h) => [h.trainLoss, h.testAccuracy, h.quantizers]),
      'same losses, accuracies, exponents and flip counts',
    );
    t.same(resumed.quantizerExponents, full.quantizerExponents, 'same exponent series');
    t.same(full.quantizerExponents!.layers.fc1.length, full.quantizerExponents!.steps.length, 'exponents sampled per step');
    await t.rejects(train(cfg('w2a8', quantizer, fixes, { checkpoint: ck, resume: true }), mnist), /cannot resume .* quantization/);
  });

t.test('stable exponent: no weight-exponent change after the switch', async (t) => {
  const r = await train(cfg('w4a8', 'msqe', 'second-moment,stable=0.5', { epochs: 3 }), mnist);
  const rows = quantizerRows(r.history).filter((q) => q.kind === 'weights');
  t.equal(rows.length, 5);
  // switch: progress (e − 1)/2 >= 0.5, from epoch 2 on
  for (const q of rows) t.same(q.flipsPerEpoch.slice(1), [0, 0], `${q.layer}: flips per epoch ${q.flipsPerEpoch.join(' ')}`);
});

t.test('integer export: the integer-only forward predicts exactly what the float simulation predicts', async (t) => {
  const dir = tempDir('bitlearn-int-');
  const ck = join(dir, 'w4a8.ckpt');
  await train(cfg('w4a8', 'gradient', 'msqe-round', { epochs: 1, checkpoint: ck }), mnist);
  const loaded = loadTrainedNetwork(ck, 'auto');
  const model = intArtifacts(loaded.network, loaded.spec, 'test');
  t.ok(model.accumulatorBound < 2 ** 24, `accumulators stay below 2^24 (${model.accumulatorBound})`);
  t.same(model.input.codeOfPixel.slice(0, 3), [-127, -127, -126]); // round((2p − 255)/255 · 128)
  t.equal(model.input.codeOfPixel[255], 127);
  const check = checkIntExport(model, loaded.network, loadData('mnist', { limitTrain: 2, limitTest: 2000 }).test);
  t.equal(check.agree, check.examples, `agree on ${check.agree} of ${check.examples}`);
  t.equal(check.intAccuracy, check.floatAccuracy);
  t.ok(check.intAccuracy > 0.6, `integer accuracy ${check.intAccuracy}`);
  // weights really are small integers: 4-bit codes in [-7, 7]
  const first = model.ops[0] as { weights: string };
  const W = Buffer.from(first.weights, 'base64');
  t.ok(new Int8Array(W.buffer, W.byteOffset, W.length).every((v) => v >= -7 && v <= 7));
  t.throws(() => intRunner({ ...model, format: 'x' as 'bitlearn-int' }), /bitlearn-int/);
  loaded.network.dispose();
  const twin = join(dir, 'float.ckpt');
  await train(cfg('float', 'msqe', undefined, { epochs: 1, checkpoint: twin }), mnist);
  const f = loadTrainedNetwork(twin);
  t.throws(() => intArtifacts(f.network, f.spec, 'x'), /needs a fixed-point model/);
  f.network.dispose();
});

t.test('integer export of a fixed-point conv net (conv, max-pool of accumulators, flatten, dense)', async (t) => {
  const dir = tempDir('bitlearn-intconv-');
  const ck = join(dir, 'conv.ckpt');
  const small = loadData('mnist', { limitTrain: 300, limitTest: 150 });
  await train(
    { ...cfg('w4a8', 'msqe', 'outlier', { epochs: 1, checkpoint: ck }), model: 'mnist-conv', recipe: applySettings(PRESETS.standard, ['firstInput=reread']) },
    small,
  );
  const loaded = loadTrainedNetwork(ck);
  const model = intArtifacts(loaded.network, loaded.spec, 'test');
  t.same(
    model.ops.map((o) => o.op),
    ['conv', 'act', 'conv', 'maxpool', 'act', 'conv', 'act', 'conv', 'maxpool', 'act', 'dense', 'act', 'dense'],
  );
  const check = checkIntExport(model, loaded.network, small.test);
  t.equal(check.agree, check.examples, `agree on ${check.agree} of ${check.examples}`);
  loaded.network.dispose();
});

t.test('batch-norm folding: the folded network computes what the unfolded one did (inference form), and the export then holds', async (t) => {
  const spec = { ...quantSpec('float'), quant: parseQuantConfig('float', 'msqe', undefined, '0.5') };
  const ledger = new MemoryLedger({ float64: true });
  const net = new Network({ spec, recipe: PRESETS.standard, batch: 8, kernels: referenceKernels, seed: 3, ledger });
  const opt = createOptimizer(net.params(), PRESETS.standard, net.ledger);
  const data = syntheticDataset(9, 40, 20, 5);
  t.same(net.layers.map((l) => l.kind).join(' '), 'qdense batchnorm qact qdense batchnorm qact qdense');
  net.setTrainingProgress(0);
  for (let off = 0; off < 40; off += 8) {
    net.computeGradients(data, identityOrder(40), off, 8);
    opt.update(1e-2);
  }
  const before = net.evaluate(data);
  const predictedBefore = new Int32Array(40);
  net.evaluate(data, predictedBefore);
  net.setTrainingProgress(0.5);
  t.ok(
    net.layers.every((l) => !('folded' in l) || (l as { folded: boolean }).folded),
    'every batch norm folded',
  );
  const after = net.evaluate(data);
  const predictedAfter = new Int32Array(40);
  net.evaluate(data, predictedAfter);
  t.ok(Math.abs(after.loss - before.loss) < 1e-9, `same loss (${before.loss} vs ${after.loss})`);
  t.same(Array.from(predictedAfter), Array.from(predictedBefore), 'same predictions');
  // training goes on through the folded layers (batch norm is the identity now)
  const r = net.computeGradients(data, identityOrder(40), 0, 8);
  t.ok(Number.isFinite(r.loss));
});

t.test('batch-norm folding with 4-bit weights: resume is exact across the fold; the integer export refuses an unfolded net', async (t) => {
  const dir = tempDir('bitlearn-fold-');
  const q = { quant: parseQuantConfig('w4a8', 'msqe', 'stable=0.9', '0.5') };
  const full = await train({ ...cfg('w4a8', 'msqe', undefined, { epochs: 3, checkpoint: join(dir, 'full.ckpt') }), ...q }, mnist);
  const ck = join(dir, 'part.ckpt');
  await train({ ...cfg('w4a8', 'msqe', undefined, { epochs: 1, checkpoint: ck }), ...q }, mnist);
  const unfolded = loadTrainedNetwork(ck);
  t.throws(() => intArtifacts(unfolded.network, unfolded.spec, 'x'), /not folded into the weights yet/);
  unfolded.network.dispose();
  const resumed = await train({ ...cfg('w4a8', 'msqe', undefined, { epochs: 3, checkpoint: ck, resume: true }), ...q }, mnist);
  t.same(
    resumed.history.map((h) => [h.trainLoss, h.testAccuracy]),
    full.history.map((h) => [h.trainLoss, h.testAccuracy]),
    'same run',
  );
  const folded = loadTrainedNetwork(join(dir, 'full.ckpt'));
  const model = intArtifacts(folded.network, folded.spec, 'x');
  const check = checkIntExport(model, folded.network, mnist.test);
  t.equal(check.agree, check.examples, `integer forward == float simulation on ${check.examples}`);
  folded.network.dispose();
});

t.test('coherence on fixed-point layers: with no batch norm the in-backward estimate equals the exact probe', async (t) => {
  for (const q of ['float', 'w4a8']) {
    const r = await train(cfg(q, 'gradient', undefined, { epochs: 1, coherence: { every: 5, probe: 32 } }), mnist);
    const c = r.history[0].coherence!;
    const { exact, estimate } = c.probe!;
    t.ok(c.samples > 0 && Number.isFinite(c.peak.network), `${q}: measured (${c.samples} samples, peak ${c.peak.network.toFixed(2)})`);
    for (const layer of Object.keys(exact)) {
      const rel = Math.abs(exact[layer] - estimate[layer]) / exact[layer];
      t.ok(rel < 1e-3, `${q} ${layer}: exact ${exact[layer].toFixed(4)}, estimate ${estimate[layer].toFixed(4)}`);
    }
  }
});

t.test('coherence on fixed-point conv layers: estimate == exact probe', async (t) => {
  const spec = convSpec('w4a8', 'gradient');
  const net = new Network({ spec, recipe: PRESETS.standard, batch: 12, kernels: referenceKernels, seed: 2, coherence: true });
  const data = syntheticDataset(4, 12, 7 * 7 * 2, 3);
  net.computeGradients(data, identityOrder(12), 0, 12); // quantizers initialised
  const probe = new CoherenceProbe(net, data, identityOrder(12), PRESETS.standard);
  const r = probe.run();
  probe.dispose();
  t.same(Object.keys(r.exact).sort(), ['conv1', 'conv2', 'fc3', 'fc4', 'network']);
  for (const layer of Object.keys(r.exact)) {
    const rel = Math.abs(r.exact[layer] - r.estimate[layer]) / r.exact[layer];
    t.ok(rel < 1e-3, `${layer}: exact ${r.exact[layer].toFixed(4)}, estimate ${r.estimate[layer].toFixed(4)}`);
  }
});

t.test('actInput=bit keeps fixed-point activations as integer codes: the same training, less memory', async (t) => {
  const codes = applySettings(PRESETS.standard, ['actInput=bit']);
  for (const spec of [quantSpec('w4a8', 'gradient', 'msqe-round'), convSpec('w4a8', 'msqe', 'outlier'), convSpec('w3a10', 'gradient')]) {
    const features = spec.input.h * spec.input.w * spec.input.c;
    const data = syntheticDataset(8, 24, features, spec.classes);
    const run = (recipe: typeof codes) => {
      const net = new Network({ spec, recipe, batch: 12, kernels: referenceKernels, seed: 6 });
      const opt = createOptimizer(net.params(), recipe, net.ledger);
      const losses: number[] = [];
      for (let step = 0; step < 4; step++) {
        losses.push(net.computeGradients(data, identityOrder(24), (step % 2) * 12, 12).loss);
        opt.update(1e-2);
      }
      const predicted = new Int32Array(24);
      net.evaluate(data, predicted);
      return {
        losses,
        predicted: Array.from(predicted),
        state: Object.values(net.stateTensors()).map((x) => Array.from(x)),
        retained: net.ledger.byCategory().retained,
      };
    };
    const a = run(PRESETS.standard);
    const b = run(codes);
    t.same(b.losses, a.losses, `${JSON.stringify(spec.quant!.weightBits)}-bit ${spec.name}: same losses`);
    t.same(b.state, a.state, 'same weights and quantizer state');
    t.same(b.predicted, a.predicted, 'same predictions');
    t.ok(b.retained < a.retained, `retained bytes ${a.retained} -> ${b.retained}`);
  }
  t.throws(
    () => new Network({ spec: quantSpec('w4a32'), recipe: codes, batch: 4, kernels: referenceKernels, seed: 1 }),
    /float activations cannot be kept as codes/,
  );
});
