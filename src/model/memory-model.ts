// The memory model: bytes per layer and category, computed from the model's plan and the recipe
// alone. It must equal what the ledger measures when the network is built (tested), so it can
// answer "what fits" without building anything.
import { CATEGORIES, type Category } from '../ledger.js';
import { ADAM_BLOCK } from '../optim/adam.js';
import { BOP_BLOCK } from '../optim/bop.js';
import { winsorFloats } from '../layers/winsorize.js';
import type { Recipe } from '../recipe.js';
import { inputFeatures, planModel, type ModelSpec } from './spec.js';
import { workspaceSizes } from './sizes.js';
import { kindOf } from './kinds/registry.js';
import { scopePlan, type TrainScope } from './train-scope.js';
import { memoryContext } from './memory-context.js';
import { gradientStoreBytes } from './activation-region.js';
import { sharedWeightGradSlots } from './shared-weight-grads.js';

export type Bytes = Record<Category, number>;

export interface MemoryModel {
  byOwner: Map<string, Bytes>;
  byCategory: Bytes;
  total: number;
}

function zero(): Bytes {
  return Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Bytes;
}

export function modelMemory(
  spec: ModelSpec,
  recipe: Recipe,
  batch: number,
  opts: { augment?: boolean; coherence?: boolean; gradients?: string; winsorC?: number; trainScope?: TrainScope; applyInBackward?: boolean } = {},
): MemoryModel {
  /** rm3 and m3 keep two more copies of every gradient. */
  const gradCopies = opts.gradients === 'rm3' || opts.gradients === 'm3' ? 3 : 1;
  const F = 4; // float32
  const B = batch;
  const byOwner = new Map<string, Bytes>();
  const add = (owner: string, cat: Category, bytes: number) => {
    let row = byOwner.get(owner);
    if (!row) byOwner.set(owner, (row = zero()));
    row[cat] += bytes;
  };
  const plan = scopePlan(planModel(spec), opts.trainScope ?? { kind: 'all' });
  const ws = workspaceSizes(plan, B, recipe.chunkRows);
  add('shared', 'workspace', (ws.act + 3 * ws.chunk + ws.chan) * F);
  add('shared', 'workspace', gradientStoreBytes(plan, spec, recipe, B));

  add('input', 'input', B);
  add('input', 'input', recipe.firstInput === 'float32' ? B * inputFeatures(spec) * F : B * 4);
  if (opts.augment) add('input', 'input', 3 * B); // (dy, dx, flip) per example
  if (opts.coherence) add('coherence', 'workspace', (2 * ws.chunk + 2 * B) * F);
  if (opts.gradients === 'winsorized') {
    const w = winsorFloats(opts.winsorC ?? 1, B, Math.max(0, ...plan.map((l) => (l.type === 'dense' || l.type === 'qdense' ? l.nIn : 0))));
    add('winsorized', 'workspace', (w.rows + w.scratch + w.column + w.ones) * F);
  }

  // applied during backward, every layer's weight gradients share one block (counted once)
  const layerAdd: typeof add = opts.applyInBackward ? (owner, cat, bytes) => add(owner, cat, cat === 'weight-grads' ? 0 : bytes) : add;
  if (opts.applyInBackward) add('shared', 'weight-grads', sharedWeightGradSlots(plan, spec, recipe, B).bytes);
  const context = memoryContext(spec, recipe, B, gradCopies, layerAdd);
  for (const l of plan) kindOf(l).memory(l, context);
  add('softmax', 'workspace', B * spec.classes * F);
  add('adam', 'workspace', 4 * ADAM_BLOCK * F);
  if (recipe.optimizer === 'bop') add('bop', 'workspace', 2 * BOP_BLOCK * F);

  const byCategory = zero();
  for (const row of byOwner.values()) for (const c of CATEGORIES) byCategory[c] += row[c];
  const total = CATEGORIES.reduce((s, c) => s + byCategory[c], 0);
  return { byOwner, byCategory, total };
}
