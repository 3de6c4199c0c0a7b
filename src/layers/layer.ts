// What flows between layers, and what every layer implements.
import type { Floats } from '../ledger.js';
import type { AdamStep, AdamTensor, Kernels } from '../kernels/kernels.js';
import type { GradStore } from '../storage/grad-store.js';
import type { MomentFormat, ParamStore, StateTensor } from '../storage/param-store.js';
import { readImage } from '../data/pixels.js';
import { packSignRows, wordsFor } from '../bits.js';
import type { WinsorWorkspace } from './winsorize.js';
import type { LayerCoherence } from '../coherence/coherence.js';

/** A forward activation: rows × cols, in one of the engine's representations. */
export type Activation =
  /** exp: fixed-point activations, every value is an integer multiple of 2^exp. */
  /** signs: every value is exactly ±1 (a sign output kept as floats), so it packs to bits losslessly. */
  | { kind: 'float'; data: Floats; cols: number; exp?: number; signs?: true }
  /** Fixed-point activations kept as their integer codes: value = code·2^exp. */
  | { kind: 'codes'; data: Uint8Array | Uint16Array; cols: number; exp: number }
  | { kind: 'bits'; data: Uint32Array; cols: number }
  /**
   * Examples read straight from the data set: pixels (value = p·2/255 − 1), or its float features
   * (`values`) where it has them. Nothing copied, nothing kept.
   */
  | {
      kind: 'pixels';
      images: Uint8Array;
      values?: Float32Array;
      index: Int32Array;
      cols: number;
      shape: { h: number; w: number; c: number };
      /** Per example (dy, dx, flip) of the augmentation, or null. */
      aug: Int8Array | null;
    };

/** Buffers shared by all layers (sized once for the largest layer and reused in place). */
export interface Workspace {
  /** Rows processed at a time when streaming through stores. */
  readonly chunkRows: number;
  /** Forward pre-activations, batch × widest layer output. */
  readonly act: Floats;
  readonly chunkDy: Floats;
  readonly chunkX: Floats;
  /** chunkX's memory seen as words: ±1 inputs packed to sign bits for the xnor-popcount kernels. */
  readonly chunkXBits: Uint32Array;
  readonly chunkDx: Floats;
  /** Per-channel statistics. */
  readonly chan: Floats;
  readonly kernels: Kernels;
  /** Gradient-coherence buffers, when the network tracks it; `active` on the steps it measures. */
  readonly coherence: CoherenceWorkspace | null;
  /** Winsorized weight gradients (dense layers), when the optimizer asks for them. */
  readonly winsor: WinsorWorkspace | null;
}

export interface CoherenceWorkspace {
  active: boolean;
  /** One example's dW tile (conv layers), as large as chunkDx. */
  readonly scratch: Floats;
  /** The batch mean of the layer's input rows (dense) or input patches (conv), chunk-sized. */
  readonly mean: Floats;
  /** Per example of the batch: squared norms of dY rows, then of centred input rows (2 × batch). */
  readonly perExample: Floats;
}

export type ParamGrad =
  | { kind: 'float'; data: Floats }
  /**
   * No gradient buffer: backward hands each float tile of dW (elements [flat0, flat0 + len)) to
   * the optimizer, which folds it into its state at once (Bop's momentum).
   */
  | {
      kind: 'fused';
      consume: ((flat0: number, tile: Floats, len: number) => void) | null;
      /**
       * Where the optimizer's state is 8-bit slog momentum in the kernels' memory: `fold` given
       * the momentum's codes, block scales and γ folds the whole dW in at once (one kernel call);
       * false (nothing done) where the optimizer or `fold` cannot.
       */
      foldWhole?: (fold: (codes: Uint8Array, scales: Floats, gamma: number) => boolean) => boolean;
      /**
       * Where the optimizer is Adam with float32 state: `apply` given the parameter's weights and
       * moments (its grad is not read) and the open step's scalars applies the whole dW at once
       * (one kernel call that sums and updates tile by tile); false (nothing done) where `apply`
       * cannot.
       */
      applyWhole?: (apply: (t: AdamTensor, s: AdamStep) => boolean) => boolean;
    }
  /** 1-bit gradient: entry = ±scale, packed like the binary weights (rows × cols bits). */
  | { kind: 'sign'; bits: Uint32Array; rows: number; cols: number; scale: number };

