// Fixed-point suite (docs/method.md §4, issue acceptance): the MNIST MLP with b-bit weights and
// activations trained with each weight quantizer and fix, next to its float32 twin, several
// seeds. Reports test accuracy (mean, spread), time per batch, and the instability figures:
// exponent flips of the weight quantizers in late training (from the stable-exponent switch on).
import { loadData } from '../src/data/registry.js';
import { PRESETS } from '../src/recipe.js';
import { median } from '../src/stats.js';
import { train } from '../src/train/loop.js';
import { parseQuantConfig, type QuantConfig } from '../quant/quant-config.js';
import { quantizerRows } from '../src/report/quantizer-table.js';
import { runChildJobs, seedSummary } from './children.js';

export interface QuantVariant {
  name: string;
  quant: string;
  quantizer: string;
  fixes: string;
}

/** Where the stable-exponent switch happens, and where "late training" starts for every variant. */
export const LATE_FROM = 0.5;

export function quantVariants(bits: string): QuantVariant[] {
  const v = (name: string, quantizer: string, fixes: string, quant = bits) => ({ name, quant, quantizer, fixes });
  return [
    v('float32 twin', 'msqe', '', 'float'),
    v('msqe', 'msqe', ''),
    v('msqe + outlier', 'msqe', 'outlier'),
    v('msqe + second-moment', 'msqe', 'second-moment'),
    v('msqe + stable', 'msqe', `stable=${LATE_FROM}`),
    v('msqe + all fixes', 'msqe', `outlier,second-moment,stable=${LATE_FROM}`),
    v('gradient (ceil)', 'gradient', ''),
    v('gradient + msqe-round', 'gradient', 'msqe-round'),
  ];
}

export interface QuantOptions {
  bits: string;
  batch: number;
  epochs: number;
  seeds: number[];
  only?: string[];
  limitTrain?: number;
}

export interface QuantRun {
  variant: string;
  seed: number;
  testAccuracy: number;
  msPerBatchMedian: number;
  /** Weight-quantizer exponent flips over all layers: all of training, and in late training. */
  weightFlips: number;
  lateWeightFlips: number;
  /** Per quantizer: flips per epoch. */
  flipsPerEpoch: Record<string, number[]>;
  /** Smallest MSQE margin over the weight quantizers at the end (see quantizer-log.ts). */
  minMargin: number | null;
}

/** First epoch of late training: progress (e − 1)/(E − 1) >= LATE_FROM, as the trainer computes it. */
export function lateFromEpoch(epochs: number): number {
  for (let e = 1; e <= epochs; e++) if ((epochs > 1 ? (e - 1) / (epochs - 1) : 0) >= LATE_FROM) return e;
  return epochs + 1;
}

function configOf(v: QuantVariant): QuantConfig {
  return parseQuantConfig(v.quant, v.quantizer, v.fixes);
}

/** One training run (in the child process). */
export async function quantChild(json: string): Promise<void> {
  const { variant, seed, batch, epochs, limitTrain } = JSON.parse(json) as { variant: QuantVariant; seed: number } & QuantOptions;
  const r = await train(
    { model: 'mlp', quant: configOf(variant), recipeName: 'standard', recipe: PRESETS.standard, batch, epochs, seed, lr: 1e-3, threads: 1 },
    loadData('mnist', { limitTrain, stream: true }),
  );
  r.network.dispose();
  const all = quantizerRows(r.history);
  const rows = all.filter((q) => q.kind === 'weights');
  const late = lateFromEpoch(epochs);
  const run: QuantRun = {
    variant: variant.name,
    seed,
    testAccuracy: r.history[r.history.length - 1].testAccuracy,
    msPerBatchMedian: r.msPerBatchMedian,
    weightFlips: rows.reduce((s, q) => s + q.flips, 0),
    lateWeightFlips: rows.reduce((s, q) => s + q.flipsPerEpoch.slice(late - 1).reduce((a, b) => a + b, 0), 0),
    flipsPerEpoch: Object.fromEntries(all.map((q) => [q.layer, q.flipsPerEpoch])),
    minMargin: rows.length ? Math.min(...rows.map((q) => q.margin ?? Infinity)) : null,
  };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

export interface QuantRow {
  variant: string;
  accuracies: number[];
  meanAccuracy: number;
  spread: number;
  msPerBatch: number;
  weightFlips: number[];
  lateWeightFlips: number[];
  minMargin: (number | null)[];
}

export async function runQuantSuite(o: QuantOptions, onRun?: (r: QuantRun) => void): Promise<{ rows: QuantRow[]; runs: QuantRun[]; lateFromEpoch: number }> {
  const variants = quantVariants(o.bits).filter((v) => !o.only || o.only.includes(v.name));
  if (!variants.length)
    throw new Error(
      `no variant named ${o.only?.join(', ')} (variants: ${quantVariants(o.bits)
        .map((v) => v.name)
        .join('; ')})`,
    );
  for (const v of variants) configOf(v); // bad bits fail here, before any run
  const jobs = variants.flatMap((variant) => o.seeds.map((seed) => ({ ...o, variant, seed, label: `${variant.name} seed ${seed}` })));
  const runs = await runChildJobs<(typeof jobs)[number], QuantRun>('quant', jobs, onRun);
  const rows = variants.map((v) => {
    const mine = o.seeds.map((seed) => runs.find((r) => r.variant === v.name && r.seed === seed)!);
    const acc = mine.map((r) => r.testAccuracy);
    return {
      variant: v.name,
      accuracies: acc,
      ...seedSummary(acc),
      msPerBatch: median(mine.map((r) => r.msPerBatchMedian)),
      weightFlips: mine.map((r) => r.weightFlips),
      lateWeightFlips: mine.map((r) => r.lateWeightFlips),
      minMargin: mine.map((r) => r.minMargin ?? null),
    };
  });
  return { rows, runs, lateFromEpoch: lateFromEpoch(o.epochs) };
}
