// `export --format packed`: a trained binary network as a compact inference file. Binary weights
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
import { BatchNormLayer } from '../layers/batchnorm.js';
import { ConvLayer } from '../layers/conv.js';
import { DenseLayer } from '../layers/dense.js';
import { FlattenLayer } from '../layers/flatten.js';
import { MaxPoolLayer } from '../layers/maxpool.js';
import { SignLayer } from '../layers/sign.js';
import type { Network } from '../model/network.js';
import { precisionKind, type ModelSpec } from '../model/spec.js';
import { encodePacked, SectionWriter, type Section } from './packed-file.js';

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
  | { op: 'avgpool'; name: string; h: number; w: number; channels: number; sh: number; sw: number; input: PackedInput };

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
    const positive = (z: number) => Math.fround((z - m) / s + b) >= 0;
    // integers: t in [−range, range + 1] (the ends mean "always +1" and "never")
    if (range !== null) out[c] = firstTrue(-range, range, positive);
    else out[c] = floatAt(firstTrue(-F32_INF, F32_INF, (k) => positive(floatAt(k))));
  }
  return out;
}

/** The packed form of a trained binary network. */
export function packedModel(net: Network, spec: ModelSpec, input: InputMeta, producer: string): { header: PackedHeader; data: Uint8Array } {
  const kind = precisionKind(spec);
  if (kind !== 'binary') {
    const what = kind === 'fixed' ? 'fixed point (use --format int)' : 'a mix of binary and fixed-point layers (not supported yet)';
    throw new PackedExportError(`--format packed exports binary networks; this one is ${what}`);
  }
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
