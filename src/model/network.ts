// A network built for one model, recipe and batch size: every buffer allocated once, through
// the ledger, and reused for every step.
import type { Dataset } from '../data/dataset.js';
import type { Kernels } from '../kernels/kernels.js';
import { BatchNormLayer } from '../layers/batchnorm.js';
import type { Layer, Param, Workspace } from '../layers/layer.js';
import type { LayerCoherence } from '../coherence/coherence.js';
import { SoftmaxCrossEntropy } from '../layers/softmax-xent.js';
import { MemoryLedger } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import type { StateTensor } from '../storage/param-store.js';
import { Rng } from '../rng.js';
import { GradientStores, regionApplies } from './gradient-stores.js';
import { planActivationRegion } from './activation-region.js';
import { canApplyInBackward, dwTilesToOptimizer, sharedWeightGradSlots } from './shared-weight-grads.js';
import { InputStage } from './input.js';
import { createWorkspace } from './workspace.js';
import { winsorMinRows } from '../layers/winsorize.js';
import { fixedPointConfig, planModel, precisionKind, type ModelSpec, type PlannedLayer } from './spec.js';
import { workspaceSizes } from './sizes.js';
import { kindOf } from './kinds/registry.js';
import { scopePlan, type TrainScope } from './train-scope.js';
import { QuantWeightLayer } from '../layers/quant-layer.js';
import { BinaryWeightLayer } from '../layers/binary-weights.js';
import type { Floats } from '../ledger.js';

export interface NetworkOptions {
  spec: ModelSpec;
  recipe: Recipe;
  batch: number;
  kernels: Kernels;
  seed: number;
  ledger?: MemoryLedger;
  /** Random shift and horizontal flip of training images. */
  augment?: boolean;
  /** Threads for kernels that can use them (default 1). */
  threads?: number;
  /** Allocate the buffers gradient-coherence tracking needs (see setCoherence). */
  coherence?: boolean;
  /** Winsorized weight gradients with this c (dense layers only). */
  winsorize?: number;
  /** Train only part of the network (--train; default all): see src/model/train-scope.ts. */
  trainScope?: TrainScope;
  /**
   * Multiply the classifier's initial weights by this (fixed-point and float ReLU models; 0 only
   * for float weights). Small values make the first predictions nearly uniform.
   */
  outputInitScale?: number;
  /**
   * Place the activation gradients over the kept tensors of layers whose backward is done
   * (src/model/activation-region.ts; default true). False: two batch-sized stores of their own
   * (the same training bits, more memory).
   */
  overlayGradients?: boolean;
  /**
   * Weight gradients applied during backward, every layer's sharing one block
   * (src/model/shared-weight-grads.ts; binary models with float32 dW and Adam): computeGradients
   * then needs the optimizer's step and no gradient outlives its layer's backward.
   */
  applyInBackward?: boolean;
  /**
   * Sign layers keep z = x̂ + β as a tensor of their own even where they can rebuild it from the
   * batch norm's kept x̂ (src/layers/sign.ts, zFromBatchNorm): the papers' accounting, for
   * comparing with their figures. Only with overlayGradients: false (the activation region is
   * planned from the training layout).
   */
  keepZ?: boolean;
}

export interface StepResult {
  loss: number;
  correct: number;
}

export class Network {
  readonly ledger: MemoryLedger;
  readonly layers: Layer[] = [];
  /** What each of `layers` was built from (the exports ask its kind). */
  readonly plan: readonly PlannedLayer[];
  readonly input: InputStage;
  readonly loss: SoftmaxCrossEntropy;
  readonly batch: number;
  /** The kernels this network runs (its own instance, for kernels with their own memory). */
  readonly kernels: Kernels;
  private readonly grads: GradientStores;
  private readonly ws: Workspace;

