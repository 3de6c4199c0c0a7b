// Fixed-point weight quantizers (issue: hardware-friendly quantizers): exact power-of-two scales
// and clipping, STE gradients against finite differences where the function is differentiable,
// the MSQE search finds the true minimum, the outlier mask ignores planted outliers, the stable
// exponent stops flipping, and MSQE-round picks the better neighbour of ẽ.
import t from 'tap';
import { GradientQuantizer, initialExponent, MsqeQuantizer, msqeExponent, outlierMasked, qRange, quantizePo2, weightedMsqe } from '../quant/po2-quantizers.js';
import { Rng } from '../src/rng.js';
import { randomFloats } from './helpers.js';

t.test('exact power-of-two scales, integer levels in range, clipping counted', async (t) => {
  const w = Float64Array.of(0.3, -0.26, 1.9, -5, 0.01, 0.124);
  const out = new Float64Array(6);
  const clipped = quantizePo2(w, -3, { bits: 4 }, out); // s = 1/8, levels −7 … 7
  t.same(Array.from(out), [0.25, -0.25, 0.875, -0.875, 0, 0.125]);
  t.equal(clipped, 2);
  t.ok(out.every((v) => Number.isInteger(v * 8) && Math.abs(v * 8) <= 7));
  t.same(qRange({ bits: 8, unsigned: true }), { lo: 0, hi: 255 });
  t.throws(() => qRange({ bits: 1 }), /not supported/);
});

t.test('the MSQE exponent is the true minimum over all exponents (constructed tensors)', async (t) => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 20; trial++) {
    const scale = 2 ** (rng.int(12) - 6);
    const w = randomFloats(rng, 500).map((v) => v * scale * (trial % 3 ? 1 : rng.next() * 5));
    for (const bits of [2, 4, 8]) {
      const f = { bits };
      let bestE = 0;
      let bestErr = Infinity;
      for (let e = -30; e <= 10; e++) {
        const err = weightedMsqe(w, e, f);
        if (err < bestErr) [bestE, bestErr] = [e, err];
      }
      // from the first step's start (max-based) and from a last-step exponent 3 octaves off
      for (const start of [initialExponent(w, f), bestE + 3, bestE - 3]) {
        const got = msqeExponent(w, f, start);
        t.equal(weightedMsqe(w, got, f), bestErr, `trial ${trial}, ${bits} bits, start ${start}: e = ${got} (best ${bestE})`);
      }
    }
  }
});

t.test('outlier mask: planted outliers do not set the scale', async (t) => {
  const rng = new Rng(8);
  const clean = randomFloats(rng, 1000).map((v) => v * 0.05);
  const planted = Float64Array.from(clean);
  for (const i of [10, 200, 777]) planted[i] = 40;
  const f = { bits: 4 };
  const eClean = msqeExponent(clean, f, 0);
  t.equal(msqeExponent(planted, f, 0, outlierMasked(planted, undefined)), eClean, "masked: the clean tensor's exponent");
  t.ok(msqeExponent(planted, f, 0) > eClean, 'unmasked: the outliers pull the scale up');
  const m = outlierMasked(planted, undefined);
  t.same([m[10], m[200], m[777]], [0, 0, 0]);
});

t.test('MSQE quantizer: second-moment weights, STE backward, stable exponent stops the flips', async (t) => {
  const rng = new Rng(5);
  const f = { bits: 4 };
  const plain = new MsqeQuantizer(f, 400);
  const stable = new MsqeQuantizer(f, 400, { stableFrom: 0.5, secondMoment: true, outlierMask: true });
  const w = randomFloats(rng, 400).map((v) => v * 0.1);
  const out = new Float64Array(400);
  const g = new Float64Array(400);
  let flipsAfterSwitch = 0;
  for (let step = 0; step < 200; step++) {
    // weights drift around a boundary between two exponents: the unstable case of the paper
    const drift = 1 + 0.3 * Math.sin(step / 3);
    const ws = w.map((v) => v * drift);
    plain.quantize(ws, out, step / 200);
    const before = stable.flips;
    stable.quantize(ws, out, step / 200);
    if (step >= 100) flipsAfterSwitch += stable.flips - before;
    stable.backward(ws, randomFloats(rng, 400), g);
  }
  t.ok(plain.flips > 10, `without the fix the exponent flips (${plain.flips} flips)`);
  t.equal(flipsAfterSwitch, 0, 'with the stable exponent: no flips after the switch');
  t.ok(
    (stable.gradSq as Float64Array).some((v) => v > 0),
    'second moments collected',
  );
  // STE: identity inside the range, zero where clipped
  const wq = Float64Array.of(0.01, 100, -100);
  const q = new MsqeQuantizer(f, 3);
  q.exponent = -4;
  const dw = new Float64Array(3);
  q.backward(wq, Float64Array.of(1, 1, 1), dw);
  t.same(Array.from(dw), [1, 0, 0]);
});

