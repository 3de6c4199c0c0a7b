// `train --init CKPT`: start from another run's trained tensors instead of a random draw. Tensors
// are matched by name (layer.tensor) and size; float16 and float32 latent weights convert into
// each other, into packed signs where the run keeps bits (tiny, frozen layers of --train), and
// packed signs into latent weights of magnitude σ (the layer's initial deviation), so a checkpoint
// of any recipe fits a run of any other. With
// `newHead` the classifier (the last weight layer and what follows it) may differ and keeps its
// fresh initialization: the way to adapt a model to other classes. Optimizer state starts fresh.
import { readCheckpoint } from '../checkpoint.js';
import { checkpointPath } from '../model/pretrained.js';
import type { Dataset } from '../data/dataset.js';
import { isWeightLayer, planModel, type ModelSpec } from '../model/spec.js';
import type { Network } from '../model/network.js';
import { fromHalf, toHalf } from '../storage/fp16.js';
import { packLatentSignsReference } from '../layers/binary-weights.js';
import { wordsFor } from '../bits.js';
import { TrainingError } from './records.js';

export interface InitReport {
  /** Tensors taken from the checkpoint. */
  copied: number;
  /** Tensors left at their fresh initialization (the classifier, with newHead). */
  fresh: string[];
}

const BYTES: Record<string, number> = { Float32Array: 4, Float64Array: 8, Uint16Array: 2, Uint32Array: 4, Uint8Array: 1, Int8Array: 1, Int32Array: 4 };

/** Names of the classifier's layers: the last weight layer and every layer after it. */
function headLayers(spec: ModelSpec): Set<string> {
  const plan = planModel(spec);
  let last = -1;
  plan.forEach((l, i) => {
    if (isWeightLayer(l)) last = i;
  });
  return new Set(plan.slice(last).map((l) => l.name));
}

/**
 * Copy the checkpoint's tensors into `net`; then, with `recalibrate` > 0, re-estimate every batch
 * norm's statistics on that many batches of `data` (the new data's, not the old run's).
 */
export function initFromCheckpoint(path: string, net: Network, spec: ModelSpec, opts: { newHead: boolean; data: Dataset; recalibrate: number }): InitReport {
  let ck: ReturnType<typeof readCheckpoint>;
  try {
    ck = readCheckpoint(checkpointPath(path));
  } catch (e) {
    throw new TrainingError(`--init ${path}: ${(e as Error).message}`);
  }
  if (ck.meta.format !== 'bitlearn-train') throw new TrainingError(`--init ${path}: not a bitlearn training checkpoint`);
  const head = headLayers(spec);
  const misfits: string[] = [];
  const fresh: string[] = [];
  const plans: (() => void)[] = [];
  const binary = net.binaryWeights();
  for (const [key, target] of Object.entries(net.stateTensors())) {
    const src = ck.tensors.get(key);
    const want = `${target.constructor.name}[${target.length}]`;
    const shape = binary[key];
    const copy = !src ? null : src.length === target.length ? converter(src, target) : shape ? binaryConverter(src, shape, target) : null;
    if (copy) plans.push(copy);
    else if (opts.newHead && head.has(key.split('.')[0])) fresh.push(key);
    else misfits.push(src ? `${key} (checkpoint ${src.dtype}[${src.length}], this model ${want})` : `${key} (not in the checkpoint)`);
  }
  if (misfits.length) {
    const shown = misfits.slice(0, 6).join(', ') + (misfits.length > 6 ? `, and ${misfits.length - 6} more` : '');
    throw new TrainingError(`--init ${path} does not fit model ${spec.name}: ${shown}${opts.newHead ? '' : '; --new-head replaces the classifier'}`);
  }
  for (const copy of plans) copy();
  net.refreshDerived();
  if (opts.recalibrate > 0) net.recalibrateBatchNorm(opts.data, opts.recalibrate);
  return { copied: plans.length, fresh };
}

type Target = ReturnType<Network['stateTensors']>[string];

/**
 * A binary weight tensor stored the other way: latent weights (float32 or float16, rows × cols)
 * into packed bits (their signs, sign(0) = +1), or packed bits into latent weights (±σ, σ the
 * layer's initial deviation: the signs are kept, the magnitudes start as a fresh draw's would).
 */
function binaryConverter(
  src: { dtype: string; length: number; bytes: Uint8Array },
  shape: { rows: number; cols: number; bits: boolean; initStd: number },
  target: Target,
): (() => void) | null {
  const { rows, cols } = shape;
  const aligned = () => {
    const a = new Uint8Array(src.length * BYTES[src.dtype]);
    a.set(src.bytes);
    return a.buffer;
  };
  const latent = src.dtype === 'Float32Array' || src.dtype === 'Uint16Array';
  if (shape.bits && latent && src.length === rows * cols && target instanceof Uint32Array)
    return () => packLatentSignsReference(src.dtype === 'Float32Array' ? new Float32Array(aligned()) : new Uint16Array(aligned()), rows, cols, target);
  if (!shape.bits && src.dtype === 'Uint32Array' && src.length === rows * wordsFor(cols) && target.length === rows * cols)
    return () => {
      const words = new Uint32Array(aligned());
      const wpr = wordsFor(cols);
      const hi = Math.fround(shape.initStd);
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const v = (words[r * wpr + (c >>> 5)] >>> (c & 31)) & 1 ? hi : -hi;
          if (target instanceof Uint16Array) target[r * cols + c] = toHalf(v, true);
          else target[r * cols + c] = v;
        }
    };
  return null;
}

/** A function copying the source tensor into the target (same type, or float16 <-> float32), or null. */
function converter(src: { dtype: string; length: number; bytes: Uint8Array }, target: Target): (() => void) | null {
  const name = target.constructor.name;
  if (src.dtype === name) return () => new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(src.bytes);
  const view = (ctor: Float32ArrayConstructor | Uint16ArrayConstructor) => {
    // the checkpoint's bytes may sit at any offset: copy them to an aligned buffer first
    const aligned = new Uint8Array(src.length * BYTES[src.dtype]);
    aligned.set(src.bytes);
    return new ctor(aligned.buffer);
  };
  if (src.dtype === 'Uint16Array' && target instanceof Float32Array)
    return () => {
      const half = view(Uint16Array) as Uint16Array;
      for (let i = 0; i < half.length; i++) target[i] = fromHalf(half[i]);
    };
  if (src.dtype === 'Float32Array' && target instanceof Uint16Array)
    return () => {
      const f = view(Float32Array) as Float32Array;
      for (let i = 0; i < f.length; i++) target[i] = toHalf(f[i], true);
    };
  return null;
}
