// Export a trained binary network as a TF.js LayersModel built from standard layers only
// (Dense, Conv2D, MaxPooling2D, Flatten, BatchNormalization, tanh/softmax activations), so
// `tf.loadLayersModel` needs no custom class.
//
// A hidden block computes y = X̂·Ŵ (binary weights), z = (y − μ)/σ + β and sign(z), sign(0) = +1.
// With σ > 0, sign(z) = +1 exactly when y ≥ t = μ − β·σ. y lives on a lattice: integers for
// ±1 inputs, multiples of 1/255 for the first layer (pixels p·2/255 − 1 times ±1 weights). So the
// block is exactly tanh(K·(y − t')) with t' half-way between the two lattice points around t and
// K large enough that K·(half a lattice step) ≥ 20, where float32 tanh is exactly ±1.
import * as tf from '@tensorflow/tfjs';
import type { BatchNormLayer } from '../layers/batchnorm.js';
import type { BinaryWeights } from '../layers/binary-weights.js';
import type { Network } from '../model/network.js';
import { planModel, type ModelSpec, type PlannedLayer } from '../model/spec.js';

/** Lattice steps per unit of y: first layer (8-bit pixels scaled to [-1, 1]) and the rest. */
const FIRST_LAYER_STEPS = 255;
/** tanh(20) rounds to 1 in float32; K·(half step) must reach it. */
const SATURATE = 20;

