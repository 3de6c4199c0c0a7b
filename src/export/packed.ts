// `export --format packed`: a trained network as a compact inference file. Binary weights
// stay the packed sign bits training already keeps; each batch norm followed by a sign becomes one
// threshold per channel (bit = z >= t), found by searching the float32 line for the first z where
// the network's own inference arithmetic, sign((z − μ)/σ + β), turns positive, so the file gives
// the checkpoint's predictions exactly. After an xnor-popcount layer z is an integer and so is t;
// after the first layer (float inputs) t is a float32. The classifier keeps its batch norm (the
// logits). See docs/inference.md.
import { wordsFor } from '../bits.js';
import type { InputMeta } from '../data/dataset.js';
import { taps, type ConvGeometry } from '../kernels/conv-geometry.js';
import { AvgPoolLayer } from '../layers/avgpool.js';
import { BatchNormLayer, bnInference } from '../layers/batchnorm.js';
import { ConvLayer } from '../layers/conv.js';
import { DenseLayer } from '../layers/dense.js';
import { FlattenLayer } from '../layers/flatten.js';
import { MaxPoolLayer } from '../layers/maxpool.js';
import { SignLayer } from '../layers/sign.js';
import type { Network } from '../model/network.js';
import { precisionKind, type ModelSpec } from '../model/spec.js';
import type { Dataset } from '../data/dataset.js';
import { QuantActLayer } from '../layers/quant-act.js';
import { QuantConvLayer } from '../layers/quant-conv.js';
import { QuantDenseLayer } from '../layers/quant-dense.js';
import type { QuantWeightLayer } from '../layers/quant-layer.js';
import { encodePacked, packCodes, SectionWriter, type Section } from './packed-file.js';

export class PackedExportError extends Error {}

/** What feeds a layer: float values (the input, an average pool) or packed sign bits. */
export type PackedInput = 'float' | 'bits';

export type PackedOp =
  /** z = x · Ŵᵀ (float inputs) or xnor-popcount (bits); weights nOut rows of wordsFor(nIn) words. */
  | { op: 'dense'; name: string; nIn: number; nOut: number; input: PackedInput; weights: Section }
  /** Channels-last convolution, one example at a time; weights co·k² rows of wordsFor(ci) words. */
  | { op: 'conv'; name: string; g: ConvGeometry; input: PackedInput; weights: Section }
  /** Batch norm + sign: bit c = z_c >= t_c (int16/int32 after xnor layers, float32 after float inputs). */
  | { op: 'threshold'; name: string; channels: number; thresholds: Section }
  /** The classifier's batch norm: logit = (z − μ)/σ + β in float32. */
  | { op: 'batchnorm'; name: string; channels: number; mean: Section; sigma: Section; beta: Section }
  /** size × size windows, stride = size: the max of floats, or the OR of sign bits. */
  | { op: 'maxpool'; name: string; h: number; w: number; channels: number; size: number; input: PackedInput }
  /** sh × sw windows: the mean, as float32 (of ±1 where the input is bits). */
  | { op: 'avgpool'; name: string; h: number; w: number; channels: number; sh: number; sw: number; input: PackedInput }
  /** Fixed-point (or float) dense layer: y = x · Wᵀ + b, W = codes · 2^weightExponent (f32 when weightBits is null). */
  | ({ op: 'qdense'; nIn: number; nOut: number } & QuantWeightFields)
  /** Fixed-point (or float) convolution, one example at a time, + b per output channel. */
  | ({ op: 'qconv'; g: ConvGeometry } & QuantWeightFields)
  /** ReLU and the activation quantizer: a = min(2^bits − 1, round(x / 2^exponent)) · 2^exponent for x > 0, else 0 (bits null: ReLU). */
  | { op: 'qact'; name: string; channels: number; bits: number | null; exponent: number | null };

