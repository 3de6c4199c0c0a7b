// A user's own data: `csv:PATH` (with a label column), `npy:X.npy,Y.npy` or `images:DIR`, a
// separate test source or a seeded validation split, and per-feature standardization from the
// training split. Float features are streamed from a float32 row file in a cache directory that
// lives as long as the process (or held in memory with stream: false).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../rng.js';
import { readCsv, type CsvSource } from './csv.js';
import type { Dataset, DataSplit, FeatureNormalization } from './dataset.js';
import { featureStatistics, inMemoryFeatures, readRows, streamedFeatures, type FeatureSource } from './features.js';
import { DataFileError } from './idx.js';
import { readImageFolder } from './image-folder.js';
import { readNpyPair } from './npy.js';

/** npy: y null for inputs without labels (prediction). */
export type DataSource = { kind: 'csv'; path: string } | { kind: 'npy'; x: string; y: string | null } | { kind: 'images'; dir: string };

/** The source a `--data` value names, or null for a built-in data set name (mnist, cifar10, ...). */
export function parseDataSource(text: string, option = '--data', labels: 'required' | 'optional' = 'required'): DataSource | null {
  const m = /^(csv|npy|images):(.+)$/.exec(text);
  if (!m) return null;
  if (m[1] === 'csv') return { kind: 'csv', path: m[2] };
  if (m[1] === 'images') return { kind: 'images', dir: m[2] };
  const parts = m[2].split(',');
  // inputs without labels may leave Y out (npy:X.npy)
  if (labels === 'optional' && parts.length === 1 && parts[0]) return { kind: 'npy', x: parts[0], y: null };
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new DataFileError(`${option} ${text}: npy takes two files, npy:X.npy,Y.npy`);
  return { kind: 'npy', x: parts[0], y: parts[1] };
}

export interface OwnDataOptions {
  /** csv: the label column's name. */
  label?: string;
  /** csv: the feature columns (default: every other column). */
  features?: string[];
  /** A separate test source (same syntax as the training source). */
  test?: string;
  /** Without a test source: this fraction of the examples (seeded) becomes the test split (default 0.2). */
  valSplit?: number;
  seed?: number;
  /** Float features streamed from their row file (default) or held in memory. */
  stream?: boolean;
  /** The model's input: images are resized to it (needed for images:DIR only). */
  shape?: { h: number; w: number; c: number };
  limitTrain?: number;
  limitTest?: number;
}

