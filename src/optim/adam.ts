// Adam over the network's parameters, moments stored as the recipe says (float32 or float16).
// float16 moments are kept scaled per tensor by a power of two S chosen each step so the largest
// scaled gradient is about 1: g² of a small gradient would otherwise underflow fp16 (v = 0 → a
// huge step) and a large one overflow it. The update m̂/(√v̂ + ε) is invariant to S.
// Parameters are processed in blocks decoded to float32 scratch (counted in the ledger).
import { getBit } from '../bits.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Param } from '../layers/layer.js';
import type { AdamStep, AdamTensor, Kernels } from '../kernels/kernels.js';
import { createParamStore, type ParamStore, type StateTensor } from '../storage/param-store.js';

export interface AdamOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Latent binary weights are clipped to [-clip, clip] after each update (Larq's weight_clip). */
  weightClip: number;
}

export const ADAM_DEFAULTS: AdamOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightClip: 1 };

/** Elements decoded at a time; the four scratch blocks are the optimizer's workspace. */
export const ADAM_BLOCK = 256;

interface Slot {
  param: Param;
  m: ParamStore;
  v: ParamStore;
  /** Current power-of-two scale of the stored moments (1 for float32). */
  scale: number;
}

export class Adam {
  step = 0;
  readonly slots: Slot[];
  readonly opts: AdamOptions;
  private readonly bw: Floats;
  private readonly bm: Floats;
  private readonly bv: Floats;
  private readonly bg: Floats;

  /** Kernels with a fast Adam (the network's own, for kernels that live in their own memory). */
  private readonly kernels: Kernels | null;

  constructor(params: Param[], ledger: MemoryLedger, opts: Partial<AdamOptions> = {}, kernels?: Kernels) {
    this.kernels = kernels?.adamUpdate ? kernels : null;
    this.opts = { ...ADAM_DEFAULTS, ...opts };
    this.slots = params.map((p) => ({
      param: p,
      m: createParamStore(p.momentFormat, p.size, ledger, 'optimizer', p.owner, `Adam m (${p.name})`),
      v: createParamStore(p.momentFormat, p.size, ledger, 'optimizer', p.owner, `Adam v (${p.name})`, 'log'),
      scale: 1,
    }));
    // a gradient that never exists whole (src/model/shared-weight-grads.ts): each tile applied as
    // backward finishes it, with the step stepper() opened
    for (const slot of this.slots) {
      const g = slot.param.grad;
      if (g.kind !== 'fused') continue;
      if (slot.m.format !== 'float32') throw new Error(`Adam applies ${slot.param.owner}.${slot.param.name}'s gradient tile by tile only with float32 moments`);
      g.consume = (flat0, tile, len) => this.applyTile(slot, flat0, tile, len);
      // the whole gradient in one kernel call (the kernel sums it tile by tile, as consume gets it)
      if (this.kernels)
        g.applyWhole = (apply) => apply(this.floatTensor(slot, this.bg.subarray(0, 0), 0, slot.param.size), this.stepScalars(this.openLr(slot), 1, 1));
    }
    const block = (what: string) => ledger.floats(ADAM_BLOCK, 'workspace', 'adam', what);
    this.bw = block('weights block');
    this.bm = block('m block');
    this.bv = block('v block');
    this.bg = block('gradient block');
  }

  /** Moments keyed `owner.param.adam_m|adam_v`, for checkpoints. */
  stateTensors(): Record<string, StateTensor> {
    const out: Record<string, StateTensor> = {};
    for (const { param, m, v } of this.slots) {
      out[`${param.owner}.${param.name}.adam_m`] = m.raw;
      out[`${param.owner}.${param.name}.adam_v`] = v.raw;
      if (m.aux) out[`${param.owner}.${param.name}.adam_m.scales`] = m.aux;
      if (v.aux) out[`${param.owner}.${param.name}.adam_v.scales`] = v.aux;
    }
    return out;
  }

  stateMeta(): { step: number; scales: number[] } {
    return { step: this.step, scales: this.slots.map((s) => s.scale) };
  }

  restoreMeta(meta: { step: number; scales: number[] }): void {
    if (meta.scales.length !== this.slots.length) throw new Error('optimizer state does not match the model');
    this.step = meta.step;
    meta.scales.forEach((s, i) => {
      this.slots[i].scale = s;
    });
  }

  update(lr: number): void {
    this.stepper(lr)(this.slots.map((s) => s.param));
  }

  /**
   * One step taken a few parameters at a time (a layer's, as soon as its backward has written
   * their gradients): the returned function updates the parameters it is given. Each update
   * reads only its own parameter's state, so the order changes no bit.
   */
  stepper(lr: number): (params: Param[]) => void {
    this.step++;
    this.tileLr = lr;
    const bySlot = (this.slotOf ??= new Map(this.slots.map((s) => [s.param, s])));
    return (params) => {
      for (const p of params) {
        const slot = bySlot.get(p);
        // a parameter updated tile by tile during its backward: only the repack is left
        if (slot && p.grad.kind === 'fused') p.afterUpdate?.();
        else if (slot) this.updateSlot(slot, lr);
      }
    };
  }