/** What fixed-point weight ops carry. */
export type QuantWeightFields = {
  name: string;
  input: PackedInput;
  /** The first layer of a fixed-point network: inputs become 8-bit codes first. */
  quantizeInput: boolean;
  weightBits: number | null;
  weightExponent: number;
  /** Integer codes of weightBits bits each, two's complement, packed back to back into 32-bit words (packCodes), or float32 weights when weightBits is null. */
  weights: Section;
  /** The bias as the network adds it (float32, on the accumulator's grid where everything is fixed point). */
  bias: Section;
};

export interface PackedHeader {
  format: 'bitlearn-packed';
  producer: string;
  model: string;
  classes: number;
  input: InputMeta & { shape: { h: number; w: number; c: number } };
  ops: PackedOp[];
}

/** A float32's position on the ordered float32 line (±0 both 0; −∞ and +∞ at the ends). */
const F32_INF = 0x7f800000;
const bitsView = new DataView(new ArrayBuffer(4));
function floatAt(key: number): number {
  bitsView.setUint32(0, Math.abs(key));
  const v = bitsView.getFloat32(0);
  return key < 0 ? -v : v;
}

/** The smallest key in [lo, hi] where `positive` holds (monotone), or hi + 1 when none. */
function firstTrue(lo: number, hi: number, positive: (k: number) => boolean): number {
  let a = lo;
  let b = hi + 1;
  while (a < b) {
    const mid = Math.floor((a + b) / 2);
    if (positive(mid)) b = mid;
    else a = mid + 1;
  }
  return a;
}

/**
 * Thresholds of a batch norm followed by a sign, in the inference arithmetic of BatchNormLayer
 * (float32 z, doubles, a float32 result) and of the sign (>= 0, so −0 counts as +1). `range`:
 * z is an integer in [−range, range] (null: any float32).
 */
export function signThresholds(bn: BatchNormLayer, range: number | null): Float32Array | Int16Array | Int32Array {
  const C = bn.channels;
  const beta = bn.beta.raw as Float32Array;
  const out = range === null ? new Float32Array(C) : range < 32767 ? new Int16Array(C) : new Int32Array(C);
  for (let c = 0; c < C; c++) {
    const m = bn.runMean[c];
    const s = bn.runSigma[c];
    const b = beta[c];
    const positive = (z: number) => Math.fround(bnInference(z, m, s, b)) >= 0;
    // integers: t in [−range, range + 1] (the ends mean "always +1" and "never")
    if (range !== null) out[c] = firstTrue(-range, range, positive);
    else out[c] = floatAt(firstTrue(-F32_INF, F32_INF, (k) => positive(floatAt(k))));
  }
  return out;
}

/** The quantized weights of a fixed-point layer as integer codes (exact: every value is code · 2^e), or float32. */
function quantWeights(l: QuantWeightLayer, w: SectionWriter): { weightBits: number | null; weightExponent: number; weights: Section } {
  const q = l.weights;
  const e = q.exponent;
  if (!q.format || e === null) return { weightBits: null, weightExponent: 0, weights: w.add(Float32Array.from(q.wq)) };
  const s = 2 ** e;
  const codes = Int32Array.from(q.wq, (v) => v / s);
  return { weightBits: q.format.bits, weightExponent: e, weights: w.add(packCodes(codes, q.format.bits)) };
}

/**
 * One inference forward of a single example: fixed-point layers settle what inference uses (the
 * quantized weights, the bias on the accumulator's grid) exactly as evaluation does.
 */
function settleFixedPoint(net: Network, spec: ModelSpec, input: InputMeta): void {
  const f = spec.input.h * spec.input.w * spec.input.c;
  const one: Dataset = {
    name: 'export',
    count: 1,
    features: f,
    classes: spec.classes,
    shape: { ...spec.input },
    images: new Uint8Array(input.kind === 'pixels' ? f : 0),
    ...(input.kind === 'features' ? { values: new Float32Array(f) } : {}),
    labels: new Uint8Array(1),
  };
  net.evaluate(one);
}

