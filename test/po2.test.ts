import t from 'tap';
import { po2Bias, po2Decode, po2Encode, po2Get, po2Put, po2Quantize, po2Words } from '../src/storage/po2.js';
import { MemoryLedger, type Floats } from '../src/ledger.js';
import { Rng } from '../src/rng.js';
import { createGradStore, fillStore } from '../src/storage/grad-store.js';

t.test('bias and quantized values follow the formula of docs/method.md §3', async (t) => {
  t.equal(po2Bias(1), 7);
  t.equal(po2Bias(0.01), 7 - Math.round(Math.log2(0.01)));
  // the largest entry lands on the top code, not above it
  t.equal(po2Quantize(1, po2Bias(1)), 1);
  t.equal(po2Quantize(-0.7, po2Bias(0.7)), -0.5);
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
  codes.forEach((c, i) => {
    po2Put(words, i, c);
  });
  // overwrite some in place: neighbours must be untouched
  for (let i = 0; i < n; i += 7) {
    codes[i] = 31 - codes[i];
    po2Put(words, i, codes[i]);
  }
  t.same(
    Array.from({ length: n }, (_, i) => po2Get(words, i)),
    codes,
  );
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
  t.same(
    Array.from(back),
    Array.from(G, (g) => Math.fround(po2Decode(po2Encode(g, b), b))),
  );
});

t.test('the bit-level encoder equals round(log2) on random and boundary values', async (t) => {
  const rng = new Rng(12);
  let checked = 0;
  for (let k = 0; k < 20000; k++) {
    const v = (rng.next() - 0.5) * 2 ** (rng.int(40) - 20);
    const b = rng.int(30) - 10;
    const a = Math.abs(v) * 2 ** b;
    const e = Math.round(Math.log2(a));
    const want = v === 0 || e < -7 ? 0 : (v < 0 ? 16 : 0) | (Math.min(7, e) + 8);
    if (po2Encode(v, b) !== want) t.fail(`v=${v} b=${b}: ${po2Encode(v, b)} vs ${want}`);
    checked++;
  }
  for (let e = -9; e <= 9; e++) {
    const mid = 2 ** (e + 0.5);
    // just below and just above the geometric midpoint between 2^e and 2^(e+1)
    t.equal(po2Encode(mid * (1 - 1e-12), 0) & 15, e < -7 ? 0 : Math.min(7, e) + 8, `below 2^${e + 0.5}`);
    t.equal(po2Encode(mid * (1 + 1e-12), 0) & 15, e + 1 < -7 ? 0 : Math.min(7, e + 1) + 8, `above 2^${e + 0.5}`);
  }
  t.equal(checked, 20000);
});

t.test('a store filled in place (reading rows not yet rewritten) decodes them with the bias they were written with', async (t) => {
  const ledger = new MemoryLedger();
  const store = createGradStore('po2', 64, ledger, 'x', 'g');
  store.setShape(8, 8);
  const first = Float32Array.from({ length: 64 }, (_, i) => ((i % 7) - 3) * 0.01);
  fillStore(store, 2, new Float32Array(16), (i0, i1, out) => out.set(first.subarray(i0 * 8, i1 * 8)));
  // in place: double every value (a new maximum, so a new bias), reading each row before writing it
  fillStore(store, 2, new Float32Array(16), (i0, i1, out) => {
    store.read(i0, i1, 0, 8, out);
    for (let k = 0; k < (i1 - i0) * 8; k++) out[k] *= 64;
  });
  const got = new Float32Array(64);
  store.read(0, 8, 0, 8, got);
  const once = Array.from(first, (v) => 64 * po2Quantize(v, po2Bias(0.03)));
  const b2 = po2Bias(Math.max(...once.map(Math.abs)));
  for (let i = 0; i < 64; i++) t.equal(got[i], po2Quantize(once[i], b2), `element ${i}`);
});

t.test('a filled store reshaped by a flatten layer (B rows -> B·h·w rows) decodes every row under its bias', async (t) => {
  const ledger = new MemoryLedger();
  const store = createGradStore('po2', 64, ledger, 'x', 'g');
  // an earlier fill with another bias (the store is shared by layers)
  store.setShape(64, 1);
  fillStore(store, 8, new Float32Array(64), (_i0, _i1, out) => out.fill(1000));
  // dense backward writes 2 rows of 32; flatten turns them into 16 rows of 4 for the pool below
  const G = Float32Array.from({ length: 64 }, (_, i) => ((i % 9) - 4) * 0.013);
  store.setShape(2, 32);
  fillStore(store, 1, new Float32Array(32), (i0, i1, out) => out.set(G.subarray(i0 * 32, i1 * 32)));
  store.setShape(16, 4);
  const got = new Float32Array(64);
  store.read(0, 16, 0, 4, got);
  const b = po2Bias(Math.max(...Array.from(G, Math.abs)));
  t.same(
    Array.from(got),
    Array.from(G, (g) => Math.fround(po2Quantize(g, b))),
  );
});

