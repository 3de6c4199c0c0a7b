// A labelled data set: uint8 pixels or float features (one row per example) and uint8 labels,
// either all in memory or streamed from their file a batch at a time.
export interface Dataset {
  readonly name: string;
  readonly count: number;
  /** Values per example (e.g. 784 for MNIST). */
  readonly features: number;
  readonly classes: number;
  /** Image height x width x channels, where the source says (features = h * w * c). */
  readonly shape?: { h: number; w: number; c: number };
  /** Every example, one row each; empty for a streamed data set (use stageRows / stage) and for float features. */
  readonly images: Uint8Array;
  /**
   * Float features instead of pixels (CSV, NumPy): every example's values, already standardized
   * with `normalization`; empty for a streamed data set.
   */
  readonly values?: Float32Array;
  /** Per-feature standardization applied to `values`: x' = (x − mean) / std, from the training split. */
  readonly normalization?: FeatureNormalization;
  /** Class names by label (sources whose labels are names or folders). */
  readonly classNames?: string[];
  readonly labels: Uint8Array;
  /** Examples stay in their file; `stage` reads a batch of them. */
  readonly streamed?: boolean;
  /** Streamed data sets: examples order[offset .. offset+rows) as an in-memory batch. */
  stage?(order: Int32Array, offset: number, rows: number): StagedBatch;
  /** Bytes this data set holds in memory (default: images + labels). */
  residentBytes?(): number;
  close?(): void;
}

export interface FeatureNormalization {
  mean: Float32Array;
  std: Float32Array;
}

/** How a model's inputs were prepared in training (stored in checkpoints): pixels, or float features standardized per feature, and the class names. */
export interface InputMeta {
  kind: 'pixels' | 'features';
  normalization?: { mean: number[]; std: number[] };
  classNames?: string[];
}

/** A batch read from a streamed data set: its examples are data's 0 .. rows-1, in `order`. */
export interface StagedBatch {
  data: Dataset;
  order: Int32Array;
  offset: number;
}

export interface DataSplit {
  train: Dataset;
  test: Dataset;
}

/** Examples order[offset .. offset+rows) of `d`, in memory (the data set itself when it is). */
export function stageRows(d: Dataset, order: Int32Array, offset: number, rows: number): StagedBatch {
  return d.stage ? d.stage(order, offset, rows) : { data: d, order, offset };
}

export function residentBytes(d: Dataset): number {
  return d.residentBytes ? d.residentBytes() : d.images.byteLength + (d.values?.byteLength ?? 0) + d.labels.byteLength;
}

/** The bytes of examples [first, first + n) of an in-memory (or staged) data set: pixels, or float features. */
export function exampleBytes(d: Dataset, first: number, n: number): Uint8Array {
  const f = d.features;
  if (d.values) return new Uint8Array(d.values.buffer, d.values.byteOffset + first * f * 4, n * f * 4);
  return d.images.subarray(first * f, (first + n) * f);
}

/** A copy of an in-memory (or staged) data set's examples and labels, detached from any window. */
export function ownedCopy(d: Dataset): Dataset {
  return { ...d, images: d.images.slice(), ...(d.values ? { values: d.values.slice() } : {}), labels: d.labels.slice() };
}

/** The first `n` examples of a data set (views, no copy). */
export function limitDataset(d: Dataset, n: number | undefined): Dataset {
  if (n === undefined || n >= d.count) return d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`cannot limit ${d.name} to ${n} examples`);
  return {
    ...d,
    count: n,
    images: d.streamed ? d.images : d.images.subarray(0, n * d.features),
    ...(d.values && !d.streamed ? { values: d.values.subarray(0, n * d.features) } : {}),
    labels: d.labels.subarray(0, n),
  };
}
