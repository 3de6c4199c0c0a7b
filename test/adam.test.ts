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

// 13 × 37: rows whose length is not a multiple of 4 (the SIMD loop's scalar tails); 4 × 256: SIMD only
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
