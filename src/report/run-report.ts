// A run report (the JSON `bitlearn train --out/--json` writes) read back, checked, and turned
// into the sections a person reads: charts for HTML, tables for Markdown.
import { readFileSync } from 'node:fs';
import type { EpochRecord } from '../train/records.js';
import type { LayerSeries } from '../model/quantizer-log.js';
import type { MemoryReport } from './memory-report.js';
import type { RegionEnergy } from './power-csv.js';
import type { QuantConfig } from '../../quant/quant-config.js';

export class ReportError extends Error {}

export type { LayerSeries };

export interface RunReport {
  tool: string;
  version: string;
  command: string;
  date: string;
  machine: { node: string; arch: string; platform: string };
  config: {
    model: string;
    /** The model file trained, when not a built-in model. */
    modelFile?: string;
    quant?: QuantConfig;
    recipeName: string;
    batch: number;
    epochs: number;
    seed: number;
    data: string;
    meter: string | null;
    idleSeconds?: number;
  };
  kernels: string;
  threads: number;
  history: EpochRecord[];
  final: { testAccuracy: number; testLoss: number; trainAccuracy: number } | null;
  timing: { msPerBatchMedian: number; batchesTimed: number; wallSeconds: number };
  memory: MemoryReport;
  coherence?: LayerSeries;
  quantizerExponents?: LayerSeries;
  /** A sampling meter's mean power per half second: [ms since 1970, watts]. */
  powerTrace?: { meter: string; points: [number, number][] };
  /** Added by `bitlearn report --power-csv`. */
  externalEnergy?: { file: string; idleWatts: number | null; regions: RegionEnergy[] };
}

export function readRunReport(path: string): RunReport {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ReportError(err.code ? `cannot read ${path}: ${err.code}` : `${path} is not JSON: ${err.message}`);
  }
  const r = raw as Partial<RunReport>;
  if (r?.tool !== 'bitlearn' || r.command !== 'train' || !Array.isArray(r.history) || !r.memory || !r.config)
    throw new ReportError(`${path} is not a bitlearn train report (write one with bitlearn train --out run.json)`);
  return r as RunReport;
}

/** Regions a gpio-trigger (or any) meter marked: one per epoch with energy records. */
export function meteredRegions(r: RunReport) {
  return r.history
    .filter((h) => h.energy && h.energy.startUnixMs !== undefined)
    .map((h) => ({ label: `epoch ${h.epoch}`, startUnixMs: h.energy!.startUnixMs, endUnixMs: h.energy!.endUnixMs }));
}
