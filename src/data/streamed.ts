// A data set whose examples stay in their file: only the labels are in memory, and the examples
// of a batch are read (pread) into a small window when the batch is staged. On a device where
// memory is scarce this keeps the 47 MB of MNIST training images out of the process (the OS file
// cache holds them, and can drop them); reading a batch costs a few system calls.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Dataset, StagedBatch } from './dataset.js';
import { DataFileError } from './idx.js';

export interface RowFile {
  path: string;
  /** Byte offset of example 0. */
  headerBytes: number;
  rowBytes: number;
}

export function streamedDataset(name: string, file: RowFile, labels: Uint8Array, classes: number): Dataset {
  let fd: number;
  try {
    fd = openSync(file.path, 'r');
  } catch (e) {
    throw new DataFileError(`${file.path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const count = labels.length;
  const size = fstatSync(fd).size;
  const expected = file.headerBytes + count * file.rowBytes;
  if (size !== expected) {
    closeSync(fd);
    throw new DataFileError(
      `${file.path}: ${size} bytes, expected ${expected} (${count} examples of ${file.rowBytes} bytes after a ${file.headerBytes}-byte header)`,
    );
  }
  const f = file.rowBytes;
  let window = new Uint8Array(0);
  let windowLabels = new Uint8Array(0);
  let identity = new Int32Array(0);
  const read = (dst: number, example: number, examples: number) => {
    const bytes = examples * f;
    const got = readSync(fd, window, dst * f, bytes, file.headerBytes + example * f);
    if (got !== bytes) throw new DataFileError(`${file.path}: short read at example ${example} (the file changed while training?)`);
  };
  return {
    name,
    count,
    features: f,
    classes,
    images: new Uint8Array(0),
    labels,
    streamed: true,
    // labels come from the data set the call is made on (`this`), so a copy with other labels
    // (label noise) stages its own labels
    stage(this: Dataset, order: Int32Array, offset: number, rows: number): StagedBatch {
      const labelsNow = this.labels;
      if (window.length < rows * f) {
        window = new Uint8Array(rows * f);
        windowLabels = new Uint8Array(rows);
        identity = Int32Array.from({ length: rows }, (_, i) => i);
      }
      // one read per run of consecutive examples (evaluation reads whole batches at once)
      for (let i = 0; i < rows; ) {
        const first = order[offset + i];
        if (first < 0 || first >= count) throw new Error(`${name}: example ${first} out of range (0..${count - 1})`);
        let n = 1;
        while (i + n < rows && order[offset + i + n] === first + n) n++;
        read(i, first, n);
        for (let k = 0; k < n; k++) windowLabels[i + k] = labelsNow[first + k];
        i += n;
      }
      const data: Dataset = { name, count: rows, features: f, classes, images: window.subarray(0, rows * f), labels: windowLabels.subarray(0, rows) };
      return { data, order: identity, offset: 0 };
    },
    residentBytes: () => labels.byteLength + window.byteLength + windowLabels.byteLength + identity.byteLength,
    close: () => closeSync(fd),
  };
}
