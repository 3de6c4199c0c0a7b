// A run's training state in its checkpoint: what is saved after each epoch, the run's identity
// (everything that must be the same for a resumed run to continue the same training), and the
// strict check of a loaded checkpoint before any of it is used.
import { describeScope, runTrainScope } from '../model/train-scope.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readCheckpoint, restoreTensor, writeCheckpoint, type LoadedCheckpoint } from '../checkpoint.js';
import type { CoherenceSeries } from '../coherence/tracker.js';
import { exampleBytes, stageRows, type DataSplit, type Dataset, type InputMeta } from '../data/dataset.js';
import { definitionOf } from '../model/definition.js';
import { isModelFile } from '../model/models.js';
import type { Network } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';
import type { LayerSeries } from '../model/quantizer-log.js';
import type { Optimizer } from '../optim/optimizer.js';
import { KNOB_VALUES, withDefaults, type Recipe, type RecipeKnob } from '../recipe.js';
import { Rng } from '../rng.js';
import type { GradientMethod } from './gradient-methods.js';
import { TrainingError, type EpochRecord, type TrainConfig } from './records.js';

/** What the loop carries from epoch to epoch (and a checkpoint restores). */
export interface LoopState {
  coherence?: CoherenceSeries;
  quantizerExponents?: LayerSeries;
  epoch: number;
  lr: number;
  best: number;
  bad: number;
  rng: Rng;
  history: EpochRecord[];
}

/** The options that define a run, each with the words an error uses for it. */
const IDENTITY_LABELS: Record<string, string> = {
  model: 'model',
  quant: 'quantization (--quant)',
  recipe: 'recipe',
  batch: 'batch',
  seed: 'seed',
  lr: 'learning rate (--lr)',
  lrSchedule: 'learning-rate schedule',
  patience: 'plateau patience',
  augment: 'augmentation',
  bnRecalibrate: 'batch-norm recalibration',
  gradients: 'gradients',
  winsorC: 'winsorization (--winsor-c)',
  bop: 'Bop settings',
  outputInitScale: 'output init scale',
  init: 'initialization (--init)',
  trainScope: 'training scope (--train)',
  data: 'data set',
};

export type RunIdentity = Record<keyof typeof IDENTITY_LABELS, unknown>;

export function runIdentity(cfg: TrainConfig, spec: ModelSpec, data: DataSplit): RunIdentity {
  return {
    // a built-in model by its name (as checkpoints always stored it), any other by its definition
    model: cfg.spec || isModelFile(cfg.model) ? definitionOf(spec) : cfg.model,
    quant: cfg.quant ?? null,
    recipe: canonicalRecipe(cfg.recipe),
    batch: cfg.batch,
    seed: cfg.seed,
    lr: cfg.lr,
    lrSchedule: cfg.lrSchedule ?? null,
    patience: cfg.plateauPatience ?? 2,
    augment: Boolean(cfg.augment),
    bnRecalibrate: cfg.bnRecalibrate ?? 20,
    gradients: cfg.gradients ?? 'plain',
    winsorC: cfg.gradients === 'winsorized' ? (cfg.winsorC ?? 1) : null,
    bop: cfg.recipe.optimizer === 'bop' ? { gamma: cfg.bop?.gamma ?? null, tau: cfg.bop?.tau ?? null, gammaSchedule: cfg.bop?.gammaSchedule ?? null } : null,
    outputInitScale: cfg.outputInitScale ?? null,
    init: cfg.init ? { from: cfg.init, newHead: Boolean(cfg.newHead) } : null,
    trainScope: cfg.trainScope ?? 'all',
    data: dataFingerprint(data),
  };
}

function canonicalRecipe(r: Partial<Recipe>): Record<string, unknown> {
  const full = withDefaults(r);
  return Object.fromEntries((Object.keys(KNOB_VALUES) as RecipeKnob[]).map((k) => [k, full[k]]));
}

/** Which data, not where it came from: sizes, a hash of every label and of the first examples' values. */
function dataFingerprint(data: DataSplit): Record<string, unknown> {
  const hash = createHash('sha256');
  const part = (d: Dataset) => {
    hash.update(d.labels.subarray(0, d.count));
    const k = Math.min(16, d.count);
    const staged = stageRows(
      d,
      Int32Array.from({ length: k }, (_, i) => i),
      0,
      k,
    );
    for (let i = 0; i < k; i++) {
      const row = staged.order[staged.offset + i];
      hash.update(exampleBytes(staged.data, row, 1));
    }
  };
  part(data.train);
  part(data.test);
  return { name: data.train.name, train: data.train.count, test: data.test.count, features: data.train.features, content: hash.digest('hex').slice(0, 16) };
}

