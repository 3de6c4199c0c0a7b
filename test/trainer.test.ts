import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readCheckpoint, writeCheckpoint, CheckpointError } from '../src/checkpoint.js';
import { loadData } from '../src/data/registry.js';
import { PRESETS } from '../src/recipe.js';
import { modelMemory } from '../src/model/memory-model.js';
import { MODELS } from '../src/model/spec.js';
import { checkFits, train, TrainingError, type TrainConfig } from '../src/trainer.js';
import { largestBatch } from '../src/planner.js';

const data = loadData('mnist', { limitTrain: 1000, limitTest: 500 });
const base = (recipe: keyof typeof PRESETS, extra: Partial<TrainConfig> = {}): TrainConfig => ({
  model: 'mlp',
  recipeName: recipe,
  recipe: PRESETS[recipe],
  batch: 50,
  epochs: 2,
  seed: 3,
  lr: 1e-3,
  ...extra,
});

for (const recipe of ['standard', 'low-memory'] as const)
  t.test(`${recipe}: a short run on real MNIST learns`, async (t) => {
    const r = await train(base(recipe), data);
    t.equal(r.history.length, 2);
    const acc = r.history[1].testAccuracy;
    t.ok(acc > 0.5, `test accuracy after 2 epochs on 1000 examples: ${acc}`);
    t.ok(r.history[1].trainLoss < r.history[0].trainLoss, 'training loss falls');
  });

t.test('resume from a checkpoint continues exactly where the run stopped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bitlearn-ckpt-'));
  const full = await train(base('low-memory', { epochs: 2, checkpoint: join(dir, 'full.ckpt') }), data);
  const ck = join(dir, 'part.ckpt');
  await train(base('low-memory', { epochs: 1, checkpoint: ck }), data);
  const resumed = await train(base('low-memory', { epochs: 2, checkpoint: ck, resume: true }), data);
  t.equal(resumed.resumedFromEpoch, 1);
  t.same(resumed.history, full.history.map((h, i) => ({ ...h, seconds: resumed.history[i].seconds, msPerBatchMedian: resumed.history[i].msPerBatchMedian })), 'same losses and accuracies');
  const a = readCheckpoint(join(dir, 'full.ckpt'));
  const b = readCheckpoint(ck);
  for (const [k, v] of a.tensors) t.same(Buffer.from(b.tensors.get(k)!.bytes), Buffer.from(v.bytes), `tensor ${k} identical`);
});

t.test('resume refuses a checkpoint of another configuration', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bitlearn-ckpt-'));
  const ck = join(dir, 'a.ckpt');
  await train(base('low-memory', { epochs: 1, checkpoint: ck }), data);
  await t.rejects(train(base('standard', { checkpoint: ck, resume: true }), data), /cannot resume .* recipe/);
  await t.rejects(train(base('low-memory', { batch: 20, checkpoint: ck, resume: true }), data), /trained with batch 50, this run asks for 20/);
  await t.rejects(train(base('low-memory', { checkpoint: join(dir, 'none.ckpt'), resume: true }), data), /cannot read checkpoint .*ENOENT/);
});

t.test('bad training input is refused before any work', async (t) => {
  await t.rejects(train(base('standard', { batch: 1001 }), data), new TrainingError('batch size 1001 is larger than the training set (1000 examples)'));
  await t.rejects(train(base('standard', { epochs: 0 }), data), /epochs must be a positive integer/);
  await t.rejects(train(base('standard', { ramBudget: 1e6 }), data), /needs .* MiB \(engine buffers .* MiB \+ .* MiB already in use by Node\.js and the data set\) but only 1\.0 MiB is available: not even batch 1 fits; the low-memory recipe needs far less/);
  // room for the fixed part and a few examples: refused, with the batch that would fit (the
  // process's own memory is given, so the figure does not drift with the test process's RSS)
  const runtime = 100 * 2 ** 20;
  const budget = runtime + modelMemory(MODELS.mlp, PRESETS.standard, 1).total + 512 * 1024;
  const fits = largestBatch(MODELS.mlp, PRESETS.standard, budget - runtime);
  t.ok(fits >= 1 && fits < 50, `${fits} examples fit`);
  t.throws(() => checkFits(MODELS.mlp, PRESETS.standard, 50, { budget, runtimeBytes: runtime }), new RegExp(`the largest batch that fits is ${fits}\\b`));
  await t.rejects(train(base('standard', { model: 'resnet' }), data), /unknown model "resnet"/);
});

