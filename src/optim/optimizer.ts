// The optimizer a recipe asks for: Adam on every parameter, or Bop on the binary weights (no
// latent weights) with Adam on the real-valued ones (batch-norm shifts).
import type { MemoryLedger } from '../ledger.js';
import type { Kernels } from '../kernels/kernels.js';
import type { Param } from '../layers/layer.js';
import type { Recipe } from '../recipe.js';
import type { StateTensor } from '../storage/param-store.js';
import { Adam } from './adam.js';
import { Bop, type BopOptions } from './bop.js';

export interface Optimizer {
  /** lr: Adam's learning rate; gamma: Bop's (when the recipe uses Bop). */
  update(lr: number, gamma?: number): void;
  stateTensors(): Record<string, StateTensor>;
  stateMeta(): object;
  restoreMeta(meta: Record<string, unknown>): void;
  /** Bop: share of binary weights flipped by the last update. */
  flipRatio(): number | null;
  /**
   * Adam alone: one step applied a few parameters at a time, during backward (see
   * Network.computeGradients); absent where the optimizer needs every gradient at once.
   */
  stepper?(lr: number): (params: Param[]) => void;
}

export function createOptimizer(params: Param[], recipe: Recipe, ledger: MemoryLedger, kernels?: Kernels, bop: Partial<BopOptions> = {}): Optimizer {
  if (recipe.optimizer !== 'bop') {
    const adam = new Adam(params, ledger, {}, kernels);
    return {
      update: (lr) => adam.update(lr),
      stateTensors: () => adam.stateTensors(),
      stateMeta: () => adam.stateMeta(),
      restoreMeta: (m) => adam.restoreMeta(m as unknown as Parameters<Adam['restoreMeta']>[0]),
      flipRatio: () => null,
      stepper: (lr) => adam.stepper(lr),
    };
  }
  const adam = new Adam(
    params.filter((p) => !p.binary),
    ledger,
    {},
    kernels,
  );
  const b = new Bop(
    params.filter((p) => p.binary),
    ledger,
    bop,
    kernels,
  );
  return {
    update(lr, gamma) {
      b.update(gamma);
      adam.update(lr);
    },
    stateTensors: () => ({ ...adam.stateTensors(), ...b.stateTensors() }),
    stateMeta: () => ({ ...adam.stateMeta(), bop: b.stateMeta() }),
    restoreMeta(m) {
      adam.restoreMeta(m as unknown as Parameters<Adam['restoreMeta']>[0]);
      b.restoreMeta(m.bop as Parameters<Bop['restoreMeta']>[0]);
    },
    flipRatio: () => b.lastFlipRatio,
  };
}
