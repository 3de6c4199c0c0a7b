// The training loop: epochs of shuffled mini-batches, the optimizer, evaluation on the test split,
// learning rate halved on plateau (or a schedule), a checkpoint every epoch, resume, and a clean
// stop on request. The checks before the first step live in preflight.ts, the checkpoint's
// training state in state.ts, the memorization signal in memorization.ts.
import { availableParallelism } from 'node:os';
import { readCheckpoint } from '../checkpoint.js';
import { CoherenceProbe } from './coherence-probe.js';
import { CoherenceTracker } from '../coherence/tracker.js';
import { ownedCopy, stageRows, type DataSplit, type InputMeta } from '../data/dataset.js';
import { lockFile } from '../file-lock.js';
import { selectKernels } from '../kernels/select.js';
import { parseLrSchedule, type LrSchedule } from '../lr-schedule.js';
import { modelMemory, type MemoryModel } from '../model/memory-model.js';
import { runTrainScope, type TrainScope } from '../model/train-scope.js';
import { Network } from '../model/network.js';
import { QuantizerLog, quantizerStates } from '../model/quantizer-log.js';
import { inputFeatures, planModel, precisionKind, type ModelSpec } from '../model/spec.js';
import { modelSpec } from '../model/models.js';
import { createOptimizer, type Optimizer } from '../optim/optimizer.js';
import { Rng } from '../rng.js';
import { createGradientMethod, type GradientMethod } from './gradient-methods.js';
import { canApplyInBackward } from '../model/shared-weight-grads.js';
import { flagsMemorization, memorization } from './memorization.js';
import { checkDiskSpace, checkFits, checkOutputPath, kernelMemoryLimit } from './preflight.js';
import { initFromCheckpoint } from './init.js';
import { median } from '../stats.js';
import { TrainingError, type EpochRecord, type TrainConfig, type TrainHooks, type TrainResult } from './records.js';
import { checkReplaceable, restoreState, runIdentity, saveState, type LoopState, type RunIdentity } from './state.js';

/** More kernel threads than this is a typing mistake, not a machine. */
export const MAX_THREADS = 256;

function validate(cfg: TrainConfig, data: DataSplit): void {
  const posInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new TrainingError(`${what} must be a positive integer, got ${v}`);
  };
  posInt(cfg.batch, 'batch size');
  posInt(cfg.epochs, 'epochs');
  if (!(cfg.lr > 0) || !Number.isFinite(cfg.lr)) throw new TrainingError(`learning rate must be a positive number, got ${cfg.lr}`);
  if (cfg.batch > data.train.count) throw new TrainingError(`batch size ${cfg.batch} is larger than the training set (${data.train.count} examples)`);
  if (cfg.resume && !cfg.checkpoint) throw new TrainingError('resume needs a checkpoint file');
  if (cfg.init && cfg.resume) throw new TrainingError('--init starts a new run from another checkpoint; --resume continues this one: give one of them');
  if (cfg.newHead && !cfg.init) throw new TrainingError('--new-head replaces the classifier of the --init checkpoint: give --init');
  if (cfg.threads !== undefined && (!Number.isInteger(cfg.threads) || cfg.threads < 1 || cfg.threads > MAX_THREADS))
    throw new TrainingError(`threads must be a whole number from 1 to ${MAX_THREADS}, got ${cfg.threads}`);
}

/** The run's --train scope, parsed and checked against the model (one line naming the option when it does not fit). */
function scopeOf(cfg: TrainConfig): TrainScope {
  try {
    // a new classifier starts from scratch: it trains whatever else is frozen
    return runTrainScope(cfg.trainScope, Boolean(cfg.newHead));
  } catch (e) {
    throw new TrainingError((e as Error).message);
  }
}

