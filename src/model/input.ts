// The first stage: turns a list of example indices into the first layer's input. The standard
// recipe gathers a float32 batch (and keeps it for dW); the low-memory recipe keeps only the
// indices (and augmentation parameters) and lets the first layer read pixels from the data set,
// in forward and again in backward.
import type { Dataset } from '../data/dataset.js';
import { MAX_SHIFT, readImage, type ImageShape } from '../data/pixels.js';
import type { Kernels } from '../kernels/kernels.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Activation } from '../layers/layer.js';
import type { Recipe } from '../recipe.js';
import { Rng } from '../rng.js';

export class InputStage {
  readonly labels: Uint8Array;
  /** Values per example. */
  readonly features: number;
  private readonly batchFloat: Floats | null;
  private readonly index: Int32Array | null;
  /** (dy, dx, flip) per example when augmenting. */
  private readonly aug: Int8Array | null;
  /** Draws the augmentation; its state is part of a checkpoint. */
  augRng: Rng;

  constructor(
    mode: Recipe['firstInput'],
    /** Input shape; activations are (examples·h·w) × c, channels-last. */
    private readonly shape: ImageShape,
    readonly batch: number,
    ledger: MemoryLedger,
    augment = false,
    seed = 1,
    /** Kernels whose memory holds the batch: they decode its pixels in one call. */
    private readonly kernels: Kernels | null = null,
  ) {
    const features = (this.features = shape.h * shape.w * shape.c);
    if (augment && (shape.h < 2 || shape.w < 2)) throw new Error('augmentation (shift, flip) needs image-shaped input, not vectors');
    this.labels = ledger.u8(batch, 'input', 'input', 'labels');
    this.batchFloat = mode === 'float32' ? ledger.floats(batch * features, 'input', 'input', 'batch (float)') : null;
    this.index = mode === 'reread' ? ledger.i32(batch, 'input', 'input', 'example indices') : null;
    this.aug = augment ? ledger.i8(3 * batch, 'input', 'input', 'augmentation (dy, dx, flip)') : null;
    this.augRng = new Rng(seed ^ 0xa06);
  }

  /** Load examples order[offset .. offset+rows) of `data`; augmented when training and enabled. */
  load(data: Dataset, order: Int32Array, offset: number, rows: number, training = true): Activation {
    // a streamed data set reads the batch's examples now; they stay readable until the next load
    if (data.stage) ({ data, order, offset } = data.stage(order, offset, rows));
    if (rows > this.batch) throw new Error(`input: ${rows} rows do not fit a batch of ${this.batch}`);
    if (data.features !== this.features) throw new Error(`input: data set ${data.name} has ${data.features} features, model expects ${this.features}`);
    for (let i = 0; i < rows; i++) this.labels[i] = data.labels[order[offset + i]];
    const aug = this.aug;
    if (aug && data.values) throw new Error(`input: augmentation (shift, flip) needs images; data set ${data.name} holds float features`);
    if (aug)
      for (let i = 0; i < rows; i++) {
        const on = training;
        aug[3 * i] = on ? this.augRng.int(2 * MAX_SHIFT + 1) - MAX_SHIFT : 0;
        aug[3 * i + 1] = on ? this.augRng.int(2 * MAX_SHIFT + 1) - MAX_SHIFT : 0;
        aug[3 * i + 2] = on ? this.augRng.int(2) : 0;
      }
    if (this.index) {
      for (let i = 0; i < rows; i++) this.index[i] = order[offset + i];
      return {
        kind: 'pixels',
        images: data.images,
        ...(data.values ? { values: data.values } : {}),
        index: this.index,
        cols: this.shape.c,
        shape: this.shape,
        aug,
      };
    }
    const x = this.batchFloat!;
    const n = this.features;
    if (data.values) {
      for (let i = 0; i < rows; i++) x.set(data.values.subarray(order[offset + i] * n, (order[offset + i] + 1) * n), i * n);
    } else if (!aug && this.kernels?.pixelsToFloat && this.kernels.holds?.(x)) {
      // the examples' bytes copied into the batch's own tail and decoded in one kernel call
      // (each block of bytes is read before its floats are stored), the same values as readImage
      const count = rows * n;
      const staged = new Uint8Array(x.buffer, x.byteOffset + 3 * count, count);
      for (let i = 0; i < rows; i++) staged.set(data.images.subarray(order[offset + i] * n, (order[offset + i] + 1) * n), i * n);
      this.kernels.pixelsToFloat(staged, count, x);
    } else
      for (let i = 0; i < rows; i++)
        readImage(data.images, order[offset + i], this.shape, aug ? aug[3 * i] : 0, aug ? aug[3 * i + 1] : 0, aug ? aug[3 * i + 2] : 0, x, i * n);
    return { kind: 'float', data: x, cols: this.shape.c };
  }
}
