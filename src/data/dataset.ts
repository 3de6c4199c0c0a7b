// An in-memory labelled image data set: uint8 pixels (one row per example) and uint8 labels.
export interface Dataset {
  readonly name: string;
  readonly count: number;
  /** Values per example (e.g. 784 for MNIST). */
  readonly features: number;
  readonly classes: number;
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
}

export interface DataSplit {
  train: Dataset;
  test: Dataset;
}

/** The first `n` examples of a data set (views, no copy). */
export function limitDataset(d: Dataset, n: number | undefined): Dataset {
  if (n === undefined || n >= d.count) return d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`cannot limit ${d.name} to ${n} examples`);
  return {
    ...d,
    count: n,
    images: d.images.subarray(0, n * d.features),
    labels: d.labels.subarray(0, n),
  };
}