/** The packed form of a trained network (binary, fixed-point or a mix). */
export function packedModel(net: Network, spec: ModelSpec, input: InputMeta, producer: string): { header: PackedHeader; data: Uint8Array } {
  if (precisionKind(spec) !== 'binary') settleFixedPoint(net, spec, input);
  const w = new SectionWriter();
  const ops: PackedOp[] = [];
  let cur: PackedInput = 'float';
  /** After a weight layer: the integer range of z (xnor input), or null (float input). */
  let zRange: number | null = null;
  const layers = net.layers;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    if (l instanceof DenseLayer) {
      ops.push({ op: 'dense', name: l.name, nIn: l.nIn, nOut: l.nOut, input: cur, weights: w.add(l.wbits.slice(0, l.nOut * wordsFor(l.nIn))) });
      zRange = cur === 'bits' ? l.nIn : null;
      cur = 'float';
    } else if (l instanceof ConvLayer) {
      const g = l.g;
      ops.push({ op: 'conv', name: l.name, g: { ...g }, input: cur, weights: w.add(l.wbits.slice(0, g.co * taps(g) * wordsFor(g.ci))) });
      zRange = cur === 'bits' ? taps(g) * g.ci : null;
      cur = 'float';
    } else if (l instanceof QuantDenseLayer || l instanceof QuantConvLayer) {
      const fields = { name: l.name, input: cur, quantizeInput: l.quantizeInput, ...quantWeights(l, w), bias: w.add(Float32Array.from(l.biasQ)) };
      ops.push(l instanceof QuantDenseLayer ? { op: 'qdense', nIn: l.nIn, nOut: l.nOut, ...fields } : { op: 'qconv', g: { ...l.g }, ...fields });
      cur = 'float';
    } else if (l instanceof QuantActLayer) {
      if (l.bits !== null && l.exponent === null) throw new PackedExportError(`${l.name}: the activation quantizer never ran (train at least one step)`);
      ops.push({ op: 'qact', name: l.name, channels: l.channels, bits: l.bits, exponent: l.exponent });
      cur = 'float';
    } else if (l instanceof BatchNormLayer && l.folded) {
      // folded into the weight layer before it: the identity
    } else if (l instanceof BatchNormLayer) {
      if (layers[i + 1] instanceof SignLayer) {
        ops.push({ op: 'threshold', name: l.name, channels: l.channels, thresholds: w.add(signThresholds(l, zRange)) });
        cur = 'bits';
        i++;
      } else {
        const f32 = (a: ArrayLike<number>) => w.add(Float32Array.from(a));
        ops.push({ op: 'batchnorm', name: l.name, channels: l.channels, mean: f32(l.runMean), sigma: f32(l.runSigma), beta: f32(l.beta.raw as Float32Array) });
        cur = 'float';
      }
    } else if (l instanceof MaxPoolLayer) ops.push({ op: 'maxpool', name: l.name, h: l.h, w: l.w, channels: l.channels, size: l.size, input: cur });
    else if (l instanceof AvgPoolLayer) {
      ops.push({ op: 'avgpool', name: l.name, h: l.h, w: l.w, channels: l.channels, sh: l.sh, sw: l.sw, input: cur });
      cur = 'float';
    } else if (!(l instanceof FlattenLayer)) throw new PackedExportError(`${l.name}: no packed form for a ${l.kind} layer`);
  }
  const header: PackedHeader = {
    format: 'bitlearn-packed',
    producer,
    model: spec.name,
    classes: spec.classes,
    input: { ...input, shape: { ...spec.input } },
    ops,
  };
  return { header, data: w.bytes() };
}

/** The packed model file's bytes. */
export function packedFile(net: Network, spec: ModelSpec, input: InputMeta, producer: string): Uint8Array {
  const { header, data } = packedModel(net, spec, input, producer);
  return encodePacked(header, data);
}
