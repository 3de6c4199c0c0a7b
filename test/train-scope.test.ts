// Partial updates (--train): modeled == ledger for every scope and recipe; the trainable part's
// gradients equal those of full training bit for bit; frozen weights are bit-identical after
// training; checkpoints of partial runs load, export and initialize other runs; bad scopes are one line.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import type { DataSplit } from '../src/data/dataset.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { selectKernels } from '../src/kernels/select.js';
import { BinaryWeightLayer } from '../src/layers/binary-weights.js';
import { modelMemory } from '../src/model/memory-model.js';
import { MODELS } from '../src/model/models.js';
import { Network } from '../src/model/network.js';
import { planModel, type ModelSpec } from '../src/model/spec.js';
import { parseTrainScope, scopePlan, type TrainScope } from '../src/model/train-scope.js';
import { createOptimizer } from '../src/optim/optimizer.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/train/loop.js';
import { identityOrder, mlpSpec, syntheticDataset, tempDir } from './helpers.js';

const SCOPES = ['all', 'head', 'last:1', 'last:2', 'bn', 'fc2,bn3'];
const convSpec: ModelSpec = {
  name: 'scope-conv',
  input: { h: 12, w: 12, c: 3 },
  classes: 4,
  poolBeforeBn: true,
  ops: [{ conv: 32, padding: 'same' }, { pool: 2 }, { conv: 32, padding: 'valid', kernel: 1 }, { avgpool: 2 }, { dense: 32 }],
};

