// The integer model file (`export --format int`, docs/method.md §4) and what the layer kinds
// write it into: the exporter (src/export/int.ts) walks the kinds, each appends its ops here.
import type { ConvGeometry } from '../kernels/conv-geometry.js';

/** A layer with integer weights: acc = W_int ⊛ x + b_int, exponent weightExponent + inputExponent. */
export interface IntWeightFields {
  name: string;
  /** dense: nOut × nIn; conv: co × k² × ci (ci = nIn) with its geometry. */
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

/** What the kinds write an integer model into, walking the network in order. */
export interface IntWriter {
  readonly ops: IntOp[];
  /** Exponent of the codes that feed the next layer. */
  inputExponent: number;
  /** Largest code that feeds the next layer. */
  inputMax: number;
  /** Exponent of the last weight layer's accumulator. */
  accExponent: number;
  /** Largest |accumulator| so far. */
  accumulatorBound: number;
}

export function toBase64(a: Int8Array | Int16Array | Int32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

export function fromBase64<T extends Int8Array | Int16Array | Int32Array>(
  s: string,
  Ctor: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number },
): T {
  const buf = Buffer.from(s, 'base64');
  const copy = new ArrayBuffer(buf.length);
  new Uint8Array(copy).set(buf);
  return new Ctor(copy, 0, buf.length / Ctor.BYTES_PER_ELEMENT);
}
