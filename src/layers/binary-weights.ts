// A binary weight tensor as the recipe stores it: latent weights (float32 or float16), their
// packed signs (rows × cols bits, rows padded to whole words), the weight gradient (float32 or
// 1-bit sign), and the Param the optimizer updates. Dense layers have one row per output unit;
// convolutions one row per (output channel, tap).
import { wordsFor } from '../bits.js';
import type { MemoryLedger } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import type { Rng } from '../rng.js';
import { bitStore, createParamStore, type ParamStore } from '../storage/param-store.js';
import type { Floats } from '../ledger.js';
import type { Kernels } from '../kernels/kernels.js';
import { packSigns, type Param, type ParamGrad } from './layer.js';
import type { LayerCoherence } from '../coherence/coherence.js';

export class BinaryWeights {
  readonly latent: ParamStore;
  readonly bits: Uint32Array;
  /** null when frozen: nothing is accumulated. */
  readonly grad: ParamGrad | null;
  /** null when frozen: the optimizer never sees the tensor. */
  readonly param: Param | null;
  /** The standard deviation of the initial draw (the magnitude latent weights take from sign bits alone). */
  readonly initStd: number;

  constructor(
    owner: string,
    readonly rows: number,
    readonly cols: number,
    fanIn: number,
    recipe: Recipe,
    ledger: MemoryLedger,
    rng: Rng,
    /** Kernels whose packLatentSigns repacks in place (the loop below is the reference). */
    private readonly kernels?: Kernels,
    /** Not trained (--train): the packed signs alone are the weights, no gradient, no optimizer state. */
    readonly frozen = false,
    /**
     * No gradient buffer: backward hands each tile of dW to the optimizer, which applies it at
     * once (Adam during backward, src/model/shared-weight-grads.ts), as dw=fused does for Bop.
     */
    tilesToOptimizer = false,
  ) {
    const size = rows * cols;
    const words = rows * wordsFor(cols);
    const bitsOnly = recipe.weights === 'bit' || frozen;
    this.bits = ledger.u32(
      words,
      'weights',
      owner,
      frozen ? 'binary weights (packed; frozen)' : bitsOnly ? 'binary weights (packed; no latent copy)' : 'binary weights (packed)',
    );
    // `bit`: the packed signs are the weights (Bop flips them); else latent weights + packed signs
    this.latent =
      recipe.weights === 'bit' || frozen ? bitStore(this.bits, rows, cols) : createParamStore(recipe.weights, size, ledger, 'weights', owner, 'latent weights');
    this.grad = frozen
      ? null
      : recipe.dw === 'fused' || tilesToOptimizer
        ? { kind: 'fused', consume: null }
        : recipe.dw === 'float32'
          ? { kind: 'float', data: ledger.floats(size, 'weight-grads', owner, 'dW') }
          : { kind: 'sign', bits: ledger.u32(words, 'weight-grads', owner, 'sign(dW) (packed)'), rows, cols, scale: 1 / Math.sqrt(size) };
    const std = (this.initStd = 1 / Math.sqrt(fanIn)); // N(0, 1/fan_in)
    for (let i = 0; i < size; i++) this.latent.set(i, rng.normal() * std);
    this.repack();
    const afterUpdate = recipe.weights === 'bit' ? undefined : () => this.repack();
    this.param = this.grad ? { owner, name: 'W', size, value: this.latent, grad: this.grad, binary: true, momentFormat: recipe.moments, afterUpdate } : null;
  }

  /** Re-derive the packed sign(W) from the latent weights (reads raw storage: runs every step). */
  repack(): void {
    if (this.latent.format === 'bit') return; // the bits are the weights
    const raw = this.latent.raw;
    const { rows, cols, bits } = this;
    const pack = this.kernels?.packLatentSigns ?? packLatentSignsReference;
    pack(raw as Float32Array | Uint16Array, rows, cols, bits);
  }
}

/**
 * Packed sign(W) of float32 or float16 latent weights (rows × cols, rows padded to whole words):
 * bit set for w >= 0, -0 included (sign(0) = +1). The reference for kernels' packLatentSigns.
 */
export function packLatentSignsReference(raw: Float32Array | Uint16Array, rows: number, cols: number, bits: Uint32Array): void {
  const half = raw instanceof Uint16Array;
  const wpr = wordsFor(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let w = 0; w < wpr; w++) {
      let word = 0;
      const c0 = w << 5;
      const c1 = Math.min(cols, c0 + 32);
      for (let c = c0; c < c1; c++) {
        const h = raw[base + c];
        // float16: non-negative when the sign bit is clear, or for -0 (sign(0) = +1)
        const nonNegative = half ? (h & 0x8000) === 0 || (h & 0x7fff) === 0 : h >= 0;
        if (nonNegative) word |= 1 << (c - c0);
      }
      bits[r * wpr + w] = word >>> 0;
    }
  }
}

/** A finished float tile of dW (elements [flat0, flat0 + len)) goes where the recipe keeps dW. */
export function storeDwTile(grad: ParamGrad, acc: Floats, flat0: number, len: number, rows: number, cols: number, kernels: Kernels): void {
  if (grad.kind === 'sign') packSigns(kernels, acc, rows, cols, grad.bits.subarray((flat0 / cols) * wordsFor(cols)));
  else if (grad.kind === 'fused') {
    if (!grad.consume) throw new Error('dw=fused: no optimizer consumes the weight gradient (Bop registers itself)');
    grad.consume(flat0, acc, len);
  } else grad.data.set(acc.subarray(0, len), flat0);
}

/** What dense and conv layers share: one binary weight tensor, its parameter and its state. */
export abstract class BinaryWeightLayer {
  abstract readonly weights: BinaryWeights;
  /** What the last backward on a coherence step measured (see src/coherence). */
  lastCoherence: LayerCoherence | null = null;

  get latent(): ParamStore {
    return this.weights.latent;
  }
  get wbits(): Uint32Array {
    return this.weights.bits;
  }
  /** The weight gradient's home (a trained layer only: frozen layers never accumulate one). */
  get grad(): ParamGrad {
    const g = this.weights.grad;
    if (!g) throw new Error('a frozen layer has no weight gradient');
    return g;
  }
  params(): Param[] {
    return this.weights.param ? [this.weights.param] : [];
  }
  state() {
    return { W: this.weights.latent.raw };
  }
}
