// Speed suite: time per training batch (forward + backward + Adam) for each recipe and batch
// size, median over repeated batches after warm-up, on real MNIST.
import type { DataSplit } from '../src/data/dataset.js';
import { selectKernels } from '../src/kernels/select.js';
import { Network } from '../src/model/network.js';
import { modelSpec } from '../src/model/spec.js';
import { Adam } from '../src/optim/adam.js';
import { PRESETS } from '../src/recipe.js';
import { Rng } from '../src/rng.js';
import { median } from '../src/trainer.js';

export interface SpeedResult {
  model: string;
  recipe: string;
  batch: number;
  kernels: string;
  threads: number;
  msPerBatchMedian: number;
  msPerBatchMin: number;
  ledgerBytes: number;
  peakRssBytes: number;
  samplesPerSecond: number;
  batchesTimed: number;
}

export interface SpeedOptions {
  model: string;
  recipes: string[];
  batches: number[];
  kernels: string[];
  threads: number[];
  repeats: number;
  warmup: number;
}

export function runSpeedSuite(opts: SpeedOptions, data: DataSplit, onResult?: (r: SpeedResult) => void): SpeedResult[] {
  const spec = modelSpec(opts.model);
  const results: SpeedResult[] = [];
  const order = Int32Array.from({ length: data.train.count }, (_, i) => i);
  new Rng(1).shuffle(order);
  for (const kernelName of opts.kernels)
    for (const threads of kernelName === 'reference' ? [1] : opts.threads)
    for (const batch of opts.batches)
      for (const recipe of opts.recipes) {
        const kernels = selectKernels(kernelName);
        const net = new Network({ spec, recipe: PRESETS[recipe], batch, kernels, seed: 1, threads });
        const opt = new Adam(net.params(), net.ledger, {}, net.kernels);
        const times: number[] = [];
        const peakBefore = process.resourceUsage().maxRSS;
        for (let s = 0; s < opts.warmup + opts.repeats; s++) {
          const offset = ((s * batch) % (order.length - batch)) | 0;
          const t0 = performance.now();
          net.computeGradients(data.train, order, offset, batch);
          opt.update(1e-3);
          if (s >= opts.warmup) times.push(performance.now() - t0);
        }
        const med = median(times);
        const r: SpeedResult = {
          model: spec.name,
          recipe,
          batch,
          kernels: kernels.name,
          threads,
          msPerBatchMedian: med,
          msPerBatchMin: Math.min(...times),
          ledgerBytes: net.ledger.totalBytes,
          // the process peak so far: it only grows, so later rows include earlier configurations
          peakRssBytes: Math.max(peakBefore, process.resourceUsage().maxRSS) * 1024,
          samplesPerSecond: (1000 * batch) / med,
          batchesTimed: times.length,
        };
        net.dispose();
        results.push(r);
        onResult?.(r);
      }
  return results;
}
