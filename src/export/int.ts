// Integer export of a fixed-point model (DESIGN section 4): per layer, integer weights with one
// power-of-two exponent per tensor, int32 biases at the accumulator's exponent, and per
// activation one shift; plus the 256-entry table from pixel byte to 8-bit input code. The
// integer-only forward below is the reference a device implements; it gives exactly the float
// simulation's numbers (every float value of the simulation is an integer times a power of two).
import { stageRows, type Dataset } from '../data/dataset.js';
import { readImage } from '../data/pixels.js';
import { QuantActLayer } from '../layers/quant-act.js';
import { BIAS_LIMIT, inputCode, QuantDenseLayer } from '../layers/quant-dense.js';
import type { Network } from '../model/network.js';
import type { ModelSpec } from '../model/spec.js';
import { INPUT_BITS, INPUT_EXPONENT, describeQuant } from '../../quant/quant-config.js';
import { qRange } from '../../quant/po2-quantizers.js';

export interface IntLayer {
  name: string;
  nIn: number;
  nOut: number;
  weightBits: number;
  /** w = W_int · 2^weightExponent */
  weightExponent: number;
  /** Exponent of the layer's input codes. */
  inputExponent: number;
  /** acc = W_int·x + b_int has exponent weightExponent + inputExponent. */
  accExponent: number;
  /** Row-major nOut × nIn, base64 of an Int8Array (weights of up to 8 bits) or Int16Array. */
  weights: string;
  weightType: 'int8' | 'int16';
  /** base64 of an Int32Array (nOut). */
  bias: string;
  /** ReLU + requantization: a = clamp(round(acc · 2^(accExponent − exponent)), 0, 2^bits − 1); null for the classifier. */
  activation: { bits: number; exponent: number; shift: number } | null;
}

export interface IntModel {
  format: 'bitlearn-int';
  producer: string;
  model: string;
  quant: string;
  input: { bits: number; exponent: number; codeOfPixel: number[]; formula: string };
  layers: IntLayer[];
  /** Largest |accumulator| any input can produce; the float simulation is exact below 2^24. */
  accumulatorBound: number;
}

export class IntExportError extends Error {}

function b64(a: Int8Array | Int16Array | Int32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}
function fromB64<T extends Int8Array | Int16Array | Int32Array>(s: string, Ctor: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number }): T {
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
  const q = spec.quant;
  if (!q || q.weightBits === null || q.actBits === null)
    throw new IntExportError(`integer export needs a fixed-point model with quantized weights and activations (this one is ${q ? describeQuant(q) : 'binary: use --format tfjs'})`);
  const layers: IntLayer[] = [];
  let inputExponent = INPUT_EXPONENT;
  let bound = 0;
  let inMax = qRange({ bits: INPUT_BITS }).hi;
  for (let i = 0; i < net.layers.length; i++) {
    const l = net.layers[i];
    if (!(l instanceof QuantDenseLayer)) continue;
    l.weights.ensure(1); // a quantizer step still pending after the last update
    const ew = l.weights.exponent;
    if (ew === null) throw new IntExportError(`${l.name}: weights were never quantized (train at least one step)`);
    const s = 2 ** ew;
    const W = l.weights.format!.bits <= 8 ? new Int8Array(l.weights.wq.length) : new Int16Array(l.weights.wq.length);
    for (let k = 0; k < W.length; k++) W[k] = l.weights.wq[k] / s;
    const acc = ew + inputExponent;
    const b = l.bias.raw as Float32Array;
    const bias = Int32Array.from(b, (v) => Math.max(-BIAS_LIMIT, Math.min(BIAS_LIMIT, Math.round(v / 2 ** acc))));
    const next = net.layers[i + 1];
    let activation: IntLayer['activation'] = null;
    if (next instanceof QuantActLayer) {
      const e = next.exponent;
      if (e === null) throw new IntExportError(`${next.name}: activation quantizer never ran (train at least one step)`);
      activation = { bits: next.bits!, exponent: e, shift: e - acc };
    }
    const wMax = qRange(l.weights.format!).hi;
    let biasMax = 0;
    for (const v of bias) biasMax = Math.max(biasMax, Math.abs(v));
    bound = Math.max(bound, l.nIn * wMax * inMax + biasMax);
    layers.push({
      name: l.name,
      nIn: l.nIn,
      nOut: l.nOut,
      weightBits: l.weights.format!.bits,
      weightExponent: ew,
      inputExponent,
      accExponent: acc,
      weights: b64(W),
      weightType: W instanceof Int8Array ? 'int8' : 'int16',
      bias: b64(bias),
      activation,
    });
    if (activation) {
      inputExponent = activation.exponent;
      inMax = 2 ** activation.bits - 1;
    }
  }
  return {
    format: 'bitlearn-int',
    producer,
    model: spec.name,
    quant: describeQuant(q),
    input: { bits: INPUT_BITS, exponent: INPUT_EXPONENT, codeOfPixel: pixelCodes(), formula: 'code = clamp(round(((2p - 255) / 255) * 128), -127, 127)' },
    layers,
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
  const layers = m.layers.map((l) => ({
    ...l,
    W: l.weightType === 'int8' ? fromB64(l.weights, Int8Array) : fromB64(l.weights, Int16Array),
    b: fromB64(l.bias, Int32Array),
  }));
  const width = Math.max(...layers.map((l) => Math.max(l.nIn, l.nOut)));
  let x = new Int32Array(width);
  let y = new Int32Array(width);
  const codes = Int32Array.from(m.input.codeOfPixel);
  return {
    classify(pixels: Uint8Array): number {
      for (let k = 0; k < pixels.length; k++) x[k] = codes[pixels[k]];
      for (const l of layers) {
        const { W, b, nIn, nOut } = l;
        for (let j = 0; j < nOut; j++) {
          let acc = b[j];
          const row = j * nIn;
          for (let k = 0; k < nIn; k++) acc += W[row + k] * x[k];
          y[j] = l.activation ? requantize(acc, l.activation.shift, 2 ** l.activation.bits - 1) : acc;
        }
        [x, y] = [y, x];
      }
      const out = layers[layers.length - 1].nOut;
      let best = 0;
      for (let j = 1; j < out; j++) if (x[j] > x[best]) best = j;
      return best;
    },
  };
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
  const simulated = new Int32Array(data.count);
  const { accuracy } = net.evaluate(data, simulated);
  const runner = intRunner(m);
  const all = Int32Array.from({ length: data.count }, (_, i) => i);
  let agree = 0;
  let correct = 0;
  for (let off = 0; off < data.count; off += 500) {
    const n = Math.min(500, data.count - off);
    const staged = stageRows(data, all, off, n);
    for (let i = 0; i < n; i++) {
      const row = staged.offset + i;
      const p = runner.classify(staged.data.images.subarray(row * data.features, (row + 1) * data.features));
      if (p === simulated[off + i]) agree++;
      if (p === staged.data.labels[row]) correct++;
    }
  }
  return { examples: data.count, agree, intAccuracy: correct / data.count, floatAccuracy: accuracy };
}
