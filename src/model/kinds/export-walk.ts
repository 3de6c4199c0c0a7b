// An export walks the network in order and lets each layer's kind write its part (kind.ts:
// ExportWriter); a kind may write the layers after it too (fusion) and the walk skips them.
import type { Layer } from '../../layers/layer.js';
import type { PlannedLayer } from '../spec.js';
import type { ExportCursor, ExportFormat, ExportWriters } from './kind.js';
import { kindOf } from './registry.js';

const FORMAT_TITLES: Record<ExportFormat, string> = { tfjs: 'the TF.js export', int: 'the integer export', packed: 'the packed export' };

/** Writes every layer into `out`; a layer whose kind has no form in this format is refused through `refuse` (one line naming it). */
export function writeLayers<F extends ExportFormat>(
  network: { plan: readonly PlannedLayer[]; layers: readonly Layer[] },
  format: F,
  out: ExportWriters[F],
  refuse: (message: string) => Error,
): void {
  const { plan, layers } = network;
  if (plan.length !== layers.length) throw new Error('network does not match its model plan');
  for (let i = 0; i < plan.length; i++) {
    const l = plan[i];
    const kind = kindOf(l);
    const write = kind.exports[format];
    if (!write) throw refuse(`${l.name}: ${FORMAT_TITLES[format]} has no form for ${kind.title} yet`);
    const at: ExportCursor = {
      layer: layers[i],
      ahead: (k) => (i + k < plan.length ? { plan: plan[i + k], layer: layers[i + k] } : undefined),
    };
    i += write(l, at, out);
  }
}
