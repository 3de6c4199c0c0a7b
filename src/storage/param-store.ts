// Parameter-sized storage (latent weights, Adam moments) in float32 or float16.
import type { Category, Floats, MemoryLedger } from '../ledger.js';
import { fromHalf, toHalf } from '../../quant/fp16.js';

export const PARAM_FORMATS = ['float32', 'float16'] as const;
export type ParamFormat = (typeof PARAM_FORMATS)[number];

export interface ParamStore {
  readonly format: ParamFormat;
  readonly length: number;
  get(i: number): number;
  set(i: number, v: number): void;
  /** Raw storage, for checkpoints. */
  readonly raw: Float32Array | Float64Array | Uint16Array;
  /** Decode elements [i0, i1) into out[0 ..]. */
  readBlock(i0: number, i1: number, out: Floats): void;
  /** Encode src[0 ..] into elements [i0, i1). */
  writeBlock(i0: number, i1: number, src: Floats): void;
}

export function paramBytes(format: ParamFormat, n: number): number {
  return n * (format === 'float32' ? 4 : 2);
}

export function createParamStore(
  format: ParamFormat,
  n: number,
  ledger: MemoryLedger,
  category: Category,
  owner: string,
  what: string,
): ParamStore {
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
