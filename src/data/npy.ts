// NumPy .npy pairs: X (examples × features..., float32/float64/integers) and Y (integer labels).
// The format is a magic string, a Python-literal header (dtype, order, shape) and the raw array
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html). A little-endian
// float32 X in C order is streamed from its own file; any other X is converted once, in chunks,
// to a float32 row file in the run's cache directory.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { FeatureSource } from './features.js';
import { DataFileError } from './idx.js';
import { MAX_CLASSES } from './labels.js';

interface NpyHeader {
  kind: 'f' | 'i' | 'u' | 'b';
  bytes: number;
  littleEndian: boolean;
  shape: number[];
  dataOffset: number;
}

const MAGIC = '\x93NUMPY';
const KINDS: Record<string, number[]> = { f: [4, 8], i: [1, 2, 4, 8], u: [1, 2, 4, 8], b: [1] };

function readHeader(path: string, fd: number): NpyHeader {
  const head = Buffer.alloc(12);
  const got = readSync(fd, head, 0, 12, 0);
  if (got < 10 || head.toString('latin1', 0, 6) !== MAGIC) throw new DataFileError(`${path}: not a NumPy .npy file (no \\x93NUMPY magic)`);
  const major = head[6];
  const lenBytes = major === 1 ? 2 : 4;
  if (major < 1 || major > 3) throw new DataFileError(`${path}: .npy format version ${major} is not supported (1 to 3)`);
  const headerLen = lenBytes === 2 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  if (headerLen > 1 << 20) throw new DataFileError(`${path}: a ${headerLen}-byte header is not plausible`);
  const text = Buffer.alloc(headerLen);
  readSync(fd, text, 0, headerLen, 8 + lenBytes);
  const dict = text.toString('latin1');
  const descr = /'descr'\s*:\s*'([<>|=])([fiub])(\d+)'/.exec(dict);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(dict);
  const shape = /'shape'\s*:\s*\(([\d\s,]*)\)/.exec(dict);
  if (!descr || !fortran || !shape) throw new DataFileError(`${path}: unreadable header ${JSON.stringify(dict.trim().slice(0, 120))}`);
  const kind = descr[2] as NpyHeader['kind'];
  const bytes = Number(descr[3]);
  if (!KINDS[kind].includes(bytes)) throw new DataFileError(`${path}: dtype ${descr[0].slice(10)} is not supported (float32/64, integers, bool)`);
  if (fortran[1] === 'True') throw new DataFileError(`${path}: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)`);
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  return { kind, bytes, littleEndian: descr[1] !== '>', shape: dims, dataOffset: 8 + lenBytes + headerLen };
}

function valueAt(buf: Buffer, off: number, h: NpyHeader): number {
  const le = h.littleEndian;
  if (h.kind === 'f') return h.bytes === 4 ? (le ? buf.readFloatLE(off) : buf.readFloatBE(off)) : le ? buf.readDoubleLE(off) : buf.readDoubleBE(off);
  if (h.kind === 'b' || h.bytes === 1) return h.kind === 'i' ? buf.readInt8(off) : buf.readUInt8(off);
  if (h.bytes === 2) return h.kind === 'i' ? (le ? buf.readInt16LE(off) : buf.readInt16BE(off)) : le ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
  if (h.bytes === 4) return h.kind === 'i' ? (le ? buf.readInt32LE(off) : buf.readInt32BE(off)) : le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
  const big = h.kind === 'i' ? (le ? buf.readBigInt64LE(off) : buf.readBigInt64BE(off)) : le ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off);
  return Number(big);
}

