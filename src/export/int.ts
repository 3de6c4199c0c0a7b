// Integer export of a fixed-point model (docs/method.md §4): per layer, integer weights with one
// power-of-two exponent per tensor, int32 biases at the accumulator's exponent, and per
// activation one shift; plus the 256-entry table from pixel byte to 8-bit input code. The
// integer-only forward below is the reference a device implements; it gives exactly the float
// simulation's numbers (every float value of the simulation is an integer times a power of two).
import type { Dataset } from '../data/dataset.js';
import { agreement, forEachPixelBatch } from './agreement.js';
import { readImage } from '../data/pixels.js';
import { QuantActLayer } from '../layers/quant-act.js';
import { QuantConvLayer } from '../layers/quant-conv.js';
import { MaxPoolLayer } from '../layers/maxpool.js';
import { FlattenLayer } from '../layers/flatten.js';
import { BatchNormLayer } from '../layers/batchnorm.js';
import type { ConvGeometry } from '../kernels/conv-geometry.js';
import { biasCode, inputCode, QuantWeightLayer } from '../layers/quant-layer.js';
import type { Network } from '../model/network.js';
import { planModel, precisionKind, type ModelSpec } from '../model/spec.js';
import { INPUT_BITS, INPUT_EXPONENT, describeQuant } from '../../quant/quant-config.js';
import { qRange } from '../../quant/po2-quantizers.js';

/** A layer with integer weights: acc = W_int ⊛ x + b_int, exponent weightExponent + inputExponent. */
interface IntWeightFields {
  name: string;
  /** dense: nOut × nIn; conv: co × 9 × ci (ci = nIn) with its geometry. */
  nIn: number;
  nOut: number;
  weightBits: number;
  /** w = W_int · 2^weightExponent */
  weightExponent: number;
  /** Exponent of the layer's input codes. */
  inputExponent: number;
  accExponent: number;
  /** base64 of an Int8Array (weights of up to 8 bits) or Int16Array. */
  weights: string;
  weightType: 'int8' | 'int16';
  /** base64 of an Int32Array (nOut). */
  bias: string;
}

export type IntWeightOp = (IntWeightFields & { op: 'dense' }) | (IntWeightFields & { op: 'conv'; conv: ConvGeometry });

export type IntOp =
  | IntWeightOp
  /** 2x2 max-pool of accumulators (before requantization: the same result, ReLU and rounding are monotone). */
  | { op: 'maxpool'; name: string; h: number; w: number; channels: number; size?: number }
  /** ReLU + requantization: a = clamp(round(acc · 2^-shift), 0, 2^bits − 1), exponent = acc exponent + shift. */
  | { op: 'act'; name: string; bits: number; exponent: number; shift: number };

export interface IntModel {
  format: 'bitlearn-int';
  producer: string;
  model: string;
  quant: string;
  input: { bits: number; exponent: number; codeOfPixel: number[]; formula: string };
  /** In order; feature maps are channels-last, so flattening moves nothing. */
  ops: IntOp[];
  /** Largest |accumulator| any input can produce; the float simulation is exact below 2^24. */
  accumulatorBound: number;
}

export class IntExportError extends Error {}

function b64(a: Int8Array | Int16Array | Int32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}
function fromB64<T extends Int8Array | Int16Array | Int32Array>(
  s: string,
  Ctor: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number },
): T {
  const buf = Buffer.from(s, 'base64');
  const copy = new ArrayBuffer(buf.length);
  new Uint8Array(copy).set(buf);
  return new Ctor(copy, 0, buf.length / Ctor.BYTES_PER_ELEMENT);
}

/** Pixel byte → input code, through the same float path training uses. */
function pixelCodes(): number[] {
  const px = Uint8Array.from({ length: 256 }, (_, i) => i);
  const f = new Float32Array(256);
  readImage(px, 0, { h: 1, w: 256, c: 1 }, 0, 0, 0, f, 0);
  return Array.from(f, inputCode);
}

