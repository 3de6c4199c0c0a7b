import t from 'tap';
import { getBit, packSignRows, popcount32, unpackSignRows, wordsFor } from '../src/bits.js';
import { Rng } from '../src/rng.js';

t.test('popcount32 counts set bits of any 32-bit word', async (t) => {
  const rng = new Rng(3);
  let wrong = 0;
  for (let k = 0; k < 1000; k++) {
    const x = rng.nextU32();
    let n = 0;
    for (let b = 0; b < 32; b++) n += (x >>> b) & 1;
    if (popcount32(x) !== n) wrong++;
  }
  t.equal(wrong, 0, 'random words');
  t.equal(popcount32(0xffffffff), 32);
  t.equal(popcount32(0), 0);
});

t.test('packSignRows / unpackSignRows round-trip with zero padding', async (t) => {
  const rng = new Rng(5);
  for (const cols of [1, 31, 32, 33, 70]) {
    const rows = 3;
    const src = Float32Array.from({ length: rows * cols }, () => rng.normal());
    src[0] = 0; // sign(0) = +1
    const bits = new Uint32Array(rows * wordsFor(cols));
    packSignRows(src, rows, cols, bits);
    const back = new Float32Array(rows * cols);
    unpackSignRows(bits, rows, cols, back);
    const expected = Array.from(src, (v) => (v >= 0 ? 1 : -1));
    t.same(Array.from(back), expected, `${cols} columns`);
    const pad = cols & 31;
    let padBits = 0;
    if (pad) for (let r = 0; r < rows; r++) padBits |= bits[r * wordsFor(cols) + wordsFor(cols) - 1] >>> pad;
    t.equal(padBits, 0, 'padding bits are zero');
    t.equal(getBit(bits, wordsFor(cols), 0, 0), 1, 'sign(0) = +1');
  }
});
