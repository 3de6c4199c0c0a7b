// `bitlearn bench`: benchmark suites, a readable table and a JSON result file per run.
import { Command, InvalidArgumentError } from 'commander';
import { writeJsonAtomic } from '../atomic-write.js';
import { checkOutputPath } from '../train/preflight.js';
import { machineInfo } from '../../bench/machine.js';
import { runMemorySuite } from '../../bench/memory.js';
import { runCoherenceCostSuite, runSpeedSuite } from '../../bench/speed.js';
import { availableParallelism } from 'node:os';
import { runKernelSuite } from '../../bench/kernels.js';
import { formatPeersReport, runPeersSuite } from '../../bench/peers.js';
import { PEER_BATCHES, runStepContest } from '../../bench/step-contest.js';
import { formatStepContest } from '../../bench/step-contest-table.js';
import { runEnergySuite } from '../../bench/energy.js';
import { ABLATION_CONFIGS, runAblationSuite } from '../../bench/ablation.js';
import { runQuantSuite } from '../../bench/quant.js';
import { runSignalSuite } from '../../bench/signal.js';
import { formatMargin } from '../report/quantizer-table.js';
import { kernelNames } from '../kernels/select.js';
import { isModelFile, MODELS, modelSpec } from '../model/models.js';
import { PRESETS } from '../recipe.js';
import { checkFixedPointRecipe } from '../model/network.js';
import { parseQuantConfig } from '../../quant/quant-config.js';
import { formatInferenceReport, runInferenceSuite } from '../../bench/inference.js';
import { formatSamplerCost, runSamplerCost } from '../../bench/sampler-cost.js';
import { formatTable, kib } from '../report/table.js';
import { energyKind } from '../report/energy-table.js';
import { nonNegativeInt, positiveInt } from './options.js';
import { own } from '../own.js';

const SUITES = ['speed', 'memory', 'kernels', 'peers', 'coherence', 'ablation', 'energy', 'quant', 'signal', 'inference', 'sampler'];
/** Suites that time or size any model, so they take model files (the others build or train the built-in models in their own ways). */
const ANY_MODEL_SUITES = ['speed', 'memory', 'coherence', 'sampler'];

/** --model: built-in names or JSON model files, comma-separated. */
function modelList(value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const m of items)
    if (!own(MODELS, m) && !isModelFile(m))
      throw new InvalidArgumentError(`unknown model "${m}" (available: ${Object.keys(MODELS).join(', ')}, or the path of a JSON model file)`);
  return items;
}

function list(allowed: string[], what: string) {
  return (value: string) => {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const i of items) if (!allowed.includes(i)) throw new InvalidArgumentError(`unknown ${what} "${i}" (available: ${allowed.join(', ')})`);
    return items;
  };
}
function intList(value: string): number[] {
  return value.split(',').map((s) => positiveInt(s.trim()));
}

