// Ablation suite: each recipe knob's memory saving (ledger) and accuracy effect (training runs on
// MNIST, several seeds), from the published low-memory recipe toward `tiny`, with the standard
// recipe as the reference. Every training run is a child process; runs go in parallel, one per core.
import { loadData } from '../src/data/registry.js';
import { modelSpec } from '../src/model/models.js';
import { applySettings, PRESETS, type Recipe } from '../src/recipe.js';
import { measureLedger } from '../src/report/memory-report.js';
import { runChildJobs, seedSummary } from './children.js';
import { train } from '../src/train/loop.js';

export interface AblationConfig {
  name: string;
  base: string;
  settings: string[];
}

/** From standard and low-memory, one knob at a time toward tiny, then tiny itself. */
export const ABLATION_CONFIGS: AblationConfig[] = [
  { name: 'standard', base: 'standard', settings: [] },
  { name: 'low-memory', base: 'low-memory', settings: [] },
  { name: 'low-memory + dy=po2', base: 'low-memory', settings: ['dy=po2'] },
  { name: 'low-memory + moments=int8', base: 'low-memory', settings: ['moments=int8'] },
  { name: 'low-memory + Bop (weights=bit)', base: 'low-memory', settings: ['optimizer=bop', 'weights=bit'] },
  { name: 'low-memory + Bop, dw=fused', base: 'low-memory', settings: ['optimizer=bop', 'weights=bit', 'dw=fused', 'moments=float32'] },
  { name: 'low-memory + ReSTE (steMask=float32)', base: 'low-memory', settings: ['ste=reste', 'steMask=float32'] },
  { name: 'tiny', base: 'tiny', settings: [] },
  { name: 'tiny with dy=float16', base: 'tiny', settings: ['dy=float16'] },
];

export interface AblationRun {
  config: string;
  seed: number;
  testAccuracy: number;
  msPerBatchMedian: number;
}

export interface AblationRow {
  config: string;
  recipe: Recipe;
  ledgerBytes: number;
  ratioStandardToThis: number;
  accuracies: number[];
  meanAccuracy: number;
  /** max − min over seeds */
  spread: number;
}

export interface AblationOptions {
  model: string;
  batch: number;
  epochs: number;
  seeds: number[];
  only?: string[];
  limitTrain?: number;
}

function recipeOf(c: AblationConfig): Recipe {
  return applySettings(PRESETS[c.base], c.settings);
}

/** One training run (in the child process). */
export async function ablationChild(json: string): Promise<void> {
  const { config, seed, model, batch, epochs, limitTrain } = JSON.parse(json) as { config: AblationConfig; seed: number } & AblationOptions;
  const r = await train(
    { model, recipeName: config.name, recipe: recipeOf(config), batch, epochs, seed, lr: 1e-3, threads: 1 },
    loadData('mnist', { limitTrain, stream: true }),
  );
  r.network.dispose();
  const run: AblationRun = { config: config.name, seed, testAccuracy: r.history[r.history.length - 1].testAccuracy, msPerBatchMedian: r.msPerBatchMedian };
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

export async function runAblationSuite(o: AblationOptions, onRun?: (r: AblationRun) => void): Promise<AblationRow[]> {
  const configs = ABLATION_CONFIGS.filter((c) => !o.only || o.only.includes(c.name));
  const jobs = configs.flatMap((config) => o.seeds.map((seed) => ({ ...o, config, seed, label: `${config.name} seed ${seed}` })));
  const runs = await runChildJobs<(typeof jobs)[number], AblationRun>('ablation', jobs, onRun);
  const spec = modelSpec(o.model);
  const standard = measureLedger(spec, PRESETS.standard, o.batch);
  return configs.map((config) => {
    const recipe = recipeOf(config);
    const ledgerBytes = measureLedger(spec, recipe, o.batch);
    const accuracies = o.seeds.map((seed) => runs.find((r) => r.config === config.name && r.seed === seed)!.testAccuracy);
    return {
      config: config.name,
      recipe,
      ledgerBytes,
      ratioStandardToThis: standard / ledgerBytes,
      accuracies,
      ...seedSummary(accuracies),
    };
  });
}
