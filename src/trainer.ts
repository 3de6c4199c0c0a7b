// The training loop: epochs of shuffled mini-batches, Adam, evaluation on the test split,
// learning rate halved on plateau, an atomic checkpoint every epoch, and resume.
import { availableParallelism, freemem } from 'node:os';
import { readCheckpoint, restoreTensor, writeCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import type { DataSplit } from './data/dataset.js';
import { selectKernels } from './kernels/select.js';
import { modelMemory, type MemoryModel } from './model/memory-model.js';
import { Network } from './model/network.js';
import { inputFeatures, modelSpec, type ModelSpec } from './model/spec.js';
import { probeDevice } from '../device/probe.js';
import { largestBatch } from './planner.js';
import { createOptimizer, type Optimizer } from './optim/optimizer.js';
import { sameRecipe, withDefaults, type Recipe } from './recipe.js';
import { Rng } from './rng.js';
import type { EnergyMeter } from '../device/meters.js';
import { parseLrSchedule } from './lr-schedule.js';
import { CoherenceTracker, type CoherenceSeries, type EpochCoherence } from './coherence/tracker.js';
import { CoherenceProbe, type ProbeResult } from './coherence/probe.js';
import { stageRows } from './data/dataset.js';
import type { QuantConfig } from '../quant/quant-config.js';
import { QuantizerLog, quantizerStates, type QuantizerState } from './model/quantizer-log.js';
import type { LayerSeries } from './report/run-report.js';
import { createGradientMethod, type GradientMethod, type GradientMethodName } from './optim/robust-gradients.js';

export interface TrainConfig {
  model: string;
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
  /** Gradient the optimizer receives: plain (default), rm3, m3 or winsorized (see src/optim/robust-gradients.ts). */
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
}

export class TrainingError extends Error {}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

function validate(cfg: TrainConfig, data: DataSplit): void {
  const posInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new TrainingError(`${what} must be a positive integer, got ${v}`);
  };
  posInt(cfg.batch, 'batch size');
  posInt(cfg.epochs, 'epochs');
  if (!(cfg.lr > 0) || !Number.isFinite(cfg.lr)) throw new TrainingError(`learning rate must be a positive number, got ${cfg.lr}`);
  if (cfg.batch > data.train.count)
    throw new TrainingError(`batch size ${cfg.batch} is larger than the training set (${data.train.count} examples)`);
  if (cfg.resume && !cfg.checkpoint) throw new TrainingError('resume needs a checkpoint file');
}

/** Memory this process can still use: the device's MemAvailable, else the OS's free memory. */
export function availableMemory(): number {
  return probeDevice().memAvailableBytes ?? freemem();
}

/**
 * Refuse before starting when the engine's buffers plus what the process already holds (Node.js,
 * the loaded data set) exceed the memory available; name the largest batch that would fit.
 */
export function checkFits(
  spec: ModelSpec,
  recipe: Recipe,
  batch: number,
  opts: { augment?: boolean; budget?: number; engineBytes?: number; runtimeBytes?: number } = {},
): void {
  const budget = opts.budget ?? availableMemory();
  const engine = opts.engineBytes ?? modelMemory(spec, recipe, batch, { augment: opts.augment }).total;
  const runtime = opts.runtimeBytes ?? process.memoryUsage().rss;
  if (engine + runtime <= budget) return;
  const fits = largestBatch(spec, recipe, budget - runtime);
  const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  throw new TrainingError(
    `this run needs ${MiB(engine + runtime)} (engine buffers ${MiB(engine)} + ${MiB(runtime)} already in use by Node.js and the data set) ` +
      `but only ${MiB(budget)} is available: ${fits > 0 ? `the largest batch that fits is ${fits}` : 'not even batch 1 fits'}` +
      `${recipe.actInput === 'float32' ? '; the low-memory recipe needs far less' : ''}`,
  );
}

