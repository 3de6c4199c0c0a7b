// Model definitions: the JSON form a user writes (`bitlearn train --model my-model.json`) and the
// form checkpoints carry. Checked whole before anything is allocated: every error names the file,
// the layer (its position and type) and the field. The built-in models are definitions of the
// same form (builtin-models.ts). docs/models.md describes the format.
import { readFileSync } from 'node:fs';
import { parseQuantConfig, QuantConfigError, type QuantConfig } from '../../quant/quant-config.js';
import { convGeometry, KERNELS, STRIDES } from '../kernels/conv-geometry.js';
import { fixedPointConfig, isWeightOp, opQuant, type ModelOp, type ModelSpec } from './spec.js';

export interface DenseDefinition {
  type: 'dense';
  units: number;
  precision?: string;
}
export interface ConvDefinition {
  type: 'conv';
  filters: number;
  kernel?: number;
  stride?: number;
  padding?: 'valid' | 'same';
  precision?: string;
}
export interface MaxPoolDefinition {
  type: 'maxpool';
  size?: number;
  stride?: number;
}
export interface FlattenDefinition {
  type: 'flatten';
}
export interface AvgPoolDefinition {
  type: 'avgpool';
  /** Window and stride (default 2). */
  size?: number;
}
export interface GlobalAvgPoolDefinition {
  type: 'globalavgpool';
}
export type LayerDefinition = DenseDefinition | ConvDefinition | MaxPoolDefinition | AvgPoolDefinition | GlobalAvgPoolDefinition | FlattenDefinition;

export interface ModelDefinition {
  name: string;
  /** Image input (height × width × channels, channels-last) or a vector of features. */
  input: { height: number; width: number; channels: number } | { features: number };
  classes: number;
  /** Hidden layers in order; bitlearn adds the classifier (dense to `classes`, then batch norm or a bias). */
  layers: LayerDefinition[];
  /** binary (default), fixed-point wNaM (e.g. w4a8) or float: the precision of every weight layer that sets none. */
  precision?: string;
  /** The classifier's precision (default: the model's), e.g. "w8a8" for an 8-bit last layer. */
  classifierPrecision?: string;
  /** Fixed-point layers: the weight quantizer (msqe, gradient) and its fixes (e.g. "outlier,stable=0.5"), shared by all of them. */
  quantizer?: string;
  fixes?: string;
  /** Fixed-point models: batch norm after every hidden weight layer, folded into the weights from this fraction of training on. */
  batchNormFoldAt?: number;
  /** BinaryNet style: conv -> max-pool -> batch norm -> sign (else conv -> batch norm -> sign -> max-pool). */
  poolBeforeBatchNorm?: boolean;
}

export class ModelDefinitionError extends Error {}

