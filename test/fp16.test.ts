import t from 'tap';
import { FP16_MAX, FP16_MIN_NORMAL, FP16_MIN_SUBNORMAL, fromHalf, toHalf } from '../src/storage/fp16.js';
import { Rng } from '../src/rng.js';

t.test('exact values round-trip', async (t) => {
  for (const v of [0, 1, -1, 0.5, 2, 1024, FP16_MAX, -FP16_MAX, FP16_MIN_NORMAL, FP16_MIN_SUBNORMAL, 3 * FP16_MIN_SUBNORMAL, 0.333251953125])
    t.equal(fromHalf(toHalf(v)), v, `${v}`);
  t.equal(toHalf(0), 0x0000, '+0');
  t.equal(toHalf(-0), 0x8000, '-0 keeps its sign');
  t.ok(Object.is(fromHalf(0x8000), -0));
  t.equal(toHalf(1), 0x3c00);
  t.equal(toHalf(FP16_MAX), 0x7bff);
  t.equal(toHalf(FP16_MIN_SUBNORMAL), 0x0001, 'smallest subnormal');
  t.equal(toHalf(FP16_MIN_NORMAL), 0x0400, 'smallest normal');
});

t.test('rounding: nearest, ties to even, subnormals, underflow', async (t) => {
  t.equal(fromHalf(toHalf(1 + 2 ** -11)), 1, 'tie between 1 and 1+2^-10 goes to even (1)');
  t.equal(fromHalf(toHalf(1 + 3 * 2 ** -11)), 1 + 2 ** -9, 'tie goes to even (1+2^-9)');
  t.equal(fromHalf(toHalf(1 + 2 ** -11 + 2 ** -20)), 1 + 2 ** -10, 'above the tie rounds up');
  t.equal(fromHalf(toHalf(2.5 * FP16_MIN_SUBNORMAL)), 2 * FP16_MIN_SUBNORMAL, 'subnormal tie to even');
  t.equal(fromHalf(toHalf(0.49 * FP16_MIN_SUBNORMAL)), 0, 'below half the smallest subnormal flushes to 0');
  t.equal(fromHalf(toHalf(0.51 * FP16_MIN_SUBNORMAL)), FP16_MIN_SUBNORMAL);
  t.equal(fromHalf(toHalf(0.5 * FP16_MIN_SUBNORMAL)), 0, 'exact half ties to even (0)');
  t.equal(fromHalf(toHalf(FP16_MIN_NORMAL - FP16_MIN_SUBNORMAL / 4)), FP16_MIN_NORMAL, 'subnormal rounds up into the normals');
});

t.test('overflow, infinity and NaN', async (t) => {
  t.equal(fromHalf(toHalf(70000)), Infinity, 'overflow gives +Infinity');
  t.equal(fromHalf(toHalf(-70000)), -Infinity);
  t.equal(fromHalf(toHalf(65520)), Infinity, '65520 rounds past the max');
  t.equal(fromHalf(toHalf(65519)), FP16_MAX, '65519 rounds to the max');
  t.equal(fromHalf(toHalf(70000, true)), FP16_MAX, 'saturating encode clamps');
  t.equal(fromHalf(toHalf(-Infinity, true)), -FP16_MAX, 'saturating encode clamps infinities');
  t.equal(fromHalf(toHalf(Infinity)), Infinity);
  t.ok(Number.isNaN(fromHalf(toHalf(NaN))), 'NaN stays NaN');
  t.ok(Number.isNaN(fromHalf(toHalf(NaN, true))), 'NaN stays NaN when saturating');
});

t.test('random values: relative error within half an ulp', async (t) => {
  const rng = new Rng(11);
  let worstRel = 0;
  let worstAbsSubnormal = 0;
  for (let k = 0; k < 20000; k++) {
    const v = (rng.next() * 2 - 1) * 2 ** (rng.int(28) - 18);
    const back = fromHalf(toHalf(v));
    if (Math.abs(v) >= FP16_MIN_NORMAL) worstRel = Math.max(worstRel, Math.abs(back - v) / Math.abs(v));
    else worstAbsSubnormal = Math.max(worstAbsSubnormal, Math.abs(back - v));
  }
  t.ok(worstRel <= 2 ** -11, `normals: worst relative error ${worstRel}`);
  t.ok(worstAbsSubnormal <= FP16_MIN_SUBNORMAL / 2, `subnormals: worst absolute error ${worstAbsSubnormal}`);
});

t.test('every half bit pattern decodes and re-encodes to itself', async (t) => {
  let wrong = 0;
  for (let h = 0; h < 0x10000; h++) {
    const v = fromHalf(h);
    if (Number.isNaN(v)) continue;
    if (toHalf(v) !== h) wrong++;
  }
  t.equal(wrong, 0);
});
