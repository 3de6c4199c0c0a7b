// Checkpoints: one file holding a JSON header and raw tensor bytes, with one SHA-256 over both
// (format 2; format 1 covered only the payload, so an edited header went unnoticed). Written
// atomically (temp file in the same directory, fsync, rename), so a crash or kill during a write
// leaves the previous checkpoint as it was. Layout (format 2):
//   MAGIC | u32 LE header length | header JSON | 32-byte SHA-256(header JSON, payload) | payload
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { own } from './own.js';
import { reason } from './atomic-write.js';
import { processAlive } from './file-lock.js';

const MAGIC = 'BITLEARN-CKPT-2\n';
/** Format 1: the payload's SHA-256 in the header, the header itself unchecked (still read, strictly bounds-checked). */
const MAGIC_V1 = 'BITLEARN-CKPT-1\n';
const SHA_BYTES = 32;

export type TensorData = Float32Array | Float64Array | Uint16Array | Uint32Array | Uint8Array;

interface TensorEntry {
  key: string;
  dtype: string;
  length: number;
  offset: number;
}

export class CheckpointError extends Error {}

export function writeCheckpoint(path: string, meta: object, tensors: Record<string, TensorData>): void {
  const entries: TensorEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    entries.push({ key, dtype: t.constructor.name, length: t.length, offset });
    parts.push(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
    offset += t.byteLength;
  }
  const header = Buffer.from(JSON.stringify({ meta, tensors: entries, payloadBytes: offset }));
  const hash = createHash('sha256').update(header);
  for (const p of parts) hash.update(p);
  const digest = hash.digest();
  const lead = Buffer.alloc(MAGIC.length + 4);
  lead.write(MAGIC, 0, 'latin1');
  lead.writeUInt32LE(header.length, MAGIC.length);

  mkdirSync(dirname(path) || '.', { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, lead);
    writeAll(fd, header);
    writeAll(fd, digest);
    const stallMs = Number(process.env.BITLEARN_TEST_CHECKPOINT_STALL_MS ?? 0);
    parts.forEach((p, i) => {
      writeAll(fd, p);
      // Test hook: pause half-way so a test can kill the process in the middle of a write.
      if (stallMs > 0 && i === Math.floor(parts.length / 2)) {
        process.stderr.write(`checkpoint: stalling ${stallMs} ms mid-write (test hook)\n`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, stallMs);
      }
    });
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw new CheckpointError(`cannot write checkpoint ${path}: ${reason(e)}`);
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new CheckpointError(`cannot write checkpoint ${path}: ${reason(e)}`);
  }
  removeStaleTemps(path);
  try {
    const dfd = openSync(dirname(path) || '.', 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    // directory fsync is not supported everywhere; the rename itself is atomic
  }
}

/** Temp files left by writers that were killed mid-write (their process is gone). */
function removeStaleTemps(path: string): void {
  const prefix = `.${basename(path)}.tmp-`;
  for (const f of readdirSync(dirname(path) || '.')) {
    if (!f.startsWith(prefix)) continue;
    const pid = Number(f.slice(prefix.length));
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) rmSync(join(dirname(path), f), { force: true });
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
}

export interface LoadedCheckpoint {
  meta: Record<string, unknown>;
  tensors: Map<string, { dtype: string; length: number; bytes: Uint8Array }>;
}

export function readCheckpoint(path: string): LoadedCheckpoint {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`cannot read checkpoint ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const magic = buf.length >= MAGIC.length + 4 ? buf.toString('latin1', 0, MAGIC.length) : '';
  if (magic !== MAGIC && magic !== MAGIC_V1) throw new CheckpointError(`${path} is not a bitlearn checkpoint`);
  const v1 = magic === MAGIC_V1;
  const headerLen = buf.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4;
  const payloadStart = start + headerLen + (v1 ? 0 : SHA_BYTES);
  if (buf.length < payloadStart) throw new CheckpointError(`${path}: truncated checkpoint header`);
  const headerBytes = buf.subarray(start, start + headerLen);
  const payload = buf.subarray(payloadStart);
  if (!v1) {
    const stored = buf.subarray(start + headerLen, payloadStart);
    const actual = createHash('sha256').update(headerBytes).update(payload).digest();
    if (!actual.equals(stored)) throw new CheckpointError(`${path}: checkpoint does not match its checksum (changed or truncated)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch {
    throw new CheckpointError(`${path}: corrupt checkpoint header`);
  }
  const h = checkHeader(header, path, v1);
  if (payload.length !== h.payloadBytes) throw new CheckpointError(`${path}: truncated checkpoint (${payload.length} of ${h.payloadBytes} payload bytes)`);
  if (v1 && createHash('sha256').update(payload).digest('hex') !== h.sha256)
    throw new CheckpointError(`${path}: checkpoint payload does not match its checksum`);
  const tensors = new Map<string, { dtype: string; length: number; bytes: Uint8Array }>();
  for (const e of h.tensors) tensors.set(e.key, { dtype: e.dtype, length: e.length, bytes: payload.subarray(e.offset, e.offset + e.length * BYTES[e.dtype]) });
  return { meta: h.meta, tensors };
}

interface Header {
  meta: Record<string, unknown>;
  tensors: TensorEntry[];
  payloadBytes: number;
  sha256?: string;
}

/**
 * Every field of the header checked before anything is read through it: tensors lie back to back
 * in the payload, in order, each inside it, each key once (the writer never writes otherwise).
 */
function checkHeader(header: unknown, path: string, v1: boolean): Header {
  const bad = (why: string) => new CheckpointError(`${path}: invalid checkpoint header: ${why}`);
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!isObject(header)) throw bad('not an object');
  if (!isObject(header.meta)) throw bad('"meta" is not an object');
  if (!Array.isArray(header.tensors)) throw bad('"tensors" is not a list');
  if (!count(header.payloadBytes)) throw bad('"payloadBytes" is not a byte count');
  if (v1 && typeof header.sha256 !== 'string') throw bad('"sha256" is missing');
  let offset = 0;
  const keys = new Set<string>();
  header.tensors.forEach((e: unknown, i: number) => {
    if (!isObject(e) || typeof e.key !== 'string') throw bad(`tensor ${i} has no key`);
    const what = `tensor "${e.key}"`;
    if (keys.has(e.key)) throw bad(`${what} appears twice`);
    keys.add(e.key);
    if (typeof e.dtype !== 'string' || !own(BYTES, e.dtype)) throw bad(`${what} has unknown type ${JSON.stringify(e.dtype)}`);
    if (!count(e.length)) throw bad(`${what} has length ${JSON.stringify(e.length)}`);
    if (e.offset !== offset) throw bad(`${what} starts at byte ${JSON.stringify(e.offset)}, expected ${offset}`);
    offset += (e.length as number) * BYTES[e.dtype];
    if (offset > (header.payloadBytes as number)) throw bad(`${what} ends past the payload (${header.payloadBytes} bytes)`);
  });
  if (offset !== header.payloadBytes) throw bad(`the tensors cover ${offset} of ${header.payloadBytes} payload bytes`);
  return header as unknown as Header;
}

const BYTES: Record<string, number> = {
  Float32Array: 4,
  Float64Array: 8,
  Uint16Array: 2,
  Uint32Array: 4,
  Uint8Array: 1,
};

/** Copy a stored tensor into `target`, which must have the same type and length. */
export function restoreTensor(ck: LoadedCheckpoint, key: string, target: TensorData): void {
  const t = ck.tensors.get(key);
  if (!t) throw new CheckpointError(`checkpoint has no tensor "${key}"`);
  if (t.dtype !== target.constructor.name || t.length !== target.length)
    throw new CheckpointError(`checkpoint tensor "${key}" is ${t.dtype}[${t.length}], the model needs ${target.constructor.name}[${target.length}]`);
  new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(t.bytes);
}
