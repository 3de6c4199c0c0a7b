// The gradient codecs split across kernel threads above 32 K elements (float16 encode/decode, row
// decode, po2 read and write): on 2 threads the same bits as the TypeScript codecs, on sizes that
// split unevenly and rows and writes that start mid-word in the packed po2 codes.
import t from 'tap';
import { wasmAvailable, wasmKernels } from '../src/kernels/wasm.js';
import { po2CodeOfScaled, po2Decode, po2Get, po2Put, po2Words } from '../src/storage/po2.js';
import { fromHalf, toHalf } from '../src/storage/fp16.js';
import { Rng } from '../src/rng.js';

t.ok(wasmAvailable(), 'the wasm kernels load on this machine');

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return `element ${i}: ${a[i]} != ${b[i]}`;
  return '';
};

for (const threads of [1, 2])
  t.test(`${threads} thread(s): float16 encode and decode, row decode, po2 read of 70,001 elements`, async (t) => {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(5 + threads);
    const n = 70001;
    const src = ledger.floats(n, 'workspace', 't', 'src');
    for (let i = 0; i < n; i++) src[i] = i % 97 === 0 ? 0 : rng.normal() * 2 ** (rng.int(40) - 20);
    const halves = ledger.u16(n, 'workspace', 't', 'halves');
    K.floatToHalf!(src, n, halves);
    t.equal(
      sameBits(
        halves,
        Array.from(src, (v) => toHalf(v, true)),
      ),
      '',
      'floatToHalf: toHalf (saturating) of every element',
    );
    const back = ledger.floats(n, 'workspace', 't', 'back');
    K.halfToFloat!(halves, n, back);
    t.equal(
      sameBits(
        back,
        Array.from(halves, (h) => Math.fround(fromHalf(h))),
      ),
      '',
      'halfToFloat: fromHalf of every code',
    );
    // rows of 333 columns out of rows 400 apart: 175 rows
    const [rows, stride, cols] = [175, 400, 333];
    const rowsOut = ledger.floats(rows * cols, 'workspace', 't', 'rows');
    K.halfRowsToFloat!(halves, rows, stride, cols, rowsOut);
    const wantRows = Array.from({ length: rows * cols }, (_, k) => Math.fround(fromHalf(halves[Math.floor(k / cols) * stride + (k % cols)])));
    t.equal(sameBits(rowsOut, wantRows), '', 'halfRowsToFloat: each row decoded in place');
    // po2 codes: random, read from element 3 on (mid-word) in rows of 333 out of 401
    const words = ledger.u32(po2Words(n), 'workspace', 't', 'po2');
    // every code an encoder writes (16, a signed zero magnitude, it never does: a zero is code 0)
    for (let i = 0; i < n; i++) {
      const code = rng.int(32);
      po2Put(words, i, code === 16 ? 0 : code);
    }
    const bias = -3;
    const po2Rows = 170;
    const out = ledger.floats(po2Rows * cols, 'workspace', 't', 'po2out');
    K.po2Read!(words, 3, po2Rows, 401, cols, bias, out);
    const wantPo2 = Array.from({ length: po2Rows * cols }, (_, k) => Math.fround(po2Decode(po2Get(words, 3 + Math.floor(k / cols) * 401 + (k % cols)), bias)));
    t.equal(sameBits(out, wantPo2), '', 'po2Read: every code decoded under the bias');
    K.dispose?.();
  });

for (const threads of [1, 2])
  t.test(`${threads} thread(s): po2 write (and its range) of 70,001 values from code 7 on`, async (t) => {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(11 + threads);
    const [n, base, b] = [70001, 7, 4];
    const src = ledger.floats(n, 'workspace', 't', 'src');
    for (let i = 0; i < n; i++) src[i] = i % 89 === 0 ? 0 : rng.normal() * 2 ** (rng.int(24) - 16);
    src[40000] = Number.NaN; // ignored by the range, coded as the reference codes it
    const words = ledger.u32(po2Words(base + n + 40), 'workspace', 't', 'po2');
    const want = new Uint32Array(words.length);
    for (const withRange of [false, true]) {
      words.fill(0xa5a5a5a5);
      want.fill(0xa5a5a5a5);
      for (let i = 0; i < n; i++) po2Put(want, base + i, po2CodeOfScaled(Math.abs(src[i]) * 2 ** b, src[i] < 0));
      let range: { max: number; minNonzero: number } | null = null;
      if (withRange) range = K.po2WriteRange!(src, n, words, base, 2 ** b);
      else K.po2Write!(src, n, words, base, 2 ** b);
      t.same(Array.from(words), Array.from(want), `${withRange ? 'po2WriteRange' : 'po2Write'}: the reference's codes, neighbours' bits kept`);
      if (range) {
        const abs = Array.from(src, Math.abs).filter((v) => !Number.isNaN(v));
        t.equal(range.max, Math.max(...abs), 'the largest |value|, NaN ignored');
        t.equal(range.minNonzero, Math.min(...abs.filter((v) => v > 0)), 'the smallest non-zero |value|');
      }
    }
    K.dispose?.();
  });