export async function train(cfg: TrainConfig, data: DataSplit, hooks: TrainHooks = {}): Promise<TrainResult> {
  validate(cfg, data);
  const spec = modelSpec(cfg.model, cfg.quant);
  if (data.train.features !== inputFeatures(spec))
    throw new TrainingError(`model ${spec.name} takes ${inputFeatures(spec)} inputs per example, data set ${data.train.name} has ${data.train.features}`);
  if ((cfg.gradients === 'm3' || cfg.gradients === 'winsorized') && cfg.coherence)
    throw new TrainingError(`${cfg.gradients} changes how the batch gradient is formed: measure coherence with --gradients plain or rm3`);
  const modeled = modelMemory(spec, cfg.recipe, cfg.batch, { augment: cfg.augment, coherence: Boolean(cfg.coherence), gradients: cfg.gradients, winsorC: cfg.winsorC });
  checkFits(spec, cfg.recipe, cfg.batch, { augment: cfg.augment, budget: cfg.ramBudget, engineBytes: modeled.total });

  const schedule = cfg.lrSchedule ? await parseLrSchedule(cfg.lrSchedule) : null;
  const ck = cfg.resume ? readCheckpoint(cfg.checkpoint!) : null;
  const net = new Network({
    spec,
    recipe: cfg.recipe,
    batch: cfg.batch,
    kernels: selectKernels(cfg.kernels),
    seed: cfg.seed,
    augment: cfg.augment,
    threads: cfg.threads ?? availableParallelism(),
    coherence: Boolean(cfg.coherence),
    winsorize: cfg.gradients === 'winsorized' ? (cfg.winsorC ?? 1) : undefined,
    outputInitScale: cfg.outputInitScale,
  });
  const opt = createOptimizer(net.params(), cfg.recipe, net.ledger, net.kernels, { gamma: cfg.bop?.gamma, tau: cfg.bop?.tau });
  const gammaSchedule = cfg.bop?.gammaSchedule ? await parseLrSchedule(cfg.bop.gammaSchedule) : null;
  const gradients = createGradientMethod(cfg.gradients ?? 'plain', net);
  const state: LoopState = { epoch: 0, lr: cfg.lr, best: Infinity, bad: 0, rng: new Rng(cfg.seed ^ 0x5eed), history: [] };
  if (ck) restore(ck, cfg, net, opt, gradients, state);
  const quantLog = spec.quant ? new QuantizerLog(state.quantizerExponents) : null;
  const tracker = cfg.coherence ? new CoherenceTracker(cfg.coherence.every, state.coherence) : null;
  const probe = cfg.coherence?.probe ? coherenceProbe(net, data.train, cfg) : null;
  let stoppedAtEpoch: number | null = null;
  const resumedFromEpoch = state.epoch;
  const patience = cfg.plateauPatience ?? 2;

  const order = new Int32Array(data.train.count);
  const batchMs: number[] = [];
  const meter = cfg.meter;
  if (meter && state.epoch < cfg.epochs) await meter.measureIdle(cfg.idleSeconds ?? 3);
  for (let epoch = state.epoch + 1; epoch <= cfg.epochs; epoch++) {
    const t0 = performance.now();
    if (schedule) state.lr = schedule.at(epoch - 1);
    net.setTrainingProgress(cfg.epochs > 1 ? (epoch - 1) / (cfg.epochs - 1) : 0);
    for (let i = 0; i < order.length; i++) order[i] = i;
    state.rng.shuffle(order);
    const batches = Math.ceil(order.length / cfg.batch);
    hooks.onEpochStart?.(epoch, batches);
    let lossSum = 0;
    let correct = 0;
    let flipSum = 0;
    const epochMs: number[] = [];
    tracker?.beginEpoch();
    const startUnixMs = Date.now();
    meter?.start(`epoch ${epoch}`);
    for (let b = 0; b < batches; b++) {
      const offset = b * cfg.batch;
      const rows = Math.min(cfg.batch, order.length - offset);
      // a last batch of one example has no batch statistics: skip it
      if (rows < 2) continue;
      const tb = performance.now();
      const step = (epoch - 1) * batches + b + 1;
      const measure = tracker?.measures(step) ?? false;
      if (tracker) net.setCoherence(measure);
      const r = gradients.compute(data.train, order, offset, rows);
      if (measure) tracker!.record(step, net.coherenceStats());
      if (!Number.isFinite(r.loss))
        throw new TrainingError(
          `loss became ${r.loss} at epoch ${epoch}, batch ${b + 1}: training stopped${cfg.checkpoint && state.epoch > 0 ? `; the last good checkpoint (epoch ${state.epoch}) is ${cfg.checkpoint}` : ''}. Try a lower --lr.`,
        );
      opt.update(state.lr, gammaSchedule ? gammaSchedule.at(epoch - 1) : cfg.bop?.gamma);
      flipSum += opt.flipRatio() ?? 0;
      epochMs.push(performance.now() - tb);
      quantLog?.maybeRecord(net, step, batches);
      lossSum += r.loss * rows;
      correct += r.correct;
      hooks.onBatch?.(epoch, b + 1, r.loss);
      if (hooks.onBatch) await new Promise((res) => setImmediate(res)); // let progress output render
    }
    const reading = meter?.stop();
    const endUnixMs = Date.now();
    batchMs.push(...epochMs);
    const trainLoss = lossSum / order.length;
    const recal = cfg.bnRecalibrate ?? 20;
    if (recal > 0) net.recalibrateBatchNorm(data.train, recal);
    const test = net.evaluate(data.test);
    const record: EpochRecord = {
      epoch,
      lr: state.lr,
      trainLoss,
      trainAccuracy: correct / order.length,
      testLoss: test.loss,
      testAccuracy: test.accuracy,
      msPerBatchMedian: median(epochMs),
      seconds: (performance.now() - t0) / 1000,
    };
    if (opt.flipRatio() !== null) record.flipRatio = flipSum / Math.max(1, epochMs.length);
    if (quantLog) record.quantizers = quantizerStates(net, true);
    const coherence = tracker?.endEpoch();
    if (coherence) record.coherence = { ...coherence, ...(probe ? { probe: probe.run() } : {}) };
    if (cfg.noisyLabels) record.memorization = memorization(net, data.train, cfg.noisyLabels);
    if (coherence && flagsMemorization(state.history, record, cfg.memorizationDrop ?? 0.8)) record.memorizationSignal = true;
    if (meter && reading) {
      const per = (j: number | null, n: number) => (j === null ? null : j / n);
      const net_ = reading.netJoules ?? reading.joules;
      record.energy = {
        meter: meter.spec,
        measured: meter.measured,
        seconds: reading.seconds,
        joules: reading.joules,
        netJoules: reading.netJoules,
        joulesPerBatch: per(net_, epochMs.length),
        joulesPerSample: per(net_, order.length),
        watts: reading.watts,
        startNs: reading.startNs.toString(),
        endNs: reading.endNs.toString(),
        startUnixMs,
        endUnixMs,
      };
    }
    state.history.push(record);
    if (trainLoss < state.best * (1 - 1e-4)) {
      state.best = trainLoss;
      state.bad = 0;
    } else if (++state.bad >= patience && !schedule) {
      state.lr /= 2;
      state.bad = 0;
    }
    state.epoch = epoch;
    if (tracker) state.coherence = tracker.series;
    if (quantLog) state.quantizerExponents = quantLog.series;
    if (cfg.checkpoint) save(cfg, net, opt, gradients, state);
    hooks.onEpochEnd?.(record);
    if (record.memorizationSignal && cfg.stopOnMemorization) {
      stoppedAtEpoch = epoch;
      break;
    }
  }
  probe?.dispose();
  return {
    history: state.history,
    coherence: tracker?.series ?? null,
    quantizerExponents: quantLog?.series ?? null,
    stoppedAtEpoch,
    msPerBatchMedian: median(batchMs),
    batchesTimed: batchMs.length,
    network: net,
    modeled,
    resumedFromEpoch,
  };
}