t.test('gradient-based quantizer: dL/dẽ matches finite differences where w_q is differentiable (clipped elements)', async (t) => {
  const f = { bits: 4 };
  const q = new GradientQuantizer(f, 'ceil', -2.3);
  const w = Float64Array.of(5, -7, 3.3); // all clipped at e = −2 (levels ±7 × 0.25)
  const g = Float64Array.of(0.5, -1.5, 2);
  const out = new Float64Array(3);
  q.quantize(w, out);
  const dw = new Float64Array(3);
  const dLog = q.backward(w, g, dw);
  t.same(Array.from(dw), [0, 0, 0]);
  // L(ẽ) = Σ g·s(ẽ)·clip: with s = 2^ẽ continuous (the STE through ceil), L = Σ g·2^ẽ·(±7)
  const L = (le: number) => g.reduce((acc, gi, i) => acc + gi * 2 ** le * (w[i] > 0 ? 7 : -7), 0);
  const h = 1e-6;
  const numeric = (L(-2 + h) - L(-2 - h)) / (2 * h);
  t.ok(Math.abs(dLog - numeric) < 1e-6 * Math.abs(numeric), `analytic ${dLog}, numeric ${numeric}`);
  const init = GradientQuantizer.init(randomFloats(new Rng(1), 1000), f, 'ceil');
  t.ok(Math.abs(init.logScale - Math.log2(3 / 7)) < 0.1, `ẽ0 = log2(3·std/Qp): ${init.logScale}`);
});

t.test('MSQE-round picks the neighbour of ẽ with the lower MSQE; ceil does not always', async (t) => {
  const rng = new Rng(11);
  const f = { bits: 4 };
  let better = 0;
  for (let trial = 0; trial < 30; trial++) {
    const w = randomFloats(rng, 300).map((v) => v * 0.2);
    const le = -5 + rng.next() * 3;
    const ceil = new GradientQuantizer(f, 'ceil', le).exponentFor(w);
    const round = new GradientQuantizer(f, 'msqe-round', le).exponentFor(w);
    t.ok(round === Math.floor(le) || round === Math.ceil(le));
    // the same mask MSQE-round uses: elements beyond the learned range 2^ẽ·(Qp + 0.5) do not count
    const m = w.map((v) => (Math.abs(v) > 2 ** le * 7.5 ? 0 : 1));
    t.ok(weightedMsqe(w, round, f, m) <= weightedMsqe(w, ceil, f, m), `trial ${trial}`);
    if (weightedMsqe(w, round, f, m) < weightedMsqe(w, ceil, f, m)) better++;
  }
  t.ok(better > 0, `MSQE-round strictly better in ${better} of 30`);
});

t.test('gradient-based outlier fix: clipped elements do not pull the learned range', async (t) => {
  const f = { bits: 4 };
  const w = Float64Array.of(0.1, -0.05, 9, 0.02); // 9 is far beyond 2^-4·7.5
  const g = Float64Array.of(0.3, -0.2, 1, 0.5);
  const plain = new GradientQuantizer(f, 'ceil', -4);
  const masked = new GradientQuantizer(f, 'ceil', -4, true);
  plain.quantize(w, new Float64Array(4));
  masked.quantize(w, new Float64Array(4));
  const dPlain = plain.backward(w, g, new Float64Array(4));
  const dMasked = masked.backward(w, g, new Float64Array(4));
  // the difference is exactly the clipped element's term g·s·ln2·Qp
  t.ok(Math.abs(dPlain - dMasked - 1 * 2 ** -4 * Math.LN2 * 7) < 1e-12, `${dPlain} - ${dMasked}`);
});
