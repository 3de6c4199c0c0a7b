// The standard recipe's dense weight gradient applied by Adam in one kernel call (denseDwAdam, and
// denseDwAdamFloat over a first layer's float inputs:
// threads take ranges of output rows, each tile summed in the thread's scratch and then stepped),
// against the same work done whole: gemmTnBin over every row into a float32 dW, then adamUpdate
// over the tensor. Every bit of the weights and both moments. Shapes leave a short last tile, a
// short last group of rows, a column tail, tiles of few rows (784 inputs) and a split; some
// weights sit past the clip, so the straight-through mask matters.
import t from 'tap';
import { packSignRows, wordsFor } from '../src/bits.js';
import type { AdamStep, AdamTensor } from '../src/kernels/kernels.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import type { Floats } from '../src/ledger.js';
import { Rng } from '../src/rng.js';

const SHAPES = [
  { rows: 3, m: 5, n: 40 },
  { rows: 70, m: 200, n: 100 },
  { rows: 100, m: 256, n: 256 },
  { rows: 130, m: 72, n: 784 },
];

const STEP: AdamStep = { lr: 1e-2, b1: 0.9, b2: 0.999, c1: 1 - 0.9 ** 3, c2: 1 - 0.999 ** 3, epsScaled: 1e-8, scale: 1, ratio: 1 };

const sameBits = (a: Floats, b: Floats) => {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let bad = 0;
  for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) bad++;
  return bad;
};

for (const threads of [1, 2])
  for (const { rows, m, n } of SHAPES)
    t.test(`denseDwAdam ${rows}x${m} over ${n} inputs, ${threads} thread(s): gemmTnBin then Adam, every bit`, async (t) => {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(rows * 17 + m + n);
      const dy = ledger.floats(rows * m, 'workspace', 't', 'dy');
      for (let k = 0; k < dy.length; k++) dy[k] = rng.next() < 0.1 ? 0 : rng.normal() * 10 ** (rng.int(5) - 5);
      const x = ledger.u32(rows * wordsFor(n), 'workspace', 't', 'x');
      packSignRows(
        Float32Array.from({ length: rows * n }, () => rng.normal()),
        rows,
        n,
        x,
      );
      const state = () => ({
        w: ledger.floats(m * n, 'weights', 't', 'w'),
        m: ledger.floats(m * n, 'optimizer', 't', 'm'),
        v: ledger.floats(m * n, 'optimizer', 't', 'v'),
      });
      const fused = state();
      const whole = state();
      for (let k = 0; k < m * n; k++) {
        fused.w[k] = whole.w[k] = rng.normal() * 0.7; // about 15% past the clip of 1
        fused.m[k] = whole.m[k] = rng.normal() * 1e-3;
        fused.v[k] = whole.v[k] = rng.next() * 1e-6;
      }
      const tensor = (s: typeof fused, grad: Floats): AdamTensor => ({
        ...s,
        grad,
        gradBits: false,
        cols: m * n,
        gradScale: 1,
        n: m * n,
        binary: true,
        clip: 1,
      });
      t.ok(K.denseDwAdam!(dy, x, rows, m, n, tensor(fused, dy.subarray(0, 0)), STEP), 'done in one call');
      const dw = ledger.floats(m * n, 'workspace', 't', 'dw').fill(0);
      K.gemmTnBin(dy, x, rows, m, n, dw);
      K.adamUpdate!(tensor(whole, dw), STEP);
      t.equal(sameBits(fused.w, whole.w), 0, 'weights: every bit');
      t.equal(sameBits(fused.m, whole.m), 0, 'm: every bit');
      t.equal(sameBits(fused.v, whole.v), 0, 'v: every bit');
      // over float inputs (a first layer's pixels as floats: (2p − 255)/255, zeros included)
      const xf = ledger.floats(rows * n, 'workspace', 't', 'xf');
      for (let k = 0; k < xf.length; k++) xf[k] = rng.next() < 0.3 ? -1 : (2 * rng.int(256) - 255) / 255;
      t.ok(K.denseDwAdamFloat!(dy, xf, rows, m, n, tensor(fused, dy.subarray(0, 0)), STEP), 'float inputs: done in one call');
      dw.fill(0);
      K.gemmTnFloat(dy, xf, rows, m, n, dw);
      K.adamUpdate!(tensor(whole, dw), STEP);
      t.equal(sameBits(fused.w, whole.w) + sameBits(fused.m, whole.m) + sameBits(fused.v, whole.v), 0, 'float inputs: weights and moments, every bit');
      let moved = 0;
      for (let k = 0; k < m * n; k++) if (Math.abs(whole.w[k]) <= 1 && whole.m[k] !== 0) moved++;
      t.ok(moved > m * n * 0.5, 'the step changed the weights inside the clip');
      K.dispose?.();
    });

t.test('denseDwAdam declines what it cannot do, and writes nothing', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const f = (len: number) => ledger.floats(len, 'workspace', 't', 'f').fill(0.5);
  const base = (n: number, w: AdamTensor['w'] = f(4 * n)): AdamTensor => ({
    w,
    m: f(4 * n),
    v: f(4 * n),
    grad: f(0),
    gradBits: false,
    cols: 4 * n,
    gradScale: 1,
    n: 4 * n,
    binary: true,
    clip: 1,
  });
  const dy = f(4 * 4);
  const wide = base(20000);
  t.notOk(K.denseDwAdam!(dy, ledger.u32(4 * wordsFor(20000), 'workspace', 't', 'x'), 4, 4, 20000, wide, STEP), 'inputs too wide for its scratch');
  t.ok(
    (wide.w as Float32Array).every((v) => v === 0.5),
    'nothing written',
  );
  const x = ledger.u32(4 * wordsFor(64), 'workspace', 't', 'x');
  t.notOk(K.denseDwAdam!(dy, x, 4, 4, 64, base(64, ledger.u16(4 * 64, 'weights', 't', 'w16')), STEP), 'float16 weights');
  t.notOk(K.denseDwAdam!(dy, x, 4, 4, 64, { ...base(64), binary: false }, STEP), 'not a binary layer');
  t.notOk(K.denseDwAdam!(dy, x, 4, 4, 64, base(64), { ...STEP, scale: 0.5 }), 'moments at another scale');
  t.notOk(K.denseDwAdam!(dy, x, 4, 4, 64, base(64, new Float32Array(4 * 64)), STEP), 'weights outside the kernels memory');
  K.dispose?.();
});