/** The exact coherence probe on a fixed, seeded sample of the training set. */
function coherenceProbe(net: Network, train: DataSplit['train'], cfg: TrainConfig): CoherenceProbe {
  const m = Math.min(cfg.coherence!.probe!, train.count);
  const order = Int32Array.from({ length: train.count }, (_, i) => i);
  new Rng(cfg.seed ^ 0x9be).shuffle(order);
  const sample = order.slice(0, m);
  // a streamed data set: the probe keeps its own copy of its few examples
  const staged = stageRows(train, sample, 0, m);
  const own = { ...staged.data, images: staged.data.images.slice(), labels: staged.data.labels.slice() };
  return new CoherenceProbe(net, own, Int32Array.from(staged.order.subarray(staged.offset, staged.offset + m)), cfg.recipe);
}

/** Fractions of the noisy-label and clean training examples the network predicts as labelled. */
function memorization(net: Network, train: DataSplit['train'], noisy: Uint8Array) {
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

interface LoopState {
  coherence?: CoherenceSeries;
  quantizerExponents?: LayerSeries;
  epoch: number;
  lr: number;
  best: number;
  bad: number;
  rng: Rng;
  history: EpochRecord[];
}

function save(cfg: TrainConfig, net: Network, opt: Optimizer, gradients: GradientMethod, s: LoopState): void {
  const meta = {
    format: 'bitlearn-train',
    model: cfg.model,
    quant: cfg.quant ?? null,
    recipeName: cfg.recipeName,
    recipe: cfg.recipe,
    batch: cfg.batch,
    seed: cfg.seed,
    epoch: s.epoch,
    lr: s.lr,
    plateau: { best: s.best, bad: s.bad },
    rng: s.rng.state(),
    augment: Boolean(cfg.augment),
    augRng: net.input.augRng.state(),
    history: s.history,
    coherence: s.coherence ?? null,
    quantizerExponents: s.quantizerExponents ?? null,
    optimizer: opt.stateMeta(),
    gradients: { method: gradients.name, ...gradients.stateMeta() },
  };
  writeCheckpoint(cfg.checkpoint!, meta, { ...net.stateTensors(), ...opt.stateTensors(), ...gradients.stateTensors() });
}

function restore(ck: LoadedCheckpoint, cfg: TrainConfig, net: Network, opt: Optimizer, gradients: GradientMethod, s: LoopState): void {
  const m = ck.meta as Record<string, any>;
  const mismatch = (what: string, have: unknown, want: unknown) =>
    new TrainingError(`cannot resume from ${cfg.checkpoint}: it was trained with ${what} ${JSON.stringify(have)}, this run asks for ${JSON.stringify(want)}`);
  if (m.format !== 'bitlearn-train') throw new TrainingError(`${cfg.checkpoint} is not a training checkpoint`);
  if (m.model !== cfg.model) throw mismatch('model', m.model, cfg.model);
  if (JSON.stringify(m.quant ?? null) !== JSON.stringify(cfg.quant ?? null)) throw mismatch('quantization', m.quant ?? null, cfg.quant ?? null);
  if (!sameRecipe(withDefaults(m.recipe), cfg.recipe)) throw mismatch('recipe', m.recipe, cfg.recipe);
  if (m.batch !== cfg.batch) throw mismatch('batch', m.batch, cfg.batch);
  if (Boolean(m.augment) !== Boolean(cfg.augment)) throw mismatch('augmentation', Boolean(m.augment), Boolean(cfg.augment));
  const method = (m.gradients?.method as string | undefined) ?? 'plain';
  if (method !== gradients.name) throw mismatch('gradients', method, gradients.name);
  for (const [k, t] of Object.entries({ ...net.stateTensors(), ...opt.stateTensors(), ...gradients.stateTensors() })) restoreTensor(ck, k, t);
  gradients.restoreMeta(m.gradients);
  net.refreshDerived();
  opt.restoreMeta(m.optimizer);
  s.epoch = m.epoch;
  s.lr = m.lr;
  s.best = m.plateau.best ?? Infinity;
  s.bad = m.plateau.bad;
  s.rng = new Rng(Uint32Array.from(m.rng as number[]));
  if (m.augRng) net.input.augRng = new Rng(Uint32Array.from(m.augRng as number[]));
  s.history = m.history;
  s.coherence = m.coherence ?? undefined;
  s.quantizerExponents = m.quantizerExponents ?? undefined;
}
