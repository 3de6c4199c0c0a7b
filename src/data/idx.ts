// IDX file reader (the MNIST format): big-endian header, magic 0x0000 <type> <ndims>, dims, data.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

export class DataFileError extends Error {}

export interface IdxTensor {
  dims: number[];
  data: Uint8Array;
}

/** Read an unsigned-byte IDX file, checking the magic number, dimensions and exact length. */
export function readIdx(path: string, expectedDims?: number): IdxTensor {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new DataFileError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseIdx(buf, path, expectedDims);
}

/** Magic number and dimensions of an IDX file from its first bytes. */
export function parseIdxHeader(buf: Uint8Array, path: string, expectedDims?: number): { dims: number[]; headerBytes: number } {
  if (buf.length < 4) throw new DataFileError(`${path}: truncated IDX file (${buf.length} bytes, no header)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0);
  const type = (magic >>> 8) & 0xff;
  const ndims = magic & 0xff;
  if (magic >>> 16 !== 0 || type !== 0x08 || ndims < 1 || ndims > 4)
    throw new DataFileError(`${path}: wrong magic number 0x${magic.toString(16).padStart(8, '0')} (expected 0x000008NN: unsigned bytes, NN dimensions)`);
  if (expectedDims !== undefined && ndims !== expectedDims) throw new DataFileError(`${path}: has ${ndims} dimensions, expected ${expectedDims}`);
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) throw new DataFileError(`${path}: truncated IDX header (${buf.length} bytes)`);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d));
  return { dims, headerBytes };
}

/** The header of an IDX file without reading its data (for streamed data sets). */
export function readIdxHeader(path: string, expectedDims?: number): { dims: number[]; headerBytes: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new DataFileError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const buf = new Uint8Array(4 + 4 * 4);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return parseIdxHeader(buf.subarray(0, n), path, expectedDims);
  } finally {
    closeSync(fd);
  }
}

export function parseIdx(buf: Uint8Array, path: string, expectedDims?: number): IdxTensor {
  const { dims, headerBytes } = parseIdxHeader(buf, path, expectedDims);
  checkIdxDataBytes(path, dims, buf.length - headerBytes);
  return { dims, data: buf.subarray(headerBytes) };
}

/** The data after the header must be exactly what the dimensions declare. */
export function checkIdxDataBytes(path: string, dims: number[], actual: number): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (actual < expected) throw new DataFileError(`${path}: truncated IDX file: header says ${dims.join('x')} = ${expected} bytes of data, file has ${actual}`);
  if (actual > expected) throw new DataFileError(`${path}: IDX file has ${actual - expected} bytes past the ${dims.join('x')} data it declares`);
}
