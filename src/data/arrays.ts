// Data from a program's own arrays (the library's way in): float features and integer labels,
// standardized per feature with statistics of the training arrays, as the file sources are.
import type { Dataset, DataSplit, FeatureNormalization } from './dataset.js';
import { featureStatistics, standardize } from './features.js';
import { MAX_CLASSES } from './labels.js';

export interface ArrayData {
  /** count × features values (row-major), or one array per example. */
  x: Float32Array | Float64Array | number[][];
  /** One class index (0 to 255) per example. */
  y: ArrayLike<number>;
}

function rowsOf(d: ArrayData, what: string): { values: Float32Array; count: number; features: number } {
  const count = d.y.length;
  if (count < 1) throw new Error(`${what}: no examples`);
  let values: Float32Array;
  if (Array.isArray(d.x)) {
    if (d.x.length !== count) throw new Error(`${what}: ${d.x.length} rows of x for ${count} labels`);
    const f = d.x[0]?.length ?? 0;
    values = new Float32Array(count * f);
    d.x.forEach((row, i) => {
      if (row.length !== f) throw new Error(`${what}: row ${i} of x has ${row.length} values, row 0 has ${f}`);
      values.set(row, i * f);
    });
  } else values = Float32Array.from(d.x);
  if (values.length % count) throw new Error(`${what}: ${values.length} values of x do not make ${count} equal rows`);
  const features = values.length / count;
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i]))
      throw new Error(`${what}: x example ${Math.floor(i / features)}, feature ${i % features}: ${values[i]} is not a finite number`);
  return { values, count, features };
}

function labelsOf(d: ArrayData, what: string): Uint8Array {
  return Uint8Array.from(d.y, (v, i) => {
    if (!Number.isInteger(v) || v < 0 || v >= MAX_CLASSES) throw new Error(`${what}: y[${i}] = ${v} is not a class index (0 to ${MAX_CLASSES - 1})`);
    return v;
  });
}

function dataset(
  name: string,
  values: Float32Array,
  labels: Uint8Array,
  features: number,
  classes: number,
  norm: FeatureNormalization,
  classNames?: string[],
): Dataset {
  return {
    name,
    count: labels.length,
    features,
    classes,
    images: new Uint8Array(0),
    values,
    labels,
    normalization: norm,
    ...(classNames ? { classNames } : {}),
  };
}

/** A training and a test set from arrays; both standardized with the training arrays' per-feature mean and deviation. */
export function splitFromArrays(train: ArrayData, test: ArrayData, opts: { classNames?: string[] } = {}): DataSplit {
  const a = rowsOf(train, 'training data');
  const b = rowsOf(test, 'test data');
  if (a.features !== b.features) throw new Error(`test data has ${b.features} features per example, training data ${a.features}`);
  const ya = labelsOf(train, 'training data');
  const yb = labelsOf(test, 'test data');
  const classes = Math.max(opts.classNames?.length ?? 0, ...ya, ...yb) + (opts.classNames ? 0 : 1);
  const norm = featureStatistics(
    a.features,
    (function* () {
      for (let i = 0; i < a.count; i++) yield a.values.subarray(i * a.features, (i + 1) * a.features);
    })(),
  );
  standardize(a.values, norm);
  standardize(b.values, norm);
  return {
    train: dataset('training arrays', a.values, ya, a.features, classes, norm, opts.classNames),
    test: dataset('test arrays', b.values, yb, b.features, classes, norm, opts.classNames),
  };
}
