// Check an exported TF.js model against bitlearn's own inference on a data set.
import * as tf from '@tensorflow/tfjs';
import { stageRows, type Dataset } from '../data/dataset.js';
import type { Network } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';
import { modelJson, type TfjsArtifacts } from './tfjs.js';

export interface ExportCheck {
  examples: number;
  /** Examples where the TF.js model and bitlearn predict the same class. */
  agree: number;
  bitlearnAccuracy: number;
  tfjsAccuracy: number;
}

/** Load artifacts the way a TF.js user would (tf.loadLayersModel) from memory. */
export async function loadArtifacts(a: TfjsArtifacts): Promise<tf.LayersModel> {
  const json = modelJson(a, 'weights.bin', 'bitlearn') as { modelTopology: object };
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }),
  );
}

/** Predicted classes of `model` for every example of `data` (pixels scaled to [-1, 1]). */
export function tfjsPredict(model: tf.LayersModel, spec: ModelSpec, data: Dataset, batch = 500): Int32Array {
  const out = new Int32Array(data.count);
  const all = Int32Array.from({ length: data.count }, (_, i) => i);
  const { h, w, c } = spec.input;
  for (let off = 0; off < data.count; off += batch) {
    const n = Math.min(batch, data.count - off);
    const staged = stageRows(data, all, off, n);
    const px = staged.data.images.subarray(staged.offset * data.features, (staged.offset + n) * data.features);
    const x = Float32Array.from(px, (p) => p * (2 / 255) - 1);
    const classes = tf.tidy(() => {
      const input = h * w > 1 ? tf.tensor4d(x, [n, h, w, c]) : tf.tensor2d(x, [n, data.features]);
      return (model.predict(input) as tf.Tensor).argMax(-1).dataSync();
    });
    out.set(classes, off);
  }
  return out;
}

export async function checkExport(a: TfjsArtifacts, net: Network, spec: ModelSpec, data: Dataset): Promise<ExportCheck> {
  const model = await loadArtifacts(a);
  const theirs = tfjsPredict(model, spec, data);
  model.dispose();
  const ours = new Int32Array(data.count);
  const { accuracy } = net.evaluate(data, ours);
  let agree = 0;
  let correct = 0;
  for (let i = 0; i < data.count; i++) {
    if (ours[i] === theirs[i]) agree++;
    if (theirs[i] === data.labels[i]) correct++;
  }
  return { examples: data.count, agree, bitlearnAccuracy: accuracy, tfjsAccuracy: correct / data.count };
}
