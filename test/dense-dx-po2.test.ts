// A binary dense layer's input gradient between po2 stores in one kernel call (denseDxPo2, the
// tiny recipe: threads take rows, each reading dY's codes, summing and writing dX's codes under its
// own running bias, then every range re-coded to the common one) against the chunk-by-chunk way:
// codes decoded, gemmFloatBinT, a two-pass fill under the max of everything. Every code and every
// decoded value the same. Shapes leave a short row block, rows of codes that do not end on a
// word, rows whose size grows (the running bias moves inside a thread, and threads end on
// different biases), leading zero rows (the bias moves from 0) and a thread split.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { wordsFor } from '../src/bits.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { Rng } from '../src/rng.js';
import { createGradStore, fillStore } from '../src/storage/grad-store.js';
import { po2Bias } from '../src/storage/po2.js';
import { KERNELS_WASM, maxAbs, po2CodesDiffering, po2FillBy, po2Store, randomSigns } from './helpers.js';

const SHAPES = [
  { B: 5, m: 10, n: 256, rows: 'even' },
  { B: 30, m: 200, n: 100, rows: 'even' },
  { B: 100, m: 256, n: 256, rows: 'growing' },
  { B: 64, m: 256, n: 96, rows: 'zeros first' },
] as const;

for (const threads of [1, 2])
  for (const { B, m, n, rows } of SHAPES)
    t.test(`denseDxPo2 ${B}x${m} -> ${n}, ${rows} rows, ${threads} thread(s): the codes of a chunk-by-chunk fill`, async (t) => {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(B * 13 + m + n);
      const size = (i: number) => (rows === 'growing' ? 2 ** (i / 4) : rows === 'zeros first' && i < 20 ? 0 : 1);
      const values = Float32Array.from({ length: B * m }, (_, k) => (rng.next() < 0.1 ? 0 : rng.normal() * 1e-3 * size(Math.floor(k / m))));
      const dy = createGradStore('po2', B * m, ledger, 't', 'dy', K);
      dy.setShape(B, m);
      fillStore(dy, 8, ledger.floats(8 * m, 'workspace', 't', 'chunk'), (i0, i1, out) => out.set(values.subarray(i0 * m, i1 * m)));
      const w = ledger.u32(m * wordsFor(n), 'workspace', 't', 'w');
      w.set(randomSigns(rng, m, n).bits);
      const index = ledger.floats(64 * 1024, 'workspace', 't', 'index');
      K.gemmFloatBinTIndex(w, m, n, index);

      const dx = po2Store(ledger, K, B, n);
      const view = dy.po2View!()!;
      const filled = po2FillBy(dx, (into) => K.denseDxPo2!(view.words, view.bias, B, m, n, into, index));
      t.ok(filled.done, 'done in one call');

      const dyFloats = ledger.floats(B * m, 'workspace', 't', 'dy floats');
      dy.read(0, B, 0, m, dyFloats);
      const dxFloats = ledger.floats(B * n, 'workspace', 't', 'dx floats');
      K.gemmFloatBinT(dyFloats, w, B, m, n, dxFloats, index);
      const want = po2Store(ledger, K, B, n, dxFloats);
      t.equal(po2CodesDiffering(filled.words, (want as unknown as { words: Uint32Array }).words, B * n), 0, `${B * n} codes equal`);
      const [got, ref] = [new Float32Array(B * n), new Float32Array(B * n)];
      dx.read(0, B, 0, n, got);
      want.read(0, B, 0, n, ref);
      t.same(Array.from(got), Array.from(ref), 'decoded values equal (the same bias)');
      t.equal(filled.max, maxAbs(dxFloats), 'returns the max |dX|');
      t.ok(
        ref.some((v) => v !== 0),
        'the gradient is not all zeros',
      );
      K.dispose?.();
    });

t.test('denseDxPo2 declines rows too wide for its scratch (the layer then fills chunk by chunk)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const [m, n] = [1000, 1000];
  t.equal(
    K.denseDxPo2!(
      ledger.u32(4 * m, 'workspace', 't', 'dy'),
      0,
      4,
      m,
      n,
      ledger.u32(4 * n, 'workspace', 't', 'dx'),
      ledger.floats(4, 'workspace', 't', 'index'),
    ),
    null,
  );
  K.dispose?.();
});

t.test("the kernels' po2 bias of a float32 max is po2Bias's (round(log2) from the bits)", async (t) => {
  const module = new WebAssembly.Module(await readFile(KERNELS_WASM));
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
  const ex = new WebAssembly.Instance(module, { env: { memory, abort: () => {} } }).exports as { po2BiasOf(a: number): number };
  const rng = new Rng(3);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  let bad = 0;
  let count = 0;
  const check = (v: number) => {
    count++;
    if (ex.po2BiasOf(v) !== po2Bias(v)) bad++;
  };
  // the √2 thresholds of every exponent (float32 mantissas 0x3504f0 .. 0x3504f8), powers of two, random values
  for (let e = 0; e < 255; e++)
    for (let mant = 0x3504f0; mant <= 0x3504f8; mant++) {
      bits[0] = (e << 23) | mant;
      check(f[0]);
    }
  for (let e = -149; e < 128; e++) check(2 ** e);
  for (let k = 0; k < 100000; k++) {
    bits[0] = (rng.next() * 0x7f800000) >>> 0;
    check(f[0]);
  }
  for (const v of [0, Number.POSITIVE_INFINITY, Number.NaN, 1e-45]) check(v);
  t.equal(bad, 0, `${count} values`);
});