/**
 * What a partial update (--train, src/model/train-scope.ts) sets on a planned layer: `frozen`, its
 * parameters do not train (no gradient, no optimizer state, binary weights kept as sign bits
 * only); `noBackward`, it lies below the lowest trainable layer (backward never reaches it, so it
 * keeps nothing for it); `stop`, it is the lowest trainable layer (its backward gives no input
 * gradient). Absent on a full update.
 */
export interface ScopeFlags {
  frozen?: boolean;
  noBackward?: boolean;
  stop?: boolean;
}

export interface Param {
  readonly owner: string;
  readonly name: string;
  readonly size: number;
  readonly value: ParamStore;
  readonly grad: ParamGrad;
  /** Sign-binarized in forward: Adam applies the STE mask 1{|w| <= 1} and clips to [-1, 1]. */
  readonly binary: boolean;
  /** Storage format for this parameter's optimizer moments. */
  readonly momentFormat: MomentFormat;
  /** Called after the optimizer changed the value (e.g. to repack the binary copy). */
  afterUpdate?(): void;
}

export interface Layer {
  readonly name: string;
  readonly kind: string;
  /** Rows of the input matrix per example: pixels for feature maps, 1 for vectors. */
  readonly rowsPerExample: number;
  /** `rows` = examples × rowsPerExample. */
  forward(x: Activation, rows: number, training: boolean): Activation;
  /**
   * Gradient w.r.t. this layer's output is in `grad`; returns the store holding the gradient
   * w.r.t. its input (`grad` itself when done in place, or `spare`). Null for the first layer.
   */
  backward(grad: GradStore, spare: GradStore, rows: number): GradStore | null;
  params(): Param[];
  /** Tensors that define the trained layer (saved in checkpoints), by name. */
  state(): Record<string, StateTensor>;
  /** After a checkpoint was loaded: re-derive cached forms from the state (default: the params' afterUpdate). */
  refresh?(): void;
  /** Fraction of training done (0 .. 1), for layers whose behaviour changes over training. */
  setTrainingProgress?(p: number): void;
  /** What the last backward on a coherence step measured (layers with weights). */
  lastCoherence?: LayerCoherence | null;
}

/** Row `i` (one example) of a pixel activation, decoded and augmented, into out. */
export function readExamplePixels(x: Extract<Activation, { kind: 'pixels' }>, i: number, out: Floats, offset: number): void {
  if (x.values) {
    const n = x.shape.h * x.shape.w * x.shape.c;
    out.set(x.values.subarray(x.index[i] * n, (x.index[i] + 1) * n), offset);
    return;
  }
  const a = x.aug;
  readImage(x.images, x.index[i], x.shape, a ? a[3 * i] : 0, a ? a[3 * i + 1] : 0, a ? a[3 * i + 2] : 0, out, offset);
}

/** Rows [i0, i1) of a dense layer's input (n values each) as floats: a view, or pixels or codes decoded into scratch. */
export function inputRows(x: Activation, i0: number, i1: number, n: number, scratch: Floats, kernels?: Kernels): Floats {
  if (x.kind === 'float') return x.data.subarray(i0 * n, i1 * n);
  if (x.kind === 'codes') {
    decodeCodes(x, i0 * n, (i1 - i0) * n, scratch);
    return scratch;
  }
  if (x.kind !== 'pixels') throw new Error('inputRows: bits input has no float view');
  const { h, w, c } = x.shape;
  // whole rows through the kernels' decoder (bytes staged in the scratch's own tail, decoded in place)
  if (h * w * c === n && kernels && kernelDecodesPixels(x, scratch, kernels)) return pixelColumns(x, i0, i1, 0, n, scratch, kernels);
  for (let i = i0; i < i1; i++) readExamplePixels(x, i, scratch, (i - i0) * n);
  return scratch;
}