export interface TfjsArtifacts {
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

/** sign(W) in TF.js layout, times `scale`: dense [nIn, nOut]; conv [3, 3, ci, co]. */
function signKernel(w: BinaryWeights, l: PlannedLayer, scale: number): tf.Tensor {
  const get = (i: number) => (w.latent.get(i) >= 0 ? scale : -scale);
  if (l.type === 'dense') {
    const out = new Float32Array(l.nIn * l.nOut);
    for (let o = 0; o < l.nOut; o++) for (let i = 0; i < l.nIn; i++) out[i * l.nOut + o] = get(o * l.nIn + i);
    return tf.tensor2d(out, [l.nIn, l.nOut]);
  }
  if (l.type !== 'conv') throw new Error(`no kernel for layer ${l.name}`);
  const { ci, co, k } = l.g;
  const kk = k * k;
  const out = new Float32Array(kk * ci * co);
  // bitlearn: row (output channel c, tap t) holds ci weights; TF.js: [ky][kx][ci][co]
  for (let c = 0; c < co; c++) for (let t = 0; t < kk; t++) for (let i = 0; i < ci; i++) out[(t * ci + i) * co + c] = get((c * kk + t) * ci + i);
  return tf.tensor4d(out, [k, k, ci, co]);
}

/** Per channel, the threshold t' (in units of y) between the lattice points around μ − β·σ. */
function thresholds(bn: BatchNormLayer, steps: number): Float32Array {
  const t = new Float32Array(bn.channels);
  for (let c = 0; c < bn.channels; c++) {
    const exact = bn.runMean[c] - bn.beta.get(c) * bn.runSigma[c];
    t[c] = (Math.ceil(exact * steps) - 0.5) / steps;
  }
  return t;
}

/** Build the TF.js model of a network (weights copied from it). */
export function toTfjsModel(net: Network, spec: ModelSpec): tf.Sequential {
  const plan = planModel(spec);
  if (plan.length !== net.layers.length) throw new Error('network does not match its model plan');
  // after an average pool a binary layer's inputs leave the lattice its exact thresholds rely on
  if (plan.some((l) => l.type === 'avgpool')) throw new Error('the TF.js export does not take average pooling yet');
  const model = tf.sequential({ name: `bitlearn_${spec.name.replace(/\W/g, '_')}` });
  const { h, w, c } = spec.input;
  const inputShape = h * w > 1 ? [h, w, c] : [c];
  let first = true;
  let firstLayer = true;
  const add = (layer: tf.layers.Layer, weights: tf.Tensor[] = []) => {
    model.add(layer);
    if (weights.length) layer.setWeights(weights);
    firstLayer = false;
  };
  const opts = () => (firstLayer ? { inputShape } : {});
  for (let i = 0; i < plan.length; i++) {
    const l = plan[i];
    const name = l.name;
    if (l.type === 'flatten') add(tf.layers.flatten({ name, ...opts() }));
    else if (l.type === 'pool') {
      if (l.binaryInput) add(tf.layers.maxPooling2d({ name, poolSize: l.size, strides: l.size, padding: 'valid', ...opts() }));
    } else if (l.type === 'dense' || l.type === 'conv') {
      const weights = (net.layers[i] as unknown as { weights: BinaryWeights }).weights;
      const steps = first ? FIRST_LAYER_STEPS : 1;
      first = false;
      const K = 2 ** Math.ceil(Math.log2(2 * SATURATE * steps));
      // the layers that follow: [pool (before BN)] bn [sign]
      let j = i + 1;
      const next = plan[j];
      const poolBefore = next.type === 'pool' ? next : null;
      if (poolBefore) j++;
      const bn = net.layers[j] as BatchNormLayer;
      const last = plan[j + 1]?.type !== 'sign';
      const layerOf = (kernel: tf.Tensor, bias: tf.Tensor | null, activation: 'tanh' | 'softmax' | 'linear') => {
        // TF.js pads a strided 'same' convolution unevenly; bitlearn pads (k − 1)/2 on every side
        const padFirst = l.type === 'conv' && l.g.pad > 0 && l.g.stride > 1;
        if (padFirst) add(tf.layers.zeroPadding2d({ name: `${name}_pad`, padding: [l.g.pad, l.g.pad], ...opts() }));
        const common = { name, useBias: bias !== null, activation, ...opts() };
        const layer =
          l.type === 'dense'
            ? tf.layers.dense({ units: l.nOut, ...common })
            : tf.layers.conv2d({ filters: l.g.co, kernelSize: l.g.k, strides: l.g.stride, padding: l.g.pad && !padFirst ? 'same' : 'valid', ...common });
        add(layer, bias ? [kernel, bias] : [kernel]);
      };
      const C = bn.channels;
      if (last) {
        // logits = (y − μ)/σ + β
        const scale = new Float32Array(C);
        const bias = new Float32Array(C);
        for (let c = 0; c < C; c++) {
          scale[c] = 1 / bn.runSigma[c];
          bias[c] = bn.beta.get(c) - bn.runMean[c] / bn.runSigma[c];
        }
        layerOf(tf.mul(signKernel(weights, l, 1), tf.tensor1d(scale)), tf.tensor1d(bias), 'softmax');
        i = j;
      } else {
        const t = thresholds(bn, steps).map((v) => v * K);
        if (poolBefore) {
          // max-pool commutes with the positive scale K; then subtract K·t' per channel
          layerOf(signKernel(weights, l, K), null, 'linear');
          add(tf.layers.maxPooling2d({ name: poolBefore.name, poolSize: poolBefore.size, strides: poolBefore.size, padding: 'valid' }));
          add(tf.layers.batchNormalization({ name: bn.name, epsilon: 1e-3, axis: -1 }), [
            tf.fill([C], Math.sqrt(1 + 1e-3)),
            tf.zeros([C]),
            tf.tensor1d(t),
            tf.ones([C]),
          ]);
          add(tf.layers.activation({ name: plan[j + 1].name, activation: 'tanh' }));
        } else layerOf(signKernel(weights, l, K), tf.neg(tf.tensor1d(t)), 'tanh');
        i = j + 1;
      }
    }
  }
  return model;
}

/** The LayersModel artifacts (model.json topology, weight manifest, weight bytes). */
export async function tfjsArtifacts(net: Network, spec: ModelSpec): Promise<TfjsArtifacts> {
  const model = toTfjsModel(net, spec);
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
