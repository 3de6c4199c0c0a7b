// A labelled image data set: uint8 pixels (one row per example) and uint8 labels, either all in
// memory or streamed from their file a batch at a time.
export interface Dataset {
  readonly name: string;
  readonly count: number;
  /** Values per example (e.g. 784 for MNIST). */
  readonly features: number;
  readonly classes: number;
  /** Image height x width x channels, where the source says (features = h * w * c). */
  readonly shape?: { h: number; w: number; c: number };
  /** Every example, one row each; empty for a streamed data set (use stageRows / stage). */
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  /** Examples stay in their file; `stage` reads a batch of them. */
  readonly streamed?: boolean;
  /** Streamed data sets: examples order[offset .. offset+rows) as an in-memory batch. */
  stage?(order: Int32Array, offset: number, rows: number): StagedBatch;
  /** Bytes this data set holds in memory (default: images + labels). */
  residentBytes?(): number;
  close?(): void;
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
  return d.residentBytes ? d.residentBytes() : d.images.byteLength + d.labels.byteLength;
}

/** The first `n` examples of a data set (views, no copy). */
export function limitDataset(d: Dataset, n: number | undefined): Dataset {
  if (n === undefined || n >= d.count) return d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`cannot limit ${d.name} to ${n} examples`);
  return {
    ...d,
    count: n,
    images: d.streamed ? d.images : d.images.subarray(0, n * d.features),
    labels: d.labels.subarray(0, n),
  };
}
