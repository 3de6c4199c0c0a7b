// The library's way to use a trained model on new inputs: rows prepared exactly as training
// prepared them (float features standardized with the checkpoint's statistics; images as 8-bit
// pixels), then the forward pass with the running batch-norm statistics.
import { floatRows } from '../data/arrays.js';
import type { Dataset, FeatureNormalization, InputMeta } from '../data/dataset.js';
import { standardize } from '../data/features.js';
import type { LoadedModel } from './load.js';

export interface Prediction {
  /** The predicted class of each example. */
  classes: Int32Array;
  /** count × classes softmax probabilities. */
  probabilities: Float32Array;
  /** The class names the model was trained with, where the data had them. */
  classNames?: string[];
}

/** Rows of raw inputs: float features (count × features, or one array per example), or 8-bit pixels for image models. */
export type InputRows = Float32Array | Float64Array | number[][] | Uint8Array;

/** What preparing inputs needs to know about a model (a loaded checkpoint or a packed file). */
export interface ModelInputs {
  name: string;
  shape: { h: number; w: number; c: number };
  classes: number;
  input: InputMeta;
}

/**
 * Inputs a model takes, or one line saying why not (`where` names the option and source): as many
 * values per example as its input has, float features for a features model, 8-bit pixels for an
 * image model.
 */
export function checkInputsFit(m: ModelInputs, data: Dataset, where: string): void {
  const f = m.shape.h * m.shape.w * m.shape.c;
  if (data.features !== f) throw new Error(`${where}: ${data.features} values per example, model ${m.name} takes ${f}`);
  if (m.input.kind === 'features' && !data.values) throw new Error(`${where}: model ${m.name} was trained on float features, not images`);
  if (m.input.kind === 'pixels' && data.values) throw new Error(`${where}: model ${m.name} was trained on images (8-bit pixels)`);
}

/** A checkpoint's ModelInputs. */
export function inputsOf(model: LoadedModel): ModelInputs {
  return { name: model.spec.name, shape: model.spec.input, classes: model.spec.classes, input: model.input };
}

/** A Dataset of new inputs for `model` (a loaded checkpoint, or ModelInputs), standardized as its training data was (labels all 0). */
export function inputDataset(model: LoadedModel | ModelInputs, rows: InputRows): Dataset {
  const m = 'network' in model ? inputsOf(model) : model;
  const { h, w, c } = m.shape;
  const f = h * w * c;
  const features = m.input.kind === 'features';
  if (rows instanceof Uint8Array) {
    if (features) throw new Error(`predict: model ${m.name} takes float features, not 8-bit pixels`);
    if (rows.length % f) throw new Error(`predict: ${rows.length} bytes is not a whole number of ${f}-pixel examples`);
    const count = rows.length / f;
    return { name: 'input', count, features: f, classes: m.classes, shape: { h, w, c }, images: rows, labels: new Uint8Array(count) };
  }
  if (!features) throw new Error(`predict: model ${m.name} was trained on 8-bit pixels: give a Uint8Array of examples`);
  const { values, count } = floatRows(rows, 'predict', { features: f });
  const norm = featureNormalization(m.input);
  if (norm) standardize(values, norm);
  return { name: 'input', count, features: f, classes: m.classes, images: new Uint8Array(0), values, labels: new Uint8Array(count) };
}

/** The training data's standardization as the data layer applies it (none for pixel models). */
export function featureNormalization(input: InputMeta): FeatureNormalization | undefined {
  const n = input.normalization;
  return n ? { mean: Float32Array.from(n.mean), std: Float32Array.from(n.std) } : undefined;
}

/** Classes and probabilities of new inputs. */
export function predict(model: LoadedModel, rows: InputRows): Prediction {
  const data = inputDataset(model, rows);
  const classes = new Int32Array(data.count);
  const probabilities = new Float32Array(data.count * model.spec.classes);
  model.network.predict(data, classes, probabilities);
  return { classes, probabilities, ...(model.input.classNames ? { classNames: model.input.classNames } : {}) };
}
