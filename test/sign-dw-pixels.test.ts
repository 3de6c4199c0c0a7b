// The first dense layer's 1-bit weight gradient over pixels in one kernel call (signDwPixels:
// threads take 64-column tiles, each decoding float16 dY and pixel bytes into its own scratch)
// against the same sums done whole: float16 codes decoded, pixels decoded, gemmTnFloat over every
// row in order, the sign packed. Shapes leave short tiles, passes and a column tail.
import t from 'tap';
import { packSignRows, wordsFor } from '../src/bits.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { Rng } from '../src/rng.js';
import { toHalf } from '../src/storage/fp16.js';

const SHAPES = [
  { rows: 3, m: 5, n: 40 },
  { rows: 70, m: 200, n: 100 },
  { rows: 130, m: 256, n: 784 },
];

for (const threads of [1, 2])
  for (const { rows, m, n } of SHAPES)
    t.test(`signDwPixels ${rows}x${m} over ${n} pixels, ${threads} thread(s): the sign of dYᵀ·X, every bit`, async (t) => {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(rows * 31 + m + n);
      const codes = ledger.u16(rows * m, 'workspace', 't', 'dy');
      // mostly small gradients, some zeros and float16 subnormals, as a layer's dY
      for (let k = 0; k < codes.length; k++) codes[k] = rng.next() < 0.1 ? 0 : toHalf(rng.normal() * 10 ** (rng.int(6) - 6), true);
      const pixels = ledger.u8(rows * n, 'workspace', 't', 'pixels');
      for (let k = 0; k < pixels.length; k++) pixels[k] = rng.int(256);
      const bits = ledger.u32(m * wordsFor(n), 'workspace', 't', 'bits').fill(0xdeadbeef);
      K.signDwPixels!(codes, pixels, rows, m, n, bits);
      // the whole-batch sums: the same rows in the same order
      const dy = ledger.floats(rows * m, 'workspace', 't', 'dy floats');
      K.halfToFloat!(codes, rows * m, dy);
      const x = ledger.floats(rows * n, 'workspace', 't', 'x');
      K.pixelsToFloat!(pixels, rows * n, x);
      const dw = ledger.floats(m * n, 'workspace', 't', 'dw').fill(0);
      K.gemmTnFloat(dy, x, rows, m, n, dw);
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
