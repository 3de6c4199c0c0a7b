// CSV data: a header row, one label column chosen by name, every other column (or the ones chosen)
// a numeric feature.
// Parsed as a stream (csv-parse), so the text is never held whole; the values go to a float32 row
// file in the run's cache directory, from which training streams them.
import { createReadStream, closeSync, openSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { FeatureSource } from './features.js';
import { DataFileError } from './idx.js';
import { LabelCoder } from './labels.js';

/** A row buffer flushed to the row file when full. */
const FLUSH_BYTES = 1 << 20;

export interface CsvOptions {
  /** The label column's name; null for inputs without labels (prediction). */
  label: string | null;
  /** The feature columns' names (default: every column but the label). */
  features?: string[];
  /** Where the float32 row file goes. */
  cacheDir: string;
  /** The training source's class names and feature columns (for a test file; columns checked where given). */
  like?: { classNames: string[]; columns?: string[] };
}

export interface CsvSource extends FeatureSource {
  columns: string[];
}

export async function readCsv(path: string, opts: CsvOptions): Promise<CsvSource> {
  const rowFile = join(opts.cacheDir, `${basename(path).replace(/[^\w.-]/g, '_')}-${process.hrtime.bigint()}.f32`);
  const fd = openSync(rowFile, 'w');
  let buffer = Buffer.alloc(FLUSH_BYTES);
  let used = 0;
  const flush = () => {
    if (used) writeSync(fd, buffer, 0, used);
    used = 0;
  };
  const coder = new LabelCoder(opts.like?.classNames);
  let headerSeen = false;
  let labelColumn = -1;
  let unlabeled = 0;
  let columns: string[] = [];
  /** Cell index of each feature, in feature order. */
  let cells: number[] = [];
  let features = 0;
  let header = 0;
  let input: number;
  try {
    input = openSync(path, 'r');
  } catch (e) {
    closeSync(fd);
    throw new DataFileError(`${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const { parse } = await import('csv-parse'); // loaded when a CSV is read (~4 MiB)
  const parser = createReadStream('', { fd: input }).pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: true, trim: true, info: true }));
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const where = `${path} line ${info.lines}`;
      if (!headerSeen) {
        headerSeen = true;
        if (opts.label !== null) {
          labelColumn = record.indexOf(opts.label);
          if (labelColumn < 0) throw new DataFileError(`${path}: no column "${opts.label}" for the label (columns: ${shortList(record)})`);
        }
        if (opts.features) {
          const missing = opts.features.filter((name) => !record.includes(name));
          if (missing.length) throw new DataFileError(`${path}: no column ${shortList(missing)} (columns: ${shortList(record)})`);
          if (opts.label !== null && opts.features.includes(opts.label)) throw new DataFileError(`${path}: "${opts.label}" is the label, not a feature`);
          cells = opts.features.map((name) => record.indexOf(name));
        } else cells = record.map((_, i) => i).filter((i) => i !== labelColumn);
        columns = cells.map((i) => record[i]);
        if (!columns.length) throw new DataFileError(`${path}: no feature columns${opts.label !== null ? ` besides the label "${opts.label}"` : ''}`);
        if (opts.like?.columns && columns.join('\u0000') !== opts.like.columns.join('\u0000'))
          throw new DataFileError(`${path}: feature columns ${shortList(columns)} differ from the training file's ${shortList(opts.like.columns)}`);
        features = columns.length;
        header = record.length;
        if (features * 4 > buffer.length) buffer = Buffer.alloc(features * 4);
        continue;
      }
      if (record.length !== header) throw new DataFileError(`${where}: ${record.length} cells, the header has ${header}`);
      if (used + features * 4 > buffer.length) flush();
      for (let c = 0; c < features; c++) {
        const cell = record[cells[c]];
        const v = cell === '' ? Number.NaN : Number(cell);
        if (!Number.isFinite(v)) throw new DataFileError(`${where}, column "${columns[c]}": ${JSON.stringify(cell.slice(0, 40))} is not a number`);
        buffer.writeFloatLE(v, used);
        used += 4;
      }
      if (labelColumn >= 0) coder.add(record[labelColumn], where);
      else unlabeled++;
    }
    flush();
  } catch (e) {
    if (e instanceof DataFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new DataFileError(`${path}: cannot read it (${code})`);
    throw new DataFileError(`${path}: not a readable CSV file (${(e as Error).message.split('\n')[0]})`);
  } finally {
    closeSync(fd);
  }
  if (!headerSeen) throw new DataFileError(`${path}: empty (no header row)`);
  if (coder.count + unlabeled === 0) throw new DataFileError(`${path}: a header and no examples`);
  if (labelColumn < 0) return { name: basename(path), features, classes: 0, labels: new Uint8Array(unlabeled), columns, file: rowFile, headerBytes: 0 };
  const { labels, classes, classNames } = coder.finish();
  return { name: basename(path), features, classes, labels, classNames, columns, file: rowFile, headerBytes: 0 };
}

function shortList(names: string[]): string {
  const quoted = names.map((n) => `"${n}"`);
  return quoted.length > 10 ? `${quoted.slice(0, 10).join(', ')}, ... (${quoted.length} in all)` : quoted.join(', ');
}
