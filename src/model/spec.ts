// Model specifications and their plan: the list of layers with their shapes, which the network
// builder and the memory model both read. Built-in models and model files: models.ts.
import { convGeometry, type ConvGeometry } from '../kernels/conv-geometry.js';
import type { QuantConfig } from '../../quant/quant-config.js';
import type { ScopeFlags } from '../layers/layer.js';

/**
 * A hidden layer. `quant` on a weight layer sets its own precision: a QuantConfig (fixed point or
 * float), or null for binary; left out, the layer takes the model's (spec.quant).
 */
export type ModelOp =
  | { conv: number; padding: 'valid' | 'same'; kernel?: number; stride?: number; quant?: QuantConfig | null }
  /** Max-pooling: size × size windows with stride = size. */
  | { pool: number }
  /** Average pooling: size × size windows with stride = size, or the whole map ('global'). */
  | { avgpool: number | 'global' }
  | { dense: number; quant?: QuantConfig | null };

/** Whether an op has weights (a convolution or a dense layer). */
export function isWeightOp(op: ModelOp): op is Extract<ModelOp, { conv: number } | { dense: number }> {
  return 'conv' in op || 'dense' in op;
}

export interface ModelSpec {
  name: string;
  input: { h: number; w: number; c: number };
  classes: number;
  /** Hidden layers in order; the classifier (dense to `classes` + BN) is added at the end. */
  ops: ModelOp[];
  /** BinaryNet style: conv → max-pool → BN → sign (else conv → BN → sign → max-pool). */
  poolBeforeBn?: boolean;
  /** A fixed-point (or float32) ReLU network instead of a binary one: dense + bias → ReLU + activation quantizer. */
  quant?: QuantConfig;
  /** The classifier's own precision (as ModelOp.quant); left out, the model's. */
  classifierQuant?: QuantConfig | null;
}

/** The precision of a weight op: its own, else the model's (undefined = binary). */
export function opQuant(spec: Pick<ModelSpec, 'quant'>, op: ModelOp): QuantConfig | undefined {
  if (!isWeightOp(op)) return undefined;
  return op.quant === undefined ? spec.quant : (op.quant ?? undefined);
}

/** binary: every weight layer binary; fixed: every one fixed point (or float); mixed: some of each. */
export function precisionKind(spec: ModelSpec): 'binary' | 'fixed' | 'mixed' {
  const plan = planModel(spec);
  const binary = plan.some((l) => l.type === 'dense' || l.type === 'conv');
  const fixed = plan.some((l) => l.type === 'qdense' || l.type === 'qconv');
  return binary && fixed ? 'mixed' : fixed ? 'fixed' : 'binary';
}

/** The fixed-point settings a model's fixed-point layers share (quantizer, fixes, batch-norm folding): the first such layer's. */
export function fixedPointConfig(spec: ModelSpec): QuantConfig | undefined {
  for (const l of planModel(spec)) if (l.type === 'qdense' || l.type === 'qconv') return l.quant;
  return undefined;
}

/** The same model with every weight layer binary. */
export function binaryTwin(spec: ModelSpec): ModelSpec {
  const { quant: _q, classifierQuant: _c, ...rest } = spec;
  return { ...rest, ops: spec.ops.map((op) => (isWeightOp(op) ? ((({ quant: _, ...o }) => o)(op) as ModelOp) : op)) };
}

export function inputFeatures(spec: ModelSpec): number {
  return spec.input.h * spec.input.w * spec.input.c;
}

/** A layer of the plan; `spatial` = rows per example of the layer's input (pixels, or 1). */
export type PlannedLayer = ScopeFlags &
  (
    | { type: 'dense'; name: string; nIn: number; nOut: number; first: boolean }
    | { type: 'conv'; name: string; g: ConvGeometry; first: boolean }
    /** folding: after a fixed-point layer (folded into it from bnFoldAt on), else after a binary one. */
    | { type: 'bn'; name: string; channels: number; spatial: number; folding: boolean }
    | { type: 'sign'; name: string; channels: number; spatial: number }
    | { type: 'pool'; name: string; h: number; w: number; channels: number; binaryInput: boolean; size: number }
    | { type: 'avgpool'; name: string; h: number; w: number; channels: number; sh: number; sw: number }
    | { type: 'flatten'; name: string; h: number; w: number; channels: number }
    | { type: 'qdense'; name: string; nIn: number; nOut: number; first: boolean; quant: QuantConfig }
    | { type: 'qconv'; name: string; g: ConvGeometry; first: boolean; quant: QuantConfig }
    | { type: 'qact'; name: string; channels: number; spatial: number; quant: QuantConfig }
  );