let cacheDir: string | null = null;
/** The process's cache directory for row files, removed when it exits. */
function cache(): string {
  if (!cacheDir) {
    const dir = mkdtempSync(join(tmpdir(), 'bitlearn-data-'));
    cacheDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return cacheDir;
}

type Loaded = { kind: 'features'; source: FeatureSource & Partial<Pick<CsvSource, 'columns'>> } | { kind: 'images'; data: Dataset & { classNames: string[] } };

async function load(src: DataSource, opts: OwnDataOptions, like?: Loaded): Promise<Loaded> {
  if (src.kind === 'images') {
    const classNames = like?.kind === 'images' ? like.data.classNames : undefined;
    if (!opts.shape) throw new DataFileError(`images:${src.dir}: the model's input shape is needed to resize the images`);
    return { kind: 'images', data: await readImageFolder(src.dir, { shape: opts.shape, classNames }) };
  }
  if (src.kind === 'npy') return { kind: 'features', source: readNpyPair(src.x, src.y, cache()) };
  if (!opts.label) throw new DataFileError(`csv:${src.path}: name the label column with --label COLUMN`);
  const trained = like?.kind === 'features' && like.source.columns ? { classNames: like.source.classNames!, columns: like.source.columns } : undefined;
  return { kind: 'features', source: await readCsv(src.path, { label: opts.label, features: opts.features, cacheDir: cache(), like: trained }) };
}

const countOf = (l: Loaded) => (l.kind === 'images' ? l.data.count : l.source.labels.length);
const labelsOf = (l: Loaded) => (l.kind === 'images' ? l.data.labels : l.source.labels);

/** Rows [0, n) split (seeded) into training and validation rows, each in file order. */
function split(n: number, fraction: number, seed: number): { train: Int32Array; test: Int32Array } {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  new Rng(seed ^ 0x5a1d).shuffle(order);
  const v = Math.round(fraction * n);
  if (v < 1 || v >= n)
    throw new DataFileError(`--val-split ${fraction}: ${n} examples leave ${v} for validation and ${n - v} for training; both need at least one`);
  return { train: order.slice(v).sort(), test: order.slice(0, v).sort() };
}

const limited = (rows: Int32Array, n?: number) => (n !== undefined && n < rows.length ? rows.subarray(0, n) : rows);

export async function loadOwnData(train: DataSource, opts: OwnDataOptions): Promise<DataSplit> {
  const fraction = opts.valSplit ?? 0.2;
  if (opts.test && opts.valSplit !== undefined) throw new DataFileError('--val-split splits the training source when there is no --test; give one of them');
  if (!(fraction > 0 && fraction < 1)) throw new DataFileError(`--val-split ${fraction}: a fraction between 0 and 1`);
  const a = await load(train, opts);
  let b: Loaded | null = null;
  if (opts.test) {
    const testSource = parseDataSource(opts.test, '--test');
    if (!testSource) throw new DataFileError(`--test ${opts.test}: csv:PATH, npy:X.npy,Y.npy or images:DIR`);
    if (testSource.kind === 'images' ? a.kind !== 'images' : a.kind !== 'features')
      throw new DataFileError(`--test ${opts.test}: the training source holds ${a.kind}`);
    b = await load(testSource, opts, a);
    if (a.kind === 'features' && b.kind === 'features' && a.source.features !== b.source.features)
      throw new DataFileError(`--test ${opts.test}: ${b.source.features} features per example, the training source has ${a.source.features}`);
    const classes = a.kind === 'images' ? a.data.classes : a.source.classes;
    const bad = labelsOf(b).findIndex((l) => l >= classes);
    if (bad >= 0)
      throw new DataFileError(`--test ${opts.test}: example ${bad}: label ${labelsOf(b)[bad]} is outside the training classes (0 to ${classes - 1})`);
  }
  const rows = b ? { train: Int32Array.from({ length: countOf(a) }, (_, i) => i), test: null } : split(countOf(a), fraction, opts.seed ?? 1);
  const trainRows = limited(rows.train, opts.limitTrain);
  const testLabel = b ? String(opts.test) : `${nameOf(a)} (validation ${Math.round(fraction * 100)}%)`;
  if (a.kind === 'images') {
    const testData = b?.kind === 'images' ? b.data : a.data;
    const testRows = limited(rows.test ?? Int32Array.from({ length: testData.count }, (_, i) => i), opts.limitTest);
    return { train: imageRows(a.data, trainRows, a.data.name), test: imageRows(testData, testRows, testLabel) };
  }
  const norm = featureStatistics(a.source.features, readRows(a.source, trainRows));
  const make = opts.stream === false ? inMemoryFeatures : streamedFeatures;
  const testSource = b?.kind === 'features' ? b.source : a.source;
  const testRows = limited(rows.test ?? Int32Array.from({ length: testSource.labels.length }, (_, i) => i), opts.limitTest);
  return { train: make(a.source, norm, trainRows, a.source.name), test: make({ ...testSource, classes: a.source.classes }, norm, testRows, testLabel) };
}

const nameOf = (l: Loaded) => (l.kind === 'images' ? l.data.name : l.source.name);

/** Rows of an in-memory image data set (a copy). */
function imageRows(d: Dataset & { classNames: string[] }, rows: Int32Array, name: string): Dataset {
  const f = d.features;
  const images = new Uint8Array(rows.length * f);
  for (let i = 0; i < rows.length; i++) images.set(d.images.subarray(rows[i] * f, (rows[i] + 1) * f), i * f);
  return { ...d, name, count: rows.length, images, labels: Uint8Array.from(rows, (r) => d.labels[r]) };
}

export interface InputOptions {
  /** csv: a label column to leave out (it is not read as a feature). */
  label?: string;
  /** csv: the feature columns (default: every column but the label). */
  features?: string[];
  /** The model's input (images are resized to it). */
  shape: { h: number; w: number; c: number };
  /** The training data's standardization, applied to float features. */
  normalization?: FeatureNormalization;
}

/**
 * New inputs for a trained model (prediction): `csv:FILE` (labels optional), `npy:X.npy` (or
 * `npy:X.npy,Y.npy`), `images:DIR` (a folder of images, or class folders): in memory, standardized
 * with the training statistics; `names` identifies each example (its image file, or its row).
 */
export async function loadInputs(text: string, opts: InputOptions): Promise<{ data: Dataset; names: string[] }> {
  const src = parseDataSource(text, '--input', 'optional');
  if (!src) throw new DataFileError(`--input ${text}: csv:FILE, npy:X.npy or images:DIR`);
  if (src.kind === 'images') {
    const data = await readImageFolder(src.dir, { shape: opts.shape, unlabeled: true });
    return { data, names: data.files };
  }
  const source =
    src.kind === 'csv'
      ? await readCsv(src.path, { label: opts.label ?? null, features: opts.features, cacheDir: cache() })
      : readNpyPair(src.x, src.y, cache());
  const data = standardizedFor(source, `--input ${text}`, opts.normalization);
  return { data, names: Array.from({ length: data.count }, (_, i) => String(i)) };
}

/** A feature source in memory (rows: all, or these), standardized as the model's training data was (unchanged where it has no statistics). */
function standardizedFor(source: FeatureSource, where: string, normalization?: FeatureNormalization, rows?: Int32Array): Dataset {
  const norm = normalization ?? { mean: new Float32Array(source.features), std: new Float32Array(source.features).fill(1) };
  if (norm.mean.length !== source.features) throw new DataFileError(`${where}: ${source.features} features per example, the model takes ${norm.mean.length}`);
  return inMemoryFeatures(source, norm, rows);
}

/**
 * A labelled source for checking a trained model (`export --verify`): every example of `csv:FILE`
 * (--label required), `npy:X.npy,Y.npy` or `images:DIR` (class folders), prepared as the model's
 * training data was: float features standardized with its statistics, labels coded with its class
 * names (a name the model does not know is an error naming the file and line), images resized to
 * its input. `limit`: the first n examples.
 */
export async function loadLabeledInputs(text: string, opts: InputOptions & { classNames?: string[]; classes: number; limit?: number }): Promise<Dataset> {
  const src = parseDataSource(text, '--data');
  if (!src) throw new DataFileError(`--data ${text}: csv:FILE, npy:X.npy,Y.npy or images:DIR`);
  const rows = (n: number) => Int32Array.from({ length: opts.limit !== undefined ? Math.min(n, opts.limit) : n }, (_, i) => i);
  let data: Dataset;
  if (src.kind === 'images') {
    const images = await readImageFolder(src.dir, { shape: opts.shape, classNames: opts.classNames });
    data = imageRows(images, rows(images.count), images.name);
  } else {
    if (src.kind === 'csv' && !opts.label) throw new DataFileError(`csv:${src.path}: name the label column with --label COLUMN`);
    const source =
      src.kind === 'csv'
        ? await readCsv(src.path, {
            label: opts.label!,
            features: opts.features,
            cacheDir: cache(),
            ...(opts.classNames ? { like: { classNames: opts.classNames } } : {}),
          })
        : readNpyPair(src.x, src.y, cache());
    data = standardizedFor(source, `--data ${text}`, opts.normalization, rows(source.labels.length));
  }
  const bad = data.labels.findIndex((l) => l >= opts.classes);
  if (bad >= 0) throw new DataFileError(`--data ${text}: example ${bad}: label ${data.labels[bad]} is outside the model's classes (0 to ${opts.classes - 1})`);
  return data;
}
