// What a training run is given and what it gives back: the configuration, the per-epoch records,
// the hooks for progress output, and the result.
import type { SampledDetail } from '../../device/meter-types.js';
import type { EnergyMeter } from '../../device/meters.js';
import type { QuantConfig } from '../../quant/quant-config.js';
import type { ModelSpec } from '../model/spec.js';
import type { CoherenceSeries, EpochCoherence } from '../coherence/tracker.js';
import type { ProbeResult } from './coherence-probe.js';
import type { MemoryModel } from '../model/memory-model.js';
import type { Network } from '../model/network.js';
import type { LayerSeries, QuantizerState } from '../model/quantizer-log.js';
import type { Recipe } from '../recipe.js';
import type { GradientMethodName } from './gradient-methods.js';

export interface TrainConfig {
  /** A built-in model's name or a model file's path (src/model/models.ts). */
  model: string;
  /** The model itself (library use): takes the place of `model`, which then only names it. */
  spec?: ModelSpec;
  /** Start from this checkpoint's trained tensors (src/train/init.ts) instead of a random draw. */
  init?: string;
  /** With init: the classifier may differ from the checkpoint's and starts fresh. */
  newHead?: boolean;
  /** Which layers train: all (default), head, last:K, bn, or layer names (src/model/train-scope.ts). */
  trainScope?: string;
  /** A fixed-point (or float32 twin) ReLU network instead of the binary one (see quant/quant-config.ts). */
  quant?: QuantConfig;
  recipeName: string;
  recipe: Recipe;
  batch: number;
  epochs: number;
  seed: number;
  lr: number;
  kernels?: string;
  /** Kernel threads (default: all cores). */
  threads?: number;
  /** Checkpoint file written atomically after every epoch. */
  checkpoint?: string;
  /** Continue from `checkpoint`. */
  resume?: boolean;
  /** Replace an existing `checkpoint` of another run (without it such a file is never overwritten). */
  overwrite?: boolean;
  /** Stop after the current batch (Ctrl-C): the result says where; the last checkpoint stays. */
  signal?: AbortSignal;
  /** Learning rate as an expression of the (0-based) epoch, e.g. "1e-3 * 0.5^floor(epoch/2)"; replaces halving on plateau. */
  lrSchedule?: string;
  /** Epochs without a training-loss improvement before the learning rate is halved. */
  plateauPatience?: number;
  /** Random shift and horizontal flip of training images. */
  augment?: boolean;
  /** Training batches used to re-estimate batch-norm statistics after each epoch (0 = keep the running averages). */
  bnRecalibrate?: number;
  /** Energy meter measuring each epoch (the region is the epoch's training batches). */
  meter?: EnergyMeter;
  /** Seconds of idle baseline measured before training (meters that measure). */
  idleSeconds?: number;
  /** Memory the run may use (bytes); default: the machine's free memory. */
  ramBudget?: number;
  /** Bop (recipes with optimizer=bop): rate γ (default 1e-4), threshold τ (default 1e-8), and γ as an expression of the epoch. */
  bop?: { gamma?: number; tau?: number; gammaSchedule?: string };
  /** Gradient the optimizer receives: plain (default), rm3, m3 or winsorized (see src/train/gradient-methods.ts). */
  gradients?: GradientMethodName;
  /** Winsorized gradients: values clipped on each side per coordinate (default 1). */
  winsorC?: number;
  /** Multiply the classifier's initial weights by this (--quant models; see NetworkOptions.outputInitScale). */
  outputInitScale?: number;
  /** Gradient coherence: measured every `every` steps; `probe` > 0: the exact per-example probe on that many examples each epoch. */
  coherence?: { every: number; probe?: number };
  /** Training examples whose label was replaced (label-noise experiments): memorization is measured. */
  noisyLabels?: Uint8Array;
  /** Stop at the first epoch flagged as memorization (coherence fell while training accuracy rose). */
  stopOnMemorization?: boolean;
  /** Fraction of its excess over 1 that epoch-mean network coherence must lose from its peak to flag memorization (default 0.8). */
  memorizationDrop?: number;
}

export interface EpochRecord {
  epoch: number;
  lr: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  msPerBatchMedian: number;
  seconds: number;
  /** Energy of the epoch's training batches, when a meter is configured. */
  energy?: EpochEnergy;
  /** Bop: mean share of binary weights flipped per step. */
  flipRatio?: number;
  /** m-coherence over the epoch's measured steps (m = batch size), and the exact probe. */
  coherence?: EpochCoherence & { probe?: ProbeResult };
  /** With label noise: how much of the training set the network fits, noisy and clean examples apart. */
  memorization?: { noisyFitted: number; cleanFitted: number; noisyCount: number };
  /** Coherence fell toward 1 while training accuracy still rose: the suggested early-stopping point. */
  memorizationSignal?: boolean;
  /** Fixed-point models: each quantizer's exponent at the end of the epoch and its flips so far. */
  quantizers?: QuantizerState[];
}

export interface EpochEnergy {
  meter: string;
  /** false: estimated from a power model, never to be mixed with measurements. */
  measured: boolean;
  seconds: number;
  joules: number | null;
  netJoules: number | null;
  joulesPerBatch: number | null;
  joulesPerSample: number | null;
  watts: number | null;
  startNs: string;
  endNs: string;
  /** Wall-clock bounds of the region (ms since 1970), to line up with an external logger's CSV. */
  startUnixMs: number;
  endUnixMs: number;
  /** Sampling meters (INA2xx over I2C): sampling rate, lost readings, missed time, uncertainty. */
  sampling?: SampledDetail;
  /** Sampling meters: each batch measured between its own bounds (J, gross: idle included). */
  batchJoules?: { median: number; min: number; max: number; batches: number };
}

export interface TrainHooks {
  onEpochStart?(epoch: number, batches: number): void;
  onBatch?(epoch: number, batch: number, loss: number): void;
  onEpochEnd?(record: EpochRecord): void;
}

export interface TrainResult {
  history: EpochRecord[];
  /** m-coherence at every measured step, per layer and for the network. */
  coherence: CoherenceSeries | null;
  /** Fixed-point models: quantizer exponents over training (sampled steps). */
  quantizerExponents: LayerSeries | null;
  /** Stopped early: memorization was flagged at this epoch. */
  stoppedAtEpoch: number | null;
  /** Median milliseconds per training batch over the batches this process ran. */
  msPerBatchMedian: number;
  batchesTimed: number;
  network: Network;
  modeled: MemoryModel;
  resumedFromEpoch: number;
  /** --init: the checkpoint, the tensors taken from it and those left fresh (the new classifier). */
  initializedFrom: { checkpoint: string; copied: number; fresh: string[] } | null;
  /** Stopped by `signal` in the middle of this epoch, after this many of its batches. */
  interrupted: { epoch: number; batch: number; batches: number } | null;
}

export class TrainingError extends Error {}
