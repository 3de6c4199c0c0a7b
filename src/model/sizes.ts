// Sizes that follow from a model's plan: its weights, and the shared workspace buffers, each
// layer kind saying what it needs.
import { DEFAULT_CHUNK_ROWS } from '../recipe.js';
import { kindOf } from './kinds/registry.js';
import type { WorkspaceNeeds } from './kinds/kind.js';
import { planModel, type ModelSpec, type PlannedLayer } from './spec.js';

/** Weights of a model (every weight layer's weight tensor). */
export function weightCount(spec: ModelSpec): number {
  return planModel(spec).reduce((s, l) => s + kindOf(l).weights(l), 0);
}

/** Sizes (in elements) of the buffers all layers share, for this plan, batch and rows per chunk. */
export function workspaceSizes(plan: PlannedLayer[], batch: number, chunkRows = DEFAULT_CHUNK_ROWS): WorkspaceNeeds {
  const need: WorkspaceNeeds = { chunkRows: Math.min(chunkRows, batch), batch, act: 0, chunk: 0, chan: 0, grad: 0 };
  for (const l of plan) kindOf(l).workspace(l, need);
  return need;
}
