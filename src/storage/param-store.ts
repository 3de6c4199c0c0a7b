// Parameter-sized storage (latent weights, Adam moments) in float32 or float16.
import type { Category, MemoryLedger } from '../ledger.js';
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
    return { format, length: n, raw, get: (i) => raw[i], set: (i, v) => void (raw[i] = v) };
  }
  const raw = ledger.u16(n, category, owner, what);
  return {
    format,
    length: n,
    raw,
    get: (i) => fromHalf(raw[i]),
    set: (i, v) => void (raw[i] = toHalf(v, true)),
  };
}
