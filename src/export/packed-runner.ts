// Runs a packed model file: the ops of packed.ts on the kernel set training uses (so every
// product is the same float32 or integer sum), with inference buffers only: the weights' sign
// bits, the thresholds, and two activation buffers of each kind sized for the largest layer.
import { readFileSync } from 'node:fs';
import { unpackSignRows, wordsFor } from '../bits.js';
import { addRowBias, quantizeInputValues } from '../layers/quant-layer.js';
import { activationCode } from '../layers/quant-act.js';
import { bnInference } from '../layers/batchnorm.js';
import { maxPoolSignBits } from '../layers/maxpool.js';
import { maxPoolFloatReference } from '../kernels/pool-reference.js';
import { stageRows, type Dataset } from '../data/dataset.js';
import { pixelsToFloat } from '../data/pixels.js';
import { taps } from '../kernels/conv-geometry.js';
import type { Kernels } from '../kernels/kernels.js';
import { selectKernels } from '../kernels/select.js';
import { softmaxRow } from '../layers/softmax-xent.js';
import { MemoryLedger, type Floats } from '../ledger.js';
import { decodePacked, PackedFileError, readSection, unpackCodes } from '../formats/packed-file.js';
import type { PackedHeader, PackedOp } from '../formats/packed-ops.js';
import { inputDataset, type InputRows, type ModelInputs, type Prediction } from '../model/predict.js';

/** An op with its arrays decoded into kernel memory. */
type Ready =
  | { op: Extract<PackedOp, { op: 'dense' | 'conv' }>; w: Uint32Array }
  | { op: Extract<PackedOp, { op: 'qdense' | 'qconv' }>; w: Float32Array; b: Float32Array }
  | { op: Extract<PackedOp, { op: 'threshold' }>; t: Float32Array }
  | { op: Extract<PackedOp, { op: 'batchnorm' }>; mean: Float32Array; sigma: Float32Array; beta: Float32Array }
  | { op: Extract<PackedOp, { op: 'maxpool' | 'avgpool' | 'qact' }> };

/** Elements of a fixed-point weight tensor, and its outputs. */
const weightCount = (o: Extract<PackedOp, { op: 'qdense' | 'qconv' }>) => (o.op === 'qdense' ? o.nOut * o.nIn : o.g.co * taps(o.g) * o.g.ci);
const outputs = (o: Extract<PackedOp, { op: 'qdense' | 'qconv' }>) => (o.op === 'qdense' ? o.nOut : o.g.co);

export interface PackedModelInfo {
  model: string;
  producer: string;
  classes: number;
  input: PackedHeader['input'];
  /** Values per example. */
  features: number;
  /** Bytes of the file. */
  fileBytes: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The ops checked against the shapes flowing through them: the largest activations (floats,
 * words of bits), and what enters each op: its values per example and, where they are sign bits,
 * their channels.
 */
function checkOps(h: PackedHeader, name: string): { maxFloats: number; maxWords: number; valuesIn: number[]; bitChannelsIn: number[] } {
  const bad = (i: number, why: string) => new PackedFileError(`${name}: op ${i + 1}: ${why}`);
  const { h: H, w: W, c: Ch } = h.input.shape;
  let values = H * W * Ch;
  let kind: 'float' | 'bits' = 'float';
  let maxFloats = values;
  let maxWords = 0;
  let bitChannels = 1;
  const valuesIn: number[] = [];
  const bitChannelsIn: number[] = [];
  const int = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  h.ops.forEach((o, i) => {
    if (!isObject(o)) throw bad(i, 'not an object');
    valuesIn.push(values);
    bitChannelsIn.push(bitChannels);
    const weighted = o.op === 'dense' || o.op === 'conv' || o.op === 'qdense' || o.op === 'qconv';
    if ((weighted || o.op === 'maxpool' || o.op === 'avgpool') && o.input !== kind) throw bad(i, `expects ${o.input} input, gets ${kind}`);
    if (o.op === 'dense' || o.op === 'qdense') {
      if (!int(o.nIn) || !int(o.nOut) || o.nIn !== values) throw bad(i, `dense layer takes ${String(o.nIn)} values, gets ${values}`);
      values = o.nOut;
      kind = 'float';
    } else if (o.op === 'conv' || o.op === 'qconv') {
      const g = o.g;
      if (!isObject(g) || ![g.hi, g.wi, g.ci, g.ho, g.wo, g.co, g.k, g.stride].every(int) || g.hi * g.wi * g.ci !== values)
        throw bad(i, 'convolution geometry does not fit its input');
      values = g.ho * g.wo * g.co;
      kind = 'float';
    } else if (o.op === 'threshold') {
      if (kind !== 'float' || !int(o.channels) || values % o.channels) throw bad(i, 'threshold channels do not fit');
      maxWords = Math.max(maxWords, (values / o.channels) * wordsFor(o.channels));
      kind = 'bits';
      bitChannels = o.channels;
    } else if (o.op === 'batchnorm' || o.op === 'qact') {
      if (kind !== 'float' || !int(o.channels) || values % o.channels) throw bad(i, `${o.op} channels do not fit`);
    } else if (o.op === 'maxpool' || o.op === 'avgpool') {
      const [sh, sw] = o.op === 'maxpool' ? [o.size, o.size] : [o.sh, o.sw];
      if (![o.h, o.w, o.channels, sh, sw].every(int) || o.h * o.w * o.channels !== values) throw bad(i, 'pool shape does not fit its input');
      values = Math.floor(o.h / sh) * Math.floor(o.w / sw) * o.channels;
      if (kind === 'bits' && o.op === 'maxpool') maxWords = Math.max(maxWords, (values / o.channels) * wordsFor(o.channels));
      else kind = 'float';
    } else throw bad(i, `unknown op ${JSON.stringify((o as { op?: unknown }).op)}`);
    // bits too: a fixed-point layer after a binary one reads them unpacked to ±1 floats
    maxFloats = Math.max(maxFloats, values);
  });
  if (kind !== 'float' || values !== h.classes) throw new PackedFileError(`${name}: the last op gives ${values} values, the model has ${h.classes} classes`);
  return { maxFloats, maxWords, valuesIn, bitChannelsIn };
}

/** A packed model ready to run: `predict` fills classes and probabilities for every example of a data set. */
export class PackedModel {
  readonly info: PackedModelInfo;
  private readonly ready: Ready[];
  private readonly kernels: Kernels;
  readonly ledger: MemoryLedger;
  private readonly floats: [Floats, Floats];
  private readonly bits: [Uint32Array, Uint32Array];
  private readonly probs: Float32Array;
  /** Per op: the values per example entering it, and the channels of sign bits entering it. */
  private readonly valuesIn: number[];
  private readonly bitChannelsIn: number[];

