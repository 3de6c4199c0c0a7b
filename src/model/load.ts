// A trained network rebuilt from a training checkpoint (for export and inference).
import { CheckpointError, readCheckpoint, restoreTensor } from '../checkpoint.js';
import { selectKernels } from '../kernels/select.js';
import { validateRecipe, withDefaults, type Recipe } from '../recipe.js';
import { Network } from './network.js';
import { type ModelSpec } from './spec.js';
import { modelSpec } from './models.js';
import { parseModelDefinition } from './definition.js';
import type { QuantConfig } from '../../quant/quant-config.js';

export interface LoadedModel {
  network: Network;
  spec: ModelSpec;
  recipe: Recipe;
  recipeName: string;
  epoch: number;
}

/** Inference batch: the buffers are sized for it, and it does not change any result. */
const EVAL_BATCH = 100;

export function loadTrainedNetwork(path: string, kernels = 'auto'): LoadedModel {
  const ck = readCheckpoint(path);
  const m = ck.meta as {
    format?: unknown;
    model?: unknown;
    definition?: unknown;
    quant?: QuantConfig | null;
    recipe?: Partial<Recipe>;
    recipeName?: unknown;
    epoch?: unknown;
  };
  if (m.format !== 'bitlearn-train') throw new CheckpointError(`${path} is not a bitlearn training checkpoint`);
  // the model as the checkpoint defines it (older checkpoints name a built-in model)
  const spec = m.definition !== undefined ? parseModelDefinition(m.definition, `checkpoint ${path}`) : modelSpec(String(m.model), m.quant ?? undefined);
  const recipe = withDefaults(m.recipe ?? {});
  validateRecipe(recipe);
  const network = new Network({ spec, recipe, batch: EVAL_BATCH, kernels: selectKernels(kernels), seed: 0, threads: 1 });
  for (const [key, t] of Object.entries(network.stateTensors())) restoreTensor(ck, key, t);
  network.refreshDerived();
  return { network, spec, recipe, recipeName: String(m.recipeName), epoch: Number(m.epoch) };
}
