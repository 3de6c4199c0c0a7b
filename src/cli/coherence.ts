// `bitlearn coherence`: the coherence experiments in one command: train the same model with
// several label-noise levels (and gradient methods), m-coherence per layer over training, how much
// of the noisy labels each run fits, and a page of plots.
import { Command, InvalidArgumentError } from 'commander';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { checkOutputPath } from '../train/preflight.js';
import { NETWORK } from '../coherence/tracker.js';
import { withLabelNoise } from '../data/label-noise.js';
import { loadTrainingData, ownDataOptions } from './training-data.js';
import { GRADIENT_METHODS, type GradientMethodName } from '../train/gradient-methods.js';
import { resolveRecipe } from '../recipe.js';
import { barChart, lineChart } from '../report/svg.js';
import { formatTable } from '../report/table.js';
import { train } from '../train/loop.js';
import type { EpochRecord } from '../train/records.js';
import { VERSION } from '../version.js';
import {
  fraction,
  modelDataRecipeOptions,
  nonNegativeInt,
  OUTPUT_INIT_SCALE_HELP,
  positiveInt,
  quantFromOptions,
  quantOptions,
  winsorOption,
} from './options.js';
import { modelLabel, modelSpec } from '../model/models.js';
import { progressHooks } from './progress.js';

export interface CoherenceRun {
  /** Mini-batch size: the m of m-coherence. */
  batch: number;
  labelNoise: number;
  gradients: GradientMethodName;
  peak: Record<string, number>;
  history: EpochRecord[];
  series: { steps: number[]; layers: Record<string, number[]> };
  stoppedAtEpoch: number | null;
}

function fractions(v: string): number[] {
  return v.split(',').map((s) => {
    try {
      return fraction(s);
    } catch {
      throw new InvalidArgumentError(`label noise must be fractions from 0 to 1, got "${s}"`);
    }
  });
}

/**
 * --quant models start the coherence experiments from nearly uniform predictions: a classifier far
 * from uniform makes every example pull the same way (toward the label marginal) in the first
 * steps whatever the labels, a peak that real and random labels share.
 */
export const COHERENCE_OUTPUT_INIT_SCALE = 0.01;

function methods(v: string): GradientMethodName[] {
  return v.split(',').map((s) => {
    if (!(GRADIENT_METHODS as readonly string[]).includes(s))
      throw new InvalidArgumentError(`unknown gradient method "${s}" (available: ${GRADIENT_METHODS.join(', ')})`);
    return s as GradientMethodName;
  });
}

