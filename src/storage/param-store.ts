// Parameter-sized storage: latent weights (float32, float16, or `bit`: the packed signs are the
// weights, for Bop) and optimizer state (float32, float16, or int8: 8-bit block-quantized).
import type { Category, Floats, MemoryLedger } from '../ledger.js';
import { fromHalf, toHalf } from './fp16.js';
import { BLOCK8, block8Count, decodeBlock8, encodeBlock8, type Block8Code } from './block8.js';

export const WEIGHT_FORMATS = ['float32', 'float16', 'bit'] as const;
export const MOMENT_FORMATS = ['float32', 'float16', 'int8'] as const;
export type WeightFormat = (typeof WEIGHT_FORMATS)[number];
export type MomentFormat = (typeof MOMENT_FORMATS)[number];
export type ParamFormat = WeightFormat | MomentFormat;
export type StateTensor = Float32Array | Float64Array | Uint16Array | Uint32Array | Uint8Array;

export interface ParamStore {
  readonly format: ParamFormat;
  readonly length: number;
  get(i: number): number;
  set(i: number, v: number): void;
  /** Raw storage, for checkpoints. */
  readonly raw: StateTensor;
  /** More state for checkpoints (int8: the block scales). */
  readonly aux?: Floats;
  /** `bit`: values per packed row. */
  readonly cols?: number;
  /** int8: how the bytes code the values. */
  readonly code?: Block8Code;
  /** Decode elements [i0, i1) into out[0 ..]. */
  readBlock(i0: number, i1: number, out: Floats): void;
  /** Encode src[0 ..] into elements [i0, i1). */
  writeBlock(i0: number, i1: number, src: Floats): void;
}

/** Bytes of n values (not for `bit`, which is stored as packed rows by its owner). */
export function paramBytes(format: MomentFormat | 'float32' | 'float16', n: number): number {
  if (format === 'int8') return n + 4 * block8Count(n);
  return n * (format === 'float32' ? 4 : 2);
}

export function createParamStore(
  format: MomentFormat,
  n: number,
  ledger: MemoryLedger,
  category: Category,
  owner: string,
  what: string,
  /** int8: slog for signed values, log for non-negative ones (Adam v). */
  code: Block8Code = 'slog',
): ParamStore {
  if (format === 'int8') return int8Store(n, ledger, category, owner, what, code);
  if (format === 'float32') {
    const raw = ledger.floats(n, category, owner, what);
    return {
      format,
      length: n,
      raw,
      get: (i) => raw[i],
      set: (i, v) => void (raw[i] = v),
      readBlock: (i0, i1, out) => out.set(raw.subarray(i0, i1)),
      writeBlock: (i0, i1, src) => raw.set(src.subarray(0, i1 - i0), i0),
    };
  }
  const raw = ledger.u16(n, category, owner, what);
  return {
    format,
    length: n,
    raw,
    get: (i) => fromHalf(raw[i]),
    set: (i, v) => void (raw[i] = toHalf(v, true)),
    readBlock: (i0, i1, out) => {
      for (let i = i0; i < i1; i++) out[i - i0] = fromHalf(raw[i]);
    },
    writeBlock: (i0, i1, src) => {
      for (let i = i0; i < i1; i++) raw[i] = toHalf(src[i - i0], true);
    },
  };
}

function int8Store(n: number, ledger: MemoryLedger, category: Category, owner: string, what: string, code: Block8Code): ParamStore {
  const raw = ledger.u8(n, category, owner, `${what} (int8 codes)`);
  const scales = ledger.floats(block8Count(n), category, owner, `${what} (block scales)`);
  const tmp = new Float64Array(BLOCK8);
  const blockLen = (b: number) => Math.min(BLOCK8, n - b * BLOCK8);
  /** Elements [i0, i1) through whole blocks: decode, edit, encode (aligned whole blocks skip the decode). */
  const edit = (i0: number, i1: number, fn: (block: Float64Array, from: number, k0: number, k1: number) => void) => {
    for (let b = Math.floor(i0 / BLOCK8); b * BLOCK8 < i1; b++) {
      const start = b * BLOCK8;
      const len = blockLen(b);
      const k0 = Math.max(i0, start) - start;
      const k1 = Math.min(i1, start + len) - start;
      if (k0 > 0 || k1 < len) decodeBlock8(code, raw, scales, b, len, tmp);
      fn(tmp, start, k0, k1);
      encodeBlock8(code, tmp, len, raw, scales, b);
    }
  };
  return {
    format: 'int8',
    length: n,
    raw,
    aux: scales,
    code,
    get(i) {
      decodeBlock8(code, raw, scales, Math.floor(i / BLOCK8), blockLen(Math.floor(i / BLOCK8)), tmp);
      return tmp[i % BLOCK8];
    },
    set(i, v) {
      edit(i, i + 1, (block, start) => (block[i - start] = v));
    },
    readBlock(i0, i1, out) {
      for (let b = Math.floor(i0 / BLOCK8); b * BLOCK8 < i1; b++) {
        const start = b * BLOCK8;
        decodeBlock8(code, raw, scales, b, blockLen(b), tmp);
        for (let i = Math.max(i0, start); i < Math.min(i1, start + BLOCK8); i++) out[i - i0] = tmp[i - start];
      }
    },
    writeBlock(i0, i1, src) {
      edit(i0, i1, (block, start, k0, k1) => {
        for (let k = k0; k < k1; k++) block[k] = src[start + k - i0];
      });
    },
  };
}

/**
 * `bit` weights: the packed signs (rows × cols bits, rows padded to whole words) are the weights,
 * values ±1 (sign(0) = +1 when set). No latent copy exists; Bop flips bits.
 */
export function bitStore(bits: Uint32Array, rows: number, cols: number): ParamStore {
  const wpr = (cols + 31) >>> 5;
  const at = (i: number) => {
    const r = Math.floor(i / cols);
    const c = i - r * cols;
    return { word: r * wpr + (c >>> 5), mask: 1 << (c & 31) };
  };
  const get = (i: number) => {
    const { word, mask } = at(i);
    return bits[word] & mask ? 1 : -1;
  };
  const set = (i: number, v: number) => {
    const { word, mask } = at(i);
    bits[word] = (v >= 0 ? bits[word] | mask : bits[word] & ~mask) >>> 0;
  };
  return {
    format: 'bit',
    length: rows * cols,
    cols,
    raw: bits,
    get,
    set,
    readBlock(i0, i1, out) {
      for (let i = i0; i < i1; i++) out[i - i0] = get(i);
    },
    writeBlock(i0, i1, src) {
      for (let i = i0; i < i1; i++) set(i, src[i - i0]);
    },
  };
}
