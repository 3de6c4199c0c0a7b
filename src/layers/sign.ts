// Sign activation with the clipped straight-through estimator: forward x̂ = sign(z),
// backward dz = dx̂ ⊙ 1{|z| <= 1}. Keeps the next layer's input (float32 ±1 or packed bits)
// and the STE mask (float32 z or packed mask bits), as the recipe says.
import { applyMaskReference, clipZeroReference, clipZeroShiftedReference, packMaskReference, signFloatReference, wordsFor } from '../bits.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import { fillRowwise, type GradStore } from '../storage/grad-store.js';
import { holdsAll, packSigns, rowsPerChunk, type Activation, type Layer, type Param, type Workspace } from './layer.js';

export const STE_CLIP = 1;
/** ReSTE (Wu et al. 2023): backward (1/o)·max(|z|, m)^(1/o − 1) for |z| <= t, else 0; o rises 1 → 3 over training. */
export const RESTE = { m: 0.1, t: 1.5, oStart: 1, oEnd: 3 };

/**
 * Whether a recipe's sign layers take their STE mask from the batch norm before them instead of
 * keeping z: the mask |z| <= 1 of the clipped STE needs z = x̂ + β, and a float32 x̂ (exact batch
 * norm backward) and β are kept anyway, so z rounds the same from them in backward and a copy of
 * it would hold nothing new (the standard recipe: a quarter of its kept tensors).
 */
export function zFromBatchNorm(recipe: Recipe): boolean {
  return recipe.steMask === 'float32' && recipe.ste === 'clipped' && recipe.bnBackward === 'exact';
}

/** What a sign layer rebuilds z from: the batch norm's kept x̂ (rows × C) and its shift β. */
export interface ShiftedXhat {
  xhat: Floats;
  beta: Floats;
}

export class SignLayer implements Layer {
  readonly kind = 'sign';
  private readonly outFloat: Floats | null;
  private readonly outBits: Uint32Array | null;
  private readonly zKept: Floats | null;
  private readonly maskBits: Uint32Array | null;
  private trained = false;
  /** ReSTE's power o for the current stage of training (see setTrainingProgress). */
  private resteO = RESTE.oStart;
  private readonly reste: boolean;

  constructor(
    readonly name: string,
    readonly channels: number,
    recipe: Recipe,
    batch: number,
    private readonly ws: Workspace,
    ledger: MemoryLedger,
    /** Pixels per example for feature maps. */
    readonly rowsPerExample = 1,
    /** Below the lowest trainable layer of a partial update (--train): no backward, no STE mask kept. */
    noBackward = false,
    /** The batch norm's x̂ and β the mask is taken from (zFromBatchNorm), or null: z kept. */
    private readonly zFrom: ShiftedXhat | null = null,
  ) {
    const n = batch * rowsPerExample * channels;
    const words = batch * rowsPerExample * wordsFor(channels);
    this.outFloat = recipe.actInput === 'float32' ? ledger.floats(n, 'retained', name, 'output ±1 (float)') : null;
    this.outBits = recipe.actInput === 'bit' ? ledger.u32(words, 'retained', name, 'output sign bits (packed)') : null;
    this.zKept = recipe.steMask === 'float32' && !noBackward && !zFrom ? ledger.floats(n, 'retained', name, 'pre-activation z (float)') : null;
    this.maskBits = recipe.steMask === 'bit' && !noBackward ? ledger.u32(words, 'retained', name, 'STE mask bits (packed)') : null;
    this.reste = recipe.ste === 'reste';
  }

  /** Fraction of training done (0 .. 1): sets ReSTE's o, rising linearly from 1 to 3. */
  setTrainingProgress(p: number): void {
    this.resteO = RESTE.oStart + (RESTE.oEnd - RESTE.oStart) * Math.min(1, Math.max(0, p));
  }

  params(): Param[] {
    return [];
  }

  state() {
    return {};
  }