t.test('a one-pass fill equals the two-pass fill always: rows written before a chunk that raises the scale are re-coded', async (t) => {
  const { wasmKernels } = await import('../src/kernels/wasm.js');
  const { kernels, ledger: arena } = wasmKernels.instantiate!();
  for (const [what, ledger, codec] of [
    ['JavaScript store', new MemoryLedger(), undefined],
    ['wasm store', arena, kernels],
  ] as const) {
    const onePass = createGradStore('po2', 96, ledger, 'x', 'h', codec);
    const plain = createGradStore('po2', 96, ledger, 'x', 'p', codec);
    const scratch = ledger.floats(24, 'workspace', 'x', 'scratch');
    const rng = new Rng(5);
    let recodes = 0;
    const recode = onePass.recode!.bind(onePass);
    onePass.recode = (i0, i1) => {
      recodes++;
      recode(i0, i1);
    };
    // the max stays, falls by 4x, rises by 16x; values over 30 octaves (some flush to zero), one
    // chunk of zeros; then chunks whose max grows 8x a chunk, the first chunk all zeros, one
    // infinity in the last chunk
    const steps: ((k: number) => number)[] = [1, 1.05, 0.25, 0.26, 4, 4.1, 1e-3, 1].map(
      (scale) => (k) => (k >= 36 && k < 48 ? 0 : (rng.next() - 0.5) * scale * 2 ** -rng.int(30)),
    );
    steps.push((k) => (rng.next() - 0.5) * 8 ** Math.floor(k / 24) * 2 ** -rng.int(20));
    steps.push((k) => (k < 24 ? 0 : (rng.next() - 0.5) * 2 ** -rng.int(20)));
    steps.push((k) => (k === 90 ? Number.POSITIVE_INFINITY : (rng.next() - 0.5) * 2 ** -rng.int(20)));
    for (const [step, value] of steps.entries()) {
      const G = Float32Array.from({ length: 96 }, (_, k) => value(k));
      let calls = 0;
      const compute = (i0: number, i1: number, out: Floats) => {
        calls++;
        out.set(G.subarray(i0 * 12, i1 * 12));
      };
      onePass.setShape(8, 12);
      plain.setShape(8, 12);
      fillStore(onePass, 2, scratch, compute, true);
      const onePassCalls = calls;
      fillStore(plain, 2, scratch, compute);
      const a = new Float32Array(96);
      const b = new Float32Array(96);
      onePass.read(0, 8, 0, 12, a);
      plain.read(0, 8, 0, 12, b);
      t.same(Array.from(a), Array.from(b), `${what}, step ${step}: the codes of a two-pass fill`);
      const infinite = G.some((v) => !Number.isFinite(v));
      t.ok(infinite ? onePassCalls <= 8 : onePassCalls === 4, `${what}, step ${step}: ${onePassCalls} chunk computations`);
    }
    t.ok(recodes > 0, `${what}: ${recodes} re-codes of rows written before a chunk that raised the scale`);
  }
  kernels.dispose?.();
});

t.test('re-coding to another bias gives the codes of encoding under it wherever po2Recodable says so', async (t) => {
  const { po2Recodable, po2RecodeTable, po2CodeOfScaled } = await import('../src/storage/po2.js');
  const rng = new Rng(8);
  let checked = 0;
  for (let trial = 0; trial < 400; trial++) {
    const b = rng.int(40) - 20;
    const delta = rng.int(9) - 4;
    const v = Array.from({ length: 16 }, () => (rng.next() - 0.5) * 2 ** (rng.int(40) - 20) * (rng.int(10) === 0 ? 0 : 1));
    const abs = v.map(Math.abs);
    const max = Math.max(...abs);
    const nonzero = abs.filter((a) => a > 0);
    const minNonzero = nonzero.length ? Math.min(...nonzero) : Infinity;
    if (!po2Recodable(b, delta, max, minNonzero)) continue;
    const table = po2RecodeTable(delta);
    const recoded = v.map((x) => table[po2CodeOfScaled(Math.abs(x) * 2 ** b, x < 0)]);
    const direct = v.map((x) => po2CodeOfScaled(Math.abs(x) * 2 ** (b + delta), x < 0));
    t.same(recoded, direct, `b=${b} delta=${delta}`);
    checked++;
  }
  t.ok(checked > 100, `${checked} recodable cases checked`);
});