  /** `batch`: examples per forward pass (memory only: results do not depend on it). */
  constructor(bytes: Uint8Array, name: string, opts: { batch?: number; kernels?: string } = {}) {
    const { header, data } = decodePacked(bytes, name);
    if (header.format !== 'bitlearn-packed') throw new PackedFileError(`${name}: not a bitlearn packed model (format ${JSON.stringify(header.format)})`);
    const h = header as unknown as PackedHeader;
    const shape = isObject(h.input) ? h.input.shape : undefined;
    if (!isObject(shape) || ![shape.h, shape.w, shape.c].every((v) => Number.isInteger(v) && v > 0) || !Array.isArray(h.ops) || !(h.classes >= 2))
      throw new PackedFileError(`${name}: header lacks the input shape, the classes or the ops`);
    const { maxFloats, maxWords, valuesIn, bitChannelsIn } = checkOps(h, name);
    this.valuesIn = valuesIn;
    this.bitChannelsIn = bitChannelsIn;
    const batch = opts.batch ?? 100;
    const set = selectKernels(opts.kernels ?? 'auto');
    const inst = set.instantiate?.({ threads: 1 });
    this.kernels = inst?.kernels ?? set;
    this.ledger = inst?.ledger ?? new MemoryLedger();
    const L = this.ledger;
    this.ready = h.ops.map((o, i): Ready => {
      const what = `op ${i + 1} (${o.name})`;
      const into = (a: ArrayLike<number>, n: number, f: (n: number) => Float32Array | Uint32Array) => {
        const t = f(n);
        t.set(a);
        return t;
      };
      const f32 = (s: PackedOp & { op: 'batchnorm' }, key: 'mean' | 'sigma' | 'beta') =>
        into(
          readSection(data, s[key], s.channels, name, `${what} ${key}`),
          s.channels,
          (n) => L.floats(n, 'weights', o.name, key) as Float32Array,
        ) as Float32Array;
      if (o.op === 'dense' || o.op === 'conv') {
        const n = o.op === 'dense' ? o.nOut * wordsFor(o.nIn) : o.g.co * taps(o.g) * wordsFor(o.g.ci);
        const sec = readSection(data, o.weights, n, name, `${what} weights`);
        return { op: o, w: into(sec, n, (k) => L.u32(k, 'weights', o.name, 'sign bits')) as Uint32Array };
      }
      if (o.op === 'qdense' || o.op === 'qconv') {
        const n = weightCount(o);
        const bits = o.weightBits;
        if (bits !== null && !(Number.isInteger(bits) && bits >= 2 && bits <= 16)) throw new PackedFileError(`${name}: ${what}: weight bits ${bits}`);
        const codes =
          bits === null
            ? readSection(data, o.weights, n, name, `${what} weights`)
            : unpackCodes(readSection(data, o.weights, Math.ceil((n * bits) / 32), name, `${what} weights`), n, bits);
        // codes · 2^e: the float32 weights the network computed with, exactly
        const s = bits === null ? 1 : 2 ** o.weightExponent;
        const w = L.floats(n, 'weights', o.name, 'weights') as Float32Array;
        for (let k = 0; k < n; k++) w[k] = codes[k] * s;
        const b = Float32Array.from(readSection(data, o.bias, outputs(o), name, `${what} bias`));
        return { op: o, w, b };
      }
      if (o.op === 'threshold') return { op: o, t: Float32Array.from(readSection(data, o.thresholds, o.channels, name, `${what} thresholds`)) };
      if (o.op === 'batchnorm') return { op: o, mean: f32(o, 'mean'), sigma: f32(o, 'sigma'), beta: f32(o, 'beta') };
      return { op: o };
    });
    this.floats = [L.floats(batch * maxFloats, 'workspace', 'packed', 'activations A'), L.floats(batch * maxFloats, 'workspace', 'packed', 'activations B')];
    this.bits = [L.u32(Math.max(1, batch * maxWords), 'workspace', 'packed', 'bits A'), L.u32(Math.max(1, batch * maxWords), 'workspace', 'packed', 'bits B')];
    this.probs = new Float32Array(batch * h.classes);
    const { h: H, w: W, c: Ch } = shape;
    this.info = { model: String(h.model), producer: String(h.producer), classes: h.classes, input: h.input, features: H * W * Ch, fileBytes: bytes.length };
  }

