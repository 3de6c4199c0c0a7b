// Adam over the network's parameters, moments stored as the recipe says (float32 or float16).
// float16 moments are kept scaled per tensor by a power of two S chosen each step so the largest
// scaled gradient is about 1: g² of a small gradient would otherwise underflow fp16 (v = 0 → a
// huge step) and a large one overflow it. The update m̂/(√v̂ + ε) is invariant to S.
import { getBit } from '../bits.js';
import type { MemoryLedger } from '../ledger.js';
import type { Param } from '../layers/layer.js';
import { createParamStore, type ParamStore } from '../storage/param-store.js';

export interface AdamOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Latent binary weights are clipped to [-clip, clip] after each update (Larq's weight_clip). */
  weightClip: number;
}

export const ADAM_DEFAULTS: AdamOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightClip: 1 };

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

  constructor(params: Param[], ledger: MemoryLedger, opts: Partial<AdamOptions> = {}) {
    this.opts = { ...ADAM_DEFAULTS, ...opts };
    this.slots = params.map((p) => ({
      param: p,
      m: createParamStore(p.momentFormat, p.size, ledger, 'optimizer', p.owner, `Adam m (${p.name})`),
      v: createParamStore(p.momentFormat, p.size, ledger, 'optimizer', p.owner, `Adam v (${p.name})`),
      scale: 1,
    }));
  }

  /** Moments keyed `owner.param.adam_m|adam_v`, for checkpoints. */
  stateTensors(): Record<string, Float32Array | Float64Array | Uint16Array> {
    const out: Record<string, Float32Array | Float64Array | Uint16Array> = {};
    for (const { param, m, v } of this.slots) {
      out[`${param.owner}.${param.name}.adam_m`] = m.raw;
      out[`${param.owner}.${param.name}.adam_v`] = v.raw;
    }
    return out;
  }

  stateMeta(): { step: number; scales: number[] } {
    return { step: this.step, scales: this.slots.map((s) => s.scale) };
  }

  restoreMeta(meta: { step: number; scales: number[] }): void {
    if (meta.scales.length !== this.slots.length) throw new Error('optimizer state does not match the model');
    this.step = meta.step;
    meta.scales.forEach((s, i) => (this.slots[i].scale = s));
  }

  update(lr: number): void {
    this.step++;
    for (const slot of this.slots) this.updateSlot(slot, lr);
  }

  private updateSlot(slot: Slot, lr: number): void {
    const { beta1, beta2, eps, weightClip } = this.opts;
    const { param, m, v } = slot;
    const w = param.value;
    const grad = gradReader(param);
    const masked = (i: number) => (param.binary && Math.abs(w.get(i)) > weightClip ? 0 : grad(i));
    let newScale = 1;
    if (param.momentFormat === 'float16') {
      let maxAbs = 0;
      for (let i = 0; i < param.size; i++) maxAbs = Math.max(maxAbs, Math.abs(masked(i)));
      newScale = maxAbs > 0 ? 2 ** -Math.round(Math.log2(maxAbs)) : slot.scale;
    }
    const ratio = newScale / slot.scale;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    const epsScaled = eps * newScale;
    for (let i = 0; i < param.size; i++) {
      const g = masked(i) * newScale;
      const mi = beta1 * m.get(i) * ratio + (1 - beta1) * g;
      const vi = beta2 * v.get(i) * ratio * ratio + (1 - beta2) * g * g;
      m.set(i, mi);
      v.set(i, vi);
      let wi = w.get(i) - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + epsScaled);
      if (param.binary) wi = Math.max(-weightClip, Math.min(weightClip, wi));
      w.set(i, wi);
    }
    slot.scale = newScale;
    param.afterUpdate?.();
  }
}

/** Element i of a parameter's gradient, whatever its storage. */
export function gradReader(param: Param): (i: number) => number {
  const g = param.grad;
  if (g.kind === 'float') {
    const d = g.data;
    return (i) => d[i];
  }
  const wpr = (g.cols + 31) >>> 5;
  return (i) => {
    const r = Math.floor(i / g.cols);
    return getBit(g.bits, wpr, r, i - r * g.cols) ? g.scale : -g.scale;
  };
}
