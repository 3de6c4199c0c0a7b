// Weight gradients applied during backward (src/model/shared-weight-grads.ts): each layer's
// parameters updated as soon as its backward ends, every layer's gradients in one shared block.
// The same bits as the update after the whole backward, on one and two kernel threads; the ledger
// holds the largest layer's gradients instead of all of them, as the memory model says; plain
// training takes this path and the others do not; misuse is a clear error.
import t from 'tap';
import { syntheticImages } from '../src/data/synthetic.js';
import { selectKernels } from '../src/kernels/select.js';
import { modelMemory } from '../src/model/memory-model.js';
import { modelSpec } from '../src/model/models.js';
import { Network } from '../src/model/network.js';
import type { ModelSpec } from '../src/model/spec.js';
import { createOptimizer } from '../src/optim/optimizer.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/train/loop.js';
import { identityOrder } from './helpers.js';

function trained(spec: ModelSpec, batch: number, threads: number, applyInBackward: boolean) {
  const recipe = PRESETS.standard;
  const data = syntheticImages(spec.input, spec.classes, 4 * batch, 2, 5).train;
  const net = new Network({ spec, recipe, batch, kernels: selectKernels('wasm'), seed: 2, threads, applyInBackward });
  const opt = createOptimizer(net.params(), recipe, net.ledger, net.kernels);
  const order = identityOrder(data.count);
  const losses: number[] = [];
  for (let s = 0; s < 3; s++) {
    if (applyInBackward) losses.push(net.computeGradients(data, order, s * batch, batch, -1, opt.stepper!(1e-2)).loss);
    else {
      losses.push(net.computeGradients(data, order, s * batch, batch).loss);
      opt.update(1e-2);
    }
  }
  const copy = (x: Record<string, ArrayLike<number>>) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Array.from(v)]));
  const out = { losses, model: copy(net.stateTensors()), optimizer: copy(opt.stateTensors()), ledger: net.ledger };
  net.dispose();
  return out;
}

for (const [model, batch] of [
  ['mlp', 20],
  ['mnist-conv', 6],
  ['cnv', 3],
] as const)
  for (const threads of [1, 2])
    t.test(`${model} standard B=${batch}, ${threads} thr: applied during backward, the same bits`, async (t) => {
      const spec = modelSpec(model);
      const after = trained(spec, batch, threads, false);
      const during = trained(spec, batch, threads, true);
      t.same(during.losses, after.losses, 'losses');
      t.same(during.model, after.model, 'model state');
      t.same(during.optimizer, after.optimizer, 'optimizer state');
      const grads = (l: typeof after.ledger) => l.byCategory()['weight-grads'];
      const largest = Math.max(...[...after.ledger.byOwner().values()].map((row) => row['weight-grads']));
      t.ok(grads(during.ledger) < grads(after.ledger), `weight gradients ${grads(during.ledger)} < ${grads(after.ledger)} bytes`);
      t.ok(grads(during.ledger) <= largest + 64, `no more than the largest layer's (${largest}) and its alignment`);
      const modeled = modelMemory(spec, PRESETS.standard, batch, { applyInBackward: true });
      t.same(Object.fromEntries(during.ledger.byOwner()), Object.fromEntries(modeled.byOwner), 'modeled == ledger, by layer');
    });

t.test('plain training applies during backward; coherence and the robust methods do not; misuse is an error', async (t) => {
  const spec = modelSpec('mlp');
  const data = { train: syntheticImages(spec.input, spec.classes, 60, 20, 7).train, test: syntheticImages(spec.input, spec.classes, 60, 20, 8).train };
  const base = { model: 'mlp', recipe: PRESETS.standard, recipeName: 'standard', batch: 20, epochs: 1, seed: 1, lr: 1e-3, threads: 1, kernels: 'wasm' };
  const plain = await train(base, data);
  t.equal(plain.network.opts.applyInBackward, true, 'plain training');
  t.equal(plain.network.ledger.totalBytes, plain.modeled.total, 'ledger == model');
  plain.network.dispose();
  const rm3 = await train({ ...base, gradients: 'rm3' }, data);
  t.equal(rm3.network.opts.applyInBackward, false, 'rm3 keeps every gradient');
  rm3.network.dispose();
  const tiny = await train({ ...base, recipe: PRESETS.tiny, recipeName: 'tiny' }, data);
  t.equal(tiny.network.opts.applyInBackward, false, 'Bop');
  tiny.network.dispose();

  const net = new Network({ spec, recipe: PRESETS.standard, batch: 20, kernels: selectKernels('wasm'), seed: 1, applyInBackward: true });
  t.throws(() => net.computeGradients(data.train, identityOrder(60), 0, 20), /pass the optimizer step/);
  net.dispose();
  t.throws(
    () => new Network({ spec, recipe: PRESETS.tiny, batch: 20, kernels: selectKernels('wasm'), seed: 1, applyInBackward: true }),
    /only for binary models with float32 dW and Adam/,
  );
});
