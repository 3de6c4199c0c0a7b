// The step-time contest as a terminal table: one row per contestant, then the work and the floor.
import { formatTable } from '../src/report/table.js';
import type { ContestReport } from './step-contest.js';

const x = (v: number | null) => (v === null ? '' : `${v.toFixed(2)}x`);

export function formatStepContest(r: ContestReport): string {
  const table = formatTable(
    [
      'model',
      'batch',
      'engine',
      'recipe',
      'threads',
      'ms/step (median)',
      'range over rounds',
      'vs PyTorch',
      'vs standard',
      'floor ms',
      'vs floor',
      'warm-up ms',
      'peak RSS MiB',
    ],
    r.rows.map((row) => [
      row.model,
      row.batch,
      row.engine,
      row.variant,
      row.threads,
      row.msMedian.toFixed(2),
      `${row.msMin.toFixed(2)}-${row.msMax.toFixed(2)}`,
      x(row.vsPyTorch),
      x(row.vsStandard),
      row.floorMs.toFixed(2),
      x(row.vsFloor),
      `${row.warmupMs.toFixed(0)} (${row.warmupSteps})`,
      (row.peakRssBytes / 2 ** 20).toFixed(0),
    ]),
  );
  const work = r.work.map((w) => `${w.model} B=${w.batch}: ${(w.work.totalMacs / 1e6).toFixed(1)} M multiply-adds a step`).join('; ');
  return [
    table,
    `vs PyTorch: this time / PyTorch's at the same model, batch and threads (below 1.00x: bitlearn is faster)${r.torch ? `; PyTorch ${r.torch}` : ''}`,
    `vs standard: the median over rounds of this recipe's time / the standard recipe's in the same round (paired: a slow spell spanning a round cancels)`,
    `floor: multiply-adds a step / (threads x ${r.clock.ghz.toFixed(2)} GHz x 8 per cycle, wasm SIMD without FMA); clock ${r.clock.source}`,
    `warm-up ms: the untimed first steps together (their count in brackets): JIT compilation, first touch of memory`,
    `work: ${work}`,
    ...r.skipped.map((s) => `skipped ${s.contestant}: ${s.why}`),
  ].join('\n');
}