function open(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    throw new DataFileError(`${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Check that the file holds the whole array its header declares. */
function checkSize(path: string, fd: number, h: NpyHeader): number {
  const elements = h.shape.reduce((a, b) => a * b, 1);
  const need = h.dataOffset + elements * h.bytes;
  const size = fstatSync(fd).size;
  if (size < need) throw new DataFileError(`${path}: ${size} bytes, the header declares ${need} (shape (${h.shape.join(', ')})): truncated`);
  return elements;
}

/** X and Y; with yPath null (prediction inputs), X alone and every label 0. */
export function readNpyPair(xPath: string, yPath: string | null, cacheDir: string): FeatureSource {
  const xfd = open(xPath);
  try {
    const hx = readHeader(xPath, xfd);
    if (hx.shape.length < 2) throw new DataFileError(`${xPath}: shape (${hx.shape.join(', ')}): X needs one row per example (2 or more dimensions)`);
    const count = hx.shape[0];
    const features = hx.shape.slice(1).reduce((a, b) => a * b, 1);
    if (count < 1 || features < 1) throw new DataFileError(`${xPath}: shape (${hx.shape.join(', ')}) holds no examples`);
    const { labels, classes } = yPath === null ? { labels: new Uint8Array(count), classes: 0 } : readLabels(yPath, count, basename(xPath));
    checkSize(xPath, xfd, hx);
    const name = basename(xPath);
    // little-endian float32 rows are streamed from X itself (checked once); anything else is converted
    const direct = hx.kind === 'f' && hx.bytes === 4 && hx.littleEndian;
    if (direct) eachChunk(xPath, xfd, hx, count, features, () => {});
    const rows = direct ? { file: xPath, headerBytes: hx.dataOffset } : convertRows(xPath, xfd, hx, count, features, cacheDir);
    return { name, features, classes, labels, ...rows };
  } finally {
    closeSync(xfd);
  }
}

/** Y: one integer class (0 .. 255) per example of X. */
function readLabels(yPath: string, count: number, xName: string): { labels: Uint8Array; classes: number } {
  const yfd = open(yPath);
  try {
    const hy = readHeader(yPath, yfd);
    if (!(hy.shape.length === 1 || (hy.shape.length === 2 && hy.shape[1] === 1)))
      throw new DataFileError(`${yPath}: shape (${hy.shape.join(', ')}): Y is one label per example`);
    if (hy.shape[0] !== count) throw new DataFileError(`${yPath}: ${hy.shape[0]} labels for ${count} examples in ${xName}`);
    if (hy.kind === 'f') throw new DataFileError(`${yPath}: labels are ${hy.bytes * 8}-bit floats; save them as integers (class indices)`);
    checkSize(yPath, yfd, hy);
    const raw = Buffer.alloc(count * hy.bytes);
    readSync(yfd, raw, 0, raw.length, hy.dataOffset);
    const labels = new Uint8Array(count);
    let classes = 0;
    for (let i = 0; i < count; i++) {
      const v = valueAt(raw, i * hy.bytes, hy);
      if (!(v >= 0 && v < MAX_CLASSES)) throw new DataFileError(`${yPath}: index ${i}: label ${v} is not a class index (0 to ${MAX_CLASSES - 1})`);
      labels[i] = v;
      classes = Math.max(classes, v + 1);
    }
    return { labels, classes };
  } finally {
    closeSync(yfd);
  }
}

/** Every value of X as float32 bytes, a chunk of rows at a time (NaN and infinities refused): sink(bytes). */
function eachChunk(path: string, fd: number, h: NpyHeader, count: number, features: number, sink: (bytes: Buffer) => void): void {
  const rows = Math.max(1, Math.floor((1 << 20) / (features * h.bytes)));
  const src = Buffer.alloc(rows * features * h.bytes);
  const dst = Buffer.alloc(rows * features * 4);
  for (let r = 0; r < count; r += rows) {
    const n = Math.min(rows, count - r);
    readSync(fd, src, 0, n * features * h.bytes, h.dataOffset + r * features * h.bytes);
    for (let k = 0; k < n * features; k++) {
      const v = valueAt(src, k * h.bytes, h);
      if (!Number.isFinite(v))
        throw new DataFileError(`${path}: example ${r + Math.floor(k / features)}, feature ${k % features}: ${v} is not a finite number`);
      dst.writeFloatLE(v, 4 * k);
    }
    sink(dst.subarray(0, n * features * 4));
  }
}

/** X converted to a float32 row file in the cache directory. */
function convertRows(path: string, fd: number, h: NpyHeader, count: number, features: number, cacheDir: string): { file: string; headerBytes: number } {
  const file = join(cacheDir, `${basename(path).replace(/[^\w.-]/g, '_')}-${process.hrtime.bigint()}.f32`);
  const out = openSync(file, 'w');
  try {
    eachChunk(path, fd, h, count, features, (bytes) => writeSync(out, bytes));
  } finally {
    closeSync(out);
  }
  return { file, headerBytes: 0 };
}
