// Bop (Helwegen et al. 2019): binary weights without latent weights. One momentum per weight,
//   m ← (1 − γ)·m + γ·g;   flip w where |m| > τ and sign(m) = sign(w)
// (the gradient pushes w towards the other sign, consistently enough). Larq's defaults: γ = 1e-4,
// τ = 1e-8. The momentum is stored as the recipe says: float32, float16 (scaled per tensor by a
// power of two, as Adam's moments, so γ·g neither underflows nor overflows), or int8 blocks.
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Kernels } from '../kernels/kernels.js';
import { holdsAll, type Param } from '../layers/layer.js';
import { createParamStore, type ParamStore, type StateTensor } from '../storage/param-store.js';
import { readGradBlock } from './adam.js';

export interface BopOptions {
  gamma: number;
  tau: number;
}

export const BOP_DEFAULTS: BopOptions = { gamma: 1e-4, tau: 1e-8 };
/** Elements decoded at a time; the two scratch blocks are its workspace. */
export const BOP_BLOCK = 256;
const BLOCK = BOP_BLOCK;

interface Slot {
  param: Param;
  m: ParamStore;
  /** Stored momentum = m·scale (float16 storage; 1 otherwise). */
  scale: number;
  /** Largest |stored momentum| after the last update. */
  maxStored: number;
  /** The element the next fused dW tile starts at (tiles come in order, a whole tensor a step). */
  next: number;
  /** Kernels that fold and flip this slot in place (fused gradients into int8 slog momentum), or null. */
  fast: Required<Pick<Kernels, 'bopFoldSlog' | 'bopFlipSlog' | 'holds'>> | null;
}

export class Bop {
  step = 0;
  readonly opts: BopOptions;
  private readonly slots: Slot[];
  private readonly bm: Floats;
  private readonly bg: Floats;
  /** Weights flipped by the last update, and their share (Larq's flip_ratio). */
  lastFlips = 0;
  lastFlipRatio = 0;

  constructor(params: Param[], ledger: MemoryLedger, opts: Partial<BopOptions> = {}, kernels?: Kernels) {
    // options given as undefined keep their defaults
    this.opts = { gamma: opts.gamma ?? BOP_DEFAULTS.gamma, tau: opts.tau ?? BOP_DEFAULTS.tau };
    this.gamma = this.opts.gamma;
    for (const p of params)
      if (!p.binary || p.value.format !== 'bit' || !p.value.cols)
        throw new Error(`Bop updates binary weights without latent copies; ${p.owner}.${p.name} is not one`);
    this.slots = params.map((p) => ({
      param: p,
      m: createParamStore(p.momentFormat, p.size, ledger, 'optimizer', p.owner, `Bop momentum (${p.name})`),
      scale: 1,
      maxStored: 0,
      next: 0,
      fast: null,
    }));
    const block = (what: string) => ledger.floats(BLOCK, 'workspace', 'bop', what);
    this.bm = block('momentum block');
    this.bg = block('gradient block');
    for (const slot of this.slots) {
      const { m, param } = slot;
      const k = kernels;
      if (k?.bopFoldSlog && k.bopFlipSlog && k.holds && param.grad.kind === 'fused' && m.code === 'slog' && m.aux)
        if (holdsAll(k, m.raw as Uint8Array, m.aux, param.value.raw as Uint32Array, this.bm, this.bg)) slot.fast = k as NonNullable<Slot['fast']>;
    }
    // dw=fused: backward hands each float tile of dW here, folded into the momentum at once
    for (const slot of this.slots) {
      const g = slot.param.grad;
      if (g.kind === 'fused') {
        if (slot.m.format === 'float16')
          throw new Error('dw=fused needs float32 or int8 Bop momentum (float16 needs a per-tensor scale known before the tiles)');
        g.consume = (flat0, tile, len) => this.foldTile(slot, flat0, tile, len);
        // a whole tensor at once, between tensors (no tile of this or another tensor under way)
        g.foldWhole = (fold) => Boolean(slot.fast && slot.next === 0 && !this.pending && fold(slot.m.raw as Uint8Array, slot.m.aux!, this.gamma));
      }
    }
  }

  /** γ of the step whose backward is running (fused gradients fold in during backward). */
  private gamma: number;

  /**
   * m ← (1 − γ)·m + γ·g over elements [flat0, flat0 + len), g from a float dW tile. A layer hands
   * its tiles over in order, from element 0 to the end; a storage block is written once, when its
   * last element has been folded (the folded values of a block a tile leaves unfinished wait in
   * bm, as float32), so an 8-bit block is encoded once a step whatever the tile sizes.
   */
  private foldTile(slot: Slot, flat0: number, tile: Floats, len: number): void {
    const { m } = slot;
    const { bm } = this;
    if (flat0 !== slot.next) throw new Error(`Bop: weight-gradient tiles of ${slot.param.owner} out of order (element ${flat0}, expected ${slot.next})`);
    if (this.pending && this.pending !== slot) throw new Error(`Bop: ${this.pending.param.owner}'s last momentum block was left unfinished`);
    const n = m.length;
    const end = flat0 + len;
    const gamma = this.gamma;
    if (slot.fast?.holds(tile)) slot.fast.bopFoldSlog(m.raw as Uint8Array, m.aux!, n, flat0, tile, len, gamma, bm);
    else
      for (let i = flat0; i < end; ) {
        const b0 = i - (i % BLOCK);
        const b1 = Math.min(n, b0 + BLOCK);
        const stop = Math.min(b1, end);
        const folded = bm.subarray(i - b0, stop - b0);
        m.readBlock(i, stop, folded);
        for (let k = 0; k < stop - i; k++) folded[k] = (1 - gamma) * folded[k] + gamma * tile[i - flat0 + k];
        if (stop === b1) m.writeBlock(b0, b1, bm);
        i = stop;
      }
    slot.next = end === n ? 0 : end;
    this.pending = end % BLOCK !== 0 && end !== n ? slot : null;
  }

