// Energy suite: the same model trained for the same batches with each recipe, measured by the
// configured meter (an idle baseline first, then one region per recipe): joules per batch and per
// sample net of idle, labelled measured or ESTIMATED.
import { onoffProvider } from '../device/gpio.js';
import { createMeter } from '../device/meters.js';
import { loadData } from '../src/data/registry.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/train/loop.js';

export interface EnergyRow {
  recipe: string;
  meter: string;
  measured: boolean;
  batches: number;
  seconds: number;
  joules: number | null;
  netJoulesPerBatch: number | null;
  netMillijoulesPerSample: number | null;
  watts: number | null;
}

export async function runEnergySuite(
  o: { model: string; recipes: string[]; batch: number; limitTrain: number; meter: string; idleSeconds: number },
  onRow?: (r: EnergyRow) => void,
): Promise<EnergyRow[]> {
  const rows: EnergyRow[] = [];
  for (const recipe of o.recipes) {
    const meter = createMeter(o.meter, () => onoffProvider());
    try {
      const r = await train(
        {
          model: o.model,
          recipeName: recipe,
          recipe: PRESETS[recipe],
          batch: o.batch,
          epochs: 1,
          seed: 1,
          lr: 1e-3,
          threads: 1,
          meter,
          idleSeconds: o.idleSeconds,
          bnRecalibrate: 0,
        },
        loadData('mnist', { limitTrain: o.limitTrain, limitTest: 100, stream: true }),
      );
      r.network.dispose();
      const e = r.history[0].energy!;
      const row: EnergyRow = {
        recipe,
        meter: e.meter,
        measured: e.measured,
        batches: r.batchesTimed,
        seconds: e.seconds,
        joules: e.joules,
        netJoulesPerBatch: e.joulesPerBatch,
        netMillijoulesPerSample: e.joulesPerSample === null ? null : 1000 * e.joulesPerSample,
        watts: e.watts,
      };
      rows.push(row);
      onRow?.(row);
    } finally {
      meter.close();
    }
  }
  return rows;
}
