// The tiny recipe's dense weight gradients folded into Bop's 8-bit slog momentum in one kernel call
// (po2 dY read in the kernel, threads take tiles of whole momentum blocks): bopDwBits over packed
// input signs and bopDwPixels over pixel bytes (the first layer), against the way the layer goes
// tile by tile: dY decoded from the store, gemmTnBin / gemmTnFloat over every row in order,
// bopFoldSlog over the whole tensor. Every code and block scale must be the same. Shapes leave a
// short last tile, a short last block, rows that are not a multiple of 4, passes, a band of pixel
// columns narrower than a vector block (100 inputs) and a split.
import t from 'tap';
import { packSignRows, wordsFor } from '../src/bits.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { Rng } from '../src/rng.js';
import { createGradStore, fillStore } from '../src/storage/grad-store.js';

const SHAPES = {
  bits: [
    { rows: 3, m: 5, n: 256 },
    { rows: 70, m: 200, n: 100 },
    { rows: 130, m: 72, n: 512 },
    { rows: 300, m: 256, n: 256 },
  ],
  pixels: [
    { rows: 3, m: 5, n: 784 },
    { rows: 70, m: 200, n: 100 },
    { rows: 37, m: 72, n: 784 },
    { rows: 130, m: 256, n: 784 },
    { rows: 300, m: 64, n: 100 },
  ],
};
const GAMMA = 0.25; // large, so both the old momentum and the new gradient move the codes

for (const kind of ['bits', 'pixels'] as const)
  for (const threads of [1, 2])
    for (const { rows, m, n } of SHAPES[kind])
      t.test(`bopDw over ${kind}, ${rows}x${m} over ${n} inputs, ${threads} thread(s): the momentum's codes and scales as the tile-by-tile fold`, async (t) => {
        const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
        const rng = new Rng(rows * 31 + m + n);
        const total = m * n;
        const blocks = Math.ceil(total / 256);
        // dY in a po2 store (a fill, as a layer leaves it), some zeros
        const dy = createGradStore('po2', rows * m, ledger, 't', 'dy', K);
        dy.setShape(rows, m);
        const values = Float32Array.from({ length: rows * m }, () => (rng.next() < 0.1 ? 0 : rng.normal() * 1e-3));
        const chunk = ledger.floats(4 * m, 'workspace', 't', 'chunk');
        fillStore(dy, 4, chunk, (i0, i1, out) => out.set(values.subarray(i0 * m, i1 * m)));
        const view = dy.po2View!();
        t.ok(view, 'the filled store shows its words');
        // the same momentum twice: random codes (some zero magnitudes), scales near what γ·dW brings
        const codes = ledger.u8(total, 'optimizer', 't', 'codes');
        for (let k = 0; k < total; k++) codes[k] = rng.next() < 0.05 ? (rng.next() < 0.5 ? 0 : 128) : rng.int(256);
        const scales = ledger.floats(blocks, 'optimizer', 't', 'scales');
        for (let b = 0; b < blocks; b++) scales[b] = GAMMA * 1e-3 * rows ** 0.5 * (0.5 + rng.next());
        const refCodes = ledger.u8(total, 'optimizer', 't', 'ref codes');
        refCodes.set(codes);
        const refScales = ledger.floats(blocks, 'optimizer', 't', 'ref scales');
        refScales.set(scales);

        const dyFloats = ledger.floats(rows * m, 'workspace', 't', 'dy floats');
        dy.read(0, rows, 0, m, dyFloats);
        const dw = ledger.floats(total, 'workspace', 't', 'dw').fill(0);
        if (kind === 'pixels') {
          const pixels = ledger.u8(rows * n, 'workspace', 't', 'pixels');
          for (let k = 0; k < pixels.length; k++) pixels[k] = rng.int(256);
          t.ok(K.bopDwPixels!(view!.words, view!.bias, pixels, rows, m, n, codes, scales, GAMMA), 'done in one call');
          const x = ledger.floats(rows * n, 'workspace', 't', 'x');
          K.pixelsToFloat!(pixels, rows * n, x);
          K.gemmTnFloat(dyFloats, x, rows, m, n, dw);
        } else {
          const x = ledger.u32(rows * wordsFor(n), 'workspace', 't', 'x');
          packSignRows(
            Float32Array.from({ length: rows * n }, () => rng.normal()),
            rows,
            n,
            x,
          );
          t.ok(K.bopDwBits!(view!.words, view!.bias, x, rows, m, n, codes, scales, GAMMA), 'done in one call');
          K.gemmTnBin(dyFloats, x, rows, m, n, dw);
        }
        K.bopFoldSlog!(refCodes, refScales, total, 0, dw, total, GAMMA, ledger.floats(256, 'workspace', 't', 'bm'));

        let badCodes = 0;
        let changed = 0;
        for (let k = 0; k < total; k++) {
          if (codes[k] !== refCodes[k]) badCodes++;
        }
        let badScales = 0;
        for (let b = 0; b < blocks; b++) if (!Object.is(scales[b], refScales[b])) badScales++;
        for (let k = 0; k < total; k++) if ((codes[k] & 127) !== 0) changed++;
        t.equal(badCodes, 0, `${total} codes equal`);
        t.equal(badScales, 0, `${blocks} block scales equal`);
        t.ok(changed > total / 2, 'most codes non-zero');
        K.dispose?.();
      });

t.test('bopDw declines inputs whose whole-block tiles do not fit its scratch (the layer then goes tile by tile)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const rows = 4;
  const m = 16;
  const momentum = (n: number) => [ledger.u8(m * n, 'optimizer', 't', 'codes'), ledger.floats(Math.ceil((m * n) / 256), 'optimizer', 't', 'scales')] as const;
  const dy = ledger.u32(64, 'workspace', 't', 'dy');
  // signs: 16 rows of 784 make whole blocks, the scratch holds 8
  t.notOk(K.bopDwBits!(dy, 0, ledger.u32(rows * wordsFor(784), 'workspace', 't', 'x'), rows, m, 784, ...momentum(784), GAMMA), 'signs, 784 wide');
  // pixels: a tile of 4 rows of 40,000 is larger than the scratch
  t.notOk(K.bopDwPixels!(dy, 0, ledger.u8(rows * 40000, 'workspace', 't', 'pixels'), rows, m, 40000, ...momentum(40000), GAMMA), 'pixels, 40,000 wide');
  K.dispose?.();
});
