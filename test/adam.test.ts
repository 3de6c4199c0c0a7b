// Adam: the WebAssembly update equals the reference block update bit for bit, for every storage
// format; float16 moments stay finite and useful for tiny and large gradients.
import t from 'tap';
import type { Param, ParamGrad } from '../src/layers/layer.js';
import { packSignRows, wordsFor } from '../src/bits.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { MemoryLedger } from '../src/ledger.js';
import { Adam } from '../src/optim/adam.js';
import { Rng } from '../src/rng.js';
import { createParamStore, type MomentFormat as ParamFormat } from '../src/storage/param-store.js';

function makeParam(ledger: MemoryLedger, format: ParamFormat, signGrad: boolean, binary: boolean, rows: number, cols: number, seed: number): Param {
  const n = rows * cols;
  const rng = new Rng(seed);
  const value = createParamStore(format, n, ledger, 'weights', 'p', 'w');
  for (let i = 0; i < n; i++) value.set(i, rng.normal() * 0.5);
  const grad: ParamGrad = signGrad
    ? { kind: 'sign', bits: ledger.u32(rows * wordsFor(cols), 'weight-grads', 'p', 'g'), rows, cols, scale: 1 / Math.sqrt(n) }
    : { kind: 'float', data: ledger.floats(n, 'weight-grads', 'p', 'g') };
  return { owner: 'p', name: 'W', size: n, value, grad, binary, momentFormat: format };
}

function fillGrad(p: Param, rng: Rng, magnitude: number) {
  const g = p.grad;
  const vals = Float32Array.from({ length: p.size }, () => rng.normal() * magnitude);
  if (g.kind === 'float') g.data.set(vals);
  else if (g.kind === 'sign') packSignRows(vals, g.rows, g.cols, g.bits);
}

// 13 x 37: rows of 32 + 4 + 1 (the two-vector SIMD body of float32 storage, the one-vector loop and the scalar tail); 4 x 256: SIMD only;
// float32 binary with float gradients and float16 binary with 1-bit ones run their own compiled loops
for (const [rows, cols, binary] of [
  [13, 37, true],
  [4, 256, true],
  [4, 256, false],
] as const)
  for (const format of ['float32', 'float16'] as const)
    for (const signGrad of [false, true])
      t.test(
        `wasm Adam == reference Adam (${format} storage, ${signGrad ? '1-bit' : 'float'} gradient, ${rows}x${cols}${binary ? ', binary' : ''})`,
        async (t) => {
          const { kernels, ledger } = wasmKernels.instantiate!();
          const ref = new MemoryLedger();
          const pw = makeParam(ledger, format, signGrad, binary, rows, cols, 1);
          const pr = makeParam(ref, format, signGrad, binary, rows, cols, 1);
          const aw = new Adam([pw], ledger, {}, kernels);
          const ar = new Adam([pr], ref);
          const rng1 = new Rng(5);
          const rng2 = new Rng(5);
          for (let s = 0; s < 6; s++) {
            const mag = s < 3 ? 1e-3 : 20; // the moment scale changes between steps
            fillGrad(pw, rng1, mag);
            fillGrad(pr, rng2, mag);
            aw.update(1e-2);
            ar.update(1e-2);
          }
          t.same(
            Buffer.from(new Uint8Array(pw.value.raw.buffer, pw.value.raw.byteOffset, pw.value.raw.byteLength)),
            Buffer.from(new Uint8Array(pr.value.raw.buffer, pr.value.raw.byteOffset, pr.value.raw.byteLength)),
            'weights identical',
          );
          const ms = (a: Adam) => Object.values(a.stateTensors()).map((x) => Array.from(x));
          t.same(ms(aw), ms(ar), 'moments identical');
          t.same(aw.stateMeta(), ar.stateMeta(), 'scales identical');
          let clipped = 0;
          for (let i = 0; i < pw.size; i++) if (Math.abs(pw.value.get(i)) > 1) clipped++;
          if (binary) t.equal(clipped, 0, 'binary weights clipped to [-1, 1]');
        },
      );