export async function train(cfg: TrainConfig, data: DataSplit, hooks: TrainHooks = {}): Promise<TrainResult> {
  validate(cfg, data);
  const spec = cfg.spec ?? modelSpec(cfg.model, cfg.quant);
  checkDataShape(spec, data);
  if ((cfg.gradients === 'm3' || cfg.gradients === 'winsorized') && cfg.coherence)
    throw new TrainingError(`${cfg.gradients} changes how the batch gradient is formed: measure coherence with --gradients plain or rm3`);
  const kernels = selectKernels(cfg.kernels);
  const trainScope = scopeOf(cfg);
  // plain training updates each layer as soon as its backward is done (one layer's weight
  // gradients live at a time); coherence and the robust gradient methods need them all at once
  const applyInBackward = canApplyInBackward(spec, cfg.recipe) && !cfg.coherence && (cfg.gradients ?? 'plain') === 'plain';
  const modeled = modelMemory(spec, cfg.recipe, cfg.batch, {
    applyInBackward,
    trainScope,
    augment: cfg.augment,
    coherence: Boolean(cfg.coherence),
    gradients: cfg.gradients,
    winsorC: cfg.winsorC,
  });
  checkFits(spec, cfg.recipe, cfg.batch, {
    augment: cfg.augment,
    budget: cfg.ramBudget,
    engineBytes: modeled.total,
    kernelLimit: kernelMemoryLimit(kernels.name),
  });
  // the run's identity (it hashes the data) matters only to a checkpoint
  const identity = cfg.checkpoint ? runIdentity(cfg, spec, data) : null;
  if (cfg.checkpoint) {
    checkOutputPath(cfg.checkpoint, 'checkpoint');
    checkReplaceable(cfg, identity!);
  }

  // schedules are checked at every epoch of the run before the first step
  const schedule = cfg.lrSchedule ? await parseLrSchedule(cfg.lrSchedule, { epochs: cfg.epochs, what: 'learning-rate schedule' }) : null;
  const gammaSchedule = cfg.bop?.gammaSchedule ? await parseLrSchedule(cfg.bop.gammaSchedule, { epochs: cfg.epochs, what: 'Bop gamma schedule' }) : null;
  const ck = cfg.resume ? readCheckpoint(cfg.checkpoint!) : null;
  const net = new Network({
    spec,
    recipe: cfg.recipe,
    batch: cfg.batch,
    kernels,
    seed: cfg.seed,
    augment: cfg.augment,
    threads: cfg.threads ?? availableParallelism(),
    coherence: Boolean(cfg.coherence),
    winsorize: cfg.gradients === 'winsorized' ? (cfg.winsorC ?? 1) : undefined,
    outputInitScale: cfg.outputInitScale,
    trainScope,
    applyInBackward,
  });
  const init = cfg.init
    ? initFromCheckpoint(cfg.init, net, spec, { newHead: Boolean(cfg.newHead), data: data.train, recalibrate: cfg.bnRecalibrate ?? 20 })
    : null;
  const opt = createOptimizer(net.params(), cfg.recipe, net.ledger, net.kernels, { gamma: cfg.bop?.gamma, tau: cfg.bop?.tau });
  const gradients = createGradientMethod(cfg.gradients ?? 'plain', net);
  const state: LoopState = { epoch: 0, lr: cfg.lr, best: Infinity, bad: 0, rng: new Rng(cfg.seed ^ 0x5eed), history: [] };
  if (ck) restoreState(ck, cfg, identity!, net, opt, gradients, state);
  let release = () => {};
  if (cfg.checkpoint) {
    const bytes = Object.values({ ...net.stateTensors(), ...opt.stateTensors(), ...gradients.stateTensors() }).reduce((s, t) => s + t.byteLength, 0);
    checkDiskSpace(cfg.checkpoint, 'checkpoint', bytes + 2 ** 20);
    release = lockFile(cfg.checkpoint, 'checkpoint');
  }
  try {
    const result = await runEpochs(cfg, data, hooks, { spec, net, opt, gradients, state, schedule, gammaSchedule, modeled, identity });
    return { ...result, initializedFrom: init ? { checkpoint: cfg.init!, ...init } : null };
  } finally {
    release();
  }
}

interface RunParts {
  spec: ModelSpec;
  net: Network;
  opt: Optimizer;
  gradients: GradientMethod;
  state: LoopState;
  schedule: LrSchedule | null;
  gammaSchedule: LrSchedule | null;
  modeled: MemoryModel;
  identity: RunIdentity | null;
}