  forward(x: Activation, rows: number, training: boolean): Activation {
    if (x.kind !== 'float') throw new Error(`${this.name}: sign takes float input`);
    const C = this.channels;
    const z = x.data;
    const n = rows * C;
    const k = this.ws.kernels;
    // the float output and the kept z in one pass where the kernel takes both
    const keepWithSign = training && this.zKept !== null && this.outFloat !== null && k.signFloat !== undefined && holdsAll(k, z, this.outFloat, this.zKept);
    if (training && this.zFrom) this.trained = true;
    // the STE mask and the output bits in one pass over z where the kernel takes both
    if (
      training &&
      !this.zKept &&
      this.maskBits &&
      !this.outFloat &&
      k.packSignMask &&
      z instanceof Float32Array &&
      holdsAll(k, z, this.maskBits, this.outBits!)
    ) {
      k.packSignMask(z, rows, C, this.outBits!, this.maskBits, STE_CLIP);
      this.trained = true;
      return { kind: 'bits', data: this.outBits!, cols: C };
    }
    if (training && (this.zKept || this.maskBits)) {
      if (this.zKept) {
        if (!keepWithSign) this.zKept.set(z.subarray(0, n));
      } else if (k.packMask && holdsAll(k, z, this.maskBits!)) k.packMask(z, rows, C, this.maskBits!, STE_CLIP);
      else packMaskReference(z, rows, C, this.maskBits!, STE_CLIP);
      this.trained = true;
    }
    if (this.outFloat) {
      if (keepWithSign) k.signFloat!(z, n, this.outFloat, this.zKept!);
      else if (k.signFloat && holdsAll(k, z, this.outFloat)) k.signFloat(z, n, this.outFloat);
      else signFloatReference(z, n, this.outFloat);
      return { kind: 'float', data: this.outFloat, cols: C, signs: true };
    }
    packSigns(k, z, rows, C, this.outBits!);
    return { kind: 'bits', data: this.outBits!, cols: C };
  }

  backward(grad: GradStore, spare: GradStore, rows: number): GradStore {
    if (!this.trained) throw new Error(`${this.name}: backward without a training forward`);
    const C = this.channels;
    const z = this.zKept;
    const mask = this.maskBits;
    const k = this.ws.kernels;
    // the streamed recipes' stores mask their own codes in place (no decode and encode)
    if (mask && grad.cols === C && grad.rows === rows && grad.applyMask?.(mask)) {
      this.trained = false;
      return grad;
    }
    // a float32 store (the standard recipe): the whole batch in one call, which threads split
    const whole = grad.floatView?.();
    const shifted = this.zFrom;
    if (whole && shifted && k.clipZeroShifted && grad.cols === C && grad.rows === rows && holdsAll(k, whole, shifted.xhat, shifted.beta)) {
      k.clipZeroShifted(whole, shifted.xhat, shifted.beta, rows, C, STE_CLIP);
      this.trained = false;
      return grad;
    }
    if (whole && z && !mask && !this.reste && k.clipZero && grad.cols === C && grad.rows === rows && holdsAll(k, whole, z)) {
      k.clipZero(whole, z, rows * C, STE_CLIP);
      this.trained = false;
      return grad;
    }
    const dx = fillRowwise(grad, spare, rowsPerChunk(this.ws, [this.ws.chunkDx, C]), this.ws.chunkDx, (i0, i1, out) => {
      if (mask) {
        if (k.applyMask && holdsAll(k, out, mask)) k.applyMask(out, i1 - i0, C, mask, i0);
        else applyMaskReference(out, i1 - i0, C, mask, i0);
      } else if (shifted) {
        const xh = shifted.xhat.subarray(i0 * C, i1 * C);
        if (k.clipZeroShifted && holdsAll(k, out, xh, shifted.beta)) k.clipZeroShifted(out, xh, shifted.beta, i1 - i0, C, STE_CLIP);
        else clipZeroShiftedReference(out, xh, shifted.beta, i1 - i0, C, STE_CLIP);
      } else if (!this.reste) {
        const zc = z!.subarray(i0 * C, i1 * C);
        if (k.clipZero && holdsAll(k, out, zc)) k.clipZero(out, zc, (i1 - i0) * C, STE_CLIP);
        else clipZeroReference(out, zc, (i1 - i0) * C, STE_CLIP);
      } else {
        const inv = 1 / this.resteO;
        for (let i = i0; i < i1; i++)
          for (let c = 0; c < C; c++) {
            const o = (i - i0) * C + c;
            const a = Math.abs(z![i * C + c]);
            out[o] = a > RESTE.t ? 0 : out[o] * inv * Math.max(a, RESTE.m) ** (inv - 1);
          }
      }
    });
    this.trained = false;
    return dx;
  }
}
