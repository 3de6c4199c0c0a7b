// What both export checks share: walking a data set in staged batches of pixels, and comparing
// an exported model's predictions with bitlearn's own inference.
import { stageRows, type Dataset } from '../data/dataset.js';
import type { Network } from '../model/network.js';

/** fn(pixels of examples [off, off + n) (n × features bytes), off, n) for every batch of `size`. */
export function forEachPixelBatch(data: Dataset, size: number, fn: (pixels: Uint8Array, off: number, n: number) => void): void {
  const all = Int32Array.from({ length: data.count }, (_, i) => i);
  for (let off = 0; off < data.count; off += size) {
    const n = Math.min(size, data.count - off);
    const staged = stageRows(data, all, off, n);
    fn(staged.data.images.subarray(staged.offset * data.features, (staged.offset + n) * data.features), off, n);
  }
}

export interface Agreement {
  examples: number;
  /** Examples where the export and bitlearn predict the same class. */
  agree: number;
  /** bitlearn's accuracy, and the export's. */
  ours: number;
  theirs: number;
}

/** The export's predicted classes (one per example of data) against bitlearn's inference. */
export function agreement(net: Network, data: Dataset, theirs: Int32Array): Agreement {
  const ours = new Int32Array(data.count);
  const { accuracy } = net.evaluate(data, ours);
  let agree = 0;
  let correct = 0;
  for (let i = 0; i < data.count; i++) {
    if (ours[i] === theirs[i]) agree++;
    if (theirs[i] === data.labels[i]) correct++;
  }
  return { examples: data.count, agree, ours: accuracy, theirs: correct / data.count };
}
