// Shared test helpers: random data and plain (naive) definitions to compare against.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { packSignRows, wordsFor } from '../src/bits.js';
import type { Dataset } from '../src/data/dataset.js';
import { Rng } from '../src/rng.js';
import type { ModelSpec } from '../src/model/spec.js';
import type { Kernels } from '../src/kernels/kernels.js';
import type { MemoryLedger } from '../src/ledger.js';
import { createGradStore, fillStore, type GradStore } from '../src/storage/grad-store.js';
import { po2Get } from '../src/storage/po2.js';

/** The built kernels (make build), from the repository root: tests run from their TypeScript
 * source or compiled under build/test, so the path cannot be relative to the test file. */
export const KERNELS_WASM = resolve('build/kernels.wasm');

// tap puts its process tracker (for coverage, which is off) in NODE_OPTIONS, and every CLI child a
// test spawns then loads it through a module hook: 0.3 -> 1.0 s for `bitlearn --help`. Children
// start without it (every test that spawns imports this file).
if (process.env.NODE_OPTIONS?.includes('@tapjs/processinfo')) {
  const kept = process.env.NODE_OPTIONS.split(/\s+/).filter((o) => o !== '' && !o.includes('@tapjs/processinfo'));
  if (kept.length > 0) process.env.NODE_OPTIONS = kept.join(' ');
  else delete process.env.NODE_OPTIONS;
}

/** Directories tempDir made in this test process: removed when it exits. */
const tempDirs: string[] = [];
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the system's temporary one (mkdtemp with this prefix), removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function randomFloats(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal());
}

/** Random ±1 matrix as float values and as packed bits. */
export function randomSigns(rng: Rng, rows: number, cols: number) {
  const values = Float64Array.from({ length: rows * cols }, () => (rng.next() < 0.5 ? -1 : 1));
  const bits = new Uint32Array(rows * wordsFor(cols));
  packSignRows(values, rows, cols, bits);
  return { values, bits };
}

/** C[B×m] = A[B×n] · W[m×n]ᵀ, plainly. */
/**
 * Packed sign rows `bits` (m rows of n) against the signs of the float sums dw: the words that
 * differ, out of how many, and how many sums are negative (a test whose sums were all one sign
 * would prove little).
 */
export function signBitsAgainst(dw: ArrayLike<number>, m: number, n: number, bits: Uint32Array): { bad: number; words: number; negative: number } {
  const want = new Uint32Array(m * wordsFor(n));
  packSignRows(dw, m, n, want);
  let bad = 0;
  for (let k = 0; k < want.length; k++) if (want[k] !== bits[k]) bad++;
  let negative = 0;
  for (let k = 0; k < m * n; k++) if (dw[k] < 0) negative++;
  return { bad, words: want.length, negative };
}

export function matmulT(A: ArrayLike<number>, W: ArrayLike<number>, B: number, m: number, n: number): Float64Array {
  const C = new Float64Array(B * m);
  for (let i = 0; i < B; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += A[i * n + k] * W[j * n + k];
      C[i * m + j] = s;
    }
  return C;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, n = a.length): number {
  let d = 0;
  for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

export function maxAbs(a: ArrayLike<number>, n = a.length): number {
  let d = 0;
  for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(a[i]));
  return d;
}

/** max |a[i]| and the smallest non-zero |a[i]| over i < n (NaN ignored): what absRange returns. */
export function absRangeOf(a: ArrayLike<number>, n = a.length): { max: number; minNonzero: number } {
  let max = 0;
  let minNonzero = Infinity;
  for (let k = 0; k < n; k++) {
    const v = Math.abs(a[k]);
    if (v > max) max = v;
    if (v > 0 && v < minNonzero) minNonzero = v;
  }
  return { max, minNonzero };
}

/** A po2 gradient store in the kernels' memory, rows × cols, holding `values` where given (a two-pass fill under their max). */
export function po2Store(ledger: MemoryLedger, K: Kernels, rows: number, cols: number, values?: ArrayLike<number>): GradStore {
  const store = createGradStore('po2', rows * cols, ledger, 't', 'po2 store', K);
  store.setShape(rows, cols);
  if (values) {
    const floats = ledger.floats(rows * cols, 'workspace', 't', 'po2 store values');
    floats.set(values);
    fillStore(store, rows, floats, () => {});
  }
  return store;
}

/** A po2 store filled by a kernel through po2Fill: whether the store took the fill, the words it filled and the max the kernel returned. */
export function po2FillBy(store: GradStore, fill: (words: Uint32Array) => number | null): { done: boolean; words: Uint32Array; max: number | null } {
  let words: Uint32Array = new Uint32Array(0);
  let max: number | null = null;
  const done = store.po2Fill!((into) => {
    words = into;
    max = fill(into);
    return max;
  });
  return { done, words, max };
}

/** How many of codes [0, n) differ between two po2 stores' words. */
export function po2CodesDiffering(got: Uint32Array, want: Uint32Array, n: number): number {
  let bad = 0;
  for (let k = 0; k < n; k++) if (po2Get(got, k) !== po2Get(want, k)) bad++;
  return bad;
}

/** A small random labelled data set. */
export function syntheticDataset(seed: number, count: number, features: number, classes: number): Dataset {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: count * features }, () => rng.int(256));
  const labels = Uint8Array.from({ length: count }, () => rng.int(classes));
  return { name: 'synthetic', count, features, classes, images, labels };
}

export function identityOrder(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** An MLP spec: inputs -> hidden dense layers -> classes. */
export function mlpSpec(inputs: number, hidden: number[], classes: number): ModelSpec {
  return { name: 'test-mlp', input: { h: 1, w: 1, c: inputs }, classes, ops: hidden.map((dense) => ({ dense })) };
}