t.test('parsing: the scopes, and one line for what is not one', async (t) => {
  t.same(parseTrainScope('last:3'), { kind: 'last', k: 3 });
  t.same(parseTrainScope('fc2, bn2'), { kind: 'layers', names: ['fc2', 'bn2'] });
  t.throws(() => parseTrainScope('last:0'), /--train last:0: K must be 1 or more/);
  t.throws(() => parseTrainScope('fc2;bn2'), /--train "fc2;bn2": expected all, head, last:K, bn, or layer names/);
  const plan = planModel(MODELS.mlp);
  t.throws(() => scopePlan(plan, parseTrainScope('last:6')), /--train last:6: the model has 5 weight layers/);
  t.throws(() => scopePlan(plan, parseTrainScope('fc9')), /--train: no layer "fc9" with trained parameters \(layers: fc1, bn1, fc2/);
  t.throws(() => scopePlan(planModel({ ...MODELS.mlp, quant: PRESETS.standard as never }), parseTrainScope('head')), /fixed-point/);
  const head = scopePlan(plan, parseTrainScope('head'));
  t.same(
    head.map((l) => [l.name, Boolean(l.frozen), Boolean(l.noBackward), Boolean(l.stop)]),
    [
      ['fc1', true, true, false],
      ['bn1', true, true, false],
      ['sign1', false, true, false],
      ['fc2', true, true, false],
      ['bn2', true, true, false],
      ['sign2', false, true, false],
      ['fc3', true, true, false],
      ['bn3', true, true, false],
      ['sign3', false, true, false],
      ['fc4', true, true, false],
      ['bn4', true, true, false],
      ['sign4', false, true, false],
      ['fc5', false, false, true],
      ['bn5', false, false, false],
    ],
    'head: the classifier trains, nothing below it keeps anything',
  );
  const bn = scopePlan(plan, parseTrainScope('bn'));
  t.same(
    bn.filter((l) => l.frozen).map((l) => l.name),
    ['fc1', 'fc2', 'fc3', 'fc4', 'fc5'],
    'bn: every weight layer frozen',
  );
  t.equal(bn.find((l) => l.stop)?.name, 'bn1', 'bn: backward stops at the first batch norm');
});

t.test('modeled == ledger for every scope, recipe and model; each scope keeps less than full training', async (t) => {
  for (const spec of [MODELS.mlp, convSpec, MODELS['mnist-conv']])
    for (const recipe of ['standard', 'low-memory', 'tiny'])
      for (const s of SCOPES) {
        if (spec.name !== 'mlp' && s === 'fc2,bn3') continue;
        const trainScope = parseTrainScope(s);
        const batch = spec.name === 'mnist-conv' ? 4 : 10;
        const net = new Network({ spec, recipe: PRESETS[recipe], batch, kernels: selectKernels('auto'), seed: 1, trainScope });
        createOptimizer(net.params(), PRESETS[recipe], net.ledger, net.kernels);
        const modeled = modelMemory(spec, PRESETS[recipe], batch, { trainScope }).total;
        t.equal(net.ledger.totalBytes, modeled, `${spec.name} ${recipe} --train ${s}: ${net.ledger.totalBytes} bytes`);
        if (s !== 'all') t.ok(modeled < modelMemory(spec, PRESETS[recipe], batch).total, 'less than full training');
        net.dispose();
      }
});

/** Every trainable parameter's gradient after one backward on the same batch. */
function gradients(spec: ModelSpec, scope: TrainScope, recipe: string): Map<string, Float64Array> {
  const data = syntheticDataset(3, 24, spec.input.h * spec.input.w * spec.input.c, spec.classes);
  const net = new Network({ spec, recipe: PRESETS[recipe], batch: 12, kernels: referenceKernels, seed: 9, trainScope: scope });
  net.computeGradients(data, identityOrder(24), 0, 12);
  // float dW and dβ as they are; a 1-bit dW (low-memory) as its packed sign words
  const out = new Map<string, Float64Array>();
  for (const p of net.params())
    if (p.grad.kind === 'float') out.set(`${p.owner}.${p.name}`, Float64Array.from(p.grad.data));
    else if (p.grad.kind === 'sign') out.set(`${p.owner}.${p.name}`, Float64Array.from(p.grad.bits));
  net.dispose();
  return out;
}

t.test("the trainable part's gradients equal full training's, bit for bit", async (t) => {
  for (const spec of [mlpSpec(30, [64, 32, 32], 5), convSpec])
    for (const recipe of ['standard', 'low-memory'])
      for (const s of SCOPES.slice(1)) {
        if (spec.name !== 'test-mlp' && s === 'fc2,bn3') continue;
        const full = gradients(spec, { kind: 'all' }, recipe);
        const part = gradients(spec, parseTrainScope(s), recipe);
        t.ok(part.size > 0 && part.size < full.size, `${spec.name} ${recipe} --train ${s}: ${part.size} of ${full.size} tensors train`);
        let same = 0;
        for (const [k, g] of part) if (full.get(k)?.every((v, i) => Object.is(v, g[i]))) same++;
        t.equal(same, part.size, 'every trainable gradient identical');
      }
});

t.test('frozen layers are bit-identical after training; the trainable ones move; checkpoints of partial runs load and initialize others', async (t) => {
  const spec = mlpSpec(30, [64, 32], 5);
  const data: DataSplit = { train: syntheticDataset(5, 200, 30, 5), test: syntheticDataset(6, 50, 30, 5) };
  const dir = tempDir('bitlearn-scope-');
  const before = new Network({ spec, recipe: PRESETS.tiny, batch: 20, kernels: referenceKernels, seed: 4 });
  const bitsOf = (n: Network) =>
    new Map(n.layers.filter((l) => l instanceof BinaryWeightLayer).map((l) => [l.name, Uint32Array.from((l as BinaryWeightLayer).wbits)]));
  const initial = bitsOf(before);
  const checkpoint = join(dir, 'head.ckpt');
  const r = await train(
    { model: 'm', spec, recipeName: 'low-memory', recipe: PRESETS['low-memory'], batch: 20, epochs: 2, seed: 4, lr: 1e-2, trainScope: 'last:1', checkpoint },
    data,
  );
  const after = bitsOf(r.network);
  t.same(after.get('fc1'), initial.get('fc1'), 'fc1 frozen: the same bits');
  t.same(after.get('fc2'), initial.get('fc2'), 'fc2 frozen: the same bits');
  t.notSame(after.get('fc3'), initial.get('fc3'), 'fc3 trained: bits flipped');
  r.network.dispose();
  // the partial run's checkpoint initializes a full run (frozen bits become ±σ latent weights)
  const full = await train(
    { model: 'm', spec, recipeName: 'standard', recipe: PRESETS.standard, batch: 20, epochs: 1, seed: 4, lr: 1e-3, init: checkpoint },
    data,
  );
  t.same(full.initializedFrom?.fresh, [], 'every tensor copied');
  const fc1 = full.network.layers.find((l) => l.name === 'fc1') as unknown as BinaryWeightLayer;
  t.ok(fc1.latent.raw.length === 64 * 30, 'fc1 has latent weights again');
  full.network.dispose();
  // and a full run's checkpoint initializes a partial one (latent weights become frozen bits)
  const back = await train(
    { model: 'm', spec, recipeName: 'tiny', recipe: PRESETS.tiny, batch: 20, epochs: 1, seed: 4, lr: 1e-3, init: checkpoint, trainScope: 'bn' },
    data,
  );
  t.same(bitsOf(back.network).get('fc1'), initial.get('fc1'), 'bits carried into a frozen layer of another recipe');
  back.network.dispose();
  before.dispose();
});

t.test('CLI: --train in help, one-line errors, resume keeps the scope', async (t) => {
  const CLI = join(process.cwd(), 'build/src/cli/main.js');
  const dir = tempDir('bitlearn-scope-cli-');
  const cli = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8', cwd: dir });
  t.match(cli('train', '--help').stdout, /--train <scope>/);
  const bad = cli('train', '--train', 'last:9', '--epochs', '1', '--limit-train', '200');
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^bitlearn: error: --train last:9: the model has 5 weight layers\n$/);
  const ok = cli('train', '--train', 'head', '--epochs', '1', '--limit-train', '300', '--limit-test', '100', '--checkpoint', 'h.ckpt', '--quiet');
  t.equal(ok.status, 0, ok.stderr);
  const other = cli('train', '--train', 'bn', '--epochs', '2', '--limit-train', '300', '--limit-test', '100', '--checkpoint', 'h.ckpt', '--resume');
  t.equal(other.status, 1);
  t.match(other.stderr, /training scope \(--train\) head \(this run: bn\)/);
  const p = cli('export', 'h.ckpt', '--format', 'packed', '--out', 'x', '--verify', '--limit-test', '200');
  t.equal(p.status, 0, p.stderr);
  t.match(p.stdout, /agree on 200 \(100\.00%\)/, "a partial run's checkpoint loads (its frozen layers as bits) and packs");
});
