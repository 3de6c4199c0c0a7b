import t from 'tap';
import { po2Bias, po2Decode, po2Encode, po2Get, po2Put, po2Quantize, po2Words } from '../quant/po2.js';
import { MemoryLedger } from '../src/ledger.js';
import { Rng } from '../src/rng.js';
import { createGradStore, fillStore } from '../src/storage/grad-store.js';

t.test('bias and quantized values follow the DESIGN formula', async (t) => {
  t.equal(po2Bias(1), 8);
  t.equal(po2Bias(0.01), 8 - Math.round(Math.log2(0.01)));
  const G = [0.3, -0.02, 0.0011, -0.7, 0.125];
  const b = po2Bias(Math.max(...G.map(Math.abs)));
  for (const g of G) {
    const e = Math.max(-8, Math.min(7, Math.round(Math.log2(Math.abs(g) * 2 ** b))));
    t.equal(po2Quantize(g, b), Math.sign(g) * 2 ** (e - b), `Q(${g})`);
  }
});

t.test('zero, tiny, huge and NaN inputs', async (t) => {
  const b = po2Bias(1);
  t.equal(po2Quantize(0, b), 0, 'zero is exact');
  t.equal(po2Encode(0, b), 0);
  t.equal(po2Quantize(1e-12, b), 0, 'far below the range flushes to zero');
  t.equal(po2Quantize(2 ** (-7 - b), b), 2 ** (-7 - b), 'smallest code');
  t.equal(po2Quantize(1e6, b), 2 ** (7 - b), 'above the range clips to the largest code');
  t.equal(po2Quantize(-1e6, b), -(2 ** (7 - b)));
  t.equal(po2Quantize(NaN, b), 0, 'NaN stores as zero');
  t.equal(po2Bias(0), 0, 'all-zero tensor');
});

t.test('5-bit packing across word boundaries', async (t) => {
  const rng = new Rng(2);
  const n = 1000;
  const words = new Uint32Array(po2Words(n));
  t.equal(words.length, Math.ceil((n * 5) / 32));
  const codes = Array.from({ length: n }, () => rng.int(32));
  codes.forEach((c, i) => po2Put(words, i, c));
  // overwrite some in place: neighbours must be untouched
  for (let i = 0; i < n; i += 7) {
    codes[i] = 31 - codes[i];
    po2Put(words, i, codes[i]);
  }
  t.same(Array.from({ length: n }, (_, i) => po2Get(words, i)), codes);
});

t.test('po2 gradient store: packed at 5 bits, decodes to Q(G)', async (t) => {
  const ledger = new MemoryLedger();
  const rows = 13;
  const cols = 7;
  const store = createGradStore('po2', rows * cols, ledger, 'x', 'g');
  t.equal(ledger.totalBytes, po2Words(rows * cols) * 4, 'ledger holds the packed size');
  const rng = new Rng(9);
  const G = Float32Array.from({ length: rows * cols }, () => rng.normal() * 0.01);
  G[3] = 0;
  store.setShape(rows, cols);
  const scratch = new Float32Array(4 * cols);
  fillStore(store, 4, scratch, (i0, i1, out) => out.set(G.subarray(i0 * cols, i1 * cols)));
  const back = new Float32Array(rows * cols);
  store.read(0, rows, 0, cols, back);
  const b = po2Bias(Math.max(...Array.from(G, Math.abs)));
  t.same(Array.from(back), Array.from(G, (g) => Math.fround(po2Decode(po2Encode(g, b), b))));
});