export function intArtifacts(net: Network, spec: ModelSpec, producer: string): IntModel {
  if (precisionKind(spec) === 'mixed') throw new IntExportError('integer export of a model mixing binary and fixed-point layers is not supported yet');
  if (planModel(spec).some((l) => l.type === 'avgpool')) throw new IntExportError('integer export of average pooling is not supported yet');
  const q = spec.quant;
  if (!q || q.weightBits === null || q.actBits === null)
    throw new IntExportError(
      `integer export needs a fixed-point model with quantized weights and activations (this one is ${q ? describeQuant(q) : 'binary: use --format tfjs'})`,
    );
  const ops: IntOp[] = [];
  let inputExponent = INPUT_EXPONENT;
  let accExponent = 0;
  let bound = 0;
  let inMax = qRange({ bits: INPUT_BITS }).hi;
  for (const l of net.layers) {
    if (l instanceof QuantWeightLayer) {
      l.weights.ensure(1); // a quantizer step still pending after the last update
      const ew = l.weights.exponent;
      if (ew === null) throw new IntExportError(`${l.name}: weights were never quantized (train at least one step)`);
      const s = 2 ** ew;
      const wq = l.weights.wq;
      const W = l.weights.format!.bits <= 8 ? new Int8Array(wq.length) : new Int16Array(wq.length);
      for (let k = 0; k < W.length; k++) W[k] = wq[k] / s;
      accExponent = ew + inputExponent;
      const bias = Int32Array.from(l.bias.raw as Float32Array, (v) => biasCode(v, accExponent));
      let biasMax = 0;
      for (const v of bias) biasMax = Math.max(biasMax, Math.abs(v));
      const fanIn = l.weights.cols;
      bound = Math.max(bound, fanIn * qRange(l.weights.format!).hi * inMax + biasMax);
      const fields: IntWeightFields = {
        name: l.name,
        nIn: l instanceof QuantConvLayer ? l.g.ci : fanIn,
        nOut: l.weights.rows,
        weightBits: l.weights.format!.bits,
        weightExponent: ew,
        inputExponent,
        accExponent,
        weights: b64(W),
        weightType: W instanceof Int8Array ? 'int8' : 'int16',
        bias: b64(bias),
      };
      ops.push(l instanceof QuantConvLayer ? { ...fields, op: 'conv', conv: l.g } : { ...fields, op: 'dense' });
    } else if (l instanceof MaxPoolLayer)
      ops.push({ op: 'maxpool', name: l.name, h: l.h, w: l.w, channels: l.channels, ...(l.size !== 2 ? { size: l.size } : {}) });
    else if (l instanceof QuantActLayer) {
      const e = l.exponent;
      if (e === null || l.bits === null) throw new IntExportError(`${l.name}: activation quantizer never ran (train at least one step)`);
      ops.push({ op: 'act', name: l.name, bits: l.bits, exponent: e, shift: e - accExponent });
      inputExponent = e;
      inMax = 2 ** l.bits - 1;
    } else if (l instanceof BatchNormLayer) {
      if (!l.folded) throw new IntExportError(`${l.name}: batch norm is not folded into the weights yet (train past the --bn-fold point)`);
    } else if (!(l instanceof FlattenLayer)) throw new IntExportError(`${l.name}: no integer form for a ${l.kind} layer`);
  }
  return {
    format: 'bitlearn-int',
    producer,
    model: spec.name,
    quant: describeQuant(q),
    input: { bits: INPUT_BITS, exponent: INPUT_EXPONENT, codeOfPixel: pixelCodes(), formula: 'code = clamp(round(((2p - 255) / 255) * 128), -127, 127)' },
    ops,
    accumulatorBound: bound,
  };
}

/** round(v · 2^-shift) with ties toward +∞ (what the float simulation's Math.round does), integers only. */
function requantize(acc: number, shift: number, hi: number): number {
  if (acc <= 0) return 0; // ReLU
  const r = shift > 0 ? (acc + (1 << (shift - 1))) >> shift : acc * 2 ** -shift;
  return r > hi ? hi : r;
}

/** A model ready for the integer forward: typed arrays decoded once. */
export interface IntRunner {
  classify(pixels: Uint8Array): number;
}

