// The bytes of a fixed-point (or float) weight layer: latent weights and bias, their gradients and
// Adam moments, the quantized copy and the quantizer's state.
import type { QuantConfig } from '../../../quant/quant-config.js';
import { paramBytes } from '../../storage/param-store.js';
import type { MemoryContext } from './kind.js';

const F = 4;

export function quantWeightMemory(owner: string, outputs: number, fanIn: number, q: QuantConfig, c: MemoryContext): void {
  const size = outputs * fanIn;
  const adam = (n: number) => 2 * paramBytes(c.recipe.moments, n);
  c.add(owner, 'weights', (size + outputs) * F); // latent W, bias
  c.add(owner, 'weight-grads', c.gradCopies * (size + outputs) * F);
  c.add(owner, 'optimizer', adam(size) + adam(outputs));
  c.add(owner, 'workspace', outputs * F); // the bias as added
  if (q.weightBits === null) return;
  c.add(owner, 'weights', size * F); // quantized copy
  c.add(owner, 'optimizer', 6 * 8); // quantizer state (float64)
  if (q.quantizer === 'gradient') {
    c.add(owner, 'weights', F);
    c.add(owner, 'weight-grads', c.gradCopies * F);
    c.add(owner, 'optimizer', adam(1));
    return;
  }
  if (q.fixes.secondMoment) c.add(owner, 'optimizer', size * F);
  if (q.fixes.secondMoment || q.fixes.outlier) c.add(owner, 'workspace', size * F);
}
