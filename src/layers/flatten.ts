// Feature map (examples·pixels × channels) to vectors (examples × pixels·channels). Channels-last
// rows are already in that order, so nothing moves; packed bits need whole words per pixel.
import { wordsFor } from '../bits.js';
import type { GradStore } from '../storage/grad-store.js';
import type { Activation, Layer, Param } from './layer.js';

export class FlattenLayer implements Layer {
  readonly kind = 'flatten';
  readonly rowsPerExample: number;

  constructor(
    readonly name: string,
    readonly h: number,
    readonly w: number,
    readonly channels: number,
  ) {
    this.rowsPerExample = h * w;
  }

  params(): Param[] {
    return [];
  }
  state() {
    return {};
  }

  forward(x: Activation, _rows: number): Activation {
    // data-set pixels (a first dense layer on image input): read whole examples, h·w·c values each
    if (x.kind === 'bits' && wordsFor(this.channels) * 32 !== this.channels)
      throw new Error(`${this.name}: flattening packed bits needs a multiple of 32 channels, got ${this.channels}`);
    return { ...x, cols: this.rowsPerExample * this.channels };
  }

  backward(grad: GradStore, _spare: GradStore, rows: number): GradStore {
    grad.setShape(rows, this.channels);
    return grad;
  }
}