const LIMIT = 1 << 16;
const POOL_SIZES = [2, 3, 4] as const;
const KEYS: Record<string, string[]> = {
  model: ['name', 'input', 'classes', 'layers', 'precision', 'classifierPrecision', 'quantizer', 'fixes', 'batchNormFoldAt', 'poolBeforeBatchNorm'],
  dense: ['type', 'units', 'precision'],
  conv: ['type', 'filters', 'kernel', 'stride', 'padding', 'precision'],
  maxpool: ['type', 'size', 'stride'],
  avgpool: ['type', 'size'],
  globalavgpool: ['type'],
  flatten: ['type'],
};
/** Kinds the format names but the engine does not train yet: refused with the reason. */
const NOT_YET: Record<string, string> = {};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A ModelSpec from a parsed JSON definition; `where` names the source in errors (a file, "checkpoint"). */
export function parseModelDefinition(def: unknown, where: string): ModelSpec {
  function fail(what: string, reason: string): never {
    throw new ModelDefinitionError(`${where}: ${what}: ${reason}`);
  }
  if (!isObject(def)) return fail('model', 'a model definition is a JSON object');
  unknownKeys(def, KEYS.model, 'model', fail);
  const name = def.name ?? 'model';
  if (typeof name !== 'string' || !/^[\w.-]{1,64}$/.test(name)) fail('name', 'letters, digits, "_", "." or "-", 1 to 64 characters');
  const input = parseInput(def.input, fail);
  const classes = count(def.classes, 'classes', fail, 2, 256);
  const texts = [
    def.precision,
    def.classifierPrecision,
    ...(Array.isArray(def.layers) ? def.layers.map((l: unknown) => (isObject(l) ? l.precision : undefined)) : []),
  ];
  const settings = fixedPointSettings(
    def,
    texts.some((p) => p !== undefined && p !== 'binary'),
    fail,
  );
  const precisionOf = (text: unknown, where: string): QuantConfig | null => parsePrecision(text, settings, where, fail);
  const modelText = def.precision ?? 'binary';
  const quant = precisionOf(modelText, 'precision') ?? undefined;
  /** A layer's own precision: undefined where it is the model's. */
  const ownPrecision = (text: unknown, where: string): QuantConfig | null | undefined =>
    text === undefined || text === modelText ? undefined : precisionOf(text, where);
  const classifierQuant = ownPrecision(def.classifierPrecision, 'classifierPrecision');
  if (def.poolBeforeBatchNorm !== undefined && typeof def.poolBeforeBatchNorm !== 'boolean') fail('poolBeforeBatchNorm', 'true or false');
  if (!Array.isArray(def.layers)) return fail('layers', 'a list of layers (may be empty: the classifier alone)');
  if (def.layers.length > 256) fail('layers', `${def.layers.length} layers; at most 256`);
  const ops: ModelOp[] = [];
  let { h, w } = input;
  let flat = h * w === 1;
  (def.layers as unknown[]).forEach((raw, i) => {
    parseLayer(raw, i);
  });
  function parseLayer(raw: unknown, i: number): void {
    const at = (field: string) => `layer ${i + 1}${isObject(raw) && typeof raw.type === 'string' ? ` (${raw.type})` : ''}${field ? `, ${field}` : ''}`;
    if (!isObject(raw)) fail(at(''), 'each layer is an object with a "type"');
    const type = raw.type;
    if (typeof type !== 'string')
      fail(
        at('type'),
        `one of ${Object.keys(KEYS)
          .filter((k) => k !== 'model')
          .join(', ')}`,
      );
    if (NOT_YET[type]) fail(at('type'), NOT_YET[type]);
    if (!KEYS[type] || type === 'model') fail(at('type'), `unknown layer type "${type}" (available: dense, conv, maxpool, avgpool, globalavgpool, flatten)`);
    unknownKeys(raw, KEYS[type], at(''), fail);
    const own = type === 'dense' || type === 'conv' ? ownPrecision(raw.precision, at('precision')) : undefined;
    const precision = own === undefined ? {} : { quant: own };
    if (type === 'dense') {
      ops.push({ dense: count(raw.units, at('units'), fail, 1, LIMIT), ...precision });
      [h, w, flat] = [1, 1, true];
    } else if (type === 'conv') {
      if (input.h * input.w === 1) fail(at(''), 'a convolution needs image input ({"height", "width", "channels"}), not features');
      if (flat) fail(at(''), 'a convolution cannot follow a dense layer or a flatten');
      const filters = count(raw.filters, at('filters'), fail, 1, LIMIT);
      const kernel = raw.kernel ?? 3;
      if (!(KERNELS as readonly unknown[]).includes(kernel)) fail(at('kernel'), `${JSON.stringify(kernel)}: ${KERNELS.join(', ')} (a square kernel)`);
      const stride = raw.stride ?? 1;
      if (!(STRIDES as readonly unknown[]).includes(stride)) fail(at('stride'), `${JSON.stringify(stride)}: ${STRIDES.join(' or ')}`);
      const padding = raw.padding ?? 'valid';
      if (padding !== 'valid' && padding !== 'same') fail(at('padding'), `"${String(padding)}": valid or same`);
      let g: ReturnType<typeof convGeometry>;
      try {
        g = convGeometry(h, w, 1, filters, padding, kernel as number, stride as number);
      } catch {
        fail(at(''), `a ${kernel}x${kernel} ${padding} convolution does not fit its ${h}x${w} input`);
      }
      ops.push({
        conv: filters,
        padding,
        ...(kernel !== 3 ? { kernel: kernel as number } : {}),
        ...(stride !== 1 ? { stride: stride as number } : {}),
        ...precision,
      });
      [h, w] = [g.ho, g.wo];
    } else if (type === 'maxpool') {
      const size = raw.size ?? 2;
      if (!(POOL_SIZES as readonly unknown[]).includes(size)) fail(at('size'), `${JSON.stringify(size)}: ${POOL_SIZES.join(', ')}`);
      if ((raw.stride ?? size) !== size)
        fail(at('stride'), `${JSON.stringify(raw.stride)}: the stride is the window size (${size}); overlapping windows are not supported`);
      const s = size as number;
      if (flat || h < s || w < s) fail(at(''), `cannot max-pool a ${flat ? 'vector' : `${h}x${w} feature map with ${s}x${s} windows`}`);
      if (!ops.length) fail(at(''), 'a max-pool needs a convolution before it (the input is not pooled)');
      const previous = ops.at(-1)!;
      if ('avgpool' in previous) fail(at(''), 'a max-pool cannot follow an average pool');
      if (!('conv' in previous) && opQuant({ quant }, [...ops].reverse().find(isWeightOp)!))
        fail(at(''), 'after a fixed-point layer a max-pool must follow a convolution directly');
      ops.push({ pool: s });
      [h, w] = [Math.floor(h / s), Math.floor(w / s)];
    } else if (type === 'avgpool' || type === 'globalavgpool') {
      if (flat) fail(at(''), 'cannot average-pool a vector');
      if (!ops.some(isWeightOp)) fail(at(''), 'an average pool needs a convolution before it (the input is not pooled)');
      const size = type === 'globalavgpool' ? 'global' : (raw.size ?? 2);
      if (size !== 'global' && (typeof size !== 'number' || !Number.isInteger(size) || size < 2 || size > 16))
        fail(at('size'), `${JSON.stringify(size)}: a whole number from 2 to 16 (window and stride)`);
      if (size !== 'global' && (h < (size as number) || w < (size as number))) fail(at(''), `a ${size}x${size} average pool does not fit its ${h}x${w} input`);
      ops.push({ avgpool: size as number | 'global' });
      [h, w] = size === 'global' ? [1, 1] : [Math.floor(h / (size as number)), Math.floor(w / (size as number))];
    } else {
      if (flat) fail(at(''), 'nothing to flatten: the input of this layer is already a vector');
      flat = true;
    }
  }
  // the dense layer after a feature map reads its pixels' channels as one row
  const denseAfterMap = ops.findIndex((op, i) => 'dense' in op && i > 0 && !('dense' in ops[i - 1]));
  // the map's producer: the last weight layer before it (an average pool in between makes it float)
  const since = denseAfterMap > 0 ? ops.slice(0, denseAfterMap) : [];
  const last = since.map((op, i) => (isWeightOp(op) ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
  const producer = last >= 0 && !since.slice(last).some((op) => 'avgpool' in op) ? since[last] : undefined;
  if (producer && !opQuant({ quant }, producer)) {
    const channels = channelsBefore(ops, denseAfterMap, input.c);
    if (channels % 32) fail(`layer ${denseAfterMap + 1} (dense)`, `flattening packed bits needs a multiple of 32 channels before it, got ${channels}`);
  }
  return {
    name: name as string,
    input: { h: input.h, w: input.w, c: input.c },
    classes,
    ops,
    ...(def.poolBeforeBatchNorm ? { poolBeforeBn: true } : {}),
    ...(quant ? { quant } : {}),
    ...(classifierQuant !== undefined ? { classifierQuant } : {}),
  };
}

function channelsBefore(ops: ModelOp[], index: number, inputChannels: number): number {
  for (let i = index - 1; i >= 0; i--) {
    const op = ops[i];
    if ('conv' in op) return op.conv;
    if ('dense' in op) return op.dense;
  }
  return inputChannels;
}

function unknownKeys(o: Record<string, unknown>, allowed: string[], what: string, fail: (w: string, r: string) => never): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(what, `unknown field "${k}" (allowed: ${allowed.join(', ')})`);
}

function count(v: unknown, what: string, fail: (w: string, r: string) => never, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(what, `${JSON.stringify(v) ?? 'missing'}: a whole number from ${min} to ${max}`);
  return v as number;
}

function parseInput(v: unknown, fail: (w: string, r: string) => never): { h: number; w: number; c: number } {
  if (!isObject(v)) return fail('input', '{"height", "width", "channels"} for images or {"features"} for vectors');
  if ('features' in v) {
    unknownKeys(v, ['features'], 'input', fail);
    return { h: 1, w: 1, c: count(v.features, 'input.features', fail, 1, 1 << 20) };
  }
  unknownKeys(v, ['height', 'width', 'channels'], 'input', fail);
  const h = count(v.height, 'input.height', fail, 1, 4096);
  const w = count(v.width, 'input.width', fail, 1, 4096);
  const c = count(v.channels, 'input.channels', fail, 1, 4096);
  return { h, w, c };
}

interface FixedPointSettings {
  quantizer: string;
  fixes?: string;
  fold?: string;
}

/** quantizer, fixes and batchNormFoldAt: checked, and only where some layer is fixed point. */
function fixedPointSettings(def: Record<string, unknown>, anyFixed: boolean, fail: (w: string, r: string) => never): FixedPointSettings {
  if (!anyFixed) {
    for (const k of ['quantizer', 'fixes', 'batchNormFoldAt']) if (def[k] !== undefined) fail(k, 'applies to fixed-point and float layers only');
    return { quantizer: 'msqe' };
  }
  const fold = def.batchNormFoldAt;
  if (fold !== undefined && (typeof fold !== 'number' || !(fold >= 0 && fold <= 1)))
    fail('batchNormFoldAt', `${JSON.stringify(fold)}: a fraction of training, 0 to 1`);
  if (def.quantizer !== undefined && typeof def.quantizer !== 'string') fail('quantizer', 'msqe or gradient');
  if (def.fixes !== undefined && typeof def.fixes !== 'string') fail('fixes', 'a comma-separated list, e.g. "outlier,stable=0.5"');
  return {
    quantizer: (def.quantizer as string | undefined) ?? 'msqe',
    fixes: def.fixes as string | undefined,
    fold: fold === undefined ? undefined : String(fold),
  };
}

/** A precision text: binary (null), or a fixed-point / float configuration with the model's settings. */
function parsePrecision(text: unknown, s: FixedPointSettings, where: string, fail: (w: string, r: string) => never): QuantConfig | null {
  if (typeof text !== 'string') return fail(where, `${JSON.stringify(text)}: binary, float or wNaM (e.g. w4a8)`);
  if (text === 'binary') return null;
  try {
    return parseQuantConfig(text, s.quantizer, s.fixes, s.fold);
  } catch (e) {
    if (e instanceof QuantConfigError) return fail(where, e.message.replace(/^--quant /, ''));
    throw e;
  }
}

/** The definition of a spec (what a checkpoint stores: it rebuilds the same spec). */
export function definitionOf(spec: ModelSpec): ModelDefinition {
  const { h, w, c } = spec.input;
  const precision = (q: QuantConfig | null | undefined) => (q === undefined ? {} : { precision: q ? quantBits(q) : 'binary' });
  const layers: LayerDefinition[] = spec.ops.map((op) =>
    'dense' in op
      ? { type: 'dense', units: op.dense, ...precision(op.quant) }
      : 'conv' in op
        ? {
            type: 'conv',
            filters: op.conv,
            padding: op.padding,
            ...(op.kernel ? { kernel: op.kernel } : {}),
            ...(op.stride ? { stride: op.stride } : {}),
            ...precision(op.quant),
          }
        : 'avgpool' in op
          ? op.avgpool === 'global'
            ? { type: 'globalavgpool' }
            : { type: 'avgpool', size: op.avgpool }
          : { type: 'maxpool', ...(op.pool !== 2 ? { size: op.pool } : {}) },
  );
  // the settings every fixed-point layer shares, from the model's or the first such layer's
  const q = spec.quant ?? fixedPointConfig(spec);
  return {
    name: spec.name,
    input: h * w === 1 ? { features: c } : { height: h, width: w, channels: c },
    classes: spec.classes,
    layers,
    ...(spec.poolBeforeBn ? { poolBeforeBatchNorm: true } : {}),
    ...(spec.quant ? { precision: quantBits(spec.quant) } : {}),
    ...(spec.classifierQuant !== undefined ? { classifierPrecision: spec.classifierQuant ? quantBits(spec.classifierQuant) : 'binary' } : {}),
    ...(q ? { quantizer: q.quantizer, ...(fixesText(q) ? { fixes: fixesText(q) } : {}) } : {}),
    ...(q?.bnFoldAt !== undefined && q.bnFoldAt !== null ? { batchNormFoldAt: q.bnFoldAt } : {}),
  };
}

function quantBits(q: QuantConfig): string {
  if (q.weightBits === null && q.actBits === null) return 'float';
  return `w${q.weightBits ?? 32}a${q.actBits ?? 32}`;
}

function fixesText(q: QuantConfig): string {
  const f = q.fixes;
  return [f.outlier && 'outlier', f.secondMoment && 'second-moment', f.stableFrom !== null && `stable=${f.stableFrom}`, f.msqeRound && 'msqe-round']
    .filter(Boolean)
    .join(',');
}

/** Read and check a model file. */
export function loadModelFile(path: string): ModelSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelDefinitionError(`model file ${path}: cannot read it (${code === 'ENOENT' ? 'no such file' : (code ?? 'error')})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelDefinitionError(`model file ${path}: not valid JSON (${(e as Error).message})`);
  }
  return parseModelDefinition(json, `model file ${path}`);
}
