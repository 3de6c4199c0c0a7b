// The packed model file's container: magic, version, a JSON header that describes the ops and
// where each of their arrays lies in the data section, the data section (4-byte aligned arrays),
// and a SHA-256 of everything before it. Reading checks every one of these before anything is
// decoded, so a truncated or altered file is refused with one line saying which.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

export const PACKED_MAGIC = 'BLPK';
export const PACKED_VERSION = 1;
const PREFIX = 12; // magic, version, header length
const DIGEST = 32;

export class PackedFileError extends Error {}

/** An array in the data section. */
export interface Section {
  type: 'u32' | 'i16' | 'i32' | 'f32';
  offset: number;
  length: number;
}

const BYTES: Record<Section['type'], number> = { u32: 4, i16: 2, i32: 4, f32: 4 };

export type SectionArray = Uint32Array | Int16Array | Int32Array | Float32Array;

/** Collects arrays into one data section (each at a 4-byte aligned offset). */
export class SectionWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  add(a: SectionArray): Section {
    const type: Section['type'] = a instanceof Uint32Array ? 'u32' : a instanceof Int16Array ? 'i16' : a instanceof Int32Array ? 'i32' : 'f32';
    const offset = this.size;
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
    this.parts.push(bytes);
    this.size += bytes.length;
    const pad = (4 - (this.size % 4)) % 4;
    if (pad) {
      this.parts.push(new Uint8Array(pad));
      this.size += pad;
    }
    return { type, offset, length: a.length };
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** The file's bytes: prefix, header (padded to 4 bytes with spaces), data, SHA-256. */
export function encodePacked(header: object, data: Uint8Array): Uint8Array {
  let json = JSON.stringify({ ...header, dataBytes: data.length });
  while ((PREFIX + Buffer.byteLength(json)) % 4) json += ' ';
  const h = Buffer.from(json, 'utf8');
  const body = new Uint8Array(PREFIX + h.length + data.length + DIGEST);
  body.set(Buffer.from(PACKED_MAGIC, 'ascii'), 0);
  const view = new DataView(body.buffer);
  view.setUint32(4, PACKED_VERSION, true);
  view.setUint32(8, h.length, true);
  body.set(h, PREFIX);
  body.set(data, PREFIX + h.length);
  const end = body.length - DIGEST;
  body.set(createHash('sha256').update(body.subarray(0, end)).digest(), end);
  return body;
}

/** Whether these bytes start like a packed model file (the magic). */
export function looksPacked(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && Buffer.from(bytes.subarray(0, 4)).toString('latin1') === PACKED_MAGIC;
}

/** Whether the file at `path` starts like a packed model file (false when it cannot be read: its reader says why). */
export function isPackedFile(path: string): boolean {
  try {
    const fd = openSync(path, 'r');
    try {
      const head = new Uint8Array(4);
      return readSync(fd, head, 0, 4, 0) === 4 && looksPacked(head);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** Header and data section of a packed file, after checking its structure and checksum; `name` labels errors. */
export function decodePacked(bytes: Uint8Array, name: string): { header: Record<string, unknown>; data: Uint8Array } {
  if (!looksPacked(bytes)) throw new PackedFileError(`${name}: not a bitlearn packed model (no ${PACKED_MAGIC} signature)`);
  if (bytes.length < PREFIX + DIGEST) throw new PackedFileError(`${name}: truncated (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== PACKED_VERSION)
    throw new PackedFileError(`${name}: packed format version ${version}, this bitlearn reads version ${PACKED_VERSION} (export it again)`);
  const headerBytes = view.getUint32(8, true);
  if (PREFIX + headerBytes + DIGEST > bytes.length) throw new PackedFileError(`${name}: truncated (${bytes.length} bytes, the header alone needs more)`);
  const end = bytes.length - DIGEST;
  const digest = createHash('sha256').update(bytes.subarray(0, end)).digest();
  if (!digest.equals(bytes.subarray(end))) throw new PackedFileError(`${name}: checksum mismatch: the file was altered or truncated (${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(PREFIX, PREFIX + headerBytes)).toString('utf8'));
  } catch {
    throw new PackedFileError(`${name}: the header is not valid JSON`);
  }
  const data = new Uint8Array(bytes.subarray(PREFIX + headerBytes, end));
  if (header.dataBytes !== data.length)
    throw new PackedFileError(`${name}: the header describes ${String(header.dataBytes)} data bytes, the file holds ${data.length}`);
  return { header, data };
}

/** A section's array (a copy, aligned), checked against the data section's bounds and the expected length. */
export function readSection(data: Uint8Array, s: Section, expected: number, name: string, what: string): SectionArray {
  const ok =
    s &&
    typeof s === 'object' &&
    s.type in BYTES &&
    Number.isInteger(s.offset) &&
    Number.isInteger(s.length) &&
    s.offset >= 0 &&
    s.offset % 4 === 0 &&
    s.length === expected &&
    s.offset + s.length * BYTES[s.type] <= data.length;
  if (!ok) throw new PackedFileError(`${name}: ${what}: section out of bounds or of the wrong length (expected ${expected} values)`);
  // a copy in its own buffer (a Node Buffer's slice would be a view into a shared pool)
  const b = new Uint8Array(data.subarray(s.offset, s.offset + s.length * BYTES[s.type])).buffer;
  return s.type === 'u32' ? new Uint32Array(b) : s.type === 'i16' ? new Int16Array(b) : s.type === 'i32' ? new Int32Array(b) : new Float32Array(b);
}

/** Signed integer codes of `bits` bits each (two's complement), back to back in 32-bit words, little end first. */
export function packCodes(codes: Int32Array, bits: number): Uint32Array {
  const out = new Uint32Array(Math.ceil((codes.length * bits) / 32));
  const mask = bits === 32 ? 0xffffffff : 2 ** bits - 1;
  for (let k = 0; k < codes.length; k++) {
    const v = codes[k] & mask;
    const p = k * bits;
    const word = p >>> 5;
    const shift = p & 31;
    out[word] = (out[word] | (v << shift)) >>> 0;
    if (shift + bits > 32) out[word + 1] = (out[word + 1] | (v >>> (32 - shift))) >>> 0;
  }
  return out;
}

/** The codes packCodes packed (n of them). */
export function unpackCodes(words: ArrayLike<number>, n: number, bits: number): Int32Array {
  const out = new Int32Array(n);
  const mask = 2 ** bits - 1;
  for (let k = 0; k < n; k++) {
    const p = k * bits;
    const word = p >>> 5;
    const shift = p & 31;
    let v = words[word] >>> shift;
    if (shift + bits > 32) v |= words[word + 1] << (32 - shift);
    v = (v >>> 0) & mask;
    out[k] = v >= 2 ** (bits - 1) ? v - 2 ** bits : v; // sign-extend
  }
  return out;
}