  /** The slot whose last block waits in bm for the rest of its elements (fused tiles), or null. */
  private pending: Slot | null = null;

  update(gamma = this.opts.gamma): void {
    const unfinished = this.slots.find((s) => s.next !== 0);
    if (unfinished) throw new Error(`Bop: ${unfinished.param.owner}'s weight gradient stopped at element ${unfinished.next} of ${unfinished.param.size}`);
    this.step++;
    let flips = 0;
    let total = 0;
    for (const slot of this.slots) {
      flips += this.updateSlot(slot, gamma);
      total += slot.param.size;
    }
    this.lastFlips = flips;
    this.lastFlipRatio = total ? flips / total : 0;
    this.gamma = gamma; // the next backward's fused tiles use this step's γ
  }

  private updateSlot(slot: Slot, gamma: number): number {
    const { param, m } = slot;
    const fused = param.grad.kind === 'fused';
    const { bm, bg } = this;
    const n = param.size;
    const tau = this.opts.tau;
    // float16: choose this step's scale from a bound on the new momentum, |m'| <= (1-γ)max|m| + γ·max|g|
    let scale = 1;
    if (m.format === 'float16' && !fused) {
      let gMax = 0;
      for (let i0 = 0; i0 < n; i0 += BLOCK) {
        const i1 = Math.min(n, i0 + BLOCK);
        readGradBlock(param, i0, i1, bg);
        for (let k = 0; k < i1 - i0; k++) gMax = Math.max(gMax, Math.abs(bg[k]));
      }
      const bound = (1 - gamma) * (slot.maxStored / slot.scale) + gamma * gMax;
      scale = bound > 0 ? 2 ** -Math.round(Math.log2(bound)) : slot.scale;
    }
    if (slot.fast) {
      const flips = slot.fast.bopFlipSlog(m.raw as Uint8Array, m.aux!, n, param.value.raw as Uint32Array, param.value.cols!, tau, bg);
      slot.scale = 1;
      slot.maxStored = bg[0];
      return flips;
    }
    const ratio = scale / slot.scale;
    // the weights are packed sign bits (rows × cols, rows padded to whole words): walk them with
    // a running (row, column) instead of decoding ±1 values element by element
    const bits = param.value.raw as Uint32Array;
    const rowLen = param.value.cols!;
    const wpr = (rowLen + 31) >>> 5;
    let flips = 0;
    let maxStored = 0;
    let r = 0;
    let c = 0;
    for (let i0 = 0; i0 < n; i0 += BLOCK) {
      const i1 = Math.min(n, i0 + BLOCK);
      const len = i1 - i0;
      if (!fused) readGradBlock(param, i0, i1, bg);
      m.readBlock(i0, i1, bm);
      for (let k = 0; k < len; k++) {
        // fused: the momentum already holds this step's gradient
        const stored = fused ? bm[k] : (1 - gamma) * bm[k] * ratio + gamma * bg[k] * scale;
        bm[k] = stored;
        const a = stored < 0 ? -stored : stored;
        if (a > maxStored) maxStored = a;
        const word = r * wpr + (c >>> 5);
        const mask = 1 << (c & 31);
        // flip where |m| > τ and sign(m) = sign(w) (bit set = +1; sign(0) = +1)
        if (a > tau * scale && stored >= 0 === ((bits[word] & mask) !== 0)) {
          bits[word] = (bits[word] ^ mask) >>> 0;
          flips++;
        }
        if (++c === rowLen) {
          c = 0;
          r++;
        }
      }
      if (!fused) m.writeBlock(i0, i1, bm);
    }
    slot.scale = scale;
    slot.maxStored = maxStored;
    return flips;
  }

  stateTensors(): Record<string, StateTensor> {
    const out: Record<string, StateTensor> = {};
    for (const { param, m } of this.slots) {
      out[`${param.owner}.${param.name}.bop_m`] = m.raw;
      if (m.aux) out[`${param.owner}.${param.name}.bop_m.scales`] = m.aux;
    }
    return out;
  }

  stateMeta(): { step: number; scales: number[]; maxStored: number[] } {
    return { step: this.step, scales: this.slots.map((s) => s.scale), maxStored: this.slots.map((s) => s.maxStored) };
  }

  restoreMeta(meta: { step: number; scales: number[]; maxStored: number[] }): void {
    if (meta.scales.length !== this.slots.length) throw new Error('Bop state does not match the model');
    this.step = meta.step;
    this.slots.forEach((s, i) => {
      s.scale = meta.scales[i];
      s.maxStored = meta.maxStored[i];
    });
  }
}
