// Check an exported TF.js model against bitlearn's own inference on a data set.
import type * as Tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset.js';
import { agreement, forEachPixelBatch } from './agreement.js';
import type { Network } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';
import { loadTfjs, modelJson, type TfjsArtifacts } from './tfjs.js';

export interface ExportCheck {
  examples: number;
  /** Examples where the TF.js model and bitlearn predict the same class. */
  agree: number;
  bitlearnAccuracy: number;
  tfjsAccuracy: number;
}

/** Load artifacts the way a TF.js user would (tf.loadLayersModel) from memory. */
export async function loadArtifacts(a: TfjsArtifacts): Promise<Tf.LayersModel> {
  const tf = await loadTfjs();
  const json = modelJson(a, 'weights.bin', 'bitlearn') as { modelTopology: object };
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }));
}

/** Predicted classes of `model` for every example of `data` (pixels scaled to [-1, 1]); tf: TF.js, as loadTfjs gives it. */
export function tfjsPredict(tf: typeof Tf, model: Tf.LayersModel, spec: ModelSpec, data: Dataset, batch = 500): Int32Array {
  const out = new Int32Array(data.count);
  const { h, w, c } = spec.input;
  forEachPixelBatch(data, batch, (px, off, n) => {
    const x = Float32Array.from(px, (p) => p * (2 / 255) - 1);
    const classes = tf.tidy(() => {
      const input = h * w > 1 ? tf.tensor4d(x, [n, h, w, c]) : tf.tensor2d(x, [n, data.features]);
      return (model.predict(input) as Tf.Tensor).argMax(-1).dataSync();
    });
    out.set(classes, off);
  });
  return out;
}

export async function checkExport(a: TfjsArtifacts, net: Network, spec: ModelSpec, data: Dataset): Promise<ExportCheck> {
  const model = await loadArtifacts(a);
  const theirs = tfjsPredict(await loadTfjs(), model, spec, data);
  model.dispose();
  const r = agreement(net, data, theirs);
  return { examples: r.examples, agree: r.agree, bitlearnAccuracy: r.ours, tfjsAccuracy: r.theirs };
}
