// The peer baseline: the same binary MLP trained the way a TF.js user would write it: layers,
// a tf.customGrad sign with the clipped straight-through estimator,
// batch norm, Adam (lr 1e-3), latent weights clipped to [-1, 1] after each step; on the wasm backend
// (or cpu, or tfjs-node when it is installed).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { DataSplit, Dataset } from '../src/data/dataset.js';
import { modelSpec } from '../src/model/models.js';
import { Rng } from '../src/rng.js';
import { median } from '../src/stats.js';

export const PEER_BACKENDS = ['wasm', 'cpu', 'tensorflow'] as const;
export type PeerBackend = (typeof PEER_BACKENDS)[number];

const sign = (x: tf.Tensor) => tf.where(tf.greaterEqual(x, 0), tf.onesLike(x), tf.onesLike(x).neg());
/** sign forward; gradient passes where |x| <= 1 (activations) */
const signClippedSte = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return { value: sign(x), gradFunc: (dy: tf.Tensor, [s]: tf.Tensor[]) => dy.mul(tf.lessEqual(tf.abs(s), 1).toFloat()) };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
/** sign forward, identity gradient (weights; clipping keeps them in [-1, 1]) */
const signIdentity = tf.customGrad((x) => ({ value: sign(x as tf.Tensor), gradFunc: (dy) => dy as tf.Tensor })) as (x: tf.Tensor) => tf.Tensor;

class BinaryDense extends tf.layers.Layer {
  static className = 'BinaryDense';
  private kernel!: tf.LayerVariable;
  constructor(
    private readonly units: number,
    name: string,
  ) {
    super({ name });
  }
  override build(shape: tf.Shape | tf.Shape[]): void {
    const nIn = (shape as number[])[(shape as number[]).length - 1];
    this.kernel = this.addWeight('kernel', [nIn, this.units], 'float32', tf.initializers.randomNormal({ mean: 0, stddev: 1 / Math.sqrt(nIn), seed: 1 }));
    this.built = true;
  }
  override computeOutputShape(shape: tf.Shape): tf.Shape {
    return [shape[0], this.units];
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.matMul(x, signIdentity(this.kernel.read()));
  }
  /** Larq's weight_clip: latent weights stay in [-1, 1]. */
  clip(): void {
    // tidy: the clipped tensor is assigned into the variable; nothing else may outlive the step
    tf.tidy(() => {
      this.kernel.write(tf.clipByValue(this.kernel.read(), -1, 1));
    });
  }
}

class SignActivation extends tf.layers.Layer {
  static className = 'SignActivation';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return signClippedSte(Array.isArray(inputs) ? inputs[0] : inputs);
  }
}

export async function useBackend(backend: PeerBackend): Promise<void> {
  tf.env().set('PROD', true);
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
    wasm.setWasmPaths(join(dir, '/'));
  } else if (backend === 'tensorflow') {
    // optional: only when the user has it installed (it cannot be installed offline)
    await import(/* optional */ ['@tensorflow', 'tfjs-node'].join('/'));
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} is not available`);
  await tf.ready();
}

/** The MLP of the model spec (784 → 4 × [FC256 – BN – sign] → FC10 – BN – softmax). */
export function buildPeerMlp(): { model: tf.Sequential; dense: BinaryDense[] } {
  const spec = modelSpec('mlp');
  const model = tf.sequential();
  const dense: BinaryDense[] = [];
  const widths = [...spec.ops.map((o) => ('dense' in o ? o.dense : 0)), spec.classes];
  widths.forEach((units, i) => {
    const d = new BinaryDense(units, `fc${i + 1}`);
    dense.push(d);
    if (i === 0) model.add(tf.layers.inputLayer({ inputShape: [spec.input.c] }));
    model.add(d);
    // scale: false would match bitlearn's beta-only batch norm, but TF.js 4.22 fails in training
    // with it (BatchNormalization reads the absent gamma): a TF.js user keeps the default
    model.add(tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }));
    model.add(i < widths.length - 1 ? new SignActivation({ name: `sign${i + 1}` }) : tf.layers.activation({ activation: 'softmax' }));
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return { model, dense };
}

function batchTensors(d: Dataset, order: Int32Array, offset: number, rows: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const x = new Float32Array(rows * d.features);
  const y = new Float32Array(rows * d.classes);
  for (let i = 0; i < rows; i++) {
    const e = order[offset + i];
    for (let k = 0; k < d.features; k++) x[i * d.features + k] = d.images[e * d.features + k] * (2 / 255) - 1;
    y[i * d.classes + d.labels[e]] = 1;
  }
  return { x: tf.tensor2d(x, [rows, d.features]), y: tf.tensor2d(y, [rows, d.classes]) };
}

export interface PeerRun {
  engine: string;
  backend: string;
  epochs: number;
  batch: number;
  msPerBatchMedian: number;
  batchesTimed: number;
  testAccuracy: number;
  peakRssBytes: number;
  /** Live TF.js tensors after the first and after the last batch: equal when nothing leaks. */
  tensorsAfterFirstBatch: number;
  tensorsAtEnd: number;
}

/** Train for `epochs` over the data, timing every batch; then test accuracy (inference mode). */
export async function runPeer(backend: PeerBackend, data: DataSplit, epochs: number, batch: number, seed = 1): Promise<PeerRun> {
  await useBackend(backend);
  const { model, dense } = buildPeerMlp();
  const rng = new Rng(seed ^ 0x5eed);
  const order = Int32Array.from({ length: data.train.count }, (_, i) => i);
  const times: number[] = [];
  let tensorsAfterFirstBatch = -1;
  for (let e = 0; e < epochs; e++) {
    rng.shuffle(order);
    for (let off = 0; off + batch <= order.length; off += batch) {
      const { x, y } = batchTensors(data.train, order, off, batch);
      const t0 = performance.now();
      await model.trainOnBatch(x, y);
      for (const d of dense) d.clip();
      times.push(performance.now() - t0);
      tf.dispose([x, y]);
      if (tensorsAfterFirstBatch < 0) tensorsAfterFirstBatch = tf.memory().numTensors;
    }
  }
  const testOrder = Int32Array.from({ length: data.test.count }, (_, i) => i);
  let correct = 0;
  for (let off = 0; off < data.test.count; off += 1000) {
    const rows = Math.min(1000, data.test.count - off);
    const { x, y } = batchTensors(data.test, testOrder, off, rows);
    const pred = tf.tidy(() => (model.predict(x) as tf.Tensor).argMax(-1).dataSync());
    for (let i = 0; i < rows; i++) if (pred[i] === data.test.labels[off + i]) correct++;
    tf.dispose([x, y]);
  }
  return {
    engine: 'tfjs',
    backend: tf.getBackend(),
    epochs,
    batch,
    msPerBatchMedian: median(times.slice(3)),
    batchesTimed: Math.max(0, times.length - 3),
    testAccuracy: correct / data.test.count,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    tensorsAfterFirstBatch,
    tensorsAtEnd: tf.memory().numTensors,
  };
}
