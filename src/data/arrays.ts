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

/**
 * x as float32 rows (one array per example, or count × features values), every value finite: the
 * shape from `count` (one row per label) or from `features` (what a model takes).
 */
export function floatRows(
  x: Float32Array | Float64Array | number[][],
  what: string,
  shape: { count: number } | { features: number },
): { values: Float32Array; count: number; features: number } {
  const byCount = 'count' in shape;
  let values: Float32Array;
  let features: number;
  if (Array.isArray(x)) {
    if (byCount && x.length !== shape.count) throw new Error(`${what}: ${x.length} rows of x for ${shape.count} labels`);
    features = byCount ? (x[0]?.length ?? 0) : shape.features;
    const rows = (values = new Float32Array(x.length * features));
    x.forEach((row, i) => {
      if (row.length !== features) throw new Error(`${what}: row ${i} of x has ${row.length} values, ${byCount ? 'row 0 has' : 'the model takes'} ${features}`);
      rows.set(row, i * features);
    });
  } else {
    values = Float32Array.from(x);
    features = byCount ? values.length / shape.count : shape.features;
  }
  const count = byCount ? shape.count : values.length / features;
  if (count < 1 || !Number.isInteger(features) || !Number.isInteger(count) || features < 1)
    throw new Error(`${what}: ${values.length} values of x are not ${byCount ? `${count} equal rows` : `whole examples of ${features} features`}`);
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i]))
      throw new Error(`${what}: x example ${Math.floor(i / features)}, feature ${i % features}: ${values[i]} is not a finite number`);
  return { values, count, features };
}

function rowsOf(d: ArrayData, what: string): { values: Float32Array; count: number; features: number } {
  if (d.y.length < 1) throw new Error(`${what}: no examples`);
  return floatRows(d.x, what, { count: d.y.length });
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
