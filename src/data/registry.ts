// Data sets by name, for the CLI and the benchmarks.
import { limitDataset, type DataSplit } from './dataset.js';
import { defaultMnistDir, loadMnist } from './mnist.js';

export const DATA_SETS = ['mnist'] as const;

export function loadData(name: string, opts: { dir?: string; limitTrain?: number; limitTest?: number } = {}): DataSplit {
  if (name !== 'mnist') throw new Error(`unknown data set "${name}" (available: ${DATA_SETS.join(', ')})`);
  const split = loadMnist(opts.dir ?? defaultMnistDir());
  return { train: limitDataset(split.train, opts.limitTrain), test: limitDataset(split.test, opts.limitTest) };
}