/** Pixels the kernels decode themselves: plain images (no augmentation, no float features) and a scratch in their memory. */
export function kernelDecodesPixels(x: Activation, scratch: Floats, kernels: Kernels): x is Extract<Activation, { kind: 'pixels' }> {
  return x.kind === 'pixels' && !x.aug && !x.values && kernels.pixelsToFloat !== undefined && scratch instanceof Float32Array && holdsAll(kernels, scratch);
}

/**
 * Columns [k0, k1) of pixel rows [i0, i1) as floats, rows of k1 − k0 in scratch: the bytes staged
 * in its own tail (no extra buffer) and decoded in place by the kernels. Only where kernelDecodesPixels.
 */
export function pixelColumns(
  x: Extract<Activation, { kind: 'pixels' }>,
  i0: number,
  i1: number,
  k0: number,
  k1: number,
  scratch: Floats,
  kernels: Kernels,
): Floats {
  const count = (i1 - i0) * (k1 - k0);
  const bytes = new Uint8Array(scratch.buffer, scratch.byteOffset + scratch.byteLength - count, count);
  gatherPixelRows(x, i0, i1, k0, k1, bytes);
  kernels.pixelsToFloat!(bytes, count, scratch);
  return scratch.subarray(0, count);
}

/** Columns [k0, k1) of pixel rows [i0, i1) as bytes, rows of k1 − k0 from bytes[0] on. */
export function gatherPixelRows(x: Extract<Activation, { kind: 'pixels' }>, i0: number, i1: number, k0: number, k1: number, bytes: Uint8Array): void {
  const n = x.cols;
  const w = k1 - k0;
  for (let i = i0; i < i1; i++) {
    const from = x.index[i] * n + k0;
    bytes.set(x.images.subarray(from, from + w), (i - i0) * w);
  }
}

/** count values of a codes activation from element `from` on, as floats, into out[0 ..]. */
export function decodeCodes(x: Extract<Activation, { kind: 'codes' }>, from: number, count: number, out: Floats): void {
  const s = 2 ** x.exp; // exact: code·2^exp is what the float path holds
  for (let k = 0; k < count; k++) out[k] = x.data[from + k] * s;
}

/**
 * Rows per chunk when streaming through a store: as many as every scratch buffer holds (each
 * with its row width), at least the workspace's chunkRows. Fewer, larger kernel calls; rows are
 * computed independently, so the values do not depend on it.
 */
export function rowsPerChunk(ws: Workspace, ...buffers: [Floats, number][]): number {
  return Math.max(ws.chunkRows, Math.min(...buffers.map(([b, cols]) => Math.floor(b.length / Math.max(1, cols)))));
}

/** The kernels can use every one of these arrays in place (they live in the kernels' own memory). */
export function holdsAll(k: Kernels, ...arrays: (Floats | Uint8Array | Uint16Array | Uint32Array)[]): boolean {
  return k.holds !== undefined && arrays.every((a) => k.holds!(a));
}

/** Bits of z >= 0 (sign(0) = +1), rows x cols: the kernels' packer where they hold both arrays, else packSignRows. */
export function packSigns(k: Kernels, z: Floats, rows: number, cols: number, bits: Uint32Array, rowWords = wordsFor(cols)): void {
  if (k.packLatentSigns && z instanceof Float32Array && holdsAll(k, z, bits)) k.packLatentSigns(z, rows, cols, bits, rowWords);
  else packSignRows(z, rows, cols, bits, 0, rowWords);
}

/** The input a weight layer kept in its training forward (its backward needs it). */
export function trainingInput(layer: { name: string }, x: Activation | null): Activation {
  if (!x) throw new Error(`${layer.name}: backward without a training forward`);
  return x;
}

/** The per-example dY norms of a dense layer's measured backward, cleared (null when this step is not measured). */
export function dyNormsToFill(ws: Workspace, rows: number): Floats | null {
  if (!ws.coherence?.active) return null;
  ws.coherence.perExample.fill(0, 0, rows);
  return ws.coherence.perExample;
}
