// Memory planning from the memory model alone: the largest batch that fits a budget, per recipe,
// and what switching each knob from its standard to its low-memory setting saves.
import { modelMemory } from './model/memory-model.js';
import type { ModelSpec } from './model/spec.js';
import { KNOB_VALUES, PRESETS, validateRecipe, type Recipe, type RecipeKnob } from './recipe.js';

export interface BatchPlan {
  recipe: string;
  /** 0 when not even batch 1 fits. */
  largestBatch: number;
  bytesAtLargest: number;
  /** Bytes that do not grow with the batch (weights, gradients, optimizer state...). */
  fixedBytes: number;
}

const total = (spec: ModelSpec, recipe: Recipe, batch: number) => modelMemory(spec, recipe, batch).total;

export function largestBatch(spec: ModelSpec, recipe: Recipe, budget: number, limit = 1 << 20): number {
  if (total(spec, recipe, 1) > budget) return 0;
  let lo = 1;
  let hi = 2;
  while (hi <= limit && total(spec, recipe, hi) <= budget) [lo, hi] = [hi, hi * 2];
  if (hi > limit) return lo;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (total(spec, recipe, mid) <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}

export function planBatches(spec: ModelSpec, recipes: Record<string, Recipe>, budget: number): BatchPlan[] {
  return Object.entries(recipes).map(([name, recipe]) => {
    const b = largestBatch(spec, recipe, budget);
    // memory is linear in the batch once the streaming chunks are full (batch >= 8)
    const a = total(spec, recipe, 64);
    const c = total(spec, recipe, 128);
    return { recipe: name, largestBatch: b, bytesAtLargest: b ? total(spec, recipe, b) : 0, fixedBytes: 2 * a - c };
  });
}

export interface KnobSaving {
  knob: RecipeKnob;
  from: string;
  to: string;
  /** Bytes saved at this batch by changing only this knob, starting from the standard recipe. */
  savedBytes: number;
  savedFraction: number;
}

/** Each knob alone, standard -> low-memory value, at one batch size. */
export function knobSavings(spec: ModelSpec, batch: number): KnobSaving[] {
  const base = PRESETS.standard;
  const low = PRESETS['low-memory'];
  const baseBytes = total(spec, base, batch);
  const out: KnobSaving[] = [];
  for (const knob of Object.keys(KNOB_VALUES) as RecipeKnob[]) {
    if (base[knob] === low[knob]) continue;
    let r = { ...base, [knob]: low[knob] } as Recipe;
    if (knob === 'bnBackward') r = { ...r, bn: 'l1' }; // the approximation needs l1 batch norm
    const saved = baseBytes - total(spec, validateRecipe(r), batch);
    out.push({ knob, from: String(base[knob]), to: String(low[knob]), savedBytes: saved, savedFraction: saved / baseBytes });
  }
  return out.sort((a, b) => b.savedBytes - a.savedBytes);
}
