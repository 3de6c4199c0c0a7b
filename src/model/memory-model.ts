// The memory model: bytes per layer and category, computed from the model's sizes and the recipe
// alone. It must equal what the ledger measures when the network is built (tested), so it can
// answer "what fits" without building anything.
import { wordsFor } from '../bits.js';
import { CATEGORIES, type Category } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import { gradStoreBytes } from '../storage/grad-store.js';
import { paramBytes } from '../storage/param-store.js';
import { ADAM_BLOCK } from '../optim/adam.js';
import { denseShapes, workspaceSizes, type ModelSpec } from './spec.js';

export type Bytes = Record<Category, number>;

export interface MemoryModel {
  byOwner: Map<string, Bytes>;
  byCategory: Bytes;
  total: number;
}

function zero(): Bytes {
  return Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Bytes;
}

export function modelMemory(spec: ModelSpec, recipe: Recipe, batch: number): MemoryModel {
  const F = 4; // float32
  const B = batch;
  const byOwner = new Map<string, Bytes>();
  const add = (owner: string, cat: Category, bytes: number) => {
    let row = byOwner.get(owner);
    if (!row) byOwner.set(owner, (row = zero()));
    row[cat] += bytes;
  };
  const bitRows = (rows: number, cols: number) => rows * wordsFor(cols) * 4;

  const ws = workspaceSizes(spec, B);
  add('shared', 'workspace', (ws.act + 3 * ws.chunk + ws.chan) * F);
  add('shared', 'workspace', 2 * gradStoreBytes(recipe.dy, ws.grad));

  add('input', 'input', B);
  add('input', 'input', recipe.firstInput === 'float32' ? B * spec.inputs * F : B * 4);

  const shapes = denseShapes(spec);
  shapes.forEach(({ nIn, nOut }, i) => {
    const fc = `fc${i + 1}`;
    const size = nIn * nOut;
    add(fc, 'weights', paramBytes(recipe.weights, size) + bitRows(nOut, nIn));
    add(fc, 'weight-grads', recipe.dw === 'float32' ? size * F : bitRows(nOut, nIn));
    add(fc, 'optimizer', 2 * paramBytes(recipe.moments, size));

    const bn = `bn${i + 1}`;
    const C = nOut;
    add(bn, 'weights', 3 * C * F); // beta, running mean, running sigma
    add(bn, 'weight-grads', C * F);
    add(bn, 'optimizer', 2 * C * F);
    add(bn, 'retained', C * F + (recipe.bnBackward === 'exact' ? B * C * F : bitRows(B, C)));

    if (i < shapes.length - 1) {
      const sign = `sign${i + 1}`;
      add(sign, 'retained', recipe.actInput === 'float32' ? B * C * F : bitRows(B, C));
      add(sign, 'retained', recipe.steMask === 'float32' ? B * C * F : bitRows(B, C));
    }
  });
  add('softmax', 'workspace', B * spec.classes * F);
  add('adam', 'workspace', 4 * ADAM_BLOCK * F);

  const byCategory = zero();
  for (const row of byOwner.values()) for (const c of CATEGORIES) byCategory[c] += row[c];
  const total = CATEGORIES.reduce((s, c) => s + byCategory[c], 0);
  return { byOwner, byCategory, total };
}
