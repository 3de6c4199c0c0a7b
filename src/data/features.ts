// Float-feature data sets (CSV, NumPy): per-feature standardization from the training split, kept
// in memory or streamed from a float32 row file (the sources write one when they parse, so a file
// larger than memory trains: only the labels and one batch are resident).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Dataset, FeatureNormalization, StagedBatch } from './dataset.js';
import { DataFileError } from './idx.js';

/** Mean and standard deviation per feature over the given rows (std 1 where a feature is constant). */
export function featureStatistics(features: number, rows: Iterable<Float32Array>): FeatureNormalization {
  const sum = new Float64Array(features);
  const sumSq = new Float64Array(features);
  let n = 0;
  for (const row of rows) {
    for (let k = 0; k < features; k++) {
      sum[k] += row[k];
      sumSq[k] += row[k] * row[k];
    }
    n++;
  }
  const mean = new Float32Array(features);
  const std = new Float32Array(features);
  for (let k = 0; k < features; k++) {
    const m = n ? sum[k] / n : 0;
    const variance = n ? Math.max(0, sumSq[k] / n - m * m) : 0;
    mean[k] = m;
    // a constant feature carries no information: std 1 leaves it at 0 rather than dividing by 0
    std[k] = variance > 1e-12 ? Math.sqrt(variance) : 1;
  }
  return { mean, std };
}

/** Standardize rows in place: x' = (x − mean) / std. */
export function standardize(values: Float32Array, norm: FeatureNormalization): void {
  const f = norm.mean.length;
  for (let i = 0; i < values.length; i += f) for (let k = 0; k < f; k++) values[i + k] = (values[i + k] - norm.mean[k]) / norm.std[k];
}

export interface FeatureSource {
  name: string;
  features: number;
  classes: number;
  labels: Uint8Array;
  classNames?: string[];
  /** The rows as float32 in a file: example i at headerBytes + i·features·4 (little-endian). */
  file: string;
  headerBytes: number;
}

/** Rows of a float32 row file, by example index, through one open descriptor. */
export class RowReader {
  private readonly fd: number;
  private buffer = Buffer.alloc(0);
  constructor(
    readonly source: Pick<FeatureSource, 'file' | 'headerBytes' | 'features'>,
    readonly count: number,
  ) {
    try {
      this.fd = openSync(source.file, 'r');
    } catch (e) {
      throw new DataFileError(`${source.file}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const expected = source.headerBytes + count * source.features * 4;
    const size = fstatSync(this.fd).size;
    if (size < expected) {
      closeSync(this.fd);
      throw new DataFileError(`${source.file}: ${size} bytes, expected at least ${expected} (${count} rows of ${source.features} float32 values)`);
    }
  }
  /** Examples [first, first + n) into out[offset ..] as floats. */
  read(first: number, n: number, out: Float32Array, offset: number): void {
    const bytes = n * this.source.features * 4;
    if (this.buffer.length < bytes) this.buffer = Buffer.alloc(bytes);
    const got = readSync(this.fd, this.buffer, 0, bytes, this.source.headerBytes + first * this.source.features * 4);
    if (got !== bytes) throw new DataFileError(`${this.source.file}: short read at example ${first} (the file changed while training?)`);
    const f = this.source.features;
    for (let k = 0; k < n * f; k++) out[offset + k] = this.buffer.readFloatLE(4 * k);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Examples of a feature source: all its rows in order, or a subset (a split) by row index. */
function rowsOf(src: FeatureSource, rows?: Int32Array): Int32Array {
  return rows ?? Int32Array.from({ length: src.labels.length }, (_, i) => i);
}

/** Rows `rows` of src, read in runs of consecutive indices, handed to fn one at a time. */
export function* readRows(src: FeatureSource, rows?: Int32Array): Generator<Float32Array> {
  const order = rowsOf(src, rows);
  const reader = new RowReader(src, src.labels.length);
  const step = Math.max(1, Math.floor((1 << 18) / src.features));
  const block = new Float32Array(step * src.features);
  try {
    for (let i = 0; i < order.length; ) {
      let n = 1;
      while (i + n < order.length && n < step && order[i + n] === order[i] + n) n++;
      reader.read(order[i], n, block, 0);
      for (let k = 0; k < n; k++) yield block.subarray(k * src.features, (k + 1) * src.features);
      i += n;
    }
  } finally {
    reader.close();
  }
}

/** Rows `rows` (default all) of a feature source in memory, standardized. */
export function inMemoryFeatures(src: FeatureSource, norm: FeatureNormalization, rows?: Int32Array, name = src.name): Dataset {
  const order = rowsOf(src, rows);
  const values = new Float32Array(order.length * src.features);
  let i = 0;
  for (const row of readRows(src, order)) values.set(row, i++ * src.features);
  standardize(values, norm);
  return base(src, name, subsetLabels(src, order), values, norm);
}

function subsetLabels(src: FeatureSource, order: Int32Array): Uint8Array {
  return order.length === src.labels.length && order.every((r, i) => r === i) ? src.labels : Uint8Array.from(order, (r) => src.labels[r]);
}

function base(src: FeatureSource, name: string, labels: Uint8Array, values: Float32Array, norm: FeatureNormalization): Dataset {
  return {
    name,
    count: labels.length,
    features: src.features,
    classes: src.classes,
    images: new Uint8Array(0),
    values,
    labels,
    normalization: norm,
    ...(src.classNames ? { classNames: src.classNames } : {}),
  };
}

/** Rows `rows` (default all) of a feature source streamed from its row file: a batch is read and standardized when staged. */
export function streamedFeatures(src: FeatureSource, norm: FeatureNormalization, rows?: Int32Array, name = src.name): Dataset {
  const order = rowsOf(src, rows);
  const count = order.length;
  const f = src.features;
  const reader = new RowReader(src, src.labels.length);
  let window = new Float32Array(0);
  let windowLabels = new Uint8Array(0);
  let identity = new Int32Array(0);
  return {
    ...base(src, name, subsetLabels(src, order), new Float32Array(0), norm),
    streamed: true,
    stage(this: Dataset, batch: Int32Array, offset: number, n: number): StagedBatch {
      const labelsNow = this.labels;
      if (window.length < n * f) {
        window = new Float32Array(n * f);
        windowLabels = new Uint8Array(n);
        identity = Int32Array.from({ length: n }, (_, i) => i);
      }
      for (let i = 0; i < n; ) {
        const example = batch[offset + i];
        if (example < 0 || example >= count) throw new Error(`${name}: example ${example} out of range (0..${count - 1})`);
        // one read per run of consecutive rows of the file
        let run = 1;
        while (i + run < n && batch[offset + i + run] === example + run && order[example + run] === order[example] + run) run++;
        reader.read(order[example], run, window, i * f);
        for (let k = 0; k < run; k++) windowLabels[i + k] = labelsNow[example + k];
        i += run;
      }
      const values = window.subarray(0, n * f);
      standardize(values, norm);
      const data: Dataset = { ...base(src, name, windowLabels.subarray(0, n), values, norm) };
      return { data, order: identity, offset: 0 };
    },
    residentBytes: () => labelsBytes(src, order) + window.byteLength + windowLabels.byteLength + identity.byteLength + (rows ? rows.byteLength : 0),
    close: () => reader.close(),
  };
}

function labelsBytes(src: FeatureSource, order: Int32Array): number {
  return order.length === src.labels.length ? src.labels.byteLength : order.length;
}
