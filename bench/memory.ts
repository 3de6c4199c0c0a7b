// Memory suite: per model, batch and recipe, the modeled bytes, the ledger-measured bytes of a
// built network, and the standard/recipe ratio.
import { canApplyInBackward } from '../src/model/shared-weight-grads.js';
import { modelMemory } from '../src/model/memory-model.js';
import { modelSpec } from '../src/model/models.js';
import { PRESETS } from '../src/recipe.js';
import { measureLedger } from '../src/report/memory-report.js';

export interface MemoryResult {
  model: string;
  recipe: string;
  batch: number;
  modeledBytes: number;
  ledgerBytes: number;
  ratioStandardToRecipe: number;
}

export function runMemorySuite(opts: { models: string[]; batches: number[]; recipes: string[] }): MemoryResult[] {
  const out: MemoryResult[] = [];
  for (const model of opts.models)
    for (const batch of opts.batches) {
      const spec = modelSpec(model);
      const standard = measureLedger(spec, PRESETS.standard, batch);
      for (const recipe of opts.recipes) {
        const ledgerBytes = measureLedger(spec, PRESETS[recipe], batch);
        out.push({
          model,
          recipe,
          batch,
          modeledBytes: modelMemory(spec, PRESETS[recipe], batch, { applyInBackward: canApplyInBackward(spec, PRESETS[recipe]) }).total,
          ledgerBytes,
          ratioStandardToRecipe: standard / ledgerBytes,
        });
      }
    }
  return out;
}
