// bench --suite sampler: what an INA meter's sampling thread costs the training step. The same
// network trains the same batches in blocks with the sampling thread off and on, interleaved
// (off/on, then on/off), so machine noise falls on both alike; the medians and their ratio are the
// figure. With a simulated chip (bus "sim") the thread does the same work per reading as with a
// real one except the bus transfers, which on a Pi block in the kernel rather than use the CPU.
import { createMeter } from '../device/meters.js';
import { onoffProvider } from '../device/gpio.js';
import type { InaMeter } from '../device/ina-meter.js';
import { selectKernels } from '../src/kernels/select.js';
import { modelSpec } from '../src/model/models.js';
import { Network } from '../src/model/network.js';
import { createOptimizer } from '../src/optim/optimizer.js';
import { PRESETS } from '../src/recipe.js';
import { Rng } from '../src/rng.js';
import { median } from '../src/stats.js';
import { benchData } from './speed.js';
import { formatTable } from '../src/report/table.js';

export interface SamplerCost {
  model: string;
  recipe: string;
  batch: number;
  threads: number;
  meter: string;
  rounds: number;
  stepsPerBlock: number;
  msPerStepOff: number;
  msPerStepOn: number;
  /** on / off − 1. */
  overhead: number;
  /** Readings per second the thread achieved while training ran. */
  sampleRateHz: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runSamplerCost(
  o: { model: string; recipe: string; batch: number; threads: number[]; meter: string; rounds: number; steps: number },
  progress: (line: string) => void,
): Promise<SamplerCost[]> {
  const data = benchData(o.model, o.batch);
  const out: SamplerCost[] = [];
  for (const threads of o.threads) {
    const net = new Network({ spec: modelSpec(o.model), recipe: PRESETS[o.recipe], batch: o.batch, kernels: selectKernels('auto'), seed: 1, threads });
    const opt = createOptimizer(net.params(), PRESETS[o.recipe], net.ledger, net.kernels);
    const order = Int32Array.from({ length: data.train.count }, (_, i) => i);
    new Rng(1).shuffle(order);
    let s = 0;
    const block = (n: number) => {
      const times: number[] = [];
      for (let k = 0; k < n; k++, s++) {
        const offset = (s * o.batch) % (order.length - o.batch + 1);
        const t0 = performance.now();
        net.computeGradients(data.train, order, offset, o.batch);
        opt.update(1e-3);
        times.push(performance.now() - t0);
      }
      return times;
    };
    block(5); // warm-up
    const off: number[] = [];
    const on: number[] = [];
    const rates: number[] = [];
    for (let r = 0; r < o.rounds; r++)
      for (const mode of r % 2 ? ['on', 'off'] : ['off', 'on']) {
        if (mode === 'off') {
          off.push(...block(o.steps));
          continue;
        }
        const meter = createMeter(o.meter, () => onoffProvider()) as InaMeter;
        await meter.whenReady();
        meter.start('block');
        on.push(...block(o.steps));
        rates.push(meter.stop().detail?.sampleRateHz ?? 0);
        meter.close();
        await sleep(50); // the thread stops before the next block
      }
    net.dispose();
    const row: SamplerCost = {
      model: o.model,
      recipe: o.recipe,
      batch: o.batch,
      threads,
      meter: o.meter,
      rounds: o.rounds,
      stepsPerBlock: o.steps,
      msPerStepOff: median(off),
      msPerStepOn: median(on),
      overhead: median(on) / median(off) - 1,
      sampleRateHz: median(rates),
    };
    progress(`  ${threads} thread(s): ${row.msPerStepOff.toFixed(2)} ms off, ${row.msPerStepOn.toFixed(2)} ms on (${(100 * row.overhead).toFixed(1)}%)`);
    out.push(row);
  }
  return out;
}

export function formatSamplerCost(rows: SamplerCost[]): string {
  const r0 = rows[0];
  return [
    `${r0.model} (${r0.recipe}), batch ${r0.batch}; meter ${r0.meter}${r0.meter.split(':')[1] === 'sim' ? ' (a simulated chip: no bus transfers)' : ''}; ` +
      `${r0.rounds} interleaved rounds of ${r0.stepsPerBlock} steps with the sampling thread off and on, medians`,
    formatTable(
      ['kernel threads', 'ms/step off', 'ms/step on', 'cost', 'readings/s'],
      rows.map((r) => [r.threads, r.msPerStepOff.toFixed(2), r.msPerStepOn.toFixed(2), `${(100 * r.overhead).toFixed(1)}%`, r.sampleRateHz.toFixed(0)]),
    ),
  ].join('\n');
}
