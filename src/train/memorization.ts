// The memorization signal of label-noise runs: how much of the noisy and the clean training
// examples the network fits, and the epoch at which coherence falls while accuracy still rises.
import type { Dataset } from '../data/dataset.js';
import type { Network } from '../model/network.js';
import type { EpochRecord } from './records.js';

/** Fractions of the noisy-label and clean training examples the network predicts as labelled. */
export function memorization(net: Network, train: Dataset, noisy: Uint8Array) {
  const predicted = new Int32Array(train.count);
  net.evaluate(train, predicted);
  let noisyFit = 0;
  let noisyCount = 0;
  let cleanFit = 0;
  for (let i = 0; i < train.count; i++) {
    const fit = predicted[i] === train.labels[i] ? 1 : 0;
    if (noisy[i]) {
      noisyCount++;
      noisyFit += fit;
    } else cleanFit += fit;
  }
  return { noisyFitted: noisyCount ? noisyFit / noisyCount : 0, cleanFitted: cleanFit / Math.max(1, train.count - noisyCount), noisyCount };
}

/**
 * Memorization signal: the epoch's mean network coherence has lost `drop` of its excess over 1
 * since the peak epoch, while training accuracy still rises.
 */
export function flagsMemorization(history: EpochRecord[], record: EpochRecord, drop: number): boolean {
  const c = record.coherence?.mean.network;
  const prev = history[history.length - 1];
  if (c === undefined || !prev) return false;
  const peak = Math.max(c, ...history.map((h) => h.coherence?.mean.network ?? -Infinity));
  return peak > 1 && c <= 1 + (1 - drop) * (peak - 1) && record.trainAccuracy > prev.trainAccuracy;
}
