// Export a trained binary network as a TF.js LayersModel built from standard layers only
// (Dense, Conv2D, MaxPooling2D, Flatten, BatchNormalization, tanh/softmax activations), so
// `tf.loadLayersModel` needs no custom class. Each layer kind describes its TF.js layers
// (src/model/kinds/, the binary block's arithmetic in binary-tfjs.ts); this file builds them.
import type * as Tf from '@tensorflow/tfjs';
import { TfjsExportError, type TfjsLayerName, type TfjsStage, type TfjsWriter } from '../formats/tfjs-stage.js';
import { writeLayers } from '../model/kinds/export-walk.js';
import type { Network } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';

export interface TfjsArtifacts {
  modelTopology: object;
  weightSpecs: Tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

/**
 * TF.js, loaded on first use: importing it adds about 35 MiB to a process's RSS (89 vs 55 MiB for
 * `import 'bitlearn'`), which a program that imports bitlearn and never exports should not carry.
 */
export const loadTfjs = (): Promise<typeof Tf> => import('@tensorflow/tfjs');

/** TF.js's constructor for each layer name the kinds write. */
function layerMakers(tf: typeof Tf): Record<TfjsLayerName, (config: TfjsStage['config']) => Tf.layers.Layer> {
  return {
    dense: (c) => tf.layers.dense(c as unknown as Parameters<typeof tf.layers.dense>[0]),
    conv2d: (c) => tf.layers.conv2d(c as unknown as Parameters<typeof tf.layers.conv2d>[0]),
    zeroPadding2d: (c) => tf.layers.zeroPadding2d(c as Parameters<typeof tf.layers.zeroPadding2d>[0]),
    maxPooling2d: (c) => tf.layers.maxPooling2d(c as Parameters<typeof tf.layers.maxPooling2d>[0]),
    flatten: (c) => tf.layers.flatten(c as Parameters<typeof tf.layers.flatten>[0]),
    batchNormalization: (c) => tf.layers.batchNormalization(c as Parameters<typeof tf.layers.batchNormalization>[0]),
    activation: (c) => tf.layers.activation(c as unknown as Parameters<typeof tf.layers.activation>[0]),
  };
}

/** Build the TF.js model of a network (weights copied from it); TF.js is loaded on the first call. */
export async function toTfjsModel(net: Network, spec: ModelSpec): Promise<Tf.Sequential> {
  const out: TfjsWriter = { stages: [], firstWeightLayer: true };
  writeLayers(net, 'tfjs', out, (m) => new TfjsExportError(m));
  const tf = await loadTfjs();
  const layers = layerMakers(tf);
  const model = tf.sequential({ name: `bitlearn_${spec.name.replace(/\W/g, '_')}` });
  const { h, w, c } = spec.input;
  const inputShape = h * w > 1 ? [h, w, c] : [c];
  out.stages.forEach((stage, i) => {
    const layer = layers[stage.layer](i === 0 ? { ...stage.config, inputShape } : stage.config);
    model.add(layer);
    if (stage.weights?.length) {
      const tensors = stage.weights.map((x) => tf.tensor(x.values, x.shape));
      layer.setWeights(tensors);
      tf.dispose(tensors);
    }
  });
  return model;
}

/** The LayersModel artifacts (model.json topology, weight manifest, weight bytes). */
export async function tfjsArtifacts(net: Network, spec: ModelSpec): Promise<TfjsArtifacts> {
  const model = await toTfjsModel(net, spec);
  const tf = await loadTfjs();
  let saved: TfjsArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = { modelTopology: a.modelTopology as object, weightSpecs: a.weightSpecs!, weightData: a.weightData as ArrayBuffer };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  return saved!;
}

/** model.json contents for artifacts whose weights are in `weightsFile` (beside it). */
export function modelJson(a: TfjsArtifacts, weightsFile: string, generatedBy: string): object {
  return {
    format: 'layers-model',
    generatedBy,
    convertedBy: null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [weightsFile], weights: a.weightSpecs }],
  };
}