export function coherenceCommand(): Command {
  return winsorOption(
    quantOptions(
      ownDataOptions(
        modelDataRecipeOptions(
          new Command('coherence').description(
            'coherence experiments: train with several label-noise levels (and gradient methods and batch sizes ' +
              'm), plot m-coherence per layer, compare real with random labels, measure memorization of noisy labels',
          ),
        ),
      ),
    ),
  )
    .option('--label-noise <list>', 'fractions of wrong training labels, comma-separated', fractions, [0, 1])
    .option(
      '--gradients <list>',
      `gradient methods, comma-separated (${GRADIENT_METHODS.join(', ')}); m3 and winsorized are not measured (they change how the batch gradient is formed)`,
      methods,
      ['plain'],
    )
    .option('--epochs <n>', 'epochs per run', positiveInt, 3)
    .option('--batch <list>', 'mini-batch sizes (the m of m-coherence), comma-separated: one set of runs each', (v) => v.split(',').map(positiveInt), [100])
    .option('--every <n>', 'measure coherence every n steps', positiveInt, 10)
    .option('--seed <n>', 'random seed', nonNegativeInt, 1)
    .option('--output-init-scale <F>', `${OUTPUT_INIT_SCALE_HELP} (default with --quant: ${COHERENCE_OUTPUT_INIT_SCALE})`, fraction)
    .option('--limit-train <n>', 'use only the first n training examples', positiveInt)
    .option('--limit-test <n>', 'use only the first n test examples', positiveInt)
    .option('--stop-on-memorization', 'stop each run at its memorization signal')
    .option('--html <file>', 'write a page with the plots')
    .option('--out <file>', 'write the results as JSON')
    .option('--json', 'print the results as JSON')
    .option('--quiet', 'no progress output')
    .action(async (o, cmd: Command) => {
      for (const [path, what] of [
        [o.out, '--out'],
        [o.html, '--html'],
      ])
        if (path) checkOutputPath(path, what);
      const quant = quantFromOptions(o, cmd);
      const { name: recipeName, recipe } = resolveRecipe(o.recipe, o.set);
      const outputInitScale: number | undefined = o.outputInitScale ?? (quant ? COHERENCE_OUTPUT_INIT_SCALE : undefined);
      const runs: CoherenceRun[] = [];
      const resultOf = (done: CoherenceRun[]) => ({
        tool: 'bitlearn',
        version: VERSION,
        command: 'coherence',
        date: new Date().toISOString(),
        model: modelLabel(modelSpec(o.model, quant)),
        recipe: recipeName,
        batches: o.batch as number[],
        epochs: o.epochs,
        every: o.every,
        outputInitScale: outputInitScale ?? null,
        runs: done,
        peakRatios: realToRandom(done),
      });
      for (const batch of o.batch as number[])
        for (const gradients of o.gradients as GradientMethodName[])
          for (const labelNoise of o.labelNoise as number[]) {
            const data = await loadTrainingData({ ...o, stream: true }, modelSpec(o.model, quant));
            const noise = labelNoise > 0 ? withLabelNoise(data.train, labelNoise, o.seed) : null;
            if (noise) data.train = noise.data;
            if (!o.quiet) process.stderr.write(`batch ${batch}, label noise ${labelNoise}, gradients ${gradients}\n`);
            const r = await train(
              {
                model: o.model,
                quant,
                recipeName,
                recipe,
                batch,
                epochs: o.epochs,
                seed: o.seed,
                lr: 1e-3,
                gradients,
                winsorC: o.winsorC,
                outputInitScale,
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
            runs.push({ batch, labelNoise, gradients, peak, history: r.history, series, stoppedAtEpoch: r.stoppedAtEpoch });
            // finished runs are on disk even if a later one fails
            if (o.out) writeJsonAtomic(o.out, resultOf(runs));
          }
      const result = resultOf(runs);
      const { peakRatios } = result;
      if (o.html) writeFileAtomic(o.html, coherencePage(result));
      if (o.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const layers = Object.keys(runs.find((r) => Object.keys(r.peak).length)?.peak ?? {});
      const pct = (v: number | undefined) => (v === undefined ? '-' : (100 * v).toFixed(1));
      process.stdout.write(
        `${[
          `bitlearn coherence: ${result.model}, recipe ${recipeName}, batch ${o.batch.join(', ')} (m), ${o.epochs} epochs, measured ` +
            `every ${o.every} steps${outputInitScale === undefined ? '' : `, classifier initialised at ${outputInitScale}x`}`,
          '',
          formatTable(
            [
              'batch (m)',
              'label noise',
              'gradients',
              ...layers.map((l) => `peak ${l}`),
              'noisy fitted %',
              'clean fitted %',
              'train acc %',
              'test acc %',
              'signal at epoch',
            ],
            runs.map((r) => {
              const last = r.history[r.history.length - 1];
              return [
                r.batch,
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
          ...(peakRatios.length
            ? peakRatios.map(
                (p) =>
                  `peak network m-coherence at m = ${p.batch}, real labels / random labels: ` +
                  `${p.ratio.toFixed(2)}x (${p.real.toFixed(2)} vs ${p.random.toFixed(2)}); ` +
                  `peak of the running median of ${SMOOTHING_WINDOW} measurements: ${p.smoothed.ratio.toFixed(2)}x ` +
                  `(${p.smoothed.real.toFixed(2)} vs ${p.smoothed.random.toFixed(2)})`,
              )
            : ['peak ratio real/random labels: needs label noise 0 and 1 with plain gradients']),
          ...(o.html ? [`plots: ${o.html}`] : []),
        ].join('\n')}\n`,
      );
    });
}

export interface PeakRatio {
  batch: number;
  real: number;
  random: number;
  ratio: number;
  /** The same from the running median of SMOOTHING_WINDOW measurements (less sensitive to one noisy step). */
  smoothed: { real: number; random: number; ratio: number };
}

/** Measurements per running median of the smoothed peak. */
export const SMOOTHING_WINDOW = 11;

/** Largest running median of `window` consecutive values (the median of all when there are fewer). */
export function smoothedPeak(values: number[], window = SMOOTHING_WINDOW): number {
  const v = values.filter(Number.isFinite);
  const median = (a: number[]) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  if (v.length <= window) return median(v);
  let best = -Infinity;
  for (let i = 0; i + window <= v.length; i++) best = Math.max(best, median(v.slice(i, i + window)));
  return best;
}

/** Per batch size: peak network m-coherence of the real-label and the random-label run (plain gradients). */
export function realToRandom(runs: CoherenceRun[]): PeakRatio[] {
  const out: PeakRatio[] = [];
  for (const batch of new Set(runs.map((r) => r.batch))) {
    const runAt = (noise: number) => runs.find((r) => r.batch === batch && r.labelNoise === noise && r.gradients === 'plain' && r.peak[NETWORK] !== undefined);
    const [real, random] = [runAt(0), runAt(1)];
    if (!real || !random) continue;
    const smooth = [real, random].map((r) => smoothedPeak(r.series.layers[NETWORK]));
    out.push({
      batch,
      real: real.peak[NETWORK],
      random: random.peak[NETWORK],
      ratio: real.peak[NETWORK] / random.peak[NETWORK],
      smoothed: { real: smooth[0], random: smooth[1], ratio: smooth[0] / smooth[1] },
    });
  }
  return out;
}

function coherencePage(r: { model: string; recipe: string; batches: number[]; runs: CoherenceRun[]; peakRatios: PeakRatio[] }): string {
  const several = r.batches.length > 1;
  const label = (run: CoherenceRun) => `${several ? `m ${run.batch}, ` : ''}noise ${run.labelNoise}, ${run.gradients}`;
  const measured = r.runs.filter((run) => run.series.steps.length);
  const charts = [
    ...r.batches.map((batch) =>
      lineChart(
        `Network m-coherence (m = ${batch})`,
        'step',
        'm-coherence',
        measured
          .filter((run) => run.batch === batch)
          .map((run) => ({ name: label(run), points: run.series.steps.map((s, i) => [s, run.series.layers[NETWORK][i]] as [number, number]) })),
      ),
    ),
    ...measured.map((run) =>
      lineChart(
        `m-coherence per layer: ${label(run)}`,
        'step',
        'm-coherence',
        Object.entries(run.series.layers).map(([name, v]) => ({ name, points: run.series.steps.map((s, i) => [s, v[i]] as [number, number]) })),
      ),
    ),
    barChart('Training labels fitted at the end (%)', '%', r.runs.map(label), [
      { name: 'noisy labels', values: r.runs.map((run) => 100 * (run.history.at(-1)?.memorization?.noisyFitted ?? 0)) },
      { name: 'clean labels', values: r.runs.map((run) => 100 * (run.history.at(-1)?.memorization?.cleanFitted ?? run.history.at(-1)?.trainAccuracy ?? 0)) },
    ]),
  ];
  const ratios = r.peakRatios
    .map(
      (p) =>
        `<p>Peak network m-coherence at m = ${p.batch}, real / random labels: ` +
        `${p.ratio.toFixed(2)}x (${p.real.toFixed(2)} vs ${p.random.toFixed(2)}); peak of the ` +
        `running median of ${SMOOTHING_WINDOW} measurements: ${p.smoothed.ratio.toFixed(2)}x ` +
        `(${p.smoothed.real.toFixed(2)} vs ${p.smoothed.random.toFixed(2)})</p>`,
    )
    .join('');
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>bitlearn coherence: ` +
    `${r.model}</title><style>body{font-family:sans-serif;max-width:900px;margin:2em ` +
    `auto}</style></head><body><h1>Gradient coherence: ${r.model}, ${r.recipe}, batch ` +
    `${r.batches.join(', ')}</h1>${ratios}${charts.map((c) => `<figure>${c}</figure>`).join('\n')}</body></html>\n`
  );
}
