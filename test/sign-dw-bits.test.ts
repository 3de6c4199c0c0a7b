// A binary dense layer's 1-bit weight gradient in one kernel call (signDwBits: threads take ranges
// of output rows, each decoding its float16 dY columns into its own scratch) against the same sums
// done whole: float16 codes decoded, gemmTnBin over every row (groups of 4 rows in order), the
// sign packed. Shapes leave short tiles, a short last group, passes and a thread split.
import t from 'tap';
import { packSignRows, wordsFor } from '../src/bits.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { Rng } from '../src/rng.js';
import { toHalf } from '../src/storage/fp16.js';

const SHAPES = [
  { rows: 3, m: 5, n: 40 },
  { rows: 70, m: 200, n: 100 },
  { rows: 300, m: 72, n: 256 },
  { rows: 130, m: 256, n: 256 },
];

for (const threads of [1, 2])
  for (const { rows, m, n } of SHAPES)
    t.test(`signDwBits ${rows}x${m} over ${n} signs, ${threads} thread(s): the sign of dYᵀ·X̂, every bit`, async (t) => {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(rows * 17 + m + n);
      const codes = ledger.u16(rows * m, 'workspace', 't', 'dy');
      for (let k = 0; k < codes.length; k++) codes[k] = rng.next() < 0.1 ? 0 : toHalf(rng.normal() * 10 ** (rng.int(6) - 6), true);
      const x = ledger.u32(rows * wordsFor(n), 'workspace', 't', 'x');
      packSignRows(
        Float32Array.from({ length: rows * n }, () => rng.normal()),
        rows,
        n,
        x,
      );
      const bits = ledger.u32(m * wordsFor(n), 'workspace', 't', 'bits').fill(0xdeadbeef);
      t.ok(K.signDwBits!(codes, x, rows, m, n, bits), 'done in one call');
      const dy = ledger.floats(rows * m, 'workspace', 't', 'dy floats');
      K.halfToFloat!(codes, rows * m, dy);
      const dw = ledger.floats(m * n, 'workspace', 't', 'dw').fill(0);
      K.gemmTnBin(dy, x, rows, m, n, dw);
      const want = new Uint32Array(m * wordsFor(n));
      packSignRows(dw, m, n, want);
      let bad = 0;
      for (let k = 0; k < want.length; k++) if (want[k] !== bits[k]) bad++;
      t.equal(bad, 0, `${want.length} words equal`);
      let neg = 0;
      for (let k = 0; k < dw.length; k++) if (dw[k] < 0) neg++;
      t.ok(neg > 0 && neg < dw.length, 'both signs occur');
      K.dispose?.();
    });

t.test('signDwBits declines inputs too wide for its scratch (the layer then goes tile by tile)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const n = 9000;
  const bits = ledger.u32(4 * wordsFor(n), 'workspace', 't', 'bits');
  t.notOk(K.signDwBits!(ledger.u16(4 * 4, 'workspace', 't', 'dy'), ledger.u32(4 * wordsFor(n), 'workspace', 't', 'x'), 4, 4, n, bits));
  K.dispose?.();
});
