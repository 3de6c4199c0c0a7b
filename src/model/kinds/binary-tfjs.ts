// How a binary weight layer (dense or conv) and the layers it fuses with become standard TF.js
// layers, so `tf.loadLayersModel` needs no custom class (written by the dense and conv kinds).
//
// A hidden block computes y = X̂·Ŵ (binary weights), z = (y − μ)/σ + β and sign(z), sign(0) = +1.
// With σ > 0, sign(z) = +1 exactly when y ≥ t = μ − β·σ. y lives on a lattice: integers for
// ±1 inputs, multiples of 1/255 for the first layer (pixels p·2/255 − 1 times ±1 weights). So the
// block is exactly tanh(K·(y − t')) with t' half-way between the two lattice points around t and
// K large enough that K·(half a lattice step) ≥ 20, where float32 tanh is exactly ±1.
import { TfjsExportError, type TfjsStage, type TfjsWriter } from '../../formats/tfjs-stage.js';
import type { BatchNormLayer } from '../../layers/batchnorm.js';
import type { BinaryWeights } from '../../layers/binary-weights.js';
import type { ExportCursor } from './kind.js';

/** Lattice steps per unit of y: first layer (8-bit pixels scaled to [-1, 1]) and the rest. */
const FIRST_LAYER_STEPS = 255;
/** tanh(20) rounds to 1 in float32; K·(half step) must reach it. */
const SATURATE = 20;

/** How one binary weight layer looks in TF.js. */
export interface BinaryTfjsForm {
  /** sign(W) in TF.js layout (dense [nIn, nOut]; conv [k, k, ci, co]), output channel c times scale(c). */
  kernel(weights: BinaryWeights, scale: (c: number) => number): { values: Float32Array; shape: number[] };
  /** Its stages; the last one takes the kernel (and the bias when useBias). */
  stages(useBias: boolean, activation: 'tanh' | 'softmax' | 'linear'): TfjsStage[];
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

/** The weight layer's stages with its kernel and bias set. */
function withWeights(stages: TfjsStage[], weights: TfjsStage['weights']): TfjsStage[] {
  const last = stages[stages.length - 1];
  return [...stages.slice(0, -1), { ...last, weights }];
}

/** Writes a binary weight layer and what follows it: [max-pool (before batch norm)], batch norm, [sign]. */
export function writeBinaryBlockTfjs(name: string, form: BinaryTfjsForm, at: ExportCursor, out: TfjsWriter): number {
  const weights = (at.layer as unknown as { weights: BinaryWeights }).weights;
  const steps = out.firstWeightLayer ? FIRST_LAYER_STEPS : 1;
  out.firstWeightLayer = false;
  const K = 2 ** Math.ceil(Math.log2(2 * SATURATE * steps));
  let j = 1;
  const poolBefore = at.ahead(j)?.plan.type === 'pool' ? at.ahead(j++)!.plan : null;
  const bnAt = at.ahead(j);
  if (bnAt?.plan.type !== 'bn') throw new TfjsExportError(`${name}: a binary layer exports to TF.js only with its batch norm after it`);
  const bn = bnAt.layer as BatchNormLayer;
  const C = bn.channels;
  const vector = (v: Float32Array) => ({ values: v, shape: [v.length] });
  if (at.ahead(j + 1)?.plan.type !== 'sign') {
    // the classifier: logits = (y − μ)/σ + β
    const scale = new Float32Array(C);
    const bias = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      scale[c] = 1 / bn.runSigma[c];
      bias[c] = bn.beta.get(c) - bn.runMean[c] / bn.runSigma[c];
    }
    out.stages.push(...withWeights(form.stages(true, 'softmax'), [form.kernel(weights, (c) => scale[c]), vector(bias)]));
    return j;
  }
  const t = thresholds(bn, steps).map((v) => v * K);
  const kernel = form.kernel(weights, () => K);
  if (poolBefore?.type === 'pool') {
    // max-pool commutes with the positive scale K; then subtract K·t' per channel
    out.stages.push(
      ...withWeights(form.stages(false, 'linear'), [kernel]),
      { layer: 'maxPooling2d', config: { name: poolBefore.name, poolSize: poolBefore.size, strides: poolBefore.size, padding: 'valid' } },
      {
        layer: 'batchNormalization',
        config: { name: bn.name, epsilon: 1e-3, axis: -1 },
        weights: [vector(new Float32Array(C).fill(Math.sqrt(1 + 1e-3))), vector(new Float32Array(C)), vector(t), vector(new Float32Array(C).fill(1))],
      },
      { layer: 'activation', config: { name: at.ahead(j + 1)!.plan.name, activation: 'tanh' } },
    );
  } else out.stages.push(...withWeights(form.stages(true, 'tanh'), [kernel, vector(t.map((v) => -v))]));
  return j + 1;
}
