// The per-epoch energy table, shared by the terminal report and the Markdown run report.
import type { EpochRecord } from '../train/records.js';

export const ENERGY_HEADER = ['epoch', 'seconds', 'joules', 'net J', 'net J/batch', 'net mJ/sample', 'watts'];

/** One row per epoch that has an energy record ('-' where a figure is missing). */
export function energyRows(history: EpochRecord[]): string[][] {
  const f = (v: number | null, d = 2) => (v === null ? '-' : v.toFixed(d));
  return history
    .filter((r) => r.energy)
    .map((r) => {
      const x = r.energy!;
      const perSample = x.joulesPerSample === null ? null : 1000 * x.joulesPerSample;
      return [String(r.epoch), x.seconds.toFixed(1), f(x.joules), f(x.netJoules), f(x.joulesPerBatch, 3), f(perSample, 3), f(x.watts)];
    });
}