  private slotOf: Map<Param, Slot> | undefined;
  /** The learning rate of the step stepper() opened (null: none, tiles cannot be applied). */
  private tileLr: number | null = null;

  /**
   * Elements [flat0, flat0 + len) of a parameter updated from a tile of its gradient (float32
   * moments: their scale stays 1, so the tile needs nothing from the rest of the gradient). The
   * packed signs are left to the stepper's call after the layer's backward, whose input gradient
   * still reads the old ones.
   */
  private applyTile(slot: Slot, flat0: number, tile: Floats, len: number): void {
    const s = this.stepScalars(this.openLr(slot), 1, 1);
    const end = flat0 + len;
    if (this.kernels) this.kernels.adamUpdate!(this.floatTensor(slot, tile.subarray(0, len), flat0, end), s);
    else this.referenceUpdate(slot, s, flat0, end, tile);
  }

  /** The learning rate of the open step, for a gradient applied during backward. */
  private openLr(slot: Slot): number {
    const lr = this.tileLr;
    if (lr === null) throw new Error(`${slot.param.owner}.${slot.param.name}: a gradient tile came with no optimizer step open (use Optimizer.stepper)`);
    return lr;
  }

  /** The step's scalars at moment scale `scale` (ratio: scale over the moments' stored one). */
  private stepScalars(lr: number, scale: number, ratio: number): AdamStep {
    const { beta1, beta2, eps } = this.opts;
    return { lr, b1: beta1, b2: beta2, c1: 1 - beta1 ** this.step, c2: 1 - beta2 ** this.step, epsScaled: eps * scale, scale, ratio };
  }

  /**
   * Gradient block [i0, i1) into bg, with the STE mask 1{|w| <= clip} for binary weights (bw holds
   * w); from `tile` (elements [from, ...) of the gradient) where given, else the stored gradient.
   */
  private loadGradient(param: Param, i0: number, i1: number, tile?: Floats, from = 0): void {
    if (tile) this.bg.set(tile.subarray(i0 - from, i1 - from));
    else readGradBlock(param, i0, i1, this.bg);
    if (!param.binary) return;
    const clip = this.opts.weightClip;
    for (let k = 0; k < i1 - i0; k++) if (Math.abs(this.bw[k]) > clip) this.bg[k] = 0;
  }

  private tensor(slot: Slot): AdamTensor {
    const { param, m, v } = slot;
    const g = param.grad;
    if (g.kind === 'fused') throw new Error(`Adam needs a stored gradient for ${param.owner}.${param.name} (dw=fused is for Bop)`);
    if (g.kind === 'float') return this.floatTensor(slot, g.data, 0, param.size);
    return {
      // only called for float32/float16 storage (int8 moments take the block path; bit weights use Bop)
      w: param.value.raw as AdamTensor['w'],
      m: m.raw as AdamTensor['m'],
      v: v.raw as AdamTensor['v'],
      grad: g.bits,
      gradBits: true,
      cols: g.cols,
      gradScale: g.scale,
      n: param.size,
      binary: param.binary,
      clip: this.opts.weightClip,
    };
  }

  /** Elements [from, to) of a parameter with a float gradient `grad` of those elements (the whole tensor, or a tile: applyTile). */
  private floatTensor(slot: Slot, grad: Floats, from: number, to: number): AdamTensor {
    const { param, m, v } = slot;
    return {
      w: (param.value.raw as AdamTensor['w']).subarray(from, to),
      m: (m.raw as AdamTensor['m']).subarray(from, to),
      v: (v.raw as AdamTensor['v']).subarray(from, to),
      grad,
      gradBits: false,
      cols: to - from,
      gradScale: 1,
      n: to - from,
      binary: param.binary,
      clip: this.opts.weightClip,
    };
  }

  private updateSlot(slot: Slot, lr: number): void {
    const { param } = slot;
    const k = this.kernels;
    const t = this.tensor(slot);
    let scale = 1;
    if (param.momentFormat === 'float16') {
      const maxAbs = k && slot.m.format !== 'int8' ? k.adamMaxAbs!(t) : this.maxAbs(slot);
      scale = maxAbs > 0 ? 2 ** -Math.round(Math.log2(maxAbs)) : slot.scale;
    }
    const step = this.stepScalars(lr, scale, scale / slot.scale);
    // the WebAssembly update handles float32/float16 storage; int8 moments take the block path
    if (k && slot.m.format !== 'int8') k.adamUpdate!(t, step);
    else this.referenceUpdate(slot, step);
    slot.scale = scale;
    param.afterUpdate?.();
  }

