// Checkpoints: one file holding a JSON header and raw tensor bytes, with a SHA-256 of the
// payload. Written atomically (temp file in the same directory, fsync, rename), so a crash or
// kill during a write leaves the previous checkpoint as it was.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const MAGIC = 'BITLEARN-CKPT-1\n';

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
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  const header = Buffer.from(JSON.stringify({ meta, tensors: entries, payloadBytes: offset, sha256: hash.digest('hex') }));
  const lead = Buffer.alloc(MAGIC.length + 4);
  lead.write(MAGIC, 0, 'latin1');
  lead.writeUInt32LE(header.length, MAGIC.length);

  mkdirSync(dirname(path) || '.', { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, lead);
    writeAll(fd, header);
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
    throw new CheckpointError(`cannot write checkpoint ${path}: ${(e as Error).message}`);
  }
  closeSync(fd);
  renameSync(tmp, path);
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

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
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
  if (buf.length < MAGIC.length + 4 || buf.toString('latin1', 0, MAGIC.length) !== MAGIC)
    throw new CheckpointError(`${path} is not a bitlearn checkpoint`);
  const headerLen = buf.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (buf.length < start + headerLen) throw new CheckpointError(`${path}: truncated checkpoint header`);
  let header: { meta: Record<string, unknown>; tensors: TensorEntry[]; payloadBytes: number; sha256: string };
  try {
    header = JSON.parse(buf.toString('utf8', start, start + headerLen));
  } catch {
    throw new CheckpointError(`${path}: corrupt checkpoint header`);
  }
  const payload = buf.subarray(start + headerLen);
  if (payload.length !== header.payloadBytes)
    throw new CheckpointError(`${path}: truncated checkpoint (${payload.length} of ${header.payloadBytes} payload bytes)`);
  if (createHash('sha256').update(payload).digest('hex') !== header.sha256)
    throw new CheckpointError(`${path}: checkpoint payload does not match its checksum`);
  const tensors = new Map<string, { dtype: string; length: number; bytes: Uint8Array }>();
  for (const e of header.tensors) {
    const size = BYTES[e.dtype];
    if (!size) throw new CheckpointError(`${path}: unknown tensor type ${e.dtype}`);
    tensors.set(e.key, { dtype: e.dtype, length: e.length, bytes: payload.subarray(e.offset, e.offset + e.length * size) });
  }
  return { meta: header.meta, tensors };
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
    throw new CheckpointError(
      `checkpoint tensor "${key}" is ${t.dtype}[${t.length}], the model needs ${target.constructor.name}[${target.length}]`,
    );
  new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(t.bytes);
}