  constructor(readonly opts: NetworkOptions) {
    const { spec, recipe, batch } = opts;
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch size must be a positive integer, got ${batch}`);
    this.batch = batch;
    let kernels = opts.kernels;
    let ledger = opts.ledger;
    if (kernels.instantiate) {
      if (ledger) throw new Error(`kernel set ${kernels.name} allocates its own buffers: do not pass a ledger`);
      ({ kernels, ledger } = kernels.instantiate({ threads: opts.threads }));
    }
    this.kernels = kernels;
    this.ledger = ledger ??= new MemoryLedger();
    const rng = new Rng(opts.seed);
    const plan = (this.plan = scopePlan(planModel(spec), opts.trainScope ?? { kind: 'all' }));
    if (precisionKind(spec) === 'fixed') checkFixedPointRecipe(recipe);
    const sizes = workspaceSizes(plan, batch, recipe.chunkRows);
    if (opts.winsorize && plan.some((l) => l.type === 'conv' || l.type === 'qconv' || l.type === 'pool'))
      throw new Error("winsorized gradients support dense layers only (conv layers would need every example's weight-gradient term per coordinate)");
    if (opts.winsorize && batch < winsorMinRows(opts.winsorize))
      throw new Error(`winsorizing ${opts.winsorize} values on each side needs a batch of at least ${winsorMinRows(opts.winsorize)}, got ${batch}`);
    const widestInput = Math.max(0, ...plan.map((l) => (l.type === 'dense' || l.type === 'qdense' ? l.nIn : 0)));
    const ws = (this.ws = createWorkspace(
      sizes,
      kernels,
      ledger,
      opts.coherence ? batch : 0,
      opts.winsorize ? { c: opts.winsorize, batch, widestInput } : null,
    ));
    const shared = opts.applyInBackward ? sharedWeightGradSlots(plan, spec, recipe, batch) : null;
    if (opts.applyInBackward && !canApplyInBackward(spec, recipe))
      throw new Error('gradients are applied during backward only for binary models with float32 dW and Adam');
    const sharedBlock = shared && ledger.block(shared.bytes);
    if (shared && sharedBlock) ledger.placeIn('weight-grads', sharedBlock, shared.slots, false);
    const region = opts.overlayGradients !== false && regionApplies(ledger) ? planActivationRegion(plan, spec, recipe, batch) : null;
    const block = region && ledger.block(region.bytes);
    if (region && block) ledger.placeIn('retained', block, region.slots);
    this.input = new InputStage(recipe.firstInput, spec.input, batch, ledger, opts.augment ?? false, opts.seed, kernels);
    const dwTiles = opts.applyInBackward ? dwTilesToOptimizer(plan, recipe) : undefined;
    if (opts.keepZ && opts.overlayGradients !== false) throw new Error('keepZ lays memory out as the papers count it: use it with overlayGradients: false');
    const context = { spec, recipe, batch, ws, ledger, rng, dwTilesToOptimizer: dwTiles, keepZ: opts.keepZ };
    for (const l of plan) this.layers.push(kindOf(l).build(l, { ...context, previous: this.layers.at(-1) }));
    ledger.endPlacement();
    if (shared && sharedBlock)
      ledger.account(
        new Uint8Array(sharedBlock.buffer, sharedBlock.byteOffset, 0),
        shared.bytes,
        'weight-grads',
        'shared',
        'weight gradients, one layer at a time (applied during backward)',
      );
    this.grads =
      region && block
        ? GradientStores.inRegion(region, block, recipe.dy, ledger, kernels)
        : GradientStores.shared(recipe.dy, sizes.grad, plan.length, ledger, kernels);
    this.loss = new SoftmaxCrossEntropy(spec.classes, batch, ws, ledger);
    if (opts.outputInitScale !== undefined && opts.outputInitScale !== 1) this.scaleClassifierInit(opts.outputInitScale);
  }

  /**
   * Why: a classifier whose first predictions are far from uniform pulls every example the same
   * way (toward the label marginal) in the first steps, whatever the labels; coherence
   * experiments start from nearly uniform predictions to measure only what the labels cause.
   */
  private scaleClassifierInit(scale: number): void {
    let last: QuantWeightLayer | undefined;
    for (const l of this.layers) if (l instanceof QuantWeightLayer) last = l;
    if (!last || (this.layers[this.layers.length - 1] as unknown) !== last)
      throw new Error(
        'an output init scale needs a fixed-point or float ReLU model (--quant): a binary classifier ends in batch norm, which sets the scale of its outputs',
      );
    if (!(scale >= 0 && scale <= 1)) throw new Error(`output init scale must be from 0 to 1, got ${scale}`);
    const w = last.weights;
    if (scale === 0 && w.format)
      throw new Error(
        `output init scale 0 needs float weights (--quant float): a ${w.format.bits}-bit power-of-two quantizer cannot take its scale from all-zero weights`,
      );
    for (let i = 0; i < w.w.length; i++) w.w[i] *= scale;
    w.restartScale();
  }

  /** Fraction of training done (0 .. 1), for what changes over training (ReSTE, the stable exponent, batch-norm folding). */
  setTrainingProgress(p: number): void {
    for (const l of this.layers) l.setTrainingProgress?.(p);
    const foldAt = fixedPointConfig(this.opts.spec)?.bnFoldAt;
    if (foldAt !== undefined && foldAt !== null && p >= foldAt) this.foldBatchNorms();
  }

  /** Fixed-point models: fold every batch norm (running statistics) into the weight layer before it. */
  foldBatchNorms(): void {
    let owner: QuantWeightLayer | null = null;
    for (const l of this.layers) {
      if (l instanceof QuantWeightLayer) owner = l;
      else if (l instanceof BatchNormLayer && !l.folded) {
        if (!owner) throw new Error(`${l.name}: no weight layer to fold into`);
        owner.foldBatchNorm(l.runMean, l.runSigma, l.beta.raw as Floats);
        l.markFolded();
      }
    }
  }

  /** Measure gradient coherence in the backward passes that follow (needs opts.coherence). */
  setCoherence(on: boolean): void {
    if (!this.ws.coherence) throw new Error('this network was built without coherence buffers (NetworkOptions.coherence)');
    this.ws.coherence.active = on;
    if (on) for (const l of this.layers) if (l.lastCoherence !== undefined) l.lastCoherence = null;
  }

  /** Per weight layer, what the last coherence backward measured. */
  coherenceStats(): LayerCoherence[] {
    return this.layers.flatMap((l) => (l.lastCoherence ? [l.lastCoherence] : []));
  }

  params(): Param[] {
    return this.layers.flatMap((l) => l.params());
  }

  /** Stop the kernel threads; call when done with the network. */
  dispose(): void {
    this.kernels.dispose?.();
  }

  /** Everything that defines the trained model, keyed `layer.tensor`. */
  stateTensors(): Record<string, StateTensor> {
    const out: Record<string, StateTensor> = {};
    for (const l of this.layers) for (const [k, t] of Object.entries(l.state())) out[`${l.name}.${k}`] = t;
    return out;
  }

  /**
   * The binary weight tensors, keyed as stateTensors: rows × cols, whether they are stored as packed
   * sign bits (tiny's, frozen layers' of a partial update) and the initial draw's deviation (so a
   * checkpoint's latent weights convert into bits, and bits into latent weights).
   */
  binaryWeights(): Record<string, { rows: number; cols: number; bits: boolean; initStd: number }> {
    const out: Record<string, { rows: number; cols: number; bits: boolean; initStd: number }> = {};
    for (const l of this.layers)
      if (l instanceof BinaryWeightLayer) {
        const w = l.weights;
        out[`${l.name}.W`] = { rows: w.rows, cols: w.cols, bits: w.latent.format === 'bit', initStd: w.initStd };
      }
    return out;
  }

  /** Re-derive cached forms (packed binary weights) after parameters were loaded. */
  refreshDerived(): void {
    for (const l of this.layers) {
      if (l.refresh) l.refresh();
      else for (const p of l.params()) p.afterUpdate?.();
    }
  }

  private forward(data: Dataset, order: Int32Array, offset: number, rows: number, training: boolean, predicted?: Int32Array): StepResult {
    let a = this.input.load(data, order, offset, rows, training);
    for (const layer of this.layers) a = layer.forward(a, rows * layer.rowsPerExample, training);
    return this.loss.forward(a, this.input.labels, rows, predicted);
  }

  /**
   * Forward and backward on examples order[offset .. offset+rows): gradients land in the params.
   * `onlyExample`: backward from that example's loss term alone (batch statistics unchanged).
   * `apply`: the optimizer's step (Optimizer.stepper), given each layer's parameters as soon as
   * its backward is done (needed where the network applies its gradients during backward).
   */
  computeGradients(data: Dataset, order: Int32Array, offset: number, rows: number, onlyExample = -1, apply?: (params: Param[]) => void): StepResult {
    if (this.opts.applyInBackward && !apply) throw new Error('internal: this network applies its gradients during backward: pass the optimizer step');
    const result = this.forward(data, order, offset, rows, true);
    // applied during backward, a step from a non-finite loss would reach the weights before the caller sees it
    if (apply && !Number.isFinite(result.loss)) return result;
    let grad = this.loss.backward(this.grads.begin(), rows, onlyExample);
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l];
      const out = layer.backward(grad, this.grads.spare(l), rows * layer.rowsPerExample);
      apply?.(layer.params());
      if (!out) break;
      this.grads.passed(l, grad, out);
      grad = out;
    }
    return result;
  }

  /**
   * Re-estimate every batch norm's running statistics as the plain average over `batches`
   * batches of `data` (in order) with the current weights. Binary weights flip from step to
   * step, so an exponential average over training steps can describe weights that no longer
   * exist; inference then needs statistics of the final weights. No weight changes.
   */
  recalibrateBatchNorm(data: Dataset, batches: number): void {
    const bns = this.layers.filter((l): l is BatchNormLayer => l instanceof BatchNormLayer);
    if (!bns.length) return; // fixed-point models: nothing to re-estimate (and their forwards would move quantizer state)
    for (const bn of bns) bn.recalibrate(true);
    const order = new Int32Array(data.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    for (let b = 0; b < batches; b++) {
      const offset = b * this.batch;
      const rows = Math.min(this.batch, data.count - offset);
      if (rows < 2) break;
      this.forward(data, order, offset, rows, true);
    }
    for (const bn of bns) bn.recalibrate(false);
  }

  /**
   * Inference with running batch-norm statistics over a whole data set; with `predicted`
   * (data.count entries), each example's predicted class is written there.
   */
  evaluate(data: Dataset, predicted?: Int32Array, probabilities?: Float32Array): { loss: number; accuracy: number } {
    const order = new Int32Array(data.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    const K = this.loss.classes;
    let loss = 0;
    let correct = 0;
    for (let off = 0; off < data.count; off += this.batch) {
      const rows = Math.min(this.batch, data.count - off);
      const r = this.forward(data, order, off, rows, false, predicted?.subarray(off, off + rows));
      probabilities?.set(this.loss.probabilities(rows), off * K);
      loss += r.loss * rows;
      correct += r.correct;
    }
    return { loss: loss / data.count, accuracy: correct / data.count };
  }

  /**
   * Inference on every example of `data` (its labels are ignored): the class of each, and with
   * `probabilities` (count × classes) the softmax of its logits.
   */
  predict(data: Dataset, classes: Int32Array, probabilities?: Float32Array): void {
    this.evaluate(data, classes, probabilities);
  }
}

/**
 * Fixed-point layers keep float32 latent weights and dW and train with Adam; of the other knobs,
 * dy, moments, firstInput, poolMask and actInput (bit: activations kept as integer codes) apply.
 */
export function checkFixedPointRecipe(recipe: Recipe): void {
  const wrong = (['weights', 'dw', 'optimizer'] as const).filter((k) => recipe[k] !== ({ weights: 'float32', dw: 'float32', optimizer: 'adam' } as const)[k]);
  if (wrong.length)
    throw new Error(
      `fixed-point models train float32 latent weights with a float32 dW and Adam; the recipe sets ` +
        `${wrong.map((k) => `${k}=${recipe[k]}`).join(', ')} (use --recipe standard; dy, moments, firstInput, poolMask and actInput apply)`,
    );
}
