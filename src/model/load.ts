// A trained network rebuilt from a training checkpoint (for export and inference).
import { CheckpointError, readCheckpoint, restoreTensor } from '../checkpoint.js';
import { selectKernels } from '../kernels/select.js';
import { validateRecipe, withDefaults, type Recipe } from '../recipe.js';
import { Network } from './network.js';
import { inputFeatures, type ModelSpec } from './spec.js';
import type { InputMeta } from '../data/dataset.js';
import { modelSpec } from './models.js';
import { parseModelDefinition } from './definition.js';
import { checkpointPath } from './pretrained.js';
import { parseTrainScope, type TrainScope } from './train-scope.js';
import type { QuantConfig } from '../../quant/quant-config.js';

export interface LoadedModel {
  network: Network;
  /** How inputs were prepared in training (checkpoints from before this was saved: pixels). */
  input: InputMeta;
  spec: ModelSpec;
  recipe: Recipe;
  recipeName: string;
  epoch: number;
}

/** Inference batch: the buffers are sized for it, and it does not change any result. */
const EVAL_BATCH = 100;

/** `batch`: examples per forward pass when the model is used (memory, not results). */
export function loadTrainedNetwork(pathOrName: string, kernels = 'auto', batch = EVAL_BATCH): LoadedModel {
  const path = checkpointPath(pathOrName);
  const ck = readCheckpoint(path);
  const m = ck.meta as {
    format?: unknown;
    model?: unknown;
    definition?: unknown;
    input?: unknown;
    quant?: QuantConfig | null;
    recipe?: Partial<Recipe>;
    recipeName?: unknown;
    epoch?: unknown;
    trainScope?: unknown;
  };
  if (m.format !== 'bitlearn-train') throw new CheckpointError(`${path} is not a bitlearn training checkpoint`);
  // the model as the checkpoint defines it (older checkpoints name a built-in model)
  const spec = m.definition !== undefined ? parseModelDefinition(m.definition, `checkpoint ${path}`) : modelSpec(String(m.model), m.quant ?? undefined);
  const recipe = withDefaults(m.recipe ?? {});
  validateRecipe(recipe);
  // a partial update's checkpoint stores its frozen layers as sign bits: build them so
  let trainScope: TrainScope | undefined;
  try {
    trainScope = m.trainScope === undefined ? undefined : parseTrainScope(String(m.trainScope), `${path}: trainScope`);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  const network = new Network({ spec, recipe, batch, kernels: selectKernels(kernels), seed: 0, threads: 1, trainScope });
  for (const [key, t] of Object.entries(network.stateTensors())) restoreTensor(ck, key, t);
  network.refreshDerived();
  return { network, spec, recipe, recipeName: String(m.recipeName), epoch: Number(m.epoch), input: inputMeta(m.input, inputFeatures(spec), path) };
}

/** The checkpoint's input preparation, checked against the model's input size. */
function inputMeta(raw: unknown, features: number, path: string): InputMeta {
  if (raw === undefined) return { kind: 'pixels' };
  const m = raw as Partial<InputMeta>;
  const bad = (what: string) => new CheckpointError(`${path}: input ${what}`);
  if (m.kind !== 'pixels' && m.kind !== 'features') throw bad(`kind ${JSON.stringify(m.kind)}`);
  const n = m.normalization;
  if (n !== undefined) {
    const ok = (a: unknown) => Array.isArray(a) && a.length === features && a.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (!ok(n.mean) || !ok(n.std) || n.std.some((v) => !(v > 0))) throw bad(`normalization: ${features} means and ${features} positive deviations expected`);
  }
  if (m.classNames !== undefined && !(Array.isArray(m.classNames) && m.classNames.every((c) => typeof c === 'string'))) throw bad('class names');
  return { kind: m.kind, ...(n ? { normalization: n } : {}), ...(m.classNames ? { classNames: m.classNames } : {}) };
}
