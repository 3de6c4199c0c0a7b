// Integer export of a fixed-point model (docs/method.md §4): per layer, integer weights with one
// power-of-two exponent per tensor, int32 biases at the accumulator's exponent, and per
// activation one shift; plus the 256-entry table from pixel byte to 8-bit input code. The
// integer-only forward below is the reference a device implements; it gives exactly the float
// simulation's numbers (every float value of the simulation is an integer times a power of two).
import type { Dataset } from '../data/dataset.js';
import { readImage } from '../data/pixels.js';
import { fromBase64, IntExportError, type IntModel, type IntWriter } from '../formats/int-model.js';
import type { ConvGeometry } from '../kernels/conv-geometry.js';
import { inputCode } from '../layers/quant-layer.js';
import { writeLayers } from '../model/kinds/export-walk.js';
import type { Network } from '../model/network.js';
import { precisionKind, type ModelSpec } from '../model/spec.js';
import { INPUT_BITS, INPUT_EXPONENT, describeQuant } from '../../quant/quant-config.js';
import { qRange } from '../../quant/po2-quantizers.js';
import { agreement, forEachPixelBatch } from './agreement.js';

export { IntExportError, type IntModel, type IntOp } from '../formats/int-model.js';

/** Pixel byte → input code, through the same float path training uses. */
function pixelCodes(): number[] {
  const px = Uint8Array.from({ length: 256 }, (_, i) => i);
  const f = new Float32Array(256);
  readImage(px, 0, { h: 1, w: 256, c: 1 }, 0, 0, 0, f, 0);
  return Array.from(f, inputCode);
}

/** The integer model of a trained fixed-point network (each layer's kind writes its ops: src/model/kinds/). */
export function intArtifacts(net: Network, spec: ModelSpec, producer: string): IntModel {
  if (precisionKind(spec) === 'mixed')
    throw new IntExportError('integer export of a model mixing binary and fixed-point layers is not supported yet (--format packed exports it)');
  const q = spec.quant;
  if (!q || q.weightBits === null || q.actBits === null) {
    const thisOne = q ? describeQuant(q) : 'binary: use --format tfjs or packed';
    throw new IntExportError(`integer export needs a fixed-point model with quantized weights and activations (this one is ${thisOne})`);
  }
  const out: IntWriter = { ops: [], inputExponent: INPUT_EXPONENT, inputMax: qRange({ bits: INPUT_BITS }).hi, accExponent: 0, accumulatorBound: 0 };
  writeLayers(net, 'int', out, (m) => new IntExportError(m));
  return {
    format: 'bitlearn-int',
    producer,
    model: spec.name,
    quant: describeQuant(q),
    input: { bits: INPUT_BITS, exponent: INPUT_EXPONENT, codeOfPixel: pixelCodes(), formula: 'code = clamp(round(((2p - 255) / 255) * 128), -127, 127)' },
    ops: out.ops,
    accumulatorBound: out.accumulatorBound,
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
      ? { W: o.weightType === 'int8' ? fromBase64(o.weights, Int8Array) : fromBase64(o.weights, Int16Array), b: fromBase64(o.bias, Int32Array) }
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
