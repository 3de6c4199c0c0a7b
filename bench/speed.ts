// Speed suite: time per training batch (forward + backward + Adam) for each model, recipe, batch,
// kernel set and thread count; median over repeated batches after warm-up. Each configuration
// runs in a child process of its own, so the peak RSS it reports is its own.
import { runChildSync } from './children.js';
import type { DataSplit } from '../src/data/dataset.js';
import { loadData } from '../src/data/registry.js';
import { syntheticImages } from '../src/data/synthetic.js';
import { selectKernels } from '../src/kernels/select.js';
import { Network } from '../src/model/network.js';
import { canApplyInBackward } from '../src/model/shared-weight-grads.js';
import { modelSpec } from '../src/model/models.js';
import { createOptimizer } from '../src/optim/optimizer.js';
import { PRESETS } from '../src/recipe.js';
import { Rng } from '../src/rng.js';
import { parseQuantConfig } from '../quant/quant-config.js';
import { median } from '../src/stats.js';

export interface SpeedConfig {
  model: string;
  recipe: string;
  batch: number;
  kernels: string;
  threads: number;
  repeats: number;
  warmup: number;
  /** Measure gradient coherence every n steps (absent: not tracked). */
  coherenceEvery?: number;
  /** A fixed-point (wNaM) or float ("float") ReLU model with the gradient-based quantizer instead of the binary one. */
  quant?: string;
}

export interface SpeedResult extends SpeedConfig {
  kernelSet: string;
  msPerBatchMedian: number;
  msPerBatchMin: number;
  /** Mean: what a 1-in-n extra cost (coherence every n steps) shows up in. */
  msPerBatchMean: number;
  ledgerBytes: number;
  peakRssBytes: number;
  samplesPerSecond: number;
  /** The untimed first steps together (what JIT compilation and first-touch cost a run once). */
  warmupMsTotal: number;
}

/**
 * The data a model is timed on: real MNIST for MNIST-shaped models, synthetic CIFAR for
 * CIFAR-shaped ones, and seeded synthetic images of the model's own shape for any other model
 * file (timing depends on the shapes, not on what the examples show).
 */
export function benchData(model: string, batch: number): DataSplit {
  const spec = modelSpec(model);
  const { h, w, c } = spec.input;
  const count = Math.max(1000, 2 * batch);
  if (h === 32 && w === 32 && c === 3 && spec.classes === 10) return loadData('synthetic-cifar', { limitTrain: count, limitTest: 10 });
  if (h === 28 && w === 28 && c === 1 && spec.classes === 10) return loadData('mnist');
  return syntheticImages(spec.input, spec.classes, count, 10);
}

/** Time one configuration in this process. */
export function measureSpeed(c: SpeedConfig, data: DataSplit): SpeedResult {
  const spec = modelSpec(c.model, c.quant ? parseQuantConfig(c.quant, 'gradient') : undefined);
  const order = Int32Array.from({ length: data.train.count }, (_, i) => i);
  new Rng(1).shuffle(order);
  // as bitlearn train steps: each layer updated as its backward ends, where the recipe allows
  const applyInBackward = canApplyInBackward(spec, PRESETS[c.recipe]) && !c.coherenceEvery;
  const net = new Network({
    applyInBackward,
    spec,
    recipe: PRESETS[c.recipe],
    batch: c.batch,
    kernels: selectKernels(c.kernels),
    seed: 1,
    threads: c.threads,
    coherence: Boolean(c.coherenceEvery),
  });
  const opt = createOptimizer(net.params(), PRESETS[c.recipe], net.ledger, net.kernels);
  const times: number[] = [];
  let warmupMsTotal = 0;
  for (let s = 0; s < c.warmup + c.repeats; s++) {
    const offset = (s * c.batch) % (order.length - c.batch + 1);
    const t0 = performance.now();
    if (c.coherenceEvery) net.setCoherence((s + 1) % c.coherenceEvery === 0);
    if (applyInBackward) net.computeGradients(data.train, order, offset, c.batch, -1, opt.stepper!(1e-3));
    else {
      net.computeGradients(data.train, order, offset, c.batch);
      opt.update(1e-3);
    }
    if (s >= c.warmup) times.push(performance.now() - t0);
    else warmupMsTotal += performance.now() - t0;
  }
  net.dispose();
  const med = median(times);
  return {
    ...c,
    kernelSet: net.kernels.name,
    msPerBatchMedian: med,
    msPerBatchMin: Math.min(...times),
    msPerBatchMean: times.reduce((a, b) => a + b, 0) / times.length,
    ledgerBytes: net.ledger.totalBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    samplesPerSecond: (1000 * c.batch) / med,
    warmupMsTotal,
  };
}

export interface SpeedOptions {
  coherenceEvery?: number;
  quant?: string;
  models: string[];
  recipes: string[];
  batches: number[];
  kernels: string[];
  threads: number[];
  repeats: number;
  warmup: number;
}

/** Every configuration, each in a child process (bench/speed-child.js). */
export function runSpeedSuite(opts: SpeedOptions, onResult?: (r: SpeedResult) => void): SpeedResult[] {
  const results: SpeedResult[] = [];
  for (const model of opts.models)
    for (const kernels of opts.kernels)
      for (const threads of kernels === 'reference' ? [1] : opts.threads)
        for (const batch of opts.batches)
          for (const recipe of opts.recipes) {
            const config: SpeedConfig = {
              model,
              recipe,
              batch,
              kernels,
              threads,
              repeats: opts.repeats,
              warmup: opts.warmup,
              coherenceEvery: opts.coherenceEvery,
              quant: opts.quant,
            };
            const r = runChildSync<SpeedResult>('speed', config);
            results.push(r);
            onResult?.(r);
          }
  return results;
}

export interface CoherenceCost {
  model: string;
  quant?: string;
  recipe: string;
  batch: number;
  every: number;
  msPerBatchMean: number;
  baselineMsPerBatchMean: number;
  overheadPercent: number;
}

/** Time per batch with coherence measured every 1 and every 50 steps against none (means). */
export function runCoherenceCostSuite(opts: Omit<SpeedOptions, 'coherenceEvery'>, everies = [1, 50], onResult?: (r: CoherenceCost) => void): CoherenceCost[] {
  const out: CoherenceCost[] = [];
  for (const model of opts.models)
    for (const recipe of opts.recipes)
      for (const batch of opts.batches) {
        const one = { ...opts, models: [model], recipes: [recipe], batches: [batch], kernels: [opts.kernels[0]], threads: [opts.threads[0]] };
        const base = runSpeedSuite(one)[0];
        for (const every of everies) {
          const r = runSpeedSuite({ ...one, coherenceEvery: every })[0];
          const cost = {
            model,
            quant: opts.quant,
            recipe,
            batch,
            every,
            msPerBatchMean: r.msPerBatchMean,
            baselineMsPerBatchMean: base.msPerBatchMean,
            overheadPercent: (100 * (r.msPerBatchMean - base.msPerBatchMean)) / base.msPerBatchMean,
          };
          out.push(cost);
          onResult?.(cost);
        }
      }
  return out;
}