export function intRunner(m: IntModel): IntRunner {
  if (m.format !== 'bitlearn-int') throw new IntExportError('not a bitlearn integer model (format bitlearn-int)');
  const decoded = m.ops.map((o) =>
    o.op === 'dense' || o.op === 'conv'
      ? { W: o.weightType === 'int8' ? fromB64(o.weights, Int8Array) : fromB64(o.weights, Int16Array), b: fromB64(o.bias, Int32Array) }
      : null,
  );
  const codes = Int32Array.from(m.input.codeOfPixel);
  return {
    classify(pixels: Uint8Array): number {
      let x: Int32Array = Int32Array.from(pixels, (p) => codes[p]);
      m.ops.forEach((o, i) => {
        const d = decoded[i];
        if (o.op === 'dense') x = denseInt(x, d!.W, d!.b, o.nIn, o.nOut);
        else if (o.op === 'conv') x = convInt(x, d!.W, d!.b, o.conv);
        else if (o.op === 'maxpool') x = maxPoolInt(x, o.h, o.w, o.channels, o.size ?? 2);
        else {
          const hi = 2 ** o.bits - 1;
          for (let k = 0; k < x.length; k++) x[k] = requantize(x[k], o.shift, hi);
        }
      });
      let best = 0;
      for (let j = 1; j < x.length; j++) if (x[j] > x[best]) best = j;
      return best;
    },
  };
}

function denseInt(x: Int32Array, W: Int8Array | Int16Array, b: Int32Array, nIn: number, nOut: number): Int32Array {
  const y = new Int32Array(nOut);
  for (let j = 0; j < nOut; j++) {
    let acc = b[j];
    for (let k = 0; k < nIn; k++) acc += W[j * nIn + k] * x[k];
    y[j] = acc;
  }
  return y;
}

function convInt(x: Int32Array, W: Int8Array | Int16Array, b: Int32Array, g: ConvGeometry): Int32Array {
  const y = new Int32Array(g.ho * g.wo * g.co);
  for (let oy = 0; oy < g.ho; oy++)
    for (let ox = 0; ox < g.wo; ox++)
      for (let c = 0; c < g.co; c++) {
        let acc = b[c];
        for (let ky = 0; ky < g.k; ky++) {
          const iy = oy * g.stride + ky - g.pad;
          if (iy < 0 || iy >= g.hi) continue;
          for (let kx = 0; kx < g.k; kx++) {
            const ix = ox * g.stride + kx - g.pad;
            if (ix < 0 || ix >= g.wi) continue;
            const xo = (iy * g.wi + ix) * g.ci;
            const wo = (c * g.k * g.k + ky * g.k + kx) * g.ci;
            for (let ci = 0; ci < g.ci; ci++) acc += W[wo + ci] * x[xo + ci];
          }
        }
        y[(oy * g.wo + ox) * g.co + c] = acc;
      }
  return y;
}

function maxPoolInt(x: Int32Array, h: number, w: number, C: number, size: number): Int32Array {
  const hp = Math.floor(h / size);
  const wp = Math.floor(w / size);
  const y = new Int32Array(hp * wp * C);
  for (let py = 0; py < hp; py++)
    for (let px = 0; px < wp; px++)
      for (let c = 0; c < C; c++) {
        let best = -Infinity;
        for (let q = 0; q < size * size; q++) best = Math.max(best, x[((size * py + Math.floor(q / size)) * w + size * px + (q % size)) * C + c]);
        y[(py * wp + px) * C + c] = best;
      }
  return y;
}

export interface IntCheck {
  examples: number;
  /** Examples where the integer forward and the float simulation predict the same class. */
  agree: number;
  intAccuracy: number;
  floatAccuracy: number;
}

/** The integer-only forward against bitlearn's float simulation on every example of `data`. */
export function checkIntExport(m: IntModel, net: Network, data: Dataset): IntCheck {
  const runner = intRunner(m);
  const predicted = new Int32Array(data.count);
  forEachPixelBatch(data, 500, (px, off, n) => {
    for (let i = 0; i < n; i++) predicted[off + i] = runner.classify(px.subarray(i * data.features, (i + 1) * data.features));
  });
  const r = agreement(net, data, predicted);
  return { examples: r.examples, agree: r.agree, intAccuracy: r.theirs, floatAccuracy: r.ours };
}
