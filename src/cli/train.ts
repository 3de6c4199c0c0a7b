// `bitlearn train`: train a model, print the accuracy / time / memory report.
import type { Network } from '../model/network.js';
import { precisionKind } from '../model/spec.js';
import { Command } from 'commander';
import { writeJsonAtomic } from '../atomic-write.js';
import { residentBytes } from '../data/dataset.js';
import { kernelNames } from '../kernels/select.js';
import { isModelFile, modelLabel, modelSpec } from '../model/models.js';
import { loadTrainingData, ownDataOptions } from './training-data.js';
import { quantizerLines } from '../report/quantizer-table.js';
import { resolveRecipe } from '../recipe.js';
import { formatMemoryReport, memoryReport } from '../report/memory-report.js';
import { formatTable } from '../report/table.js';
import { energyHeader, energyKind, energyNotes, energyRows } from '../report/energy-table.js';
import { train } from '../train/loop.js';
import type { EpochRecord } from '../train/records.js';
import { createMeter } from '../../device/meters.js';
import { onoffProvider } from '../../device/gpio.js';
import {
  quantFromOptions,
  quantOptions,
  modelDataRecipeOptions,
  nonNegativeInt,
  positiveInt,
  positiveNumber,
  fraction,
  OUTPUT_INIT_SCALE_HELP,
  winsorOption,
} from './options.js';
import { parseCoherenceSpec } from '../coherence/tracker.js';
import { withLabelNoise } from '../data/label-noise.js';
import { GRADIENT_METHODS } from '../train/gradient-methods.js';
import { InvalidArgumentError } from 'commander';