t.test(
  'float32 Adam near the subnormal range: wasm == reference, and a model of 32-bit NEON (subnormals flushed in adds and multiplies) gives the same bits',
  async (t) => {
    const F = Math.fround;
    // 32-bit ARM NEON: subnormal inputs and results of vector add/sub/mul are zeros of their sign;
    // division and square root run lane by lane on VFP, which keeps them
    const ftz = (x: number) => (x !== 0 && Math.abs(x) < 2 ** -126 ? x * 0 : x);
    const mul = (a: number, b: number) => ftz(F(ftz(a) * ftz(b)));
    const add = (a: number, b: number) => ftz(F(ftz(a) + ftz(b)));
    const sub = (a: number, b: number) => ftz(F(ftz(a) - ftz(b)));
    const flush = (x: number, tiny: number) => (Math.abs(x) < tiny ? x * 0 : x);
    const neon = (w: number, m: number, v: number, g: number, lr: number, c1: number, c2: number) => {
      // the kernel's operations, in its order, with NEON's arithmetic (float32 storage: inputs flushed as read)
      [w, m, v] = [flush(ftz(w), 2 ** -100), flush(ftz(m), 2 ** -100), flush(ftz(v), 2 ** -100)];
      const gi = flush(mul(Math.abs(w) > 1 ? 0 : g, 1), 2 ** -64);
      const mi = flush(add(mul(mul(F(0.9), m), 1), mul(F(1 - 0.9), gi)), 2 ** -100);
      const vi = flush(add(mul(mul(F(0.999), v), 1), mul(mul(F(1 - 0.999), gi), gi)), 2 ** -100);
      const q = flush(F(flush(mul(F(lr / c1), mi), 2 ** -100) / F(F(Math.sqrt(mul(vi, F(1 / c2)))) + F(1e-8))), 2 ** -100);
      const wi = flush(sub(w, q), 2 ** -100);
      return { w: wi < -1 ? F(-1) : wi > 1 ? F(1) : wi, m: mi, v: vi };
    };
    const tinyValues = [0, -0, 1e-40, -1e-40, 2 ** -126, 2 ** -100, -(2 ** -100) * 1.5, 2 ** -64, -(2 ** -64) * 0.75, 2 ** -70, 1e-30, 3e-20, 1e-3, -0.5];
    const n = 4 * tinyValues.length * 3 + 3; // SIMD body and a scalar tail
    const { kernels, ledger } = wasmKernels.instantiate!();
    const ref = new MemoryLedger();
    const make = (l: MemoryLedger) => {
      const p = makeParam(l, 'float32', false, true, 1, n, 3);
      return p;
    };
    const pw = make(ledger);
    const pr = make(ref);
    const start = { w: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n), g: new Float32Array(n) };
    for (let i = 0; i < n; i++) {
      start.w[i] = tinyValues[(i * 5) % tinyValues.length];
      start.g[i] = tinyValues[(i * 3 + 1) % tinyValues.length];
    }
    for (const p of [pw, pr]) {
      (p.value.raw as Float32Array).set(start.w);
      if (p.grad.kind === 'float') p.grad.data.set(start.g);
    }
    const aw = new Adam([pw], ledger, {}, kernels);
    const ar = new Adam([pr], ref);
    // stored moments with subnormals and tiny values, as another version or a hand-made checkpoint could leave them
    for (const a of [aw, ar]) {
      const [m, v] = Object.values(a.stateTensors()) as Float32Array[];
      for (let i = 0; i < n; i++) {
        m[i] = tinyValues[(i * 7 + 2) % tinyValues.length];
        v[i] = Math.abs(tinyValues[(i * 11 + 3) % tinyValues.length]);
      }
      start.m.set(m);
      start.v.set(v);
    }
    const lr = 1e-30; // numerators lr·m in the subnormal range
    aw.update(lr);
    ar.update(lr);
    const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
    t.same(bits(pw.value.raw as Float32Array), bits(pr.value.raw as Float32Array), 'wasm weights == reference, every bit');
    const [mw, vw] = Object.values(aw.stateTensors()) as Float32Array[];
    const [mr, vr] = Object.values(ar.stateTensors()) as Float32Array[];
    t.same(bits(mw), bits(mr), 'moments m identical');
    t.same(bits(vw), bits(vr), 'moments v identical');
    const c1 = 1 - 0.9;
    const c2 = 1 - 0.999;
    const model = Array.from({ length: n }, (_, i) => neon(start.w[i], start.m[i], start.v[i], start.g[i], lr, c1, c2));
    t.same(bits(pr.value.raw as Float32Array), bits(Float32Array.from(model.map((e) => e.w))), 'NEON model: same weights');
    t.same(bits(mr), bits(Float32Array.from(model.map((e) => e.m))), 'NEON model: same m');
    t.same(bits(vr), bits(Float32Array.from(model.map((e) => e.v))), 'NEON model: same v');
    t.ok(Array.from(mr).some((x) => x === 0) && Array.from(mr).some((x) => Math.abs(x) >= 2 ** -100), 'tiny moments flushed, larger ones kept');
    kernels.dispose?.();
  },
);

