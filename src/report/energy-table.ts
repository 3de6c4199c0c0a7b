// The per-epoch energy table, shared by the terminal report and the Markdown run report.
import type { EpochRecord } from '../train/records.js';

/** How the energy figures came about, for every label: measured, simulated (a fake chip) or estimated (a power model). */
export function energyKind(meter: string, measured: boolean, upper = false): string {
  const kind = measured ? 'measured' : meter.split(':')[1] === 'sim' ? 'SIMULATED (a fake chip), not measured' : 'ESTIMATED from a power model, not measured';
  return upper && measured ? 'MEASURED' : kind;
}

export const ENERGY_HEADER = ['epoch', 'seconds', 'joules', 'net J', 'net J/batch', 'net mJ/sample', 'watts'];
/** A sampling meter's extra columns: the uncertainty bound of the net joules, the sampling rate achieved. */
const SAMPLING_HEADER = ['± J', 'samples/s', 'batch J (median, min-max)'];

/** The table's header: the sampling columns where any epoch was measured by a sampling meter. */
export function energyHeader(history: EpochRecord[]): string[] {
  return history.some((r) => r.energy?.sampling) ? [...ENERGY_HEADER, ...SAMPLING_HEADER] : ENERGY_HEADER;
}

/** One row per epoch that has an energy record ('-' where a figure is missing). */
export function energyRows(history: EpochRecord[]): string[][] {
  const f = (v: number | null, d = 2) => (v === null ? '-' : v.toFixed(d));
  const sampled = history.some((r) => r.energy?.sampling);
  return history
    .filter((r) => r.energy)
    .map((r) => {
      const x = r.energy!;
      const perSample = x.joulesPerSample === null ? null : 1000 * x.joulesPerSample;
      const row = [String(r.epoch), x.seconds.toFixed(1), f(x.joules), f(x.netJoules), f(x.joulesPerBatch, 3), f(perSample, 3), f(x.watts)];
      const s = x.sampling;
      const bj = x.batchJoules;
      if (sampled)
        row.push(
          s ? f(s.uncertaintyJoules.total, 3) : '-',
          s ? s.sampleRateHz.toFixed(0) : '-',
          bj ? `${bj.median.toFixed(4)} (${bj.min.toFixed(4)}-${bj.max.toFixed(4)})` : '-',
        );
      return row;
    });
}

/** Lines saying which epochs' energy misses time (bus errors, overflowed readings) and how much. */
export function energyNotes(history: EpochRecord[]): string[] {
  return history.flatMap((r) => {
    const s = r.energy?.sampling;
    if (!s || (!s.incomplete && !s.overflows)) return [];
    const lost = [s.errors ? `${s.errors} readings lost to bus errors` : '', s.overflows ? `${s.overflows} overflowed readings not integrated` : '']
      .filter(Boolean)
      .join(', ');
    return [
      `epoch ${r.epoch}: ${s.incomplete ? `INCOMPLETE, ${s.missingSeconds.toFixed(3)} s of ${r.energy!.seconds.toFixed(1)} s not measured` : 'complete'}` +
        `${lost ? ` (${lost})` : ''}: its joules cover the measured time only`,
    ];
  });
}
