// `bitlearn coherence`: the coherence experiments in one command: train the same model with
// several label-noise levels (and gradient methods), m-coherence per layer over training, how much
// of the noisy labels each run fits, and a page of plots.
import { Command, InvalidArgumentError } from 'commander';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { NETWORK } from '../coherence/tracker.js';
import { withLabelNoise } from '../data/label-noise.js';
import { loadData } from '../data/registry.js';
import { GRADIENT_METHODS, type GradientMethodName } from '../optim/robust-gradients.js';
import { resolveRecipe } from '../recipe.js';
import { barChart, lineChart } from '../report/svg.js';
import { formatTable } from '../report/table.js';
import { train, type EpochRecord } from '../trainer.js';
import { VERSION } from '../version.js';
import { modelDataRecipeOptions, nonNegativeInt, positiveInt, quantFromOptions, quantOptions } from './options.js';
import { modelLabel, modelSpec } from '../model/spec.js';
import { progressHooks } from './progress.js';

export interface CoherenceRun {
  labelNoise: number;
  gradients: GradientMethodName;
  peak: Record<string, number>;
  history: EpochRecord[];
  series: { steps: number[]; layers: Record<string, number[]> };
  stoppedAtEpoch: number | null;
}

function fractions(v: string): number[] {
  return v.split(',').map((s) => {
    const n = Number(s);
    if (s.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`label noise must be fractions from 0 to 1, got "${s}"`);
    return n;
  });
}

function methods(v: string): GradientMethodName[] {
  return v.split(',').map((s) => {
    if (!(GRADIENT_METHODS as readonly string[]).includes(s)) throw new InvalidArgumentError(`unknown gradient method "${s}" (available: ${GRADIENT_METHODS.join(', ')})`);
    return s as GradientMethodName;
  });
}

export function coherenceCommand(): Command {
  return quantOptions(modelDataRecipeOptions(
    new Command('coherence').description(
      'coherence experiments: train with several label-noise levels (and gradient methods), plot m-coherence per layer, measure memorization of noisy labels',
    ),
  ))
    .option('--label-noise <list>', 'fractions of wrong training labels, comma-separated', fractions, [0, 1])
    .option('--gradients <list>', `gradient methods, comma-separated (${GRADIENT_METHODS.join(', ')}); m3 and winsorized are not measured (they change how the batch gradient is formed)`, methods, ['plain'])
    .option('--epochs <n>', 'epochs per run', positiveInt, 3)
    .option('--batch <n>', 'mini-batch size (m of m-coherence)', positiveInt, 100)
    .option('--every <n>', 'measure coherence every n steps', positiveInt, 10)
    .option('--seed <n>', 'random seed', nonNegativeInt, 1)
    .option('--limit-train <n>', 'use only the first n training examples', positiveInt)
    .option('--limit-test <n>', 'use only the first n test examples', positiveInt)
    .option('--stop-on-memorization', 'stop each run at its memorization signal')
    .option('--html <file>', 'write a page with the plots')
    .option('--out <file>', 'write the results as JSON')
    .option('--json', 'print the results as JSON')
    .option('--quiet', 'no progress output')
    .action(async (o, cmd: Command) => {
      const quant = quantFromOptions(o, cmd);
      const { name: recipeName, recipe } = resolveRecipe(o.recipe, o.set);
      const runs: CoherenceRun[] = [];
      for (const gradients of o.gradients as GradientMethodName[])
        for (const labelNoise of o.labelNoise as number[]) {
          const data = loadData(o.data, { dir: o.dataDir, limitTrain: o.limitTrain, limitTest: o.limitTest, stream: true });
          const noise = labelNoise > 0 ? withLabelNoise(data.train, labelNoise, o.seed) : null;
          if (noise) data.train = noise.data;
          if (!o.quiet) process.stderr.write(`label noise ${labelNoise}, gradients ${gradients}\n`);
          const r = await train(
            {
              model: o.model,
              quant,
              recipeName,
              recipe,
              batch: o.batch,
              epochs: o.epochs,
              seed: o.seed,
              lr: 1e-3,
              gradients,
              coherence: gradients === 'm3' || gradients === 'winsorized' ? undefined : { every: o.every },
              noisyLabels: noise?.noisy,
              stopOnMemorization: Boolean(o.stopOnMemorization),
            },
            data,
            progressHooks({ quiet: Boolean(o.quiet), totalEpochs: o.epochs }),
          );
          r.network.dispose();
          const series = r.coherence ?? { steps: [], layers: {} };
          const peak = Object.fromEntries(Object.entries(series.layers).map(([k, v]) => [k, Math.max(...v.filter(Number.isFinite))]));
          runs.push({ labelNoise, gradients, peak, history: r.history, series, stoppedAtEpoch: r.stoppedAtEpoch });
        }
      const real = runs.find((r) => r.labelNoise === 0 && r.gradients === 'plain');
      const random = runs.find((r) => r.labelNoise === 1 && r.gradients === 'plain');
      const ratio = real && random ? real.peak[NETWORK] / random.peak[NETWORK] : null;
      const result = { tool: 'bitlearn', version: VERSION, command: 'coherence', date: new Date().toISOString(), model: modelLabel(modelSpec(o.model, quant)), recipe: recipeName, batch: o.batch, epochs: o.epochs, every: o.every, runs, peakRatioRealToRandom: ratio };
      if (o.out) writeJsonAtomic(o.out, result);
      if (o.html) writeFileAtomic(o.html, coherencePage(result));
      if (o.json) {
        process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        return;
      }
      const layers = Object.keys(runs.find((r) => Object.keys(r.peak).length)?.peak ?? {});
      const pct = (v: number | undefined) => (v === undefined ? '-' : (100 * v).toFixed(1));
      process.stdout.write(
        [
          `bitlearn coherence: ${result.model}, recipe ${recipeName}, batch ${o.batch} (m), ${o.epochs} epochs, measured every ${o.every} steps`,
          '',
          formatTable(
            ['label noise', 'gradients', ...layers.map((l) => `peak ${l}`), 'noisy fitted %', 'clean fitted %', 'train acc %', 'test acc %', 'signal at epoch'],
            runs.map((r) => {
              const last = r.history[r.history.length - 1];
              return [
                r.labelNoise,
                r.gradients,
                ...layers.map((l) => (r.peak[l] === undefined ? '-' : r.peak[l].toFixed(2))),
                pct(last?.memorization?.noisyFitted),
                pct(last?.memorization?.cleanFitted),
                pct(last?.trainAccuracy),
                pct(last?.testAccuracy),
                r.history.find((h) => h.memorizationSignal)?.epoch ?? '-',
              ];
            }),
          ),
          '',
          ratio === null ? 'peak ratio real/random labels: needs label noise 0 and 1 with plain gradients' : `peak network m-coherence, real labels / random labels: ${ratio.toFixed(2)}x (${real!.peak[NETWORK].toFixed(2)} vs ${random!.peak[NETWORK].toFixed(2)})`,
          ...(o.html ? [`plots: ${o.html}`] : []),
        ].join('\n') + '\n',
      );
    });
}