/** A planned layer with a weight tensor (binary or fixed point). */
export function isWeightLayer(l: PlannedLayer): boolean {
  return l.type === 'dense' || l.type === 'conv' || l.type === 'qdense' || l.type === 'qconv';
}

/**
 * Binary: conv/dense → batch norm → sign (BinaryNet: a max-pool before the batch norm, else after
 * the sign), the classifier ending in batch norm. Fixed point (spec.quant): conv/dense + bias →
 * [max-pool] → [batch norm, folded later in training] → ReLU + activation quantizer, the
 * classifier ending in its bias; max-pool goes before the activation (the same result: ReLU and
 * the quantizer are monotone) and pools the float pre-activations in place.
 */
export function planModel(spec: ModelSpec): PlannedLayer[] {
  const out: PlannedLayer[] = [];
  let { h, w, c } = spec.input;
  let first = true;
  let n = 0;
  const classifier: ModelOp = spec.classifierQuant === undefined ? { dense: spec.classes } : { dense: spec.classes, quant: spec.classifierQuant };
  const ops: ModelOp[] = [...spec.ops, classifier];
  /** The precision of the last weight layer (what a pool or a flatten receives). */
  let before: QuantConfig | undefined;
  /** An average pool since the last weight layer: the map is float, not sign bits. */
  let averaged = false;
  /** What follows a weight layer of this precision (`last`: the classifier). */
  const activate = (quant: QuantConfig | undefined, last: boolean) => {
    const bn: PlannedLayer = { type: 'bn', name: `bn${n}`, channels: c, spatial: h * w, folding: Boolean(quant) };
    if (!quant) {
      out.push(bn);
      if (!last) out.push({ type: 'sign', name: `sign${n}`, channels: c, spatial: h * w });
    } else if (!last) {
      if (quant.bnFoldAt !== undefined && quant.bnFoldAt !== null) out.push(bn);
      out.push({ type: 'qact', name: `act${n}`, channels: c, spatial: h * w, quant });
    }
  };
  const pool = (binaryInput: boolean, size: number) => {
    if (h < size || w < size) throw new Error(`${spec.name}: cannot max-pool a ${h}x${w} feature map with ${size}x${size} windows`);
    out.push({ type: 'pool', name: `pool${n}`, h, w, channels: c, binaryInput, size });
    h = Math.floor(h / size);
    w = Math.floor(w / size);
  };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const last = i === ops.length - 1;
    const quant = opQuant(spec, op);
    if ('conv' in op) {
      n++;
      const g = convGeometry(h, w, c, op.conv, op.padding, op.kernel ?? 3, op.stride ?? 1);
      out.push(quant ? { type: 'qconv', name: `conv${n}`, g, first, quant } : { type: 'conv', name: `conv${n}`, g, first });
      [h, w, c] = [g.ho, g.wo, g.co];
      // fixed point pools the pre-activations (the same result: ReLU and the quantizer are monotone)
      const next = ops[i + 1];
      if ((quant || spec.poolBeforeBn) && next && 'pool' in next) {
        pool(false, next.pool);
        i++;
      }
      activate(quant, false);
    } else if ('pool' in op) {
      if (before || averaged) throw new Error(`${spec.name}: a max-pool must follow a convolution${averaged ? ', not an average pool' : ''}`);
      pool(true, op.pool);
    } else if ('avgpool' in op) {
      const [sh, sw] = op.avgpool === 'global' ? [h, w] : [op.avgpool, op.avgpool];
      if (first || h < sh || w < sw) throw new Error(`${spec.name}: cannot average-pool a ${h}x${w} map with ${sh}x${sw} windows`);
      out.push({ type: 'avgpool', name: `avgpool${n}`, h, w, channels: c, sh, sw });
      [h, w] = [Math.floor(h / sh), Math.floor(w / sw)];
      averaged = true;
    } else {
      n++;
      if (h * w > 1) {
        if (!first && !before && !averaged && c % 32) throw new Error(`${spec.name}: flattening packed bits needs a multiple of 32 channels, got ${c}`);
        out.push({ type: 'flatten', name: `flatten${n}`, h, w, channels: c });
      }
      const nIn = h * w * c;
      out.push(quant ? { type: 'qdense', name: `fc${n}`, nIn, nOut: op.dense, first, quant } : { type: 'dense', name: `fc${n}`, nIn, nOut: op.dense, first });
      [h, w, c] = [1, 1, op.dense];
      activate(quant, last);
    }
    if (isWeightOp(op)) {
      before = quant;
      averaged = false;
      first = false;
    }
  }
  return out;
}
