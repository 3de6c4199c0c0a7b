// Label noise for coherence and memorization experiments: a seeded fraction of the training
// examples get a different label, drawn uniformly among the other classes, so every noisy example
// is truly mislabelled and fitting it is memorization. 1.0 gives random labels throughout.
import type { Dataset } from './dataset.js';
import { Rng } from '../rng.js';

export interface NoisyLabels {
  data: Dataset;
  /** 1 where the label was replaced. */
  noisy: Uint8Array;
  noisyCount: number;
}

export function withLabelNoise(d: Dataset, fraction: number, seed: number): NoisyLabels {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`label noise must be a fraction from 0 to 1, got ${fraction}`);
  const noisy = new Uint8Array(d.count);
  const labels = Uint8Array.from(d.labels.subarray(0, d.count));
  const n = Math.round(fraction * d.count);
  const rng = new Rng(seed ^ 0x1abe1);
  const order = Int32Array.from({ length: d.count }, (_, i) => i);
  rng.shuffle(order);
  for (let k = 0; k < n; k++) {
    const i = order[k];
    labels[i] = (labels[i] + 1 + rng.int(d.classes - 1)) % d.classes;
    noisy[i] = 1;
  }
  return { data: { ...d, labels }, noisy, noisyCount: n };
}
