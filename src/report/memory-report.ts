// Memory figures for a run: modeled vs ledger-measured per category and per layer, the process
// peak RSS, and the totals of both presets for the same model and batch.
import { CATEGORIES, type Category } from '../ledger.js';
import { modelMemory, type Bytes } from '../model/memory-model.js';
import { Network } from '../model/network.js';
import { canApplyInBackward } from '../model/shared-weight-grads.js';
import { binaryTwin, planModel, type ModelSpec } from '../model/spec.js';
import { createOptimizer } from '../optim/optimizer.js';
import { trainingMemory } from '../planner.js';
import { PRESETS, type Recipe } from '../recipe.js';
import { referenceKernels } from '../kernels/reference.js';
import { formatTable, kib, mib } from './table.js';

export interface MemoryReport {
  batch: number;
  modeled: { total: number; byCategory: Bytes; byLayer: Record<string, Bytes> };
  ledger: { total: number; peak: number; byCategory: Bytes; byLayer: Record<string, Bytes> };
  peakRssBytes: number;
  datasetBytes: number;
  /** null where the model has no binary form (a fixed-point layer's output flattened from a channel count not a multiple of 32). */
  presets: { standard: number; lowMemory: number; ratioStandardToLowMemory: number; ratioStandardToThis: number } | null;
  /** Fixed-point models: the float32 twin (same ReLU network, nothing quantized, standard recipe) instead of the binary presets. */
  floatTwin?: { bytes: number; ratioToThis: number };
}

/**
 * Ledger bytes of a network + optimizer built (not trained) for this model, recipe and batch:
 * laid out as plain training lays it out, or (`separate`) with activation and weight gradients in
 * buffers of their own and the sign layers' z kept, as the published figures count them (docs/guide.md, buffers that take turns).
 */
export function measureLedger(spec: ModelSpec, recipe: Recipe, batch: number, layout: 'training' | 'separate' = 'training'): number {
  const training = layout === 'training';
  const applyInBackward = training && canApplyInBackward(spec, recipe);
  const net = new Network({ spec, recipe, batch, kernels: referenceKernels, seed: 1, overlayGradients: training, applyInBackward, keepZ: !training });
  createOptimizer(net.params(), recipe, net.ledger);
  return net.ledger.totalBytes;
}

/** `modeled`: the run's memory model when it has extras (coherence buffers, gradient methods). */
export function memoryReport(
  net: Network,
  spec: ModelSpec,
  recipe: Recipe,
  datasetBytes: number,
  modeled = modelMemory(spec, recipe, net.batch, { augment: net.opts.augment, applyInBackward: net.opts.applyInBackward }),
): MemoryReport {
  // fixed-point models: the binary presets are of the binary model of the same shape
  const binary: ModelSpec = binaryTwin(spec);
  const binaryExists = (() => {
    try {
      planModel(binary);
      return true;
    } catch {
      return false;
    }
  })();
  // before the figures below: the process's own peak, whatever they cost
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  // the presets from the memory model, not from networks built here: building them would put the
  // standard recipe's buffers into this run's peak RSS (BinaryNet B=40: +87 MiB, 2.7 s). The model
  // equals the ledger of a network built that way (test/memory.test.ts)
  const standard = binaryExists ? trainingMemory(binary, PRESETS.standard, net.batch) : 0;
  const lowMemory = binaryExists ? trainingMemory(binary, PRESETS['low-memory'], net.batch) : 0;
  const twin = spec.quant ? trainingMemory({ ...spec, quant: { ...spec.quant, weightBits: null, actBits: null } }, PRESETS.standard, net.batch) : null;
  return {
    batch: net.batch,
    modeled: { total: modeled.total, byCategory: modeled.byCategory, byLayer: Object.fromEntries(modeled.byOwner) },
    ledger: {
      total: net.ledger.totalBytes,
      peak: net.ledger.peak,
      byCategory: net.ledger.byCategory(),
      byLayer: Object.fromEntries(net.ledger.byOwner()),
    },
    peakRssBytes,
    datasetBytes,
    presets: binaryExists
      ? {
          standard,
          lowMemory,
          ratioStandardToLowMemory: standard / lowMemory,
          ratioStandardToThis: standard / net.ledger.totalBytes,
        }
      : null,
    ...(twin ? { floatTwin: { bytes: twin, ratioToThis: twin / net.ledger.totalBytes } } : {}),
  };
}

const sum = (b: Bytes) => CATEGORIES.reduce((s, c) => s + b[c], 0);

export function formatMemoryReport(m: MemoryReport): string {
  const catRows = CATEGORIES.map((c: Category) => [c, kib(m.modeled.byCategory[c]), kib(m.ledger.byCategory[c])]);
  catRows.push(['total', kib(m.modeled.total), kib(m.ledger.total)]);
  const layers = Object.keys(m.ledger.byLayer);
  const layerRows = layers.map((name) => {
    const led = m.ledger.byLayer[name];
    const mod = m.modeled.byLayer[name];
    return [name, ...CATEGORIES.map((c) => kib(led[c])), kib(mod ? sum(mod) : 0), kib(sum(led))];
  });
  return [
    `Memory at batch ${m.batch} (KiB): modeled vs measured by the ledger`,
    formatTable(['category', 'modeled', 'ledger'], catRows),
    '',
    'Per layer (KiB, ledger)',
    formatTable(['layer', ...CATEGORIES, 'modeled', 'ledger'], layerRows),
    '',
    `ledger peak ${mib(m.ledger.peak)}; process peak RSS ${mib(m.peakRssBytes)} (includes Node.js and the data set, ${mib(m.datasetBytes)})`,
    m.floatTwin
      ? `float32 twin at this batch (modeled = ledger): ${mib(m.floatTwin.bytes)}; twin/this run = ${m.floatTwin.ratioToThis.toFixed(2)}x; ` +
        (m.presets
          ? `binary model of the same shape: standard ${mib(m.presets.standard)}, low-memory ${mib(m.presets.lowMemory)}`
          : 'no binary model of the same shape (its sign bits could not be flattened)')
      : m.presets
        ? `presets at this batch (modeled = ledger): standard ${mib(m.presets.standard)}, low-memory ${mib(m.presets.lowMemory)}; ` +
          `standard/low-memory = ${m.presets.ratioStandardToLowMemory.toFixed(2)}x; standard/this run = ${m.presets.ratioStandardToThis.toFixed(2)}x`
        : '',
  ].join('\n');
}
