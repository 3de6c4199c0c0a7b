// The first stage: turns a list of example indices into the first layer's input. The standard
// recipe gathers a float32 batch (and keeps it for dW); the low-memory recipe keeps only the
// indices and lets the first layer read pixels from the data set, in forward and again in backward.
import type { Dataset } from '../data/dataset.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Activation } from '../layers/layer.js';
import type { Recipe } from '../recipe.js';
import { pixelsToFloat } from '../data/pixels.js';

export class InputStage {
  readonly labels: Uint8Array;
  private readonly batchFloat: Floats | null;
  private readonly index: Int32Array | null;

  /** Values per example. */
  readonly features: number;

  constructor(
    private readonly mode: Recipe['firstInput'],
    /** Input shape; activations are (examples·h·w) × c, channels-last. */
    private readonly shape: { h: number; w: number; c: number },
    readonly batch: number,
    ledger: MemoryLedger,
  ) {
    const features = (this.features = shape.h * shape.w * shape.c);
    this.labels = ledger.u8(batch, 'input', 'input', 'labels');
    this.batchFloat = mode === 'float32' ? ledger.floats(batch * features, 'input', 'input', 'batch (float)') : null;
    this.index = mode === 'reread' ? ledger.i32(batch, 'input', 'input', 'example indices') : null;
  }

  /** Load examples order[offset .. offset+rows) of `data`. */
  load(data: Dataset, order: Int32Array, offset: number, rows: number): Activation {
    if (rows > this.batch) throw new Error(`input: ${rows} rows do not fit a batch of ${this.batch}`);
    if (data.features !== this.features)
      throw new Error(`input: data set ${data.name} has ${data.features} features, model expects ${this.features}`);
    const n = this.features;
    for (let i = 0; i < rows; i++) this.labels[i] = data.labels[order[offset + i]];
    if (this.index) {
      for (let i = 0; i < rows; i++) this.index[i] = order[offset + i];
      return { kind: 'pixels', images: data.images, index: this.index, cols: this.shape.c };
    }
    const x = this.batchFloat!;
    for (let i = 0; i < rows; i++) pixelsToFloat(data.images, order[offset + i] * n, n, x, i * n);
    return { kind: 'float', data: x, cols: this.shape.c };
  }
}
