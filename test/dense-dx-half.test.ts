// A binary dense layer's input gradient between float16 stores in one kernel call (denseDxHalf:
// threads take rows, each decoding dY, summing and encoding dX in its own scratch) against the
// chunk-by-chunk way: codes decoded, gemmFloatBinT, encoded; every code the same. Shapes leave a
// short row block, an encode tail (n odd), a thread split, and rows too wide for the scratch.
import t from 'tap';
import { wordsFor } from '../src/bits.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { Rng } from '../src/rng.js';
import { toHalf } from '../src/storage/fp16.js';
import { randomSigns } from './helpers.js';

const SHAPES = [
  { B: 5, m: 10, n: 256 },
  { B: 30, m: 200, n: 99 },
  { B: 100, m: 256, n: 256 },
];

for (const threads of [1, 2])
  for (const { B, m, n } of SHAPES)
    t.test(`denseDxHalf ${B}x${m} -> ${n}, ${threads} thread(s): the codes of the chunk-by-chunk input gradient`, async (t) => {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(B * 13 + m + n);
      const dy = ledger.u16(B * m, 'workspace', 't', 'dy');
      for (let k = 0; k < dy.length; k++) dy[k] = rng.next() < 0.1 ? 0 : toHalf(rng.normal() * 10 ** (rng.int(6) - 6), true);
      const w = ledger.u32(m * wordsFor(n), 'workspace', 't', 'w');
      w.set(randomSigns(rng, m, n).bits);
      const index = ledger.floats(64 * 1024, 'workspace', 't', 'index');
      K.gemmFloatBinTIndex(w, m, n, index);
      const dx = ledger.u16(B * n, 'workspace', 't', 'dx').fill(0xffff);
      t.ok(K.denseDxHalf!(dy, B, m, n, dx, index), 'done in one call');
      const dyFloats = ledger.floats(B * m, 'workspace', 't', 'dy floats');
      K.halfToFloat!(dy, B * m, dyFloats);
      const dxFloats = ledger.floats(B * n, 'workspace', 't', 'dx floats');
      K.gemmFloatBinT(dyFloats, w, B, m, n, dxFloats, index);
      const want = ledger.u16(B * n, 'workspace', 't', 'want');
      K.floatToHalf!(dxFloats, B * n, want);
      let bad = 0;
      for (let k = 0; k < want.length; k++) if (want[k] !== dx[k]) bad++;
      t.equal(bad, 0, `${want.length} codes equal`);
      t.ok(
        want.some((h) => h !== 0 && (h & 0x7c00) !== 0x7c00),
        'the gradient is not all zeros',
      );
      K.dispose?.();
    });

t.test('denseDxHalf declines rows too wide for its scratch (the layer then fills chunk by chunk)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const [m, n] = [1000, 1000];
  const index = ledger.floats(4, 'workspace', 't', 'index');
  t.notOk(K.denseDxHalf!(ledger.u16(4 * m, 'workspace', 't', 'dy'), 4, m, n, ledger.u16(4 * n, 'workspace', 't', 'dx'), index));
  K.dispose?.();
});
