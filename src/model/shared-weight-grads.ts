// Weight gradients applied during backward: each layer's parameters are updated as soon as its
// backward has written their gradients, so one layer's gradients are live at a time and every
// layer's can share one block, as large as the largest layer's (the Tiny Training Engine's
// in-place update). The training bits are the same as updating after the whole backward
// (test/apply-in-backward.test.ts): an Adam update reads only its own parameter's state.
import type { Recipe } from '../recipe.js';
import { layerBuffers } from './memory-context.js';
import { precisionKind, type ModelSpec, type PlannedLayer } from './spec.js';

/**
 * Whether a model and recipe can apply their gradients during backward: binary models whose
 * float32 gradients go to Adam. (Bop keeps no gradient; fixed-point models fold batch norm and
 * move their quantizers between steps, and stay with the update after backward.)
 */
export function canApplyInBackward(spec: ModelSpec, recipe: Recipe): boolean {
  return precisionKind(spec) === 'binary' && recipe.dw === 'float32' && recipe.optimizer === 'adam';
}

/**
 * Layers whose dW never exists whole: a dense layer's backward sums dW a tile of output units at
 * a time, and Adam applies each tile as it is done (element-wise, so the bits are the same), so
 * the layer needs no gradient buffer at all (a first layer too: its tiles sum over the pixels as
 * floats, denseDwAdamFloat). Float32 moments only: float16 moments take their
 * scale from the whole gradient's largest value. Convolutions sum their dW over the whole batch
 * in one lookup-kernel call and keep it in the shared block.
 */
export function dwTilesToOptimizer(plan: PlannedLayer[], recipe: Recipe): Set<string> {
  if (recipe.moments !== 'float32') return new Set();
  return new Set(plan.filter((l) => l.type === 'dense' && !l.frozen).map((l) => l.name));
}

/** The shared block: its bytes, and every other layer's gradient buffers placed from its start. */
export function sharedWeightGradSlots(
  plan: PlannedLayer[],
  spec: ModelSpec,
  recipe: Recipe,
  batch: number,
): { bytes: number; slots: Map<string, { offset: number; end: number }> } {
  const slots = new Map<string, { offset: number; end: number }>();
  let bytes = 0;
  const tiled = dwTilesToOptimizer(plan, recipe);
  layerBuffers(plan, spec, recipe, batch, 'weight-grads').forEach((sizes, i) => {
    if (tiled.has(plan[i].name)) return;
    const end = sizes.reduce((s, b) => s + Math.ceil(b / 16) * 16, 0);
    if (end) slots.set(plan[i].name, { offset: 0, end });
    bytes = Math.max(bytes, end);
  });
  return { bytes, slots };
}