  /** Largest |masked gradient| of a parameter (reference). */
  private maxAbs(slot: Slot): number {
    const { param } = slot;
    const n = param.size;
    let maxAbs = 0;
    for (let i0 = 0; i0 < n; i0 += ADAM_BLOCK) {
      const i1 = Math.min(n, i0 + ADAM_BLOCK);
      param.value.readBlock(i0, i1, this.bw);
      this.loadGradient(param, i0, i1);
      for (let k = 0; k < i1 - i0; k++) maxAbs = Math.max(maxAbs, Math.abs(this.bg[k]));
    }
    return maxAbs;
  }

  /**
   * The reference update: blocks decoded to float32 scratch, arithmetic in float32 (every
   * operation rounded by Math.fround) with the explicit flushes of tiny values that keep 32-bit
   * ARM NEON, which flushes subnormals to zero, on the same numbers (see adamUpdate in
   * src/kernels/wasm/kernels.as.ts):
   *   g = flush(g·S), m = flush(β1·m·r + (1 − β1)·g), v = flush(β2·v·r² + (1 − β2)·g·g),
   *   w = flush(w − flush(flush(lr/c1 · m) / (√(v/c2) + ε·S))), clipped.
   * Elements [from, to) (default all), the gradient from `tile` where given (see applyTile).
   */
  private referenceUpdate(slot: Slot, s: AdamStep, from = 0, to = slot.param.size, tile?: Floats): void {
    const { param, m, v } = slot;
    const { bw, bm, bv, bg } = this;
    const clip = this.opts.weightClip;
    const w = param.value;
    const lo = F(param.binary ? -clip : -Infinity);
    const hi = F(param.binary ? clip : Infinity);
    const [b1, c1b, b2, c2b] = [F(s.b1), F(1 - s.b1), F(s.b2), F(1 - s.b2)];
    const [scale, ratio, ratio2] = [F(s.scale), F(s.ratio), F(s.ratio * s.ratio)];
    const [lrc, invC2, eps] = [F(s.lr / s.c1), F(1 / s.c2), F(s.epsScaled)];
    for (let i0 = from; i0 < to; i0 += ADAM_BLOCK) {
      const i1 = Math.min(to, i0 + ADAM_BLOCK);
      const len = i1 - i0;
      w.readBlock(i0, i1, bw);
      m.readBlock(i0, i1, bm);
      v.readBlock(i0, i1, bv);
      this.loadGradient(param, i0, i1, tile, from);
      for (let k = 0; k < len; k++) {
        const w0 = flush(bw[k], ADAM_TINY);
        const g = flush(F(bg[k] * scale), ADAM_G_TINY);
        const mi = flush(F(F(F(b1 * flush(bm[k], ADAM_TINY)) * ratio) + F(c1b * g)), ADAM_TINY);
        const vi = flush(F(F(F(b2 * flush(bv[k], ADAM_TINY)) * ratio2) + F(F(c2b * g) * g)), ADAM_TINY);
        bm[k] = mi;
        bv[k] = vi;
        const q = flush(F(flush(F(lrc * mi), ADAM_TINY) / F(F(Math.sqrt(F(vi * invC2))) + eps)), ADAM_TINY);
        const wi = flush(F(w0 - q), ADAM_TINY);
        bw[k] = wi < lo ? lo : wi > hi ? hi : wi;
      }
      m.writeBlock(i0, i1, bm);
      v.writeBlock(i0, i1, bv);
      w.writeBlock(i0, i1, bw);
    }
  }
}

const F = Math.fround;
/** Below these magnitudes Adam's values are zero: gradients (2^-64), everything else (2^-100). */
const ADAM_G_TINY = 2 ** -64;
const ADAM_TINY = 2 ** -100;
/** x, or a zero of its sign where |x| < tiny (NaN kept). */
function flush(x: number, tiny: number): number {
  return Math.abs(x) < tiny ? x * 0 : x;
}

/** Gradient elements [i0, i1) of a parameter, whatever its storage, into out[0 ..]. */
export function readGradBlock(param: Param, i0: number, i1: number, out: Floats): void {
  const g = param.grad;
  if (g.kind === 'float') {
    out.set(g.data.subarray(i0, i1));
    return;
  }
  if (g.kind === 'fused') throw new Error(`${param.owner}.${param.name}: dw=fused keeps no gradient to read`);
  const { cols, bits, scale } = g;
  const wpr = (cols + 31) >>> 5;
  let r = Math.floor(i0 / cols);
  let c = i0 - r * cols;
  for (let k = 0; k < i1 - i0; k++) {
    out[k] = getBit(bits, wpr, r, c) ? scale : -scale;
    if (++c === cols) {
      c = 0;
      r++;
    }
  }
}
