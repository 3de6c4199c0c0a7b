// The rules a layer kind's memory() reports through (src/model/kinds/kind.ts): shared by the
// memory model and the activation-region plan, which both need every layer's buffers.
import { wordsFor } from '../bits.js';
import type { Category } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import { paramBytes } from '../storage/param-store.js';
import type { MemoryContext } from './kinds/kind.js';
import { kindOf } from './kinds/registry.js';
import type { ModelSpec, PlannedLayer } from './spec.js';

/** What a layer kind's memory() reports through: `add`, with the kept-tensor and weight-tensor rules built on it. */
export function memoryContext(
  spec: ModelSpec,
  recipe: Recipe,
  batch: number,
  gradCopies: number,
  add: (owner: string, cat: Category, bytes: number) => void,
): MemoryContext {
  const F = 4; // float32
  const bitRows = (rows: number, cols: number) => rows * wordsFor(cols) * 4;
  /** A binary weight tensor: latent + packed copy, gradient, Adam moments. */
  const binaryWeights = (owner: string, packedRows: number, cols: number, frozen = false) => {
    const size = packedRows * cols;
    if (frozen) return add(owner, 'weights', bitRows(packedRows, cols));
    add(owner, 'weights', (recipe.weights === 'bit' ? 0 : paramBytes(recipe.weights, size)) + bitRows(packedRows, cols));
    add(owner, 'weight-grads', recipe.dw === 'fused' ? 0 : gradCopies * (recipe.dw === 'float32' ? size * F : bitRows(packedRows, cols)));
    // Adam: m and v; Bop: one momentum
    add(owner, 'optimizer', (recipe.optimizer === 'bop' ? 1 : 2) * paramBytes(recipe.moments, size));
  };
  /** A tensor kept for backward as float32 or as packed bits. */
  const kept = (owner: string, format: 'float32' | 'bit', rows: number, cols: number) =>
    add(owner, 'retained', format === 'float32' ? rows * cols * F : bitRows(rows, cols));

  return { spec, recipe, batch, gradCopies, add, kept, binaryWeights };
}

/** Bytes of every `category` buffer each layer allocates, in plan order (as the ledger will count them). */
export function layerBuffers(plan: PlannedLayer[], spec: ModelSpec, recipe: Recipe, batch: number, category: Category): number[][] {
  return plan.map((l) => {
    const sizes: number[] = [];
    kindOf(l).memory(
      l,
      memoryContext(spec, recipe, batch, 1, (_owner, cat, bytes) => {
        if (cat === category && bytes > 0) sizes.push(bytes);
      }),
    );
    return sizes;
  });
}