/** Identity of a checkpoint written before identities were saved: the fields it did record. */
function storedIdentity(m: Record<string, unknown>): Partial<RunIdentity> {
  if (isObject(m.run)) return m.run;
  const gradients = isObject(m.gradients) ? (m.gradients.method ?? 'plain') : 'plain';
  return {
    model: m.model,
    quant: m.quant ?? null,
    recipe: isObject(m.recipe) ? canonicalRecipe(m.recipe) : m.recipe,
    batch: m.batch,
    augment: Boolean(m.augment),
    gradients,
  };
}

/** "seed 1 (this run: 5)", one entry per field the stored identity has and this run changes. */
function differences(stored: Partial<RunIdentity>, current: RunIdentity): string[] {
  return Object.keys(IDENTITY_LABELS)
    .filter((k) => k in stored && JSON.stringify(stored[k]) !== JSON.stringify(current[k]))
    .map((k) =>
      k === 'data' ? dataDifference(stored.data, current.data) : `${IDENTITY_LABELS[k]} ${describe(stored[k])} (this run: ${describe(current[k])})`,
    );
}

function dataDifference(stored: unknown, current: unknown): string {
  const text = (d: unknown) => {
    const x = d as { name?: string; train?: number; test?: number };
    return `${x.name}, ${x.train} training and ${x.test} test examples`;
  };
  return text(stored) === text(current) ? `other data (${text(stored)}, but other labels or images)` : `data ${text(stored)} (this run: ${text(current)})`;
}