async function runEpochs(cfg: TrainConfig, data: DataSplit, hooks: TrainHooks, parts: RunParts): Promise<TrainResult> {
  const { spec, net, opt, gradients, state, schedule, gammaSchedule, modeled, identity } = parts;
  const quantLog = precisionKind(spec) !== 'binary' ? new QuantizerLog(state.quantizerExponents) : null;
  const tracker = cfg.coherence ? new CoherenceTracker(cfg.coherence.every, state.coherence) : null;
  const probe = cfg.coherence?.probe ? coherenceProbe(net, data.train, cfg) : null;
  let stoppedAtEpoch: number | null = null;
  let interrupted: TrainResult['interrupted'] = null;
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
    /** A sampling meter measures each batch too: the integral read at its bounds. */
    const batchJoules: number[] | null = meter?.joulesSoFar ? [] : null;
    for (let b = 0; b < batches; b++) {
      const offset = b * cfg.batch;
      const rows = Math.min(cfg.batch, order.length - offset);
      // a last batch of one example has no batch statistics: skip it
      if (rows < 2) continue;
      const tb = performance.now();
      const e0 = batchJoules ? meter!.joulesSoFar!() : 0;
      const step = (epoch - 1) * batches + b + 1;
      const measure = tracker?.measures(step) ?? false;
      if (tracker) net.setCoherence(measure);
      const r = net.opts.applyInBackward
        ? net.computeGradients(data.train, order, offset, rows, -1, opt.stepper!(state.lr))
        : gradients.compute(data.train, order, offset, rows);
      if (measure) tracker!.record(step, net.coherenceStats());
      if (!Number.isFinite(r.loss))
        throw new TrainingError(
          `loss became ${r.loss} at epoch ${epoch}, batch ${b + 1}: training ` +
            `stopped${cfg.checkpoint && state.epoch > 0 ? `; the last good checkpoint (epoch ${state.epoch}) is ${cfg.checkpoint}` : ''}. Try a lower --lr.`,
        );
      if (!net.opts.applyInBackward) opt.update(state.lr, gammaSchedule ? gammaSchedule.at(epoch - 1) : cfg.bop?.gamma);
      flipSum += opt.flipRatio() ?? 0;
      epochMs.push(performance.now() - tb);
      batchJoules?.push(meter!.joulesSoFar!() - e0);
      quantLog?.maybeRecord(net, step, batches);
      lossSum += r.loss * rows;
      correct += r.correct;
      hooks.onBatch?.(epoch, b + 1, r.loss);
      // let progress output render and a Ctrl-C handler run
      if (hooks.onBatch || cfg.signal) await new Promise((res) => setImmediate(res));
      if (cfg.signal?.aborted) {
        interrupted = { epoch, batch: b + 1, batches };
        break;
      }
    }
    if (interrupted) {
      meter?.stop();
      break;
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
        ...(reading.detail ? { sampling: reading.detail } : {}),
        ...(batchJoules?.length
          ? { batchJoules: { median: median(batchJoules), min: Math.min(...batchJoules), max: Math.max(...batchJoules), batches: batchJoules.length } }
          : {}),
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
    if (identity) saveState(cfg, spec, identity, net, opt, gradients, state, inputMeta(data.train));
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
    initializedFrom: null,
    interrupted,
  };
}

/**
 * The data's examples have the model's input shape: as many values, the same image shape in both
 * splits, and, for a model that starts with a convolution, the model's height x width x channels.
 */
function checkDataShape(spec: ModelSpec, data: DataSplit): void {
  const text = (s: { h: number; w: number; c: number }) => `${s.h}x${s.w}x${s.c}`;
  const a = data.train.shape;
  const b = data.test.shape;
  if (a && b && text(a) !== text(b)) throw new TrainingError(`the training images are ${text(a)} but the test images are ${text(b)}`);
  for (const d of [data.train, data.test]) {
    if (d.features !== inputFeatures(spec))
      throw new TrainingError(
        `model ${spec.name} takes ${inputFeatures(spec)} inputs per example, data set ${d.name} has ${d.features}` +
          (d.values ? ` (a model file with "input": {"features": ${d.features}} takes them: docs/models.md)` : ''),
      );
    if (d.classes > spec.classes)
      throw new TrainingError(`data set ${d.name} has ${d.classes} classes (labels 0 to ${d.classes - 1}), model ${spec.name} has ${spec.classes}`);
    if (d.values && firstQuantizesInput(spec))
      throw new TrainingError(
        `model ${spec.name} quantizes its input to 8-bit pixel codes; data set ${d.name} holds float features: use a binary model or "precision": "float"`,
      );
    const s = d.shape;
    if (s && spec.ops.length && 'conv' in spec.ops[0] && text(s) !== text(spec.input))
      throw new TrainingError(`model ${spec.name} takes ${text(spec.input)} images, data set ${d.name} holds ${text(s)}`);
  }
}

/** Whether the model's first layer turns its input into 8-bit codes (a fixed-point first layer with quantized activations). */
function firstQuantizesInput(spec: ModelSpec): boolean {
  const l = planModel(spec).find((p) => p.type === 'dense' || p.type === 'conv' || p.type === 'qdense' || p.type === 'qconv');
  return l !== undefined && (l.type === 'qdense' || l.type === 'qconv') && l.quant.actBits !== null;
}

/** What a checkpoint needs to prepare new inputs as training did: the standardization and the class names. */
function inputMeta(d: DataSplit['train']): InputMeta {
  const n = d.normalization;
  return {
    kind: d.values ? 'features' : 'pixels',
    ...(n ? { normalization: { mean: Array.from(n.mean), std: Array.from(n.std) } } : {}),
    ...(d.classNames ? { classNames: d.classNames } : {}),
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
  const own = ownedCopy(staged.data);
  return new CoherenceProbe(net, own, Int32Array.from(staged.order.subarray(staged.offset, staged.offset + m)), cfg.recipe);
}