function coherencePage(r: { model: string; recipe: string; batch: number; runs: CoherenceRun[]; peakRatioRealToRandom: number | null }): string {
  const label = (run: CoherenceRun) => `noise ${run.labelNoise}, ${run.gradients}`;
  const measured = r.runs.filter((run) => run.series.steps.length);
  const charts = [
    lineChart(`Network m-coherence (m = ${r.batch})`, 'step', 'm-coherence', measured.map((run) => ({ name: label(run), points: run.series.steps.map((s, i) => [s, run.series.layers[NETWORK][i]] as [number, number]) }))),
    ...measured.map((run) =>
      lineChart(`m-coherence per layer: ${label(run)}`, 'step', 'm-coherence', Object.entries(run.series.layers).map(([name, v]) => ({ name, points: run.series.steps.map((s, i) => [s, v[i]] as [number, number]) }))),
    ),
    barChart('Training labels fitted at the end (%)', '%', r.runs.map(label), [
      { name: 'noisy labels', values: r.runs.map((run) => 100 * (run.history.at(-1)?.memorization?.noisyFitted ?? 0)) },
      { name: 'clean labels', values: r.runs.map((run) => 100 * (run.history.at(-1)?.memorization?.cleanFitted ?? run.history.at(-1)?.trainAccuracy ?? 0)) },
    ]),
  ];
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>bitlearn coherence: ${r.model}</title><style>body{font-family:sans-serif;max-width:900px;margin:2em auto}</style></head><body><h1>Gradient coherence: ${r.model}, ${r.recipe}, batch ${r.batch}</h1>${
    r.peakRatioRealToRandom === null ? '' : `<p>Peak network m-coherence, real / random labels: ${r.peakRatioRealToRandom.toFixed(2)}x</p>`
  }${charts.map((c) => `<figure>${c}</figure>`).join('\n')}</body></html>\n`;
}
