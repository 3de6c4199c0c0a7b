// The ops of a packed model file (`export --format packed`, docs/inference.md) and what the layer
// kinds write them into. The exporter (src/export/packed.ts) walks the kinds; each kind appends
// its ops here (src/model/kinds/); the runner (src/export/packed-runner.ts) reads them back.
import type { InputMeta } from '../data/dataset.js';
import type { ConvGeometry } from '../kernels/conv-geometry.js';
import type { Section, SectionWriter } from './packed-file.js';

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

/** What the kinds write a packed file into, walking the network in order. */
export interface PackedWriter {
  readonly sections: SectionWriter;
  readonly ops: PackedOp[];
  /** What feeds the next layer. */
  input: PackedInput;
  /** After a binary weight layer: the integer range of its z (xnor input), or null (float input). */
  zRange: number | null;
}
