// Label noise for coherence and memorization experiments: a seeded fraction of the training
// examples get a label drawn uniformly among all classes (so 1.0 is the random-labels experiment);
// those whose drawn label differs from the true one are marked noisy, and fitting them is
// memorization.
import type { Dataset } from './dataset.js';
import { Rng } from '../rng.js';

export interface NoisyLabels {
  data: Dataset;
  /** 1 where the label was replaced by a wrong one. */
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
  let noisyCount = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const drawn = rng.int(d.classes);
    if (drawn !== labels[i]) {
      noisy[i] = 1;
      noisyCount++;
    }
    labels[i] = drawn;
  }
  return { data: { ...d, labels }, noisy, noisyCount };
}
