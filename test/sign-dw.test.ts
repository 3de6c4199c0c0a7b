// The low-memory recipe's 1-bit weight gradients in one kernel call, each thread decoding float16
// dY into its own scratch: signDwPixels (the first layer, pixel bytes in, threads take 64-column
// tiles) and signDwBits (packed input signs, threads take output rows), against the same sums
// done whole (float16 codes decoded, gemmTnFloat / gemmTnBin over every row in order, the sign
// packed). Shapes leave short tiles, a short last group of rows, passes, a column tail and a split.
import t from 'tap';
import { packSignRows, wordsFor } from '../src/bits.js';
import type { Kernels } from '../src/kernels/kernels.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import type { MemoryLedger } from '../src/ledger.js';
import { Rng } from '../src/rng.js';
import { toHalf } from '../src/storage/fp16.js';
import { signBitsAgainst } from './helpers.js';

const SHAPES = [
  { rows: 3, m: 5, n: 40 },
  { rows: 70, m: 200, n: 100 },
  { rows: 300, m: 72, n: 256 },
  { rows: 130, m: 256, n: 784 },
];

/** A layer's dY as float16 codes (mostly small, some zeros and subnormals) and decoded. */
function halfGradients(K: Kernels, ledger: MemoryLedger, rng: Rng, count: number) {
  const codes = ledger.u16(count, 'workspace', 't', 'dy');
  for (let k = 0; k < count; k++) codes[k] = rng.next() < 0.1 ? 0 : toHalf(rng.normal() * 10 ** (rng.int(6) - 6), true);
  const floats = ledger.floats(count, 'workspace', 't', 'dy floats');
  K.halfToFloat!(codes, count, floats);
  return { codes, floats };
}

for (const kind of ['pixels', 'bits'] as const)
  for (const threads of [1, 2])
    for (const { rows, m, n } of SHAPES)
      t.test(`signDw over ${kind}, ${rows}x${m} over ${n} inputs, ${threads} thread(s): the sign of dYᵀ·X, every bit`, async (t) => {
        const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
        const rng = new Rng(rows * 31 + m + n);
        const dy = halfGradients(K, ledger, rng, rows * m);
        const bits = ledger.u32(m * wordsFor(n), 'workspace', 't', 'bits').fill(0xdeadbeef);
        const dw = ledger.floats(m * n, 'workspace', 't', 'dw').fill(0);
        if (kind === 'pixels') {
          const pixels = ledger.u8(rows * n, 'workspace', 't', 'pixels');
          for (let k = 0; k < pixels.length; k++) pixels[k] = rng.int(256);
          K.signDwPixels!(dy.codes, pixels, rows, m, n, bits);
          const x = ledger.floats(rows * n, 'workspace', 't', 'x');
          K.pixelsToFloat!(pixels, rows * n, x);
          K.gemmTnFloat(dy.floats, x, rows, m, n, dw);
        } else {
          const x = ledger.u32(rows * wordsFor(n), 'workspace', 't', 'x');
          packSignRows(
            Float32Array.from({ length: rows * n }, () => rng.normal()),
            rows,
            n,
            x,
          );
          t.ok(K.signDwBits!(dy.codes, x, rows, m, n, bits), 'done in one call');
          K.gemmTnBin(dy.floats, x, rows, m, n, dw);
        }
        const { bad, words, negative } = signBitsAgainst(dw, m, n, bits);
        t.equal(bad, 0, `${words} words equal`);
        t.ok(negative > 0 && negative < m * n, 'both signs occur');
        K.dispose?.();
      });

t.test('signDwBits declines inputs too wide for its scratch (the layer then goes tile by tile)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const n = 9000;
  const bits = ledger.u32(4 * wordsFor(n), 'workspace', 't', 'bits');
  t.notOk(K.signDwBits!(ledger.u16(4 * 4, 'workspace', 't', 'dy'), ledger.u32(4 * wordsFor(n), 'workspace', 't', 'x'), 4, 4, n, bits));
  K.dispose?.();
});