t.test('float16 Adam with 1-bit gradients: the loop without flushes (ordinary steps) and with them (extreme constants) both equal the reference', async (t) => {
  // gradient scales near 1/sqrt(n) and lr 1e-2: every intermediate far from the flush thresholds
  // (the kernel leaves the flushes out); lr 1e-30 puts lr·m below 2^-100, and a gradient scale
  // jumping from 1e-3 to 1e18 makes the moments' rescale r² (2^-140) a float32 subnormal: the
  // kernel flushes as the reference does
  for (const [label, lr, scales] of [
    ['ordinary', 1e-2, [0, 0, 0, 0]],
    ['lr 1e-30', 1e-30, [0, 0, 0, 0]],
    ['gradient scale 1e-3 then 1e18', 1e-2, [1e-3, 1e-3, 1e18, 1e18]],
    // the moments rescaled by a modest ratio, every intermediate still far from the flushes: the
    // loop that takes the gradient's terms from constants (adamTermsFold) with the ratio applied
    ['gradient scale 1e-2 then 0.3', 1e-2, [1e-2, 1e-2, 0.3, 0.3, 0.3]],
  ] as const) {
    const { kernels, ledger } = wasmKernels.instantiate!();
    const ref = new MemoryLedger();
    const pw = makeParam(ledger, 'float16', true, true, 4, 256, 7);
    const pr = makeParam(ref, 'float16', true, true, 4, 256, 7);
    const aw = new Adam([pw], ledger, {}, kernels);
    const ar = new Adam([pr], ref);
    const [rng1, rng2] = [new Rng(9), new Rng(9)];
    for (const scale of scales) {
      for (const p of [pw, pr]) if (scale > 0 && p.grad.kind === 'sign') p.grad.scale = scale;
      fillGrad(pw, rng1, 1);
      fillGrad(pr, rng2, 1);
      aw.update(lr);
      ar.update(lr);
    }
    const raw = (p: Param) => Array.from(new Uint16Array(p.value.raw.buffer, p.value.raw.byteOffset, p.size));
    t.same(raw(pw), raw(pr), `${label}: weights identical`);
    t.notOk(
      raw(pr).some((h) => (h & 0x7c00) === 0x7c00),
      `${label}: weights finite`,
    );
    const ms = (a: Adam) => Object.values(a.stateTensors()).map((x) => Array.from(x));
    t.same(ms(aw), ms(ar), `${label}: moments identical`);
    kernels.dispose?.();
  }
});

t.test('float16 moments: tiny gradients neither vanish nor blow the step up', async (t) => {
  const ledger = new MemoryLedger();
  const p = makeParam(ledger, 'float16', false, false, 1, 64, 3);
  const q = makeParam(new MemoryLedger(), 'float32', false, false, 1, 64, 3);
  const a16 = new Adam([p], ledger);
  const a32 = new Adam([q], new MemoryLedger());
  const rng = new Rng(8);
  for (let s = 0; s < 5; s++) {
    const g = Float32Array.from({ length: 64 }, () => rng.normal() * 1e-6); // g² = 1e-12 underflows fp16 unscaled
    (p.grad as { data: Float32Array }).data.set(g);
    (q.grad as { data: Float32Array }).data.set(g);
    a16.update(1e-3);
    a32.update(1e-3);
  }
  let worst = 0;
  for (let i = 0; i < 64; i++) worst = Math.max(worst, Math.abs(p.value.get(i) - q.value.get(i)));
  t.ok(worst < 2e-3, `float16 moments track float32 Adam (worst weight difference ${worst.toExponential(1)})`);
});
