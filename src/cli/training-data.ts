// What the training commands (train, coherence) share about data: the options for your own data
// and the loader that turns --data and them into a train/test split.
import type { Command } from 'commander';
import type { DataSplit } from '../data/dataset.js';
import { loadOwnData, parseDataSource } from '../data/own.js';
import { loadData } from '../data/registry.js';
import type { ModelSpec } from '../model/spec.js';
import { fraction } from './options.js';

/** --label, --features, --test, --val-split: your own data (csv:, npy:, images:). */
export function ownDataOptions(cmd: Command): Command {
  return cmd
    .option('--label <column>', 'csv: the name of the label column (every other column is a numeric feature)')
    .option('--features <columns>', 'csv: the feature columns, comma-separated (default: every column but the label)')
    .option('--test <source>', 'own data: a separate test source (csv:, npy: or images:, like --data)')
    .option('--val-split <fraction>', 'own data without --test: this fraction of the examples (seeded) is the test split (default 0.2)', fraction);
}

export interface TrainingDataOptions {
  data: string;
  dataDir?: string;
  label?: string;
  features?: string;
  test?: string;
  valSplit?: number;
  seed: number;
  limitTrain?: number;
  limitTest?: number;
  /** Examples stay in their file and are read a batch at a time (else all in memory). */
  stream: boolean;
}

/** The train/test split --data (a built-in data set, or csv:, npy:, images:) and the own-data options give. */
export async function loadTrainingData(o: TrainingDataOptions, spec: ModelSpec): Promise<DataSplit> {
  const own = parseDataSource(o.data);
  if (!own && (o.label || o.features || o.test || o.valSplit !== undefined))
    throw new Error(`--label, --features, --test and --val-split apply to your own data (--data csv:, npy: or images:), not ${o.data}`);
  if (!own) return loadData(o.data, { dir: o.dataDir, limitTrain: o.limitTrain, limitTest: o.limitTest, stream: o.stream });
  return loadOwnData(own, {
    label: o.label,
    features: o.features?.split(',').map((s) => s.trim()),
    test: o.test,
    valSplit: o.valSplit,
    seed: o.seed,
    stream: o.stream,
    shape: spec.input,
    limitTrain: o.limitTrain,
    limitTest: o.limitTest,
  });
}
