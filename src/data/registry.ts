// Data sets by name, for the CLI and the benchmarks.
import { loadCifar10 } from './cifar10.js';
import { limitDataset, type DataSplit } from './dataset.js';
import { DataFileError } from './idx.js';
import { defaultMnistDir, loadMnist } from './mnist.js';
import { syntheticCifar } from './synthetic.js';

export const DATA_SETS = ['mnist', 'cifar10', 'synthetic-cifar'] as const;

/**
 * A data set by name. `stream`: examples stay in their files and are read a batch at a time
 * (MNIST; the other data sets are held in memory).
 */
export function loadData(name: string, opts: { dir?: string; limitTrain?: number; limitTest?: number; stream?: boolean } = {}): DataSplit {
  let split: DataSplit;
  if (name === 'mnist') split = loadMnist(opts.dir ?? defaultMnistDir(), opts.stream);
  else if (name === 'cifar10') {
    if (!opts.dir) throw new DataFileError('cifar10: give the directory of the binary version with --data-dir (it cannot be downloaded here)');
    split = loadCifar10(opts.dir);
  } else if (name === 'synthetic-cifar') split = syntheticCifar(opts.limitTrain ?? 5000, opts.limitTest ?? 1000);
  else if (/^(csv|npy|images):/.test(name))
    throw new DataFileError(`${name}: this command takes the built-in data sets (${DATA_SETS.join(', ')}); your own data trains with bitlearn train`);
  else throw new Error(`unknown data set "${name}" (available: ${DATA_SETS.join(', ')})`);
  return { train: limitDataset(split.train, opts.limitTrain), test: limitDataset(split.test, opts.limitTest) };
}
