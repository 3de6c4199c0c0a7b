// The stores backward passes activation gradients through: the loss writes the last layer's dY,
// and each layer writes its dX (when not in place) to the store that does not hold its dY. Either
// two stores placed anew for each layer inside the activation region (activation-region.ts), or,
// where there is no region, two batch-sized stores every layer shares.
import type { Kernels } from '../kernels/kernels.js';
import type { MemoryLedger } from '../ledger.js';
import { createGradStore, gradStoreAt, type GradFormat, type GradStore } from '../storage/grad-store.js';
import type { RegionPlan } from './activation-region.js';

type Pair = { bottom: GradStore; top: GradStore };

export class GradientStores {
  /** Whether the current dY is in a top store (else a bottom one). */
  private top = true;

  private constructor(
    private readonly loss: GradStore,
    private readonly pairs: (Pair | null)[],
  ) {}

  /** Stores inside the activation region `block` laid out by `region`; its extra bytes go to the ledger. */
  static inRegion(region: RegionPlan, block: { buffer: ArrayBufferLike; byteOffset: number }, format: GradFormat, ledger: MemoryLedger, kernels: Kernels) {
    const at = (s: { offset: number; elements: number }) => gradStoreAt(format, s.elements, block.buffer, block.byteOffset + s.offset, kernels);
    ledger.account(
      new Uint8Array(block.buffer, block.byteOffset, 0),
      region.bytes - region.keptBytes,
      'workspace',
      'shared',
      `activation gradients (${format}; beyond the kept tensors they overlay)`,
    );
    return new GradientStores(
      at(region.loss),
      region.spares.map((p) => p && { bottom: at(p.bottom), top: at(p.top) }),
    );
  }

  /** Two stores of `capacity` elements that every layer shares. */
  static shared(format: GradFormat, capacity: number, layers: number, ledger: MemoryLedger, kernels: Kernels) {
    const a = createGradStore(format, capacity, ledger, 'shared', `activation gradients A (${format})`, kernels);
    const b = createGradStore(format, capacity, ledger, 'shared', `activation gradients B (${format})`, kernels);
    return new GradientStores(
      a,
      Array.from({ length: layers }, () => ({ bottom: b, top: a })),
    );
  }

  /** A backward starts: the store the loss writes the last layer's dY to. */
  begin(): GradStore {
    this.top = true;
    return this.loss;
  }

  /** Where layer `i` writes its dX when it does not work in place. */
  spare(i: number): GradStore {
    const p = this.pairs[i];
    if (!p) throw new Error(`internal: layer ${i} has no gradient stores (its backward should not run)`);
    return this.top ? p.bottom : p.top;
  }

  /** Layer `i`'s backward turned `grad` into `out` (grad itself, in place, or its spare). */
  passed(i: number, grad: GradStore, out: GradStore): void {
    if (out === grad) return;
    if (out !== this.spare(i)) throw new Error(`internal: layer ${i} wrote its input gradient outside its stores`);
    this.top = !this.top;
  }
}

/** Whether a network's gradients can overlay its kept tensors (the plan counts float buffers as float32). */
export function regionApplies(ledger: MemoryLedger): boolean {
  return ledger.FloatArray === Float32Array;
}