t.test('a NaN/inf loss stops training with a clear error and keeps the last good checkpoint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bitlearn-nan-'));
  const ck = join(dir, 'a.ckpt');
  await train(base('standard', { epochs: 1, checkpoint: ck }), data);
  const before = readFileSync(ck);
  // an absurd learning rate drives batch-norm betas to infinity within a few steps
  await t.rejects(train(base('standard', { epochs: 1, lr: 1e308, checkpoint: ck }), data), /loss became (NaN|Infinity) at epoch 1, batch \d+: training stopped\. Try a lower --lr/);
  t.same(readFileSync(ck), before, 'checkpoint untouched');
});

t.test('checkpoint files: corruption and truncation are detected', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bitlearn-ck-'));
  const p = join(dir, 'c.ckpt');
  writeCheckpoint(p, { a: 1 }, { x: Float32Array.from([1, 2, 3]), y: Uint16Array.from([7]) });
  const ck = readCheckpoint(p);
  t.same(ck.meta, { a: 1 });
  t.same(Array.from(new Float32Array(Uint8Array.from(ck.tensors.get('x')!.bytes).buffer)), [1, 2, 3]);
  const buf = readFileSync(p);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(p, buf.subarray(0, buf.length - 2));
  t.throws(() => readCheckpoint(p), /truncated checkpoint/);
  const flipped = Buffer.from(buf);
  flipped[flipped.length - 1] ^= 0xff;
  writeFileSync(p, flipped);
  t.throws(() => readCheckpoint(p), /does not match its checksum/);
  writeFileSync(p, 'hello');
  t.throws(() => readCheckpoint(p), new CheckpointError(`${p} is not a bitlearn checkpoint`));
});

t.test('batch-norm recalibration: statistics of the final weights, whatever the running averages were', async (t) => {
  const { Network } = await import('../src/model/network.js');
  const { BatchNormLayer } = await import('../src/layers/batchnorm.js');
  const { selectKernels } = await import('../src/kernels/select.js');
  const net = new Network({ spec: MODELS['mnist-conv'], recipe: PRESETS['low-memory'], batch: 50, kernels: selectKernels('reference'), seed: 2 });
  const bns = net.layers.filter((l): l is InstanceType<typeof BatchNormLayer> => l instanceof BatchNormLayer);
  net.recalibrateBatchNorm(data.train, 3);
  const first = bns.map((b) => [Array.from(b.runMean), Array.from(b.runSigma)]);
  for (const b of bns) {
    b.runMean.fill(1000);
    b.runSigma.fill(0.001);
  }
  net.recalibrateBatchNorm(data.train, 3);
  t.same(bns.map((b) => [Array.from(b.runMean), Array.from(b.runSigma)]), first, 'independent of the previous running statistics');
  // a single batch: the running statistics are exactly that batch's
  net.recalibrateBatchNorm(data.train, 1);
  const order = Int32Array.from({ length: 50 }, (_, i) => i);
  const trainMode = net.computeGradients(data.train, order, 0, 50).correct;
  t.equal(net.evaluate({ ...data.train, count: 50, images: data.train.images.subarray(0, 50 * 784), labels: data.train.labels.subarray(0, 50) }).accuracy * 50, trainMode, 'inference with them predicts like the batch statistics did');
});