export function benchCommand(): Command {
  return new Command('bench')
    .description(
      'run a benchmark suite: speed (time per training batch), memory (modeled vs ledger, ' +
        'ratios), kernels (reference vs wasm), peers (time per training step against PyTorch ' +
        'on the same model, batch and threads, interleaved rounds, with the ratio to the ' +
        'hardware floor; then bitlearn vs TF.js training the MNIST MLP), coherence (cost ' +
        'of measuring it), ablation (memory and accuracy per recipe knob), energy (per recipe, ' +
        'with a meter) quant (fixed-point MLP: accuracy and exponent flips per quantizer ' +
        'and fix, vs the float32 twin), signal (how similar same-class MNIST examples ' +
        'stay through random sign+BN vs ReLU layers: why binary MLPs show low coherence) or inference ' +
        '(a trained model as a packed file and as a TF.js export on TF.js-wasm: latency at batch 1, ' +
        "time per batch of 100, file bytes, peak RSS) or sampler (what an INA meter's sampling thread costs the " +
        'training step: --meter ina226:BUS:ADDR, or ina226:sim:0x40 for a simulated chip)',
    )
    .option('--suite <name>', `suite (${SUITES.join(', ')})`, list(SUITES, 'suite'), ['speed'])
    .option(
      '--model <names>',
      `models, comma-separated (${Object.keys(MODELS).join(', ')}); the ${ANY_MODEL_SUITES.join(', ')} suites also take JSON model files (docs/models.md)`,
      modelList,
      ['mlp'],
    )
    .option('--recipes <names>', 'recipes, comma-separated', list(Object.keys(PRESETS), 'recipe'), Object.keys(PRESETS))
    .option('--batches <sizes>', 'batch sizes, comma-separated', intList, [100, 200])
    .option('--kernels <names>', `kernel sets, comma-separated (${kernelNames().join(', ')})`, list(kernelNames(), 'kernel set'), kernelNames())
    .option('--threads <list>', 'thread counts for the wasm kernels, comma-separated', intList, [1, availableParallelism()])
    .option('--repeats <n>', 'timed batches per configuration (speed; peers: per round, default 40 for the MLP, 3 for conv nets)', positiveInt, 20)
    .option('--rounds <n>', 'peers: rounds in which every contestant takes its turn', positiveInt, 3)
    .option('--warmup <n>', 'untimed batches first (speed; peers: default 100 for the MLP, 3 for conv nets)', nonNegativeInt, 3)
    .option('--epochs <n>', 'training epochs per run (peers: 1, ablation: 3, quant: 6)', positiveInt)
    .option('--limit-train <n>', 'train on the first n MNIST examples (peers; signal: examples compared, default 1000)', positiveInt)
    .option(
      '--tfjs-backends <names>',
      'TF.js backends for peers (wasm, cpu, tensorflow = tfjs-node when installed)',
      list(['wasm', 'cpu', 'tensorflow', 'none'], 'backend'),
      ['wasm', 'tensorflow'],
    )
    .option('--meter <spec>', 'energy meter (energy): gpio-pulse:PIN:JOULES, gpio-trigger:PIN or estimate[:BOARD]', 'estimate')
    .option('--idle-seconds <n>', 'idle baseline before each recipe (energy)', nonNegativeInt, 3)
    .option('--seeds <list>', 'seeds for the training runs (ablation, quant)', intList, [1, 2, 3])
    .option('--only <names>', `ablation configurations or quant variants, comma-separated (${ABLATION_CONFIGS.map((c) => c.name).join('; ')})`, (v: string) =>
      v.split(',').map((s) => s.trim()),
    )
    .option(
      '--quant <wNaM|float>',
      'bits of weights and activations (quant suite); speed and coherence suites: time this fixed-point (or float) ' +
        'ReLU model with the gradient-based quantizer instead of the binary one (recipes then default to standard)',
      'w4a8',
    )
    .option('--out <file>', 'write the results as JSON (default bench/results/<suite>-<date>.json)')
    .option('--json', 'print the results as JSON on stdout')
    .action(async (o, cmd: Command) => {
      const suite: string = o.suite[0];
      if (o.out) checkOutputPath(o.out, '--out');
      // speed and coherence time the binary model unless --quant is given
      const quant: string | undefined = cmd.getOptionValueSource('quant') === 'cli' ? o.quant : undefined;
      if (quant) {
        parseQuantConfig(quant, 'gradient'); // a bad format fails here, not in a child process
        if (cmd.getOptionValueSource('recipes') !== 'cli') o.recipes = ['standard'];
        for (const r of o.recipes as string[]) checkFixedPointRecipe(PRESETS[r]);
      }
      const files = (o.model as string[]).filter(isModelFile);
      if (files.length > 0 && !ANY_MODEL_SUITES.includes(suite)) {
        const builtins = Object.keys(MODELS).join(', ');
        throw new Error(`--model ${files[0]}: the ${suite} suite takes built-in models only (${builtins}); model files go to ${ANY_MODEL_SUITES.join(', ')}`);
      }
      // a model file is read and checked here, not in a child process
      for (const m of o.model as string[]) modelSpec(m, quant ? parseQuantConfig(quant, 'gradient') : undefined);
      const label = (model: string) => (quant ? `${model} ${quant}` : model);
      const progress = (line: string) => !o.json && process.stderr.write(`${line}\n`);
      let results: object[] | object;
      let table: string;
      if (suite === 'speed') {
        const rows = runSpeedSuite(
          { models: o.model, recipes: o.recipes, batches: o.batches, kernels: o.kernels, threads: o.threads, repeats: o.repeats, warmup: o.warmup, quant },
          (r) => progress(`  ${label(r.model)} ${r.recipe} batch ${r.batch} (${r.kernelSet}, ${r.threads} thr): ${r.msPerBatchMedian.toFixed(1)} ms/batch`),
        );
        results = rows;
        table = formatTable(
          ['model', 'recipe', 'batch', 'kernels', 'threads', 'ms/batch (median)', 'min', 'samples/s', 'ledger MiB', 'peak RSS MiB'],
          rows.map((r) => [
            label(r.model),
            r.recipe,
            r.batch,
            r.kernelSet,
            r.threads,
            r.msPerBatchMedian.toFixed(1),
            r.msPerBatchMin.toFixed(1),
            r.samplesPerSecond.toFixed(0),
            (r.ledgerBytes / 2 ** 20).toFixed(2),
            (r.peakRssBytes / 2 ** 20).toFixed(0),
          ]),
        );
      } else if (suite === 'energy') {
        const rows = await runEnergySuite(
          { model: o.model[0], recipes: o.recipes, batch: o.batches[0], limitTrain: o.limitTrain ?? 6000, meter: o.meter, idleSeconds: o.idleSeconds },
          (r) => progress(`  ${r.recipe}: ${r.netJoulesPerBatch?.toFixed(3) ?? '-'} J/batch net`),
        );
        results = rows;
        const f = (v: number | null, d: number) => (v === null ? '-' : v.toFixed(d));
        table = [
          `${o.model[0]} at batch ${o.batches[0]}, one epoch over ${o.limitTrain ?? 6000} MNIST examples per recipe; meter ${rows[0]?.meter}: ` +
            `${energyKind(rows[0]?.meter ?? o.meter, rows[0]?.measured ?? false, true)}; net = above the idle baseline`,
          formatTable(
            ['recipe', 'batches', 'seconds', 'joules', 'net J/batch', 'net mJ/sample', 'watts'],
            rows.map((r) => [
              r.recipe,
              r.batches,
              r.seconds.toFixed(1),
              f(r.joules, 2),
              f(r.netJoulesPerBatch, 4),
              f(r.netMillijoulesPerSample, 3),
              f(r.watts, 2),
            ]),
          ),
        ].join('\n');
      } else if (suite === 'ablation') {
        const batch = o.batches[0];
        const rows = await runAblationSuite({ model: o.model[0], batch, epochs: o.epochs ?? 3, seeds: o.seeds, only: o.only, limitTrain: o.limitTrain }, (r) =>
          progress(`  ${r.config}, seed ${r.seed}: ${(100 * r.testAccuracy).toFixed(2)}%`),
        );
        results = rows;
        const ref = rows.find((r) => r.config === 'standard');
        table = [
          `${o.model[0]} at batch ${batch}, ${o.epochs ?? 3} epochs, seeds ${o.seeds.join(', ')}: ledger memory and test accuracy (mean, spread = max - min)`,
          formatTable(
            ['configuration', 'ledger KiB', 'standard/this', 'test acc % (mean)', 'spread', 'vs standard (points)'],
            rows.map((r) => [
              r.config,
              kib(r.ledgerBytes),
              `${r.ratioStandardToThis.toFixed(2)}x`,
              (100 * r.meanAccuracy).toFixed(2),
              (100 * r.spread).toFixed(2),
              ref ? (100 * (r.meanAccuracy - ref.meanAccuracy)).toFixed(2) : '-',
            ]),
          ),
        ].join('\n');
      } else if (suite === 'quant') {
        const batch = o.batches[0];
        const epochs = o.epochs ?? 6;
        const r = await runQuantSuite({ bits: o.quant, batch, epochs, seeds: o.seeds, only: o.only, limitTrain: o.limitTrain }, (run) =>
          progress(
            `  ${run.variant}, seed ${run.seed}: ${(100 * run.testAccuracy).toFixed(2)}%, ` +
              `weight exponent flips ${run.weightFlips} (late ${run.lateWeightFlips})`,
          ),
        );
        results = r;
        const twin = r.rows.find((x) => x.variant === 'float32 twin');
        table = [
          `mlp ${o.quant} at batch ${batch}, ${epochs} epochs, seeds ${o.seeds.join(', ')}: test accuracy (mean, spread = max - min) and ` +
            `weight-quantizer exponent flips (sum over layers; late = from epoch ${r.lateFromEpoch}, where the stable exponent switches on)`,
          formatTable(
            ['variant', 'test acc % (mean)', 'spread', 'vs float32 twin', 'ms/batch', 'flips per seed', 'late flips per seed', 'min MSQE margin'],
            r.rows.map((x) => [
              x.variant,
              (100 * x.meanAccuracy).toFixed(2),
              (100 * x.spread).toFixed(2),
              twin ? (100 * (x.meanAccuracy - twin.meanAccuracy)).toFixed(2) : '-',
              x.msPerBatch.toFixed(1),
              x.variant === 'float32 twin' ? '-' : x.weightFlips.join(' '),
              x.variant === 'float32 twin' ? '-' : x.lateWeightFlips.join(' '),
              x.minMargin.map((m) => formatMargin(m ?? undefined)).join(' '),
            ]),
          ),
        ].join('\n');
      } else if (suite === 'signal') {
        const examples = o.limitTrain ?? 1000;
        const rows = runSignalSuite({ examples, depth: 4, width: 256 });
        results = rows;
        const path = (v: number[]) => v.map((x) => x.toFixed(3)).join(' → ');
        table = [
          `first ${examples} MNIST training images through 4 random layers of 256 at initialisation: ` +
            `mean cosine of batch-centred representations (input, then after each layer)`,
          formatTable(
            ['layers', 'same class', 'different class'],
            rows.map((r) => [r.layers, path(r.sameClass), path(r.differentClass)]),
          ),
        ].join('\n');
      } else if (suite === 'coherence') {
        const rows = runCoherenceCostSuite(
          {
            models: o.model,
            recipes: o.recipes,
            batches: o.batches,
            kernels: [o.kernels.find((k: string) => k !== 'reference') ?? o.kernels[0]],
            threads: [Math.min(...o.threads)],
            repeats: Math.max(o.repeats, 100),
            warmup: o.warmup,
            quant,
          },
          [1, 50],
          (r) => progress(`  ${label(r.model)} ${r.recipe} batch ${r.batch}, every ${r.every}: +${r.overheadPercent.toFixed(1)}%`),
        );
        results = rows;
        table = formatTable(
          ['model', 'recipe', 'batch', 'coherence every', 'ms/batch (mean)', 'without', 'overhead'],
          rows.map((r) => [
            label(r.model),
            r.recipe,
            r.batch,
            r.every,
            r.msPerBatchMean.toFixed(2),
            r.baselineMsPerBatchMean.toFixed(2),
            `${r.overheadPercent.toFixed(1)}%`,
          ]),
        );
      } else if (suite === 'peers') {
        const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
        const contest = runStepContest(
          {
            models: o.model,
            batches: (model) => (given('batches') ? o.batches : PEER_BATCHES[model]),
            recipes: o.recipes,
            threads: o.threads,
            rounds: o.rounds,
            repeatsFor: (model) => (given('repeats') ? o.repeats : model === 'mlp' ? 40 : 3),
            warmupFor: (model) => (given('warmup') ? o.warmup : model === 'mlp' ? 100 : 3),
          },
          progress,
        );
        const tfjs: string[] = o.model.includes('mlp') ? o.tfjsBackends.filter((b: string) => b !== 'none') : [];
        results = [contest];
        table = formatStepContest(contest);
        if (tfjs.length > 0) {
          // then the older comparison: TF.js and bitlearn training the MNIST MLP for whole epochs
          const threads = Math.max(...o.threads);
          const contestants = [
            ...o.recipes.map((recipe: string) => ({ recipe, threads: 1, stream: true })),
            ...(o.recipes.includes('low-memory') ? [{ recipe: 'low-memory', threads: 1, stream: false }] : []),
            ...(threads > 1 ? [{ recipe: 'low-memory', threads, stream: true }] : []),
          ];
          const rep = runPeersSuite({ epochs: o.epochs ?? 1, batch: o.batches[0], limitTrain: o.limitTrain, bitlearn: contestants, tfjs }, (r) =>
            progress(`  ${r.engine} ${r.backend}: ${r.msPerBatchMedian.toFixed(1)} ms/batch, ${(100 * r.testAccuracy).toFixed(2)}%`),
          );
          results = [contest, rep];
          table += `\n\nbitlearn vs TF.js, training the MNIST MLP (whole epochs, one contestant after the other):\n${formatPeersReport(rep)}`;
        }
      } else if (suite === 'sampler') {
        const meter = cmd.getOptionValueSource('meter') === 'cli' ? o.meter : 'ina226:sim:0x40';
        const rows = await runSamplerCost(
          {
            model: o.model[0],
            recipe: cmd.getOptionValueSource('recipes') === 'cli' ? o.recipes[0] : 'standard',
            batch: o.batches[0] === 100 || cmd.getOptionValueSource('batches') === 'cli' ? o.batches[0] : 100,
            threads: o.threads,
            meter,
            rounds: Math.max(2, o.rounds * 2),
            steps: cmd.getOptionValueSource('repeats') === 'cli' ? o.repeats : 50,
          },
          progress,
        );
        results = rows;
        table = formatSamplerCost(rows);
      } else if (suite === 'inference') {
        const rep = await runInferenceSuite(
          {
            model: o.model[0],
            recipe: cmd.getOptionValueSource('recipes') === 'cli' ? o.recipes[0] : 'low-memory',
            limitTrain: o.limitTrain ?? 6000,
            limitTest: 1000,
            rounds: o.rounds,
            singles: cmd.getOptionValueSource('repeats') === 'cli' ? o.repeats : 300,
            batches: 20,
          },
          progress,
        );
        results = rep;
        table = formatInferenceReport(rep);
      } else if (suite === 'kernels') {
        const rows = runKernelSuite(
          {
            shapes: [
              [o.batches[0], 256, 256],
              [o.batches[0], 256, 784],
              [o.batches[0], 256, 2304],
            ],
            repeats: o.repeats,
          },
          (r) => progress(`  ${r.kernel} ${r.shape}: ${r.speedup.toFixed(1)}x`),
        );
        results = rows;
        table = formatTable(
          ['kernel', 'shape', 'reference ms', 'wasm ms', 'speed-up'],
          rows.map((r) => [r.kernel, r.shape, r.referenceMs.toFixed(3), r.wasmMs.toFixed(3), `${r.speedup.toFixed(1)}x`]),
        );
      } else {
        const rows = runMemorySuite({ models: o.model, batches: o.batches, recipes: o.recipes });
        results = rows;
        table = formatTable(
          ['model', 'recipe', 'batch', 'modeled KiB', 'ledger KiB', 'standard/recipe'],
          rows.map((r) => [r.model, r.recipe, r.batch, kib(r.modeledBytes), kib(r.ledgerBytes), `${r.ratioStandardToRecipe.toFixed(2)}x`]),
        );
      }
      const report = { suite, date: new Date().toISOString(), machine: machineInfo(), results };
      const out = o.out ?? `bench/results/${suite}-${report.date.replace(/[:.]/g, '-')}.json`;
      writeJsonAtomic(out, report);
      if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else
        process.stdout.write(
          `${table}\n\nmachine: ${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}; times are medians\nresults: ${out}\n`,
        );
    });
}