  get batch(): number {
    return this.probs.length / this.info.classes;
  }

  /** What preparing inputs for this model needs (shape, classes, standardization). */
  get inputs(): ModelInputs {
    const { model, input, classes } = this.info;
    return { name: model, shape: input.shape, classes, input };
  }

  /** Classes and probabilities of new inputs (float feature rows, or 8-bit pixels for image models), prepared as in training. */
  predictRows(rows: InputRows): Prediction {
    const data = inputDataset(this.inputs, rows);
    const classes = new Int32Array(data.count);
    const probabilities = new Float32Array(data.count * this.info.classes);
    this.predict(data, classes, probabilities);
    const names = this.info.input.classNames;
    return { classes, probabilities, ...(names ? { classNames: names } : {}) };
  }

  /** The class of every example of `data` (its labels are ignored), and with `probabilities` (count × classes) their softmax. */
  predict(data: Dataset, classes: Int32Array, probabilities?: Float32Array): void {
    const f = this.info.features;
    if (data.features !== f) throw new Error(`packed model ${this.info.model} takes ${f} values per example, the data has ${data.features}`);
    const K = this.info.classes;
    const order = Int32Array.from({ length: data.count }, (_, i) => i);
    for (let off = 0; off < data.count; off += this.batch) {
      const rows = Math.min(this.batch, data.count - off);
      const { data: d, offset } = stageRows(data, order, off, rows);
      const x = this.floats[0];
      const first = d === data ? off : offset;
      if (d.values) x.set(d.values.subarray(first * f, (first + rows) * f));
      else pixelsToFloat(d.images, first * f, rows * f, x, 0);
      const logits = this.forward(rows);
      for (let i = 0; i < rows; i++) classes[off + i] = softmaxRow(logits, i * K, K, this.probs).arg;
      probabilities?.set(this.probs.subarray(0, rows * K), off * K);
    }
  }

