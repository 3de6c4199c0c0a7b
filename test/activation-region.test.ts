// The activation region (src/model/activation-region.ts): activation gradients placed over the
// kept tensors of layers whose backward is done. (1) The plan, checked by walking every way
// backward can go (each layer in place or not): the store a layer writes never overlaps its dY
// or a kept tensor still live, and everything lies inside the region. (2) Training with the
// overlay gives the same bits as with stores of their own, for every preset on the reference
// models, a partial update and a fixed-point model, on one and two kernel threads.
import t from 'tap';
import { parseQuantConfig } from '../quant/quant-config.js';
import { syntheticImages } from '../src/data/synthetic.js';
import { selectKernels } from '../src/kernels/select.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { planActivationRegion, type RegionPlan } from '../src/model/activation-region.js';
import { kindOf } from '../src/model/kinds/registry.js';
import { modelSpec } from '../src/model/models.js';
import { Network } from '../src/model/network.js';
import { planModel, type ModelSpec } from '../src/model/spec.js';
import { scopePlan, type TrainScope } from '../src/model/train-scope.js';
import { createOptimizer } from '../src/optim/optimizer.js';
import { PRESETS, type Recipe } from '../src/recipe.js';
import { gradStoreBytes } from '../src/storage/grad-store.js';
import { identityOrder } from './helpers.js';

type Range = [number, number];
const overlaps = (a: Range, b: Range) => a[0] < b[1] && b[0] < a[1] && a[0] < a[1] && b[0] < b[1];

/** Walk backward through every reachable placement; return the first violation found, or null. */
function violation(spec: ModelSpec, recipe: Recipe, batch: number, scope: TrainScope, change = (r: RegionPlan) => r): string | null {
  const plan = scopePlan(planModel(spec), scope);
  const r = change(planActivationRegion(plan, spec, recipe, batch));
  const bytes = (elements: number) => gradStoreBytes(recipe.dy, elements);
  const liveEnd = (i: number) => Math.max(0, ...plan.slice(0, i + 1).map((l) => r.slots.get(l.name)!.end));
  const inside = (x: Range) => x[0] >= 0 && x[1] <= r.bytes;
  let states: { at: Range; top: boolean }[] = [{ at: [r.loss.offset, r.loss.offset + bytes(r.loss.elements)], top: true }];
  if (!inside(states[0].at) || states[0].at[0] < liveEnd(plan.length - 1)) return 'the loss store overlaps kept tensors';
  for (let i = plan.length - 1; i >= 0; i--) {
    const l = plan[i];
    if (l.noBackward) break;
    const f = kindOf(l).features(l);
    const pair = r.spares[i];
    if (!pair) return `${l.name}: no stores`;
    const next: typeof states = [];
    for (const s of states) {
      const slot = s.top ? pair.bottom : pair.top;
      const spare: Range = [slot.offset, slot.offset + bytes(slot.elements)];
      const live: Range = [0, liveEnd(i)];
      if (!inside(spare)) return `${l.name}: its dX store leaves the region`;
      if (overlaps(spare, s.at)) return `${l.name}: its dX store overlaps its dY`;
      if (overlaps(spare, live)) return `${l.name}: its dX store overlaps live kept tensors`;
      if (overlaps(s.at, live)) return `${l.name}: its dY overlaps live kept tensors`;
      if (slot.elements && slot.elements !== batch * f.in) return `${l.name}: its dX store holds ${slot.elements}, not ${batch * f.in}`;
      next.push({ at: spare, top: !s.top });
      if (f.in === f.out) next.push(s);
    }
    if (('first' in l && l.first) || l.stop) break;
    states = [...new Map(next.map((s) => [`${s.top}/${s.at}`, s])).values()];
  }
  return null;
}

const SCOPES: TrainScope[] = [{ kind: 'all' }, { kind: 'last', k: 2 }, { kind: 'bn' }];

t.test('the plan: no store overlaps a dY or a live kept tensor, on any path backward can take', async (t) => {
  let checked = 0;
  for (const model of ['mlp', 'mnist-conv', 'cnv', 'binarynet'])
    for (const preset of Object.keys(PRESETS))
      for (const batch of [1, 7, 40])
        for (const scope of SCOPES) {
          const why = violation(modelSpec(model), PRESETS[preset], batch, scope);
          if (why) t.fail(`${model} ${preset} B=${batch} ${scope.kind}: ${why}`);
          checked++;
        }
  const quant = modelSpec('mnist-conv', parseQuantConfig('w4a8'));
  for (const batch of [3, 40]) t.equal(violation(quant, PRESETS.standard, batch, { kind: 'all' }), null, `fixed-point mnist-conv B=${batch}`);
  t.ok(checked > 100, `${checked} plans checked`);
});

