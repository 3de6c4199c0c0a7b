// CIFAR-10, binary version (data_batch_1..5.bin, test_batch.bin) from a directory the user gives:
// records of 1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows of 32),
// converted to channels-last (32 × 32 × 3) like every image in bitlearn.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSplit, Dataset } from './dataset.js';
import { DataFileError } from './idx.js';

const RECORD = 1 + 3072;
const SIDE = 32;

export function parseCifarBatches(buffers: { path: string; bytes: Uint8Array }[], name: string): Dataset {
  let count = 0;
  for (const { path, bytes } of buffers) {
    if (bytes.length === 0 || bytes.length % RECORD !== 0)
      throw new DataFileError(`${path}: ${bytes.length} bytes is not a whole number of CIFAR-10 records (${RECORD} bytes each)`);
    count += bytes.length / RECORD;
  }
  const images = new Uint8Array(count * 3072);
  const labels = new Uint8Array(count);
  let n = 0;
  for (const { path, bytes } of buffers)
    for (let r = 0; r < bytes.length / RECORD; r++, n++) {
      const rec = r * RECORD;
      const label = bytes[rec];
      if (label > 9) throw new DataFileError(`${path}: record ${r} has label ${label}, CIFAR-10 labels are 0-9`);
      labels[n] = label;
      for (let p = 0; p < SIDE * SIDE; p++) for (let c = 0; c < 3; c++) images[n * 3072 + p * 3 + c] = bytes[rec + 1 + c * 1024 + p];
    }
  return { name, count, features: 3072, classes: 10, shape: { h: 32, w: 32, c: 3 }, images, labels };
}

function readAll(dir: string, files: string[], name: string): Dataset {
  const buffers = files.map((f) => {
    const path = join(dir, f);
    if (!existsSync(path)) throw new DataFileError(`CIFAR-10: missing file ${path} (expected the binary version: data_batch_1..5.bin, test_batch.bin)`);
    return { path, bytes: readFileSync(path) };
  });
  return parseCifarBatches(buffers, name);
}

export function loadCifar10(dir: string): DataSplit {
  const train = readAll(
    dir,
    [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    'cifar10-train',
  );
  const test = readAll(dir, ['test_batch.bin'], 'cifar10-test');
  return { train, test };
}
