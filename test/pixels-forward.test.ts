// The first dense layer's forward over pixel bytes in one kernel call (gemmPixelsBin: threads take
// rows, each decoding its own into its scratch) against decoding them all (pixelsToFloat) and
// gemmFloatBin: every output the same float. Shapes leave a short row block, a row count that is
// not a multiple of 4, a thread split, and rows too wide for the scratch.
import t from 'tap';
import { wordsFor } from '../src/bits.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { Rng } from '../src/rng.js';
import { randomSigns } from './helpers.js';

const SHAPES = [
  { B: 3, m: 10, n: 784 },
  { B: 30, m: 200, n: 100 },
  { B: 37, m: 256, n: 784 },
];

for (const threads of [1, 2])
  for (const { B, m, n } of SHAPES)
    t.test(`gemmPixelsBin ${B}x${n} -> ${m}, ${threads} thread(s): gemmFloatBin of the decoded pixels`, async (t) => {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(B * 7 + m + n);
      const pixels = ledger.u8(B * n, 'workspace', 't', 'pixels');
      for (let k = 0; k < pixels.length; k++) pixels[k] = rng.int(256);
      const w = ledger.u32(m * wordsFor(n), 'workspace', 't', 'w');
      w.set(randomSigns(rng, m, n).bits);
      const y = ledger.floats(B * m, 'workspace', 't', 'y').fill(Number.NaN);
      t.ok(K.gemmPixelsBin!(pixels, w, B, m, n, y), 'done in one call');
      const x = ledger.floats(B * n, 'workspace', 't', 'x');
      K.pixelsToFloat!(pixels, B * n, x);
      const want = ledger.floats(B * m, 'workspace', 't', 'want');
      K.gemmFloatBin(x, w, B, m, n, want);
      let bad = 0;
      for (let k = 0; k < want.length; k++) if (!Object.is(y[k], want[k])) bad++;
      t.equal(bad, 0, `${want.length} outputs equal`);
      K.dispose?.();
    });

t.test('gemmPixelsBin declines rows too wide for its scratch (the layer then decodes chunk by chunk)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const [B, m, n] = [2, 4, 3000];
  t.notOk(
    K.gemmPixelsBin!(
      ledger.u8(B * n, 'workspace', 't', 'pixels'),
      ledger.u32(m * wordsFor(n), 'workspace', 't', 'w'),
      B,
      m,
      n,
      ledger.floats(B * m, 'workspace', 't', 'y'),
    ),
  );
  K.dispose?.();
});

// the whole batch staged in the tail of y, each thread's rows in the tail of its own rows of y:
// 4m = n (the bytes fill y exactly), a row count that is not a multiple of 4, a thread split
const IN_PLACE_SHAPES = [
  { B: 1, m: 256, n: 784 },
  { B: 37, m: 196, n: 784 },
  { B: 100, m: 256, n: 784 },
  { B: 61, m: 64, n: 100 },
];

for (const threads of [1, 2])
  for (const { B, m, n } of IN_PLACE_SHAPES)
    t.test(`gemmPixelsBinInPlace ${B}x${n} -> ${m}, ${threads} thread(s): the pixels staged in y, gemmFloatBin of them decoded`, async (t) => {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(B * 5 + m + n + threads);
      const images = new Uint8Array(B * n).map(() => rng.int(256));
      const w = ledger.u32(m * wordsFor(n), 'workspace', 't', 'w');
      w.set(randomSigns(rng, m, n).bits);
      const y = ledger.floats(B * m, 'workspace', 't', 'y');
      const pixels = ledger.u8(B * n, 'workspace', 't', 'pixels');
      pixels.set(images);
      const x = ledger.floats(B * n, 'workspace', 't', 'x');
      K.pixelsToFloat!(pixels, B * n, x);
      const want = ledger.floats(B * m, 'workspace', 't', 'want');
      K.gemmFloatBin(x, w, B, m, n, want);
      // several calls: the first of a new pool may find its worker still starting, the threads
      // then not overlapping in time (a range's writes reaching the other's bytes would go unseen)
      for (let call = 0; call < 5; call++) {
        y.fill(Number.NaN);
        const staged: [number, number][] = [];
        const done = K.gemmPixelsBinInPlace!(
          (i0, i1, into) => {
            staged.push([i0, i1]);
            if (into.length !== (i1 - i0) * n) t.fail(`rows ${i0}-${i1}: ${into.length} bytes of room`);
            into.set(images.subarray(i0 * n, i1 * n));
          },
          w,
          B,
          m,
          n,
          y,
        );
        t.ok(done, `call ${call}: done in one call`);
        // ranges in order, each starting where the one before ended, from row 0 to row B
        t.same(
          staged.flat(),
          staged.flatMap((_, i) => [i === 0 ? 0 : staged[i - 1][1], i === staged.length - 1 ? B : staged[i + 1][0]]),
          `call ${call}: every row staged once (${staged.length} range(s))`,
        );
        let bad = 0;
        for (let k = 0; k < want.length; k++) if (!Object.is(y[k], want[k])) bad++;
        t.equal(bad, 0, `call ${call}: ${want.length} outputs equal`);
      }
      K.dispose?.();
    });

t.test('gemmPixelsBinInPlace declines a row of y shorter than a row of bytes: nothing staged, y untouched', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const [B, m, n] = [8, 128, 784];
  const y = ledger.floats(B * m, 'workspace', 't', 'y').fill(7);
  let calls = 0;
  t.notOk(K.gemmPixelsBinInPlace!(() => calls++, ledger.u32(m * wordsFor(n), 'workspace', 't', 'w'), B, m, n, y));
  t.equal(calls, 0);
  t.ok(y.every((v) => v === 7));
  K.dispose?.();
});
