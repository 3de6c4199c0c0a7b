// Memory planning from the memory model alone: the largest batch that fits a budget, per recipe,
// and what switching each knob from its standard to its low-memory setting saves.
import { modelMemory } from './model/memory-model.js';
import { canApplyInBackward } from './model/shared-weight-grads.js';
import { parseTrainScope, type TrainScope } from './model/train-scope.js';
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

const ALL: TrainScope = { kind: 'all' };
// as plain training lays memory out (weight gradients applied during backward where the recipe allows)
export const trainingMemory = (spec: ModelSpec, recipe: Recipe, batch: number, trainScope: TrainScope = ALL): number =>
  modelMemory(spec, recipe, batch, { trainScope, applyInBackward: canApplyInBackward(spec, recipe) }).total;

/** The largest batch whose engine memory fits `budget` (0: not even 1), training `scope` of the model. */
export function largestBatch(spec: ModelSpec, recipe: Recipe, budget: number, limit = 1 << 20, scope: TrainScope = ALL): number {
  if (trainingMemory(spec, recipe, 1, scope) > budget) return 0;
  let lo = 1;
  let hi = 2;
  while (hi <= limit && trainingMemory(spec, recipe, hi, scope) <= budget) [lo, hi] = [hi, hi * 2];
  if (hi > limit) return lo;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (trainingMemory(spec, recipe, mid, scope) <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}

export function planBatches(spec: ModelSpec, recipes: Record<string, Recipe>, budget: number, scope: TrainScope = ALL): BatchPlan[] {
  return Object.entries(recipes).map(([name, recipe]) => {
    const b = largestBatch(spec, recipe, budget, 1 << 20, scope);
    // memory is linear in the batch once the streaming chunks are full (batch >= 8)
    const a = trainingMemory(spec, recipe, 64, scope);
    const c = trainingMemory(spec, recipe, 128, scope);
    return { recipe: name, largestBatch: b, bytesAtLargest: b ? trainingMemory(spec, recipe, b, scope) : 0, fixedBytes: 2 * a - c };
  });
}

export interface ScopeCost {
  scope: string;
  /** Engine bytes at the batch asked for. */
  bytes: number;
  /** Against training every layer at that batch. */
  fractionOfAll: number;
  largestBatch: number;
}

/** What each --train choice costs at one batch, and the largest batch it allows within `budget`. */
export function scopeCosts(spec: ModelSpec, recipe: Recipe, batch: number, budget: number, scopes: string[]): ScopeCost[] {
  const all = trainingMemory(spec, recipe, batch);
  return scopes.map((s) => {
    const scope = parseTrainScope(s);
    const bytes = trainingMemory(spec, recipe, batch, scope);
    return { scope: s, bytes, fractionOfAll: bytes / all, largestBatch: largestBatch(spec, recipe, budget, 1 << 20, scope) };
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
  const baseBytes = trainingMemory(spec, base, batch);
  const out: KnobSaving[] = [];
  for (const knob of Object.keys(KNOB_VALUES) as RecipeKnob[]) {
    if (base[knob] === low[knob]) continue;
    let r = { ...base, [knob]: low[knob] } as Recipe;
    if (knob === 'bnBackward') r = { ...r, bn: 'l1' }; // the approximation needs l1 batch norm
    const saved = baseBytes - trainingMemory(spec, validateRecipe(r), batch);
    out.push({ knob, from: String(base[knob]), to: String(low[knob]), savedBytes: saved, savedFraction: saved / baseBytes });
  }
  return out.sort((a, b) => b.savedBytes - a.savedBytes);
}
