// Softmax cross-entropy on the last layer's batch-normed outputs (the logits).
import type { Floats, MemoryLedger } from '../ledger.js';
import { fillStore, type GradStore } from '../storage/grad-store.js';
import { type Activation, rowsPerChunk, type Workspace } from './layer.js';

/**
 * The softmax of logits z[o .. o+K) into p[o ..], and the arg-max (the first on ties), the max
 * and the sum of exponentials: the one definition training, evaluation and the packed model use.
 */
export function softmaxRow(z: ArrayLike<number>, o: number, K: number, p: Floats): { arg: number; max: number; sum: number } {
  let max = -Infinity;
  let arg = 0;
  for (let c = 0; c < K; c++) {
    const v = z[o + c];
    if (v > max) {
      max = v;
      arg = c;
    }
  }
  let sum = 0;
  for (let c = 0; c < K; c++) {
    const e = Math.exp(z[o + c] - max);
    p[o + c] = e;
    sum += e;
  }
  for (let c = 0; c < K; c++) p[o + c] /= sum;
  return { arg, max, sum };
}

export class SoftmaxCrossEntropy {
  readonly name = 'softmax';
  private readonly probs: Floats;
  private labels: Uint8Array | null = null;

  constructor(
    readonly classes: number,
    batch: number,
    private readonly ws: Workspace,
    ledger: MemoryLedger,
  ) {
    this.probs = ledger.floats(batch * classes, 'workspace', 'softmax', 'probabilities');
  }

  /** The class probabilities of the last forward's rows (rows × classes), a view. */
  probabilities(rows: number): Floats {
    return this.probs.subarray(0, rows * this.classes);
  }

  /**
   * Mean loss and number of correct predictions; keeps probabilities for backward. With
   * `predicted`, the arg-max class of row i is written to predicted[i].
   */
  forward(x: Activation, labels: Uint8Array, rows: number, predicted?: Int32Array): { loss: number; correct: number } {
    if (x.kind !== 'float' || x.cols !== this.classes) throw new Error(`softmax: expected float logits with ${this.classes} columns`);
    const K = this.classes;
    const z = x.data;
    const p = this.probs;
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < rows; i++) {
      const { arg, max, sum } = softmaxRow(z, i * K, K, p);
      const y = labels[i];
      loss -= z[i * K + y] - max - Math.log(sum);
      if (arg === y) correct++;
      if (predicted) predicted[i] = arg;
    }
    this.labels = labels;
    return { loss: loss / rows, correct };
  }

  /**
   * dL/dz = (p − onehot(y)) / rows, into grad. With `onlyRow`, the gradient of that example's
   * term of the loss alone (other rows zero): the exact per-example gradients of the batch loss.
   */
  backward(grad: GradStore, rows: number, onlyRow = -1): GradStore {
    const labels = this.labels;
    if (!labels) throw new Error('softmax: backward without forward');
    const K = this.classes;
    grad.setShape(rows, K);
    // as many rows a chunk as the scratch holds (a handful of classes a row: the whole batch, one
    // kernel call instead of one a chunk of ws.chunkRows); the codes do not depend on the chunks
    fillStore(grad, rowsPerChunk(this.ws, [this.ws.chunkDx, K]), this.ws.chunkDx, (i0, i1, out) => {
      for (let i = i0; i < i1; i++)
        for (let c = 0; c < K; c++) out[(i - i0) * K + c] = onlyRow >= 0 && i !== onlyRow ? 0 : (this.probs[i * K + c] - (labels[i] === c ? 1 : 0)) / rows;
    });
    return grad;
  }
}