  /** The ops on rows examples in floats[0]; the logits (a view). */
  private forward(rows: number): Floats {
    const k = this.kernels;
    let fi = 0;
    let bi = 0;
    this.ready.forEach((r, i) => {
      const o = r.op;
      const vals = this.valuesIn[i];
      const x = this.floats[fi];
      const xb = this.bits[bi];
      if (o.op === 'dense') {
        const y = this.floats[1 - fi];
        if (o.input === 'bits') k.gemmBinBin(xb, (r as { w: Uint32Array }).w, rows, o.nOut, o.nIn, y);
        else k.gemmFloatBin(x, (r as { w: Uint32Array }).w, rows, o.nOut, o.nIn, y);
        fi = 1 - fi;
      } else if (o.op === 'conv') {
        const g = o.g;
        const y = this.floats[1 - fi];
        const w = (r as { w: Uint32Array }).w;
        const inB = o.input === 'bits' ? g.hi * g.wi * wordsFor(g.ci) : g.hi * g.wi * g.ci;
        const outN = g.ho * g.wo * g.co;
        for (let b = 0; b < rows; b++) {
          const yb = y.subarray(b * outN, (b + 1) * outN);
          if (o.input === 'bits') k.convFwdBin(xb.subarray(b * inB, (b + 1) * inB), w, g, yb);
          else k.convFwdFloat(x.subarray(b * inB, (b + 1) * inB), w, g, yb);
        }
        fi = 1 - fi;
      } else if (o.op === 'threshold') {
        const t = (r as { t: Float32Array }).t;
        const C = o.channels;
        const wpc = wordsFor(C);
        const out = this.bits[1 - bi];
        const n = (rows * vals) / C;
        for (let p = 0; p < n; p++)
          for (let wd = 0; wd < wpc; wd++) {
            let word = 0;
            const c0 = wd << 5;
            const c1 = Math.min(C, c0 + 32);
            for (let c = c0; c < c1; c++) if (x[p * C + c] >= t[c]) word |= 1 << (c - c0);
            out[p * wpc + wd] = word >>> 0;
          }
        bi = 1 - bi;
      } else if (o.op === 'qdense' || o.op === 'qconv') {
        const { w, b } = r as { w: Float32Array; b: Float32Array };
        // sign bits in (a binary layer before): ±1 floats, as the network reads them
        const bitChannels = this.bitChannelsIn[i];
        if (o.input === 'bits') unpackSignRows(xb, (rows * vals) / bitChannels, bitChannels, x);
        if (o.quantizeInput) quantizeInputValues(x, rows * vals);
        const y = this.floats[1 - fi];
        if (o.op === 'qdense') {
          k.gemmFloatFloat(x, w, rows, o.nOut, o.nIn, y);
          addRowBias(y, rows, b);
        } else {
          const g = o.g;
          const inN = g.hi * g.wi * g.ci;
          const outN = g.ho * g.wo * g.co;
          for (let e = 0; e < rows; e++) {
            const yb = y.subarray(e * outN, (e + 1) * outN);
            k.convFwdFloatFloat(x.subarray(e * inN, (e + 1) * inN), w, g, yb);
            addRowBias(yb, g.ho * g.wo, b);
          }
        }
        fi = 1 - fi;
      } else if (o.op === 'qact') {
        const n = rows * vals;
        if (o.bits === null) for (let q = 0; q < n; q++) x[q] = x[q] > 0 ? x[q] : 0;
        else {
          // QuantActLayer's inference: the code's value
          const sc = 2 ** (o.exponent as number);
          const Qp = 2 ** o.bits - 1;
          for (let q = 0; q < n; q++) x[q] = activationCode(x[q], sc, Qp) * sc;
        }
      } else if (o.op === 'batchnorm') {
        const { mean, sigma, beta } = r as { mean: Float32Array; sigma: Float32Array; beta: Float32Array };
        const C = o.channels;
        const n = (rows * vals) / C;
        for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) x[i * C + c] = bnInference(x[i * C + c], mean[c], sigma[c], beta[c]);
      } else if (o.op === 'maxpool') {
        if (o.input === 'bits') {
          maxPoolSignBits(xb, this.bits[1 - bi], rows, o.h, o.w, o.channels, o.size);
          bi = 1 - bi;
        } else {
          maxPoolFloatReference(x, this.floats[1 - fi], rows, { h: o.h, w: o.w, C: o.channels, size: o.size }, null);
          fi = 1 - fi;
        }
      } else {
        avgPool(o.input === 'bits' ? xb : x, o.input === 'bits', this.floats[1 - fi], rows, o.h, o.w, o.channels, o.sh, o.sw);
        fi = 1 - fi;
      }
    });
    return this.floats[fi];
  }

  /** The bytes the runner allocated (weights in kernel memory and activation buffers). */
  memoryBytes(): number {
    return this.ledger.entries().reduce((s, e) => s + e.bytes, 0) + this.probs.byteLength;
  }
}

function avgPool(x: Floats | Uint32Array, bits: boolean, out: Floats, B: number, h: number, w: number, C: number, sh: number, sw: number): void {
  const hp = Math.floor(h / sh);
  const wp = Math.floor(w / sw);
  const wpc = wordsFor(C);
  const at = (row: number, c: number) => (bits ? ((x[row * wpc + (c >>> 5)] >>> (c & 31)) & 1 ? 1 : -1) : x[row * C + c]);
  for (let b = 0; b < B; b++)
    for (let py = 0; py < hp; py++)
      for (let px = 0; px < wp; px++)
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let dy = 0; dy < sh; dy++) for (let dx = 0; dx < sw; dx++) s += at((b * h + py * sh + dy) * w + px * sw + dx, c);
          out[((b * hp + py) * wp + px) * C + c] = s / (sh * sw);
        }
}

/** A packed model file, read and checked. */
export function loadPackedModel(path: string, opts: { batch?: number; kernels?: string } = {}): PackedModel {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new PackedFileError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return new PackedModel(bytes, path, opts);
}