function describe(v: unknown): string {
  const text = typeof v === 'string' ? v : v === undefined ? 'none' : JSON.stringify(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * A fresh run (no --resume) never replaces the checkpoint of another run, nor a checkpoint of
 * the same run (it would restart it from epoch 0), unless told to (`overwrite`).
 */
export function checkReplaceable(cfg: TrainConfig, identity: RunIdentity): void {
  const path = cfg.checkpoint;
  if (!path || cfg.resume || cfg.overwrite || !existsSync(path)) return;
  const options = '--resume continues it, --overwrite replaces it, --checkpoint FILE (or --no-checkpoint) keeps it';
  let meta: Record<string, unknown>;
  try {
    meta = readCheckpoint(path).meta;
  } catch {
    throw new TrainingError(`checkpoint ${path} exists and is not a readable bitlearn checkpoint: --overwrite replaces it, --checkpoint FILE writes elsewhere`);
  }
  const diff = differences(storedIdentity(meta), identity);
  const held = diff.length ? `another run (${diff.join('; ')})` : `this run at epoch ${String(meta.epoch)}`;
  throw new TrainingError(`checkpoint ${path} already holds ${held}: ${options}`);
}

export function saveState(
  cfg: TrainConfig,
  spec: ModelSpec,
  identity: RunIdentity,
  net: Network,
  opt: Optimizer,
  gradients: GradientMethod,
  s: LoopState,
  input: InputMeta,
): void {
  const meta = {
    format: 'bitlearn-train',
    run: identity,
    model: cfg.model,
    /** The whole model: a checkpoint loads in a fresh process with nothing else. */
    definition: definitionOf(spec),
    input,
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
    /** Which layers trained (frozen ones are stored as sign bits: a loader builds them so). */
    trainScope: describeScope(runTrainScope(cfg.trainScope, Boolean(cfg.newHead))),
    optimizer: opt.stateMeta(),
    gradients: { method: gradients.name, ...gradients.stateMeta() },
  };
  writeCheckpoint(cfg.checkpoint!, meta, { ...net.stateTensors(), ...opt.stateTensors(), ...gradients.stateTensors() });
}

export function restoreState(
  ck: LoadedCheckpoint,
  cfg: TrainConfig,
  identity: RunIdentity,
  net: Network,
  opt: Optimizer,
  gradients: GradientMethod,
  s: LoopState,
): void {
  const path = cfg.checkpoint;
  const m = ck.meta;
  if (m.format !== 'bitlearn-train') throw new TrainingError(`${path} is not a training checkpoint`);
  if (m.weightsOnly)
    throw new TrainingError(`cannot resume from ${path}: it holds trained weights only (export --format weights); start a new run from it with --init ${path}`);
  const diff = differences(storedIdentity(m), identity);
  if (diff.length)
    throw new TrainingError(`cannot resume from ${path}: it was trained with ${diff.join('; ')}: resume with the run's own options (only --epochs may change)`);
  const v = checkMeta(m, `cannot resume from ${path}`);
  try {
    for (const [k, t] of Object.entries({ ...net.stateTensors(), ...opt.stateTensors(), ...gradients.stateTensors() })) restoreTensor(ck, k, t);
    gradients.restoreMeta(m.gradients as object);
    opt.restoreMeta(m.optimizer as Record<string, unknown>);
  } catch (e) {
    throw new TrainingError(`cannot resume from ${path}: ${(e as Error).message}`);
  }
  net.refreshDerived();
  s.epoch = v.epoch;
  s.lr = v.lr;
  s.best = v.best;
  s.bad = v.bad;
  s.rng = new Rng(Uint32Array.from(v.rng));
  if (v.augRng) net.input.augRng = new Rng(Uint32Array.from(v.augRng));
  s.history = v.history;
  s.coherence = (m.coherence as CoherenceSeries | null) ?? undefined;
  s.quantizerExponents = (m.quantizerExponents as LayerSeries | null) ?? undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The loop-state fields of a checkpoint, each checked (a hand-edited or foreign file stops here). */
function checkMeta(m: Record<string, unknown>, context: string) {
  const bad = (field: string, why: string) => new TrainingError(`${context}: field "${field}" ${why}`);
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const rngState = (v: unknown) =>
    Array.isArray(v) && v.length === 4 && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff) && v.some((x) => x !== 0);
  if (!count(m.epoch)) throw bad('epoch', `must be a whole number >= 0, is ${describe(m.epoch)}`);
  const epoch = m.epoch as number;
  if (typeof m.lr !== 'number' || !(m.lr > 0) || !Number.isFinite(m.lr)) throw bad('lr', `must be a positive number, is ${describe(m.lr)}`);
  const plateau = m.plateau;
  if (!isObject(plateau)) throw bad('plateau', 'is missing');
  // Infinity (no epoch yet) is stored as null by JSON
  if (plateau.best !== null && (typeof plateau.best !== 'number' || !Number.isFinite(plateau.best)))
    throw bad('plateau.best', `must be a number, is ${describe(plateau.best)}`);
  if (!count(plateau.bad)) throw bad('plateau.bad', `must be a whole number >= 0, is ${describe(plateau.bad)}`);
  if (!rngState(m.rng)) throw bad('rng', 'is not a random-generator state (4 words, not all zero)');
  if (m.augRng !== undefined && m.augRng !== null && !rngState(m.augRng)) throw bad('augRng', 'is not a random-generator state');
  if (!Array.isArray(m.history) || m.history.length !== epoch) throw bad('history', `must list the ${epoch} epochs done`);
  m.history.forEach((r: unknown, i: number) => {
    if (!isObject(r) || r.epoch !== i + 1 || typeof r.trainLoss !== 'number' || typeof r.lr !== 'number')
      throw bad(`history[${i}]`, `is not the record of epoch ${i + 1}`);
  });
  if (!isObject(m.optimizer) || !count(m.optimizer.step) || !Array.isArray(m.optimizer.scales)) throw bad('optimizer', 'is not an optimizer state');
  if (m.gradients !== undefined && !isObject(m.gradients)) throw bad('gradients', 'is not a gradient-method state');
  for (const f of ['coherence', 'quantizerExponents'] as const)
    if (m[f] !== undefined && m[f] !== null && !(isObject(m[f]) && Array.isArray((m[f] as Record<string, unknown>).steps))) throw bad(f, 'is not a series');
  return {
    epoch,
    lr: m.lr,
    best: plateau.best === null ? Infinity : (plateau.best as number),
    bad: plateau.bad as number,
    rng: m.rng as number[],
    augRng: (m.augRng as number[] | null | undefined) ?? null,
    history: m.history as EpochRecord[],
  };
}
