// The streamed recipes' sign backward masks the stored gradient codes in place
// (GradStore.applyMask) instead of decoding, zeroing and encoding them again (fillRowwise with
// applyMask). Both ways must leave the same codes: float16 and po2 stores, the JavaScript loops
// and the wasm kernels on 1 and 2 threads (2-thread calls split from 32 K codes), masks that keep
// or drop the largest value, drop everything, and float16's infinities, NaNs and subnormals.
import t from 'tap';
import { applyMaskReference, wordsFor } from '../src/bits.js';
import { wasmAvailable, wasmKernels } from '../src/kernels/wasm.js';
import type { Floats } from '../src/ledger.js';
import { MemoryLedger } from '../src/ledger.js';
import { Rng } from '../src/rng.js';
import { createGradStore, fillRowwise, fillStore, type GradFormat, type GradStore, type StoreKernels } from '../src/storage/grad-store.js';
import { po2Get } from '../src/storage/po2.js';

t.ok(wasmAvailable(), 'the wasm kernels load on this machine');

type MaskKind = 'random' | 'max dropped' | 'all dropped' | 'max kept';

/** Gradient values: normals over 24 octaves, zeros; float16 also gets ±Infinity, NaN, subnormals and values past 65504. */
function gradients(format: GradFormat, n: number, rng: Rng): Float32Array {
  const g = Float32Array.from({ length: n }, () => (rng.next() < 0.1 ? 0 : rng.normal() * 2 ** (rng.int(24) - 16)));
  if (format === 'float16')
    for (let k = 0; k < n; k += 53) g[k] = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 3e-7, -4e-8, 70000, -1e5][(k / 53) % 7];
  return g;
}

function maskFor(kind: MaskKind, g: Float32Array, rows: number, cols: number, rng: Rng): Uint32Array {
  const wpr = wordsFor(cols);
  const mask = new Uint32Array(rows * wpr);
  for (let k = 0; k < mask.length; k++) mask[k] = kind === 'all dropped' ? 0 : (rng.int(65536) << 16) | rng.int(65536);
  let top = 0;
  for (let k = 1; k < g.length; k++) if (Math.abs(g[k]) > Math.abs(g[top])) top = k;
  const [r, c] = [Math.floor(top / cols), top % cols];
  if (kind === 'max dropped') mask[r * wpr + (c >>> 5)] &= ~(1 << (c & 31));
  if (kind === 'max kept') mask[r * wpr + (c >>> 5)] |= 1 << (c & 31);
  return mask;
}

/** The store's values and (po2) codes, for comparing two stores bit for bit. */
function contents(store: GradStore, format: GradFormat, words: Uint32Array | null): number[] {
  const out = new Float32Array(store.rows * store.cols);
  store.read(0, store.rows, 0, store.cols, out);
  const codes = format === 'po2' && words ? Array.from({ length: out.length }, (_, k) => po2Get(words, k)) : [];
  return [...new Uint32Array(out.buffer), ...codes];
}

const shapes: [number, number][] = [
  [3, 64],
  [1100, 64], // 70,400 codes: 2 threads split them
  [37, 96],
  [5, 40], // not whole mask words a row: po2 takes the long way
  [2, 12],
];

for (const way of ['JavaScript', 'wasm 1 thread', 'wasm 2 threads'] as const)
  t.test(`${way}: applyMask == reading, applyMask and filling again`, async (t) => {
    const wasm = way === 'JavaScript' ? null : wasmKernels.instantiate!({ threads: way.endsWith('2 threads') ? 2 : 1 });
    const ledger = wasm?.ledger ?? new MemoryLedger();
    const codec = (wasm?.kernels ?? undefined) as StoreKernels | undefined;
    const rng = new Rng(17);
    let checked = 0;
    for (const format of ['float16', 'po2'] as const)
      for (const [rows, cols] of shapes)
        for (const kind of ['random', 'max dropped', 'all dropped', 'max kept'] as const) {
          const n = rows * cols;
          const g = gradients(format, n, rng);
          const mask = ledger.u32(rows * wordsFor(cols), 'workspace', 't', 'mask');
          mask.set(maskFor(kind, g, rows, cols, rng));
          const stores = [0, 1, 2].map((i) => createGradStore(format, n, ledger, 't', `g${i}`, codec));
          const scratch: Floats = ledger.floats(8 * cols, 'workspace', 't', 'scratch');
          for (const s of stores.slice(0, 2)) {
            s.setShape(rows, cols);
            fillStore(s, 8, scratch, (i0, i1, out) => out.set(g.subarray(i0 * cols, i1 * cols)));
          }
          const [short, long, spare] = stores;
          const words = (s: GradStore) => (format === 'po2' ? ((s as unknown as { words: Uint32Array }).words ?? null) : null);
          const applied = short.applyMask!(mask);
          if (format === 'po2' && cols % 32 !== 0) {
            t.notOk(applied, `po2 ${rows}x${cols}: rows of part words take the long way`);
            continue;
          }
          t.ok(applied, `${format} ${rows}x${cols} ${kind}: masked in place`);
          const result = fillRowwise(long, spare, 8, scratch, (i0, i1, out) => applyMaskReference(out, i1 - i0, cols, mask, i0));
          const a = contents(short, format, words(short));
          const b = contents(result, format, words(result));
          const diff = a.findIndex((v, k) => v !== b[k]);
          t.equal(
            diff,
            -1,
            `${format} ${rows}x${cols} ${kind}: same ${format === 'po2' ? 'values and codes' : 'values'}${diff >= 0 ? ` (first difference at ${diff})` : ''}`,
          );
          checked++;
        }
    t.ok(checked >= 30, `${checked} cases compared`);
    wasm?.kernels.dispose?.();
  });

t.test('po2 stores take the long way where a masked decode would not be exact or rows are under two biases', async (t) => {
  const ledger = new MemoryLedger();
  const rows = 4;
  const cols = 32;
  const mask = new Uint32Array(rows).fill(0x5555_5555);
  const scratch = new Float32Array(rows * cols);
  // values near the float32 maximum: bias below -120
  const huge = createGradStore('po2', rows * cols, ledger, 't', 'huge');
  huge.setShape(rows, cols);
  fillStore(huge, rows, scratch, (_i0, _i1, out) => out.fill(1.5 * 2 ** 127));
  t.notOk(huge.applyMask!(mask), 'a bias below -120: the long way');
  // a fill in progress: rows past the written ones still hold the previous bias's codes
  const partial = createGradStore('po2', rows * cols, ledger, 't', 'partial');
  partial.setShape(rows, cols);
  partial.beginWrite(1);
  partial.write(0, 1, scratch.fill(0.5));
  t.notOk(partial.applyMask!(mask), 'rows under two biases: the long way');
});