function parseCoherenceOption(v: string) {
  try {
    return parseCoherenceSpec(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

import { progressHooks } from './progress.js';
import { checkOutputPath } from '../train/preflight.js';
import { Interrupted, interruptedMessage, stopOnInterrupt, threadCount, writeStdout } from './run-control.js';
import { VERSION } from '../version.js';

export function trainCommand(): Command {
  return winsorOption(
    quantOptions(
      ownDataOptions(
        modelDataRecipeOptions(new Command('train').description('train a binary network and report accuracy, time per batch and memory (modeled vs measured)')),
      ),
    )
      .option('--in-memory', 'load the whole data set into memory (default for mnist, csv and npy: examples stay in a file and are read a batch at a time)')
      .option(
        '--init <checkpoint>',
        "start from this checkpoint's trained weights (matched by layer name and size; float16/float32 convert); batch norm re-estimated on the new data",
      )
      .option('--new-head', "with --init: the classifier may differ from the checkpoint's (other classes) and starts fresh")
      .option(
        '--train <scope>',
        'which layers train: all, head (the classifier), last:K (the last K weight layers), bn (batch-norm shifts only) or layer ' +
          'names (fc4,bn4); frozen layers keep no gradient, optimizer state or latent weights, and backward stops at the lowest trainable layer',
        'all',
      )
      .option('--augment', 'random shift (up to 4 pixels) and horizontal flip of training images')
      .option('--epochs <n>', 'epochs', positiveInt, 5)
      .option('--batch <n>', 'mini-batch size', positiveInt, 100)
      .option('--seed <n>', 'random seed (initialisation and shuffling)', nonNegativeInt, 1)
      .option('--lr <x>', 'Adam learning rate (halved when the training loss plateaus)', positiveNumber, 1e-3)
      .option('--lr-schedule <expr>', 'learning rate as an expression of the 0-based epoch, e.g. "1e-3 * 0.5^floor(epoch/2)" (replaces halving on plateau)')
      .option(
        '--bn-recalibrate <n>',
        'after each epoch, re-estimate batch-norm statistics over n training batches with the final weights (0: keep running averages)',
        nonNegativeInt,
        20,
      )
      .option('--patience <n>', 'epochs without improvement before halving the learning rate', positiveInt, 2)
      .option('--kernels <name>', `kernel set (auto, ${kernelNames().join(', ')})`, 'auto')
      .option('--threads <n>', 'kernel threads (default: all cores; more than the cores is capped)', threadCount)
      .option('--checkpoint <file>', 'checkpoint written atomically after every epoch (default checkpoints/<model>-<recipe>.ckpt)')
      .option('--no-checkpoint', 'do not write checkpoints')
      .option('--resume', 'continue from the checkpoint file (with the same options; only --epochs may change)')
      .option('--overwrite', 'replace an existing checkpoint of another run (without it, such a file is never overwritten)')
      .option('--limit-train <n>', 'use only the first n training examples', positiveInt)
      .option('--limit-test <n>', 'use only the first n test examples', positiveInt)
      .option('--meter <spec>', 'energy meter: gpio-pulse:PIN:JOULES, gpio-trigger:PIN, or estimate[:BOARD] (labelled as an estimate)')
      .option('--idle-seconds <n>', 'idle baseline measured before training, seconds', nonNegativeInt, 3)
      .option('--bop-gamma <x>', 'Bop rate γ (recipes with optimizer=bop)', positiveNumber, 1e-4)
      .option('--bop-tau <x>', 'Bop flip threshold τ', positiveNumber, 1e-8)
      .option('--bop-gamma-schedule <expr>', 'Bop γ as an expression of the 0-based epoch, e.g. "1e-4 * 0.1^floor(epoch/5)"')
      .option(
        '--gradients <method>',
        'what the optimizer gets: plain, rm3 (median of the last three batch gradients), m3 (median of three group means) or winsorized (dense layers)',
        (v) => {
          if (!(GRADIENT_METHODS as readonly string[]).includes(v))
            throw new InvalidArgumentError(`unknown gradient method "${v}" (available: ${GRADIENT_METHODS.join(', ')})`);
          return v;
        },
        'plain',
      )
      .option('--output-init-scale <F>', OUTPUT_INIT_SCALE_HELP, fraction)
      .option(
        '--coherence <spec>',
        'track gradient m-coherence: every=N steps (per layer and network), probe=M: the exact per-example probe on M examples each epoch',
        parseCoherenceOption,
      )
      .option(
        '--label-noise <fraction>',
        'replace this fraction of the training labels with wrong ones (seeded) and measure how much of them the network fits',
        fraction,
      )
      .option('--stop-on-memorization', 'stop at the first epoch where coherence has fallen toward 1 while training accuracy still rises (needs --coherence)')
      .option(
        '--memorization-drop <fraction>',
        'share of its excess over 1 that epoch-mean coherence must lose from its peak to flag memorization',
        fraction,
        0.8,
      )
      .option('--out <file>', 'write the run report as JSON to this file')
      .option('--json', 'print the run report as JSON on stdout (progress stays on stderr)')
      .option('--quiet', 'no progress output'),
  ).action(async (o, cmd: Command) => {
    const quant = quantFromOptions(o, cmd);
    const spec = modelSpec(o.model, quant);
    // a model file of fixed-point (or float) layers only trains as --quant does: standard recipe by default
    if (!quant && precisionKind(spec) === 'fixed' && cmd.getOptionValueSource('recipe') === 'default') o.recipe = 'standard';
    const { name: recipeName, recipe } = resolveRecipe(o.recipe, o.set);
    if (o.stopOnMemorization && !o.coherence) throw new Error('--stop-on-memorization needs --coherence (the signal is a fall in coherence)');
    if (o.out) checkOutputPath(o.out, '--out');
    const data = await loadTrainingData({ ...o, stream: !o.inMemory }, spec);
    const noise = o.labelNoise ? withLabelNoise(data.train, o.labelNoise, o.seed) : null;
    if (noise) data.train = noise.data;
    const checkpoint =
      o.checkpoint === false
        ? undefined
        : (o.checkpoint ?? `checkpoints/${modelLabel(spec).replace(/[^\w.=-]+/g, '_')}-${recipeName.replace(/[^\w.-]+/g, '_')}.ckpt`);
    const cfg = {
      model: o.model,
      quant,
      recipeName,
      recipe,
      batch: o.batch,
      epochs: o.epochs,
      seed: o.seed,
      lr: o.lr,
      kernels: o.kernels,
      threads: o.threads,
      checkpoint,
      resume: Boolean(o.resume),
      plateauPatience: o.patience,
      lrSchedule: o.lrSchedule,
      bnRecalibrate: o.bnRecalibrate,
      init: o.init,
      newHead: Boolean(o.newHead),
      trainScope: o.train,
      meter: o.meter ? createMeter(o.meter, () => onoffProvider()) : undefined,
      idleSeconds: o.idleSeconds,
      augment: Boolean(o.augment),
      coherence: o.coherence,
      gradients: o.gradients,
      winsorC: o.winsorC,
      outputInitScale: o.outputInitScale,
      bop: { gamma: o.bopGamma, tau: o.bopTau, gammaSchedule: o.bopGammaSchedule },
      noisyLabels: noise?.noisy,
      stopOnMemorization: Boolean(o.stopOnMemorization),
      memorizationDrop: o.memorizationDrop,
    };
    const t0 = performance.now();
    let result: Awaited<ReturnType<typeof train>>;
    const stop = stopOnInterrupt();
    try {
      result = await train(
        { ...cfg, overwrite: Boolean(o.overwrite), signal: stop.signal },
        data,
        progressHooks({ quiet: Boolean(o.quiet), totalEpochs: o.epochs }),
      );
    } finally {
      stop.dispose();
      cfg.meter?.close();
    }
    // a sampling meter's power trace: let the sampling thread's last messages arrive
    const trace = cfg.meter && 'trace' in cfg.meter ? await settledTrace(cfg.meter as { trace: [number, number][] }) : null;
    const datasetBytes = residentBytes(data.train) + residentBytes(data.test);
    const memory = memoryReport(result.network, spec, recipe, datasetBytes, result.modeled);
    const last = result.history[result.history.length - 1];
    const report = {
      tool: 'bitlearn',
      version: VERSION,
      command: 'train',
      date: new Date().toISOString(),
      machine: { node: process.version, arch: process.arch, platform: process.platform },
      config: {
        ...cfg,
        model: spec.name,
        modelFile: isModelFile(o.model) ? o.model : undefined,
        noisyLabels: undefined,
        labelNoise: o.labelNoise ?? 0,
        meter: o.meter ?? null,
        data: o.data,
        streamed: Boolean(data.train.streamed),
        trainExamples: data.train.count,
        testExamples: data.test.count,
      },
      weights: result.network.params().reduce((s, p) => s + (p.binary || p.name === 'W' ? p.size : 0), 0),
      kernels: result.network.kernels.name,
      threads: result.network.kernels.threads ?? 1,
      resumedFromEpoch: result.resumedFromEpoch,
      initializedFrom: result.initializedFrom,
      interrupted: result.interrupted ?? undefined,
      history: result.history,
      coherence: result.coherence ?? undefined,
      quantizerExponents: result.quantizerExponents ?? undefined,
      ...(trace?.length ? { powerTrace: { meter: o.meter, points: trace } } : {}),
      stoppedAtEpoch: result.stoppedAtEpoch,
      final: last ? { testAccuracy: last.testAccuracy, testLoss: last.testLoss, trainAccuracy: last.trainAccuracy } : null,
      timing: {
        msPerBatchMedian: result.msPerBatchMedian,
        batchesTimed: result.batchesTimed,
        wallSeconds: (performance.now() - t0) / 1000,
      },
      memory,
    };
    // the report reaches stdout even when its file cannot be written; the error follows it
    let writeError: Error | null = null;
    try {
      if (o.out) writeJsonAtomic(o.out, report, 'run report');
    } catch (e) {
      writeError = e as Error;
    }
    if (o.json) await writeStdout(`${JSON.stringify(report, null, 2)}\n`);
    else await writeStdout(humanReport());
    const init = result.initializedFrom;
    if (init && !o.quiet)
      process.stderr.write(
        `initialized from ${init.checkpoint}: ${init.copied} tensors${init.fresh.length ? `; new classifier: ${init.fresh.join(', ')}` : ''}\n`,
      );
    if (result.interrupted) process.stderr.write(`${interruptedMessage(result.interrupted, checkpoint, last?.epoch ?? result.resumedFromEpoch)}\n`);
    if (writeError) throw writeError;
    if (result.interrupted) throw new Interrupted();

    function humanReport(): string {
      const lines = [
        `bitlearn train: ${modelLabel(spec)} on ${o.data}, recipe ${recipeName}, batch ${o.batch}, ${o.epochs} ` +
          `epochs, seed ${o.seed}, kernels ${report.kernels} (${report.threads} thread${report.threads > 1 ? 's' : ''})` +
          (o.train !== 'all' ? `; training ${o.train}: ${trainedLayers(result.network)}` : ''),
        '',
        formatTable(
          ['epoch', 'lr', 'train loss', 'train acc %', 'test loss', 'test acc %', 'ms/batch', ...(recipe.optimizer === 'bop' ? ['Bop flips/step'] : [])],
          result.history.map((r) => [
            r.epoch,
            r.lr.toExponential(2),
            r.trainLoss.toFixed(4),
            (100 * r.trainAccuracy).toFixed(2),
            r.testLoss.toFixed(4),
            (100 * r.testAccuracy).toFixed(2),
            r.msPerBatchMedian.toFixed(1),
            ...(recipe.optimizer === 'bop' ? [r.flipRatio === undefined ? '-' : r.flipRatio.toExponential(2)] : []),
          ]),
        ),
        ...energyLines(result.history),
        ...coherenceLines(result.history, result.stoppedAtEpoch),
        ...quantizerLines(result.history),
        '',
        last ? `test accuracy ${(100 * last.testAccuracy).toFixed(2)}%` : 'no epoch run (checkpoint already complete)',
        `time per batch (median of ${result.batchesTimed}): ${result.msPerBatchMedian.toFixed(1)} ms`,
        '',
        formatMemoryReport(memory),
      ];
      if (checkpoint) lines.push('', `checkpoint: ${checkpoint}`);
      if (o.out && !writeError) lines.push(`run report: ${o.out}`);
      return `${lines.join('\n')}\n`;
    }
  });
}

function coherenceLines(history: EpochRecord[], stoppedAt: number | null): string[] {
  const rows = history.filter((r) => r.coherence || r.memorization);
  if (!rows.length) return [];
  const f = (v: number | undefined, d = 2) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));
  const flagged = history.find((r) => r.memorizationSignal);
  return [
    '',
    `Gradient coherence (m-coherence, m = batch; 1 = orthogonal per-example gradients, m = ` +
      `identical)${rows.some((r) => r.memorization) ? ' and memorization of the noisy labels' : ''}`,
    formatTable(
      ['epoch', 'samples', 'network mean', 'network peak', 'probe exact', 'probe estimate', 'noisy fitted %', 'clean fitted %', 'signal'],
      rows.map((r) => [
        r.epoch,
        r.coherence?.samples ?? '-',
        f(r.coherence?.mean.network),
        f(r.coherence?.peak.network),
        f(r.coherence?.probe?.exact.network),
        f(r.coherence?.probe?.estimate.network),
        r.memorization ? (100 * r.memorization.noisyFitted).toFixed(1) : '-',
        r.memorization ? (100 * r.memorization.cleanFitted).toFixed(1) : '-',
        r.memorizationSignal ? 'memorizing' : '',
      ]),
    ),
    flagged
      ? `memorization signal at epoch ${flagged.epoch}: suggested early stop after epoch ` +
        `${flagged.epoch - 1}${stoppedAt ? ` (training stopped at epoch ${stoppedAt})` : ''}`
      : 'no memorization signal',
  ];
}

function energyLines(history: EpochRecord[]): string[] {
  const e = history.filter((r) => r.energy);
  if (!e.length) return [];
  const first = e[0].energy!;
  return [
    '',
    `Energy per epoch (${first.meter}): ${energyKind(first.meter, first.measured, true)}; net = above the idle baseline`,
    formatTable(energyHeader(history), energyRows(history)),
    ...energyNotes(history),
  ];
}

/** The layers whose parameters trained (a partial update names them). */
function trainedLayers(net: Network): string {
  return [...new Set(net.params().map((p) => p.owner))].join(', ');
}

/** A sampling meter's trace once its thread's pending messages are in (they arrive while this thread waits). */
async function settledTrace(meter: { trace: [number, number][] }): Promise<[number, number][]> {
  await new Promise((r) => setTimeout(r, 50));
  return meter.trace;
}
