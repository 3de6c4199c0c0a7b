// Max pool's backward into a float16 or po2 store goes a few whole examples at a time where they
// fit the workspace chunks, an input row at a time where they do not: the stored gradient must be
// the same, code for code, for every argmax source, with windows that drop edges and a last
// chunk of fewer examples, on the plain and the WebAssembly kernels.
import t from 'tap';
import { wordsFor } from '../src/bits.js';
import type { Kernels } from '../src/kernels/kernels.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { MaxPoolLayer } from '../src/layers/maxpool.js';
import { MemoryLedger } from '../src/ledger.js';
import { createWorkspace } from '../src/model/workspace.js';
import { PRESETS, type Recipe } from '../src/recipe.js';
import { Rng } from '../src/rng.js';
import { createGradStore, type GradFormat } from '../src/storage/grad-store.js';

const B = 3;
const SHAPES = [
  { h: 7, w: 5, C: 6, size: 2 },
  { h: 6, w: 6, C: 40, size: 3 },
  { h: 8, w: 8, C: 33, size: 2 },
];
const SOURCES = ['sign bits', 'mask', 'floats'] as const;

/** dX as the store holds it after the pool's backward, decoded; `examplesPerChunk` 0: the row path. */
function poolGradient(
  make: () => { kernels: Kernels; ledger: MemoryLedger },
  d: (typeof SHAPES)[number],
  format: GradFormat,
  source: (typeof SOURCES)[number],
  examplesPerChunk: number,
): Float32Array {
  const { kernels, ledger } = make();
  const rng = new Rng(d.h * 7 + d.C);
  const rows = B * d.h * d.w;
  const pooledRows = B * Math.floor(d.h / d.size) * Math.floor(d.w / d.size);
  // a row path chunk holds one input row; an example path chunk that many examples and 5 values
  const chunk = examplesPerChunk ? examplesPerChunk * d.h * d.w * d.C + 5 : d.w * d.C;
  const ws = createWorkspace({ chunkRows: 4, batch: B, act: rows * d.C, chunk, chan: d.C, grad: 0 }, kernels, ledger);
  const recipe: Recipe = { ...PRESETS['low-memory'], actInput: 'bit', poolMask: source === 'floats' ? 'float32' : 'bit' };
  const layer = new MaxPoolLayer('pool', d.h, d.w, d.C, source === 'sign bits', recipe, B, ws, ledger, d.size);
  if (source === 'sign bits') {
    const bits = ledger.u32(rows * wordsFor(d.C), 'workspace', 't', 'x');
    for (let i = 0; i < bits.length; i++) bits[i] = rng.nextU32();
    layer.forward({ kind: 'bits', data: bits, cols: d.C }, rows, true);
  } else {
    const x = ledger.floats(rows * d.C, 'workspace', 't', 'x');
    for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.1 ? 0.5 : Math.round(rng.normal() * 8) / 8;
    layer.forward({ kind: 'float', data: x, cols: d.C }, rows, true);
  }
  const dy = ledger.floats(pooledRows * d.C, 'workspace', 't', 'dy values');
  for (let i = 0; i < dy.length; i++) dy[i] = rng.next() < 0.1 ? 0 : rng.normal() * 2 ** (rng.int(30) - 20);
  const grad = createGradStore(format, dy.length, ledger, 't', 'dy', kernels);
  grad.setShape(pooledRows, d.C);
  let maxAbs = 0;
  for (const v of dy) maxAbs = Math.max(maxAbs, Math.abs(v));
  grad.beginWrite(maxAbs);
  grad.write(0, pooledRows, dy);
  const spare = createGradStore(format, rows * d.C, ledger, 't', 'dx', kernels);
  const dx = layer.backward(grad, spare, rows);
  const out = ledger.floats(rows * d.C, 'workspace', 't', 'dx values');
  dx.read(0, rows, 0, d.C, out);
  const values = Float32Array.from(out);
  kernels.dispose?.();
  return values;
}

const KERNELS = {
  reference: () => ({ kernels: referenceKernels, ledger: new MemoryLedger() }),
  'wasm, 1 thread': () => wasmKernels.instantiate!({ threads: 1 }),
  'wasm, 2 threads': () => wasmKernels.instantiate!({ threads: 2 }),
};

for (const [name, make] of Object.entries(KERNELS))
  for (const format of ['float16', 'po2'] as const)
    t.test(`${name}, ${format} store: whole examples at a time store the row path's gradient`, async (t) => {
      for (const d of SHAPES)
        for (const source of SOURCES) {
          const rowPath = poolGradient(make, d, format, source, 0);
          t.ok(
            rowPath.some((v) => v !== 0),
            'the gradient is not all zero',
          );
          for (const examples of [1, 2, 3]) {
            const got = poolGradient(make, d, format, source, examples);
            t.ok(
              got.every((v, i) => Object.is(v, rowPath[i])),
              `${d.h}x${d.w}x${d.C} window ${d.size}, argmax from ${source}, ${examples} example(s) a chunk`,
            );
          }
        }
    });