t.test('the check catches a store placed over live kept tensors', async (t) => {
  const spec = modelSpec('cnv');
  const conv2 = planModel(spec).findIndex((l) => l.name === 'conv2');
  const down = (r: RegionPlan): RegionPlan => ({
    ...r,
    spares: r.spares.map((p, i) => (p && i === conv2 ? { bottom: { ...p.bottom, offset: 0 }, top: { ...p.top, offset: 0 } } : p)),
  });
  t.equal(violation(spec, PRESETS.standard, 8, { kind: 'all' }), null, 'as planned');
  t.match(violation(spec, PRESETS.standard, 8, { kind: 'all' }, down), /conv2: its dX store overlaps/, 'moved down to offset 0');
});

function trainedState(spec: ModelSpec, recipe: Recipe, batch: number, threads: number, overlay: boolean, scope: TrainScope, kernels = 'wasm') {
  const data = syntheticImages(spec.input, spec.classes, 4 * batch, 2, 3).train;
  const net = new Network({
    spec,
    recipe,
    batch,
    kernels: kernels === 'wasm' ? selectKernels('wasm') : referenceKernels,
    seed: 1,
    threads,
    trainScope: scope,
    overlayGradients: overlay,
  });
  const opt = createOptimizer(net.params(), recipe, net.ledger, net.kernels);
  const order = identityOrder(data.count);
  const losses: number[] = [];
  for (let s = 0; s < 3; s++) {
    losses.push(net.computeGradients(data, order, s * batch, batch).loss);
    opt.update(1e-2);
  }
  const copy = (x: Record<string, ArrayLike<number>>) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Array.from(v)]));
  const state = { losses, model: copy(net.stateTensors()), optimizer: copy(opt.stateTensors()), bytes: net.ledger.totalBytes };
  net.dispose();
  return state;
}

/** Each case's presets with the kernel threads to train them on. */
const CASES: { model: string; batch: number; runs: [string, number][]; scope?: TrainScope; quant?: string; kernels?: string }[] = [
  {
    model: 'mlp',
    batch: 20,
    runs: [
      ['standard', 1],
      ['standard', 2],
      ['low-memory', 1],
      ['tiny', 2],
    ],
  },
  {
    model: 'mlp',
    batch: 9,
    runs: [
      ['standard', 1],
      ['low-memory', 1],
    ],
    kernels: 'reference',
  },
  {
    model: 'mnist-conv',
    batch: 6,
    runs: [
      ['standard', 1],
      ['low-memory', 2],
      ['tiny', 1],
    ],
  },
  {
    model: 'cnv',
    batch: 3,
    runs: [
      ['standard', 1],
      ['low-memory', 2],
      ['tiny', 1],
    ],
  },
  { model: 'cnv', batch: 3, runs: [['tiny', 2]], scope: { kind: 'last', k: 2 } },
  { model: 'mnist-conv', batch: 5, runs: [['standard', 2]], quant: 'w4a8' },
];

for (const c of CASES)
  for (const [preset, threads] of c.runs)
    t.test(
      `${[c.model, c.quant, preset, `B=${c.batch}`, c.scope?.kind, c.kernels ?? 'wasm'].filter(Boolean).join(' ')} ${threads} thr: overlaid, the same bits`,
      async (t) => {
        const spec = modelSpec(c.model, c.quant ? parseQuantConfig(c.quant) : undefined);
        const scope = c.scope ?? { kind: 'all' };
        const own = trainedState(spec, PRESETS[preset], c.batch, threads, false, scope, c.kernels);
        const overlaid = trainedState(spec, PRESETS[preset], c.batch, threads, true, scope, c.kernels);
        t.same(overlaid.losses, own.losses, 'losses');
        t.same(overlaid.model, own.model, 'model state');
        t.same(overlaid.optimizer, own.optimizer, 'optimizer state');
        t.ok(overlaid.bytes <= own.bytes, `ledger ${overlaid.bytes} <= ${own.bytes} bytes`);
      },
    );
