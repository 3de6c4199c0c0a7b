// The WebAssembly SIMD kernels against the reference kernels, on shapes including sizes that are
// not multiples of 32 or 128, with operands living in the network's kernel memory.
import t from 'tap';
import { referenceKernels as R } from '../src/kernels/reference.js';
import { selectKernels } from '../src/kernels/select.js';
import { wasmAvailable, wasmKernels } from '../src/kernels/wasm.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { Network } from '../src/model/network.js';
import type { ModelSpec } from '../src/model/spec.js';
import { PRESETS } from '../src/recipe.js';
import { createOptimizer } from '../src/optim/optimizer.js';
import { Rng } from '../src/rng.js';
import { convFilterLutFloats, convGeometry, convLutFloats } from '../src/kernels/conv-geometry.js';
import { denseLutFloats } from '../src/kernels/dense-lut.js';
import type { Floats, MemoryLedger } from '../src/ledger.js';
import { KERNELS_WASM, absRangeOf, identityOrder, maxAbs, maxAbsDiff, randomFloats, randomSigns, syntheticDataset } from './helpers.js';
import { mlpSpec } from './helpers.js';
import { msqeSums } from '../quant/po2-quantizers.js';
import { parseQuantConfig } from '../quant/quant-config.js';

t.ok(wasmAvailable(), 'the wasm kernels load on this machine');
t.equal(selectKernels('auto').name, 'wasm-simd', 'auto picks wasm where it runs');

/**
 * The WebAssembly dense input gradient's order, plainly: dx[b, i] = Σ over groups of 4 weight
 * rows in order of one float32 partial ((s0·d0 + s1·d1) + s2·d2) + s3·d3.
 */
function groupedDx(dy: Float32Array, bits: Uint32Array, B: number, m: number, n: number, dx: Float32Array): void {
  const wpr = (n + 31) >>> 5;
  const sign = (r: number, i: number) => ((bits[r * wpr + (i >>> 5)] >>> (i & 31)) & 1 ? 1 : -1);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let g = 0; g < m; g += 4) {
        let partial = dy[b * m + g] * sign(g, i);
        for (let r = g + 1; r < Math.min(m, g + 4); r++) partial = Math.fround(partial + dy[b * m + r] * sign(r, i));
        acc = Math.fround(acc + partial);
      }
      dx[b * n + i] = acc;
    }
}

/**
 * The WebAssembly dense weight gradient's order, plainly: dw[j, i] adds, over groups of 4 batch
 * rows in order, one float32 partial ((s0·d0 + s1·d1) + s2·d2) + s3·d3, a row past B adding +0.
 */
function groupedDw(dy: Float32Array, bits: Uint32Array, B: number, m: number, n: number, dw: Float32Array, j0: number, j1: number): void {
  const wpr = (n + 31) >>> 5;
  const term = (b: number, j: number, i: number) => (b >= B ? 0 : (bits[b * wpr + (i >>> 5)] >>> (i & 31)) & 1 ? dy[b * m + j] : -dy[b * m + j]);
  for (let j = j0; j < j1; j++)
    for (let i = 0; i < n; i++) {
      let acc = dw[j * n + i];
      for (let g = 0; g < B; g += 4) {
        let partial = term(g, j, i);
        for (let r = g + 1; r < g + 4; r++) partial = Math.fround(partial + term(r, j, i));
        acc = Math.fround(acc + partial);
      }
      dw[j * n + i] = acc;
    }
}

/** A copy of src in a network's kernel memory (a workspace buffer of its ledger), where the wasm kernels take operands in place. */
function inArena<T extends Float32Array | Uint32Array>(ledger: MemoryLedger, src: T): T {
  const a = (src instanceof Uint32Array ? ledger.u32(src.length, 'workspace', 't', 'copy') : ledger.floats(src.length, 'workspace', 't', 'copy')) as T;
  a.set(src);
  return a;
}

const SHAPES = [
  [1, 1, 1],
  [3, 5, 31],
  [4, 7, 32],
  [5, 3, 33],
  [2, 4, 127],
  [3, 6, 128],
  [4, 5, 129],
  [9, 17, 70],
  [7, 16, 257],
  [2, 10, 784],
  [2, 5, 4500], // more than 31 popcount chunks per row: the byte counters are flushed
];

for (const [B, m, n] of SHAPES)
  t.test(`wasm == reference, B=${B} m=${m} n=${n}`, async (t) => {
    const { kernels: K, ledger } = wasmKernels.instantiate!();
    const rng = new Rng(B * 7 + m * 3 + n);
    const [f32, u32] = [(src: Float32Array) => inArena(ledger, src), (src: Uint32Array) => inArena(ledger, src)];
    const X = randomSigns(rng, B, n);
    const W = randomSigns(rng, m, n);
    const xf = Float32Array.from(randomFloats(rng, B * n));
    const dy = Float32Array.from(randomFloats(rng, B * m));
    dy[0] = 0;
    const [xw, ww, xfw, dyw] = [u32(X.bits), u32(W.bits), f32(xf), f32(dy)];
    const close = (a: Floats, b: Floats, what: string) => {
      const rel = maxAbsDiff(a, b) / Math.max(1e-6, maxAbs(b));
      t.ok(rel < 1e-5, `${what}: rel. difference ${rel.toExponential(1)}`);
    };

    const yR = new Float32Array(B * m);
    const yW = ledger.floats(B * m, 'workspace', 't', 'y');
    R.gemmBinBin(X.bits, W.bits, B, m, n, yR);
    K.gemmBinBin(xw, ww, B, m, n, yW);
    t.same(Array.from(yW), Array.from(yR), 'gemmBinBin exact');
    R.gemmFloatBin(xf, W.bits, B, m, n, yR);
    K.gemmFloatBin(xfw, ww, B, m, n, yW);
    close(yW, yR, 'gemmFloatBin');

    const dxR = new Float32Array(B * n).fill(3);
    const dxW = f32(dxR); // the kernel overwrites, whatever was there
    R.gemmFloatBinT(dy, W.bits, B, m, n, dxR, new Float32Array(0));
    const index = ledger.floats(denseLutFloats(m, n), 'workspace', 't', 'index');
    K.gemmFloatBinTIndex(ww, m, n, index);
    K.gemmFloatBinT(dyw, ww, B, m, n, dxW, index);
    close(dxW, dxR, 'gemmFloatBinT');
    const grouped = new Float32Array(B * n);
    groupedDx(dy, W.bits, B, m, n, grouped);
    t.same(Array.from(dxW), Array.from(grouped), 'gemmFloatBinT: the grouped order, bit for bit');

    const wf = Float32Array.from(randomFloats(rng, m * n));
    const wfw = f32(wf);
    R.gemmFloatFloat(xf, wf, B, m, n, yR);
    K.gemmFloatFloat(xfw, wfw, B, m, n, yW);
    close(yW, yR, 'gemmFloatFloat');
    dxW.fill(3);
    R.gemmFloatFloatT(dy, wf, B, m, n, dxR);
    K.gemmFloatFloatT(dyw, wfw, B, m, n, dxW);
    close(dxW, dxR, 'gemmFloatFloatT');

    const dwR = new Float32Array(m * n).fill(0.25);
    const dwW = f32(dwR); // accumulates onto what is there
    R.gemmTnFloat(dy, xf, B, m, n, dwR);
    K.gemmTnFloat(dyw, xfw, B, m, n, dwW);
    close(dwW, dwR, 'gemmTnFloat');
    R.gemmTnBin(dy, X.bits, B, m, n, dwR);
    K.gemmTnBin(dyw, xw, B, m, n, dwW);
    close(dwW, dwR, 'gemmTnBin');
  });

t.test(
  'sign masks expanded once per column block: the same bits as the one-pass products and narrow weight gradients (over 512 terms, odd widths)',
  async (t) => {
    const module = new WebAssembly.Module(await (await import('node:fs/promises')).readFile(KERNELS_WASM));
    const memory = new WebAssembly.Memory({ initial: 512, maximum: 65536, shared: true });
    const ex = new WebAssembly.Instance(module, { env: { memory, abort: () => {} } }).exports as Record<string, (...a: number[]) => number> & {
      MASK_SCRATCH_BYTES: { value: number };
    };
    const rng = new Rng(77);
    let top = (ex.heapBase() + 15) & ~15;
    const take = (bytes: number) => {
      const at = top;
      top = (top + bytes + 15) & ~15;
      return at;
    };
    const scratch = take(ex.MASK_SCRATCH_BYTES.value);
    /** n random floats (spanning 5 decades; every zeroEvery-th 0) in the memory, at the returned address. */
    const floats = (n: number, zeroEvery = 0) => {
      const at = take(4 * n);
      const f = new Float32Array(memory.buffer, at, n);
      for (let i = 0; i < n; i++) f[i] = zeroEvery && i % zeroEvery === 0 ? 0 : rng.normal() * 10 ** (rng.int(5) - 2);
      return at;
    };
    /** n floats of which about `density` are non-zero, the rest exact zeros (every third −0), and a NaN at `nanAt`: a max-pool's gradient. */
    const sparseFloats = (n: number, density: number, nanAt: number) => {
      const at = take(4 * n);
      const f = new Float32Array(memory.buffer, at, n);
      for (let i = 0; i < n; i++) f[i] = rng.next() < density ? rng.normal() * 10 ** (rng.int(5) - 2) : i % 3 ? 0 : -0;
      f[nanAt] = Number.NaN; // a NaN gradient is listed like any non-zero one
      return at;
    };
    /** n random 32-bit words (packed signs). */
    const words = (n: number) => {
      const at = take(4 * n);
      const u = new Uint32Array(memory.buffer, at, n);
      for (let i = 0; i < n; i++) u[i] = (rng.next() * 2 ** 32) >>> 0;
      return at;
    };
    /** The bits of out[0..len) after `call` with the scratch and without it, out filled with start(k) first (kernels that accumulate keep it). */
    const bothWays = (out: number, len: number, start: (k: number) => number, call: () => void) =>
      [true, false].map((withScratch) => {
        ex.setScratch(withScratch ? scratch : 0);
        const f = new Float32Array(memory.buffer, out, len);
        for (let k = 0; k < len; k++) f[k] = start(k);
        call();
        return Array.from(new Uint32Array(memory.buffer, out, len));
      });
    // dense weight gradients: whole quads of units and 8-column blocks by lookups, in bands of 256
    // columns and 96 groups of rows (B=400: two bands), the rest element by element
    for (const [B, m, n] of [
      [5, 300, 70],
      [270, 9, 47],
      [3, 513, 33],
      [2, 1100, 20],
      [400, 9, 300],
      [13, 8, 264],
      [1, 4, 8],
      [4, 5, 16],
    ]) {
      const wpr = (n + 31) >>> 5;
      const dy = floats(B * m, 7);
      const x = words(B * wpr);
      const out = take(4 * m * n);
      const [dw, dwOnePass] = bothWays(
        out,
        m * n,
        (k) => (k % 5 === 0 ? -0 : 0.5),
        () => ex.gemmTnBin(dy, x, B, m, n, out, 1, m),
      );
      t.same(dw, dwOnePass, `dW += dYᵀ·X̂ over rows 1.., B=${B} m=${m} n=${n}: bit for bit`);
      const model = Float32Array.from({ length: m * n }, (_, k) => (k % 5 === 0 ? -0 : 0.5));
      groupedDw(new Float32Array(memory.buffer, dy, B * m), new Uint32Array(memory.buffer, x, B * wpr), B, m, n, model, 1, m);
      t.same(dw, Array.from(new Uint32Array(model.buffer)), `B=${B} m=${m} n=${n}: the grouped order, bit for bit`);
    }
    // and conv weight gradients over sign inputs on outputs under 10 wide (wider ones sum groups of 4
    // pixels by table lookups): masks of a band of input rows at a time (9 wide: 56 rows a
    // band); from a mostly-zero dY the listed path: each channel's non-zero pixels only, groups of
    // channels whose lists fit (a 60x9 map: 7 channels a group)
    const filterCases: [number, number, number, number, number, number, number, number | null][] = [
      [60, 9, 32, 9, 1, 0, 9, null],
      [9, 8, 48, 4, 0, 1, 4, null],
      [6, 7, 37, 3, 1, 0, 3, null],
      [60, 9, 32, 9, 1, 0, 9, 0.25],
      [9, 8, 48, 7, 0, 1, 6, 0.2],
      [6, 7, 37, 3, 1, 0, 3, 0.3],
      [8, 8, 64, 40, 1, 3, 37, 0.25],
      [5, 6, 16, 4, 1, 0, 4, 0],
    ];
    for (const [hi, wi, ci, count, pad, c0, c1, density] of filterCases) {
      const ho = hi + 2 * pad - 2;
      const wo = wi + 2 * pad - 2;
      const dy = density === null ? floats(ho * wo * count) : sparseFloats(ho * wo * count, density, count + c0);
      const x = words(hi * wi * ((ci + 31) >>> 5));
      const out = take(4 * count * 9 * ci);
      // dw accumulates onto what is there
      const [dw, dwOnePass] = bothWays(
        out,
        count * 9 * ci,
        (k) => (k % 5) * 0.125,
        () => ex.convBwdFilter(dy, x, 1, hi, wi, ci, ho, wo, count, pad, out, c0, c1),
      );
      const sparse = density === null ? '' : `, ${Math.round(100 * density)}% non-zero dY,`;
      t.same(dw, dwOnePass, `convBwdFilter${sparse} ${hi}x${wi}x${ci}, channels [${c0}, ${c1}) of ${count}, pad ${pad}: bit for bit`);
    }
    // the conv input gradients' sign indices (8 input channels a turn, the rest one at a time):
    // for tap t, channel pair, group g, channel k, the u16 idx·entry + g·groupBytes, bit j of idx
    // output channel 4g + j's sign bit at (t, k)
    for (const [ci, co] of [
      [8, 5],
      [14, 8],
      [38, 13],
      [64, 4],
      [130, 9],
    ]) {
      const tapWords = (ci + 31) >>> 5;
      const w = words(co * 9 * tapWords);
      const W = new Uint32Array(memory.buffer, w, co * 9 * tapWords);
      const G = (co + 3) >>> 2;
      const n = 9 * G * ci;
      const want = (entry: number, groupBytes: number) => {
        const out = new Uint16Array(n);
        for (let tap = 0; tap < 9; tap++)
          for (let g = 0; g < G; g++)
            for (let k = 0; k < ci; k++) {
              let idx = 0;
              for (let j = 0; j < 4; j++) if (4 * g + j < co) idx |= ((W[((4 * g + j) * 9 + tap) * tapWords + (k >>> 5)] >>> (k & 31)) & 1) << j;
              out[((tap * (ci >>> 1) + (k >>> 1)) * G + g) * 2 + (k & 1)] = idx * entry + g * groupBytes;
            }
        return Array.from(out);
      };
      const lut = take(2 * n + 16);
      // a 6x6 map, pad 1: table rows 16 floats wide (64-byte entries)
      ex.convLutIndex(w, 6, 6, ci, 6, 6, co, 1, lut);
      t.same(Array.from(new Uint16Array(memory.buffer, lut, n)), want(64, 0), `convLutIndex ci=${ci} co=${co}`);
      ex.convQuadDataIndex(w, ci, co, lut);
      t.same(Array.from(new Uint16Array(memory.buffer, lut, n)), want(16, 256), `convQuadDataIndex ci=${ci} co=${co}`);
    }
    // float inputs of fewer than 16 channels (first layers on pixels): 8 output channels × up to 3
    // input channels a pass, each dw element dw + Σ dY·X over its tap's in-bounds pixels in pixel
    // order (float32 products and sums), whatever the channel counts and the channel range
    for (const [hi, wi, ci, count, pad, c0, c1] of [
      [7, 9, 3, 20, 1, 0, 20],
      [6, 5, 1, 9, 0, 2, 9],
      [5, 8, 2, 13, 1, 1, 12],
      [9, 6, 5, 8, 0, 0, 8],
      [6, 6, 7, 4, 1, 0, 3],
    ]) {
      const [ho, wo] = [hi + 2 * pad - 2, wi + 2 * pad - 2];
      const dy = floats(ho * wo * count);
      const x = floats(hi * wi * ci, 5);
      const len = count * 9 * ci;
      const out = take(4 * len);
      const start = (k: number) => (k % 3) * 0.25 - 0.5;
      const [dw] = bothWays(out, len, start, () => ex.convBwdFilter(dy, x, 0, hi, wi, ci, ho, wo, count, pad, out, c0, c1));
      const D = new Float32Array(memory.buffer, dy, ho * wo * count);
      const X = new Float32Array(memory.buffer, x, hi * wi * ci);
      const want = Float32Array.from({ length: len }, (_, k) => start(k));
      for (let c = c0; c < c1; c++)
        for (let tap = 0; tap < 9; tap++)
          for (let k = 0; k < ci; k++) {
            const [ky, kx] = [Math.floor(tap / 3), tap % 3];
            let a = want[(c * 9 + tap) * ci + k];
            for (let oy = 0; oy < ho; oy++)
              for (let ox = 0; ox < wo; ox++) {
                const [iy, ix] = [oy + ky - pad, ox + kx - pad];
                if (iy < 0 || iy >= hi || ix < 0 || ix >= wi) continue;
                a = Math.fround(a + Math.fround(D[(oy * wo + ox) * count + c] * X[(iy * wi + ix) * ci + k]));
              }
            want[(c * 9 + tap) * ci + k] = a;
          }
      t.same(
        dw,
        Array.from(new Uint32Array(want.buffer)),
        `convBwdFilter, float input ${hi}x${wi}x${ci}, channels [${c0}, ${c1}) of ${count}, pad ${pad}: pixel order, bit for bit`,
      );
    }
  },
);

t.test('binary convolution input gradients by table lookups: the same bits as the grouped reference, every block width and thread count', async (t) => {
  const { convBwdData: reference } = await import('../src/kernels/conv-reference.js');
  // widths taking 12-pixel blocks and a last block of 4, 8 or 12, or (13, 14, 25) 12s then 8 and
  // 5-8 instead of a last block of 1-4; channel counts that are not
  // whole groups of 4; an odd channel count (the scattering kernel); 5x5 and stride 2 (the
  // general kernel); dY dense, mostly zero (a max-pool's gradient) and all zero; outputs at most
  // 4 wide (examples in the lanes); output channels in 1 group pass per tap row, 1 per tap (100:
  // 25 groups) and 3 per tap (300)
  const cases: [number, number, number, number, 'valid' | 'same', number, number, number][] = [
    [8, 8, 32, 16, 'same', 3, 1, 1],
    [7, 9, 48, 5, 'valid', 3, 1, 0.5],
    [6, 6, 38, 9, 'same', 3, 1, 0.25],
    [30, 30, 64, 64, 'valid', 3, 1, 1],
    [14, 14, 64, 128, 'valid', 3, 1, 0.25],
    [5, 13, 6, 3, 'same', 3, 1, 1],
    [4, 25, 2, 300, 'same', 3, 1, 0.3],
    [8, 10, 10, 100, 'same', 3, 1, 1],
    [6, 6, 37, 40, 'same', 3, 1, 1],
    [9, 9, 8, 6, 'same', 5, 2, 1],
    [7, 8, 34, 7, 'valid', 3, 2, 0.5],
    [5, 5, 4, 8, 'same', 3, 1, 0],
    // outputs at most 4 wide: examples in the lanes (one example here: a quad with one lane)
    [5, 5, 20, 9, 'valid', 3, 1, 0.5],
    [3, 3, 34, 16, 'valid', 3, 1, 1],
    [4, 4, 6, 7, 'same', 3, 1, 0.3],
    [2, 3, 8, 5, 'same', 3, 1, 1],
  ];
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(91 + threads);
    for (const [hi, wi, ci, co, padding, k, stride, density] of cases) {
      const g = convGeometry(hi, wi, ci, co, padding, k, stride);
      const dy = ledger.floats(g.ho * g.wo * co, 'workspace', 't', 'dy');
      // five decades, exact zeros (every third −0) where the density leaves them
      for (let i = 0; i < dy.length; i++) dy[i] = rng.next() < density ? rng.normal() * 10 ** (rng.int(5) - 2) : i % 3 ? 0 : -0;
      const W = randomSigns(rng, co * k * k, ci);
      const w = inArena(ledger, W.bits);
      const dx = ledger.floats(hi * wi * ci, 'workspace', 't', 'dx').fill(7);
      const scratch = ledger.floats(convLutFloats(g), 'workspace', 't', 'lookup scratch');
      const want = new Float32Array(hi * wi * ci);
      K.convBwdDataIndex(w, g, scratch);
      K.convBwdData(dy, w, g, dx, scratch);
      reference(Float32Array.from(dy), W.bits, g, want);
      t.same(
        Array.from(new Uint32Array(dx.buffer, dx.byteOffset, dx.length)),
        Array.from(new Uint32Array(want.buffer)),
        `${hi}x${wi}x${ci} <- ${co} channels, ${padding} ${k}x${k}/${stride}, ${Math.round(density * 100)}% non-zero dY, ${threads} thread(s): bit for bit`,
      );
    }
    // the same index serves every example: a second dY through the tables without re-indexing
    const g = convGeometry(12, 12, 16, 12, 'same');
    const W = randomSigns(rng, 12 * 9, 16);
    const w = inArena(ledger, W.bits);
    const scratch = ledger.floats(convLutFloats(g), 'workspace', 't', 'lookup scratch');
    K.convBwdDataIndex(w, g, scratch);
    for (let example = 0; example < 2; example++) {
      const dy = ledger.floats(g.ho * g.wo * g.co, 'workspace', 't', 'dy');
      dy.set(Array.from(randomFloats(rng, dy.length)));
      const dx = ledger.floats(12 * 12 * 16, 'workspace', 't', 'dx');
      const want = new Float32Array(dx.length);
      K.convBwdData(dy, w, g, dx, scratch);
      reference(Float32Array.from(dy), W.bits, g, want);
      t.same(Array.from(dx), Array.from(want), `example ${example + 1} of one index, ${threads} thread(s)`);
    }
    // a batch in one call: the reference per example, whether the scratch holds tables for one
    // thread (run in turn) or for each thread (examples split); odd shapes, the scattering kernel too
    for (const [hi, wi, ci, co, padding, examples] of [
      [12, 12, 16, 12, 'same', 5],
      [7, 9, 48, 5, 'valid', 3],
      [6, 6, 37, 40, 'same', 4],
      // examples in the lanes: whole quads and a last one of 1-3 examples
      [5, 5, 20, 9, 'valid', 9],
      [3, 3, 34, 16, 'valid', 6],
      [4, 4, 6, 7, 'same', 3],
      [2, 3, 8, 5, 'same', 8],
    ] as const) {
      const gb = convGeometry(hi, wi, ci, co, padding);
      const Wb = randomSigns(rng, co * 9, ci);
      const wb = inArena(ledger, Wb.bits);
      const dy = ledger.floats(examples * gb.ho * gb.wo * co, 'workspace', 't', 'dy');
      dy.set(Array.from(randomFloats(rng, dy.length)));
      const want = new Float32Array(examples * hi * wi * ci);
      reference(Float32Array.from(dy), Wb.bits, gb, want, undefined, examples);
      const one = convLutFloats(gb);
      for (const floats of [one, 3 * one]) {
        const sc = ledger.floats(floats, 'workspace', 't', 'lookup scratch');
        K.convBwdDataIndex(wb, gb, sc);
        const dx = ledger.floats(want.length, 'workspace', 't', 'dx').fill(7);
        K.convBwdData(dy, wb, gb, dx, sc, examples);
        t.same(
          Array.from(dx),
          Array.from(want),
          `${examples} examples of ${hi}x${wi}x${ci} <- ${co} in one call, scratch for ${floats / one} table sets, ${threads} thread(s)`,
        );
      }
    }
    t.throws(
      () =>
        K.convBwdData(
          ledger.floats(g.ho * g.wo * g.co, 'workspace', 't', 'dy'),
          w,
          g,
          ledger.floats(12 * 12 * 16, 'workspace', 't', 'dx'),
          scratch.subarray(0, 8),
        ),
      /scratch/,
    );
    K.dispose?.();
  }
});

t.test('binary convolution weight gradients by table lookups: the same bits as the grouped reference, every group width, block and thread count', async (t) => {
  const { convBwdFilter: reference } = await import('../src/kernels/conv-reference.js');
  // output widths at the grouping threshold (9: pixel by pixel, 10), that are and are not whole
  // groups of 4, same padding (the edge variants), channel counts that are not whole blocks of
  // 16 (count below the layer's), one channel (the mean patch), rows past one u64 of signs and
  // 5x5 / stride 2 (the scattering kernel); dY dense, mostly zero and all zero; dw accumulates
  const cases: [number, number, number, number, 'valid' | 'same', number, number, number, number][] = [
    [8, 8, 32, 16, 'same', 3, 1, 1, 16],
    [7, 9, 48, 5, 'valid', 3, 1, 0.5, 5],
    [6, 6, 36, 40, 'same', 3, 1, 0.2, 37],
    [30, 30, 64, 64, 'valid', 3, 1, 1, 64],
    [5, 5, 4, 3, 'same', 3, 1, 1, 3],
    [4, 3, 32, 20, 'same', 3, 1, 1, 20],
    [3, 5, 33, 33, 'valid', 3, 1, 1, 33],
    [12, 12, 64, 64, 'same', 3, 1, 1, 1],
    [9, 13, 16, 24, 'same', 3, 1, 0.25, 24],
    [12, 12, 16, 8, 'valid', 3, 1, 1, 8],
    [11, 11, 16, 8, 'valid', 3, 1, 1, 8],
    [4, 60, 32, 16, 'same', 3, 1, 1, 16],
    [9, 9, 8, 6, 'same', 5, 2, 1, 6],
    [5, 5, 32, 8, 'same', 3, 1, 0, 8],
    // rows of 14 groups (the most one u64 read of a sign row holds, both paddings), and of 15 (the byte index)
    [5, 56, 16, 16, 'same', 3, 1, 1, 16],
    [5, 58, 16, 16, 'valid', 3, 1, 1, 16],
    [5, 57, 16, 16, 'same', 3, 1, 1, 16],
    [20, 20, 600, 16, 'valid', 3, 1, 1, 16],
    // rows of more than 14 groups whose byte index is past the kernel scratch (400 channels × 8 rows × 3 × 16 groups):
    // the packed sign rows read nibble by nibble
    [8, 62, 400, 16, 'same', 3, 1, 1, 16],
  ];
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(17 + threads);
    for (const [hi, wi, ci, co, padding, k, stride, density, count] of cases) {
      const g = convGeometry(hi, wi, ci, co, padding, k, stride);
      const dy = ledger.floats(g.ho * g.wo * count, 'workspace', 't', 'dy');
      for (let i = 0; i < dy.length; i++) dy[i] = rng.next() < density ? rng.normal() * 10 ** (rng.int(5) - 2) : i % 3 ? 0 : -0;
      const X = randomSigns(rng, hi * wi, ci);
      const x = inArena(ledger, X.bits);
      const dw = ledger.floats(count * k * k * ci, 'workspace', 't', 'dw');
      for (let i = 0; i < dw.length; i++) dw[i] = (i % 5) * 0.125;
      const want = Float32Array.from(dw);
      K.convBwdFilter(dy, x, true, g, count, dw, ledger.floats(convFilterLutFloats(g, count), 'workspace', 't', 'lookup scratch'));
      reference(Float32Array.from(dy), X.bits, true, g, count, want);
      t.same(
        Array.from(new Uint32Array(dw.buffer, dw.byteOffset, dw.length)),
        Array.from(new Uint32Array(want.buffer)),
        `${hi}x${wi}x${ci}, ${count} of ${co} channels, ${padding} ${k}x${k}/${stride}, ${Math.round(density * 100)}% dY, ${threads} thread(s): bit for bit`,
      );
      // without scratch the scattering kernel gives the same bits
      const plain = ledger.floats(dw.length, 'workspace', 't', 'dw');
      for (let i = 0; i < plain.length; i++) plain[i] = (i % 5) * 0.125;
      K.convBwdFilter(dy, x, true, g, count, plain);
      t.same(Array.from(plain), Array.from(want), 'no scratch: the same bits');
    }
    // a batch in one call (the standard recipe): examples in order, the same bits as the reference
    for (const [hi, wi, ci, co, padding, examples] of [
      [12, 12, 32, 20, 'same', 3],
      [14, 14, 16, 16, 'valid', 5],
    ] as const) {
      const g = convGeometry(hi, wi, ci, co, padding);
      const dy = ledger.floats(examples * g.ho * g.wo * co, 'workspace', 't', 'dy');
      for (let i = 0; i < dy.length; i++) dy[i] = rng.normal() * 10 ** (rng.int(5) - 2);
      const X = randomSigns(rng, examples * hi * wi, ci);
      const x = inArena(ledger, X.bits);
      const dw = ledger.floats(co * 9 * ci, 'workspace', 't', 'dw').fill(0.25);
      const want = Float32Array.from(dw);
      K.convBwdFilter(dy, x, true, g, co, dw, ledger.floats(convFilterLutFloats(g, co, examples), 'workspace', 't', 'scratch'), examples);
      reference(Float32Array.from(dy), X.bits, true, g, co, want, undefined, examples);
      t.same(Array.from(dw), Array.from(want), `${examples} examples of ${hi}x${wi}x${ci} -> ${co} in one call, ${threads} thread(s): bit for bit`);
      // the same examples one call each, as a run (dw read at the first, written at the last): the same bits
      const perExample = ledger.floats(convFilterLutFloats(g, co, 1), 'workspace', 't', 'scratch');
      const inRun = ledger.floats(co * 9 * ci, 'workspace', 't', 'dw').fill(0.25);
      const [dyLen, xWords] = [g.ho * g.wo * co, hi * wi * (ci >>> 5 || 1)];
      for (let e = 0; e < examples; e++) {
        const run = { first: e === 0, last: e === examples - 1 };
        K.convBwdFilter(dy.subarray(e * dyLen, (e + 1) * dyLen), x.subarray(e * xWords, (e + 1) * xWords), true, g, co, inRun, perExample, 1, run);
        if (e < examples - 1 && examples > 1 && e === 0)
          t.ok(
            inRun.every((v) => v === 0.25),
            'dw untouched until the run ends',
          );
      }
      // (the reference one example a call: a batch of 4 or more on a narrow map is summed in quads instead)
      const wantRun = Float32Array.from({ length: inRun.length }, () => 0.25);
      for (let e = 0; e < examples; e++)
        reference(Float32Array.from(dy.subarray(e * dyLen, (e + 1) * dyLen)), X.bits.subarray(e * xWords, (e + 1) * xWords), true, g, co, wantRun);
      t.same(Array.from(inRun), Array.from(wantRun), `the ${examples} examples as a run of one-example calls: bit for bit`);
    }
    const g = convGeometry(12, 12, 32, 16, 'same');
    t.throws(
      () =>
        K.convBwdFilter(
          ledger.floats(144 * 16, 'workspace', 't', 'dy'),
          ledger.u32(144, 'workspace', 't', 'x'),
          true,
          g,
          16,
          ledger.floats(16 * 9 * 32, 'workspace', 't', 'dw'),
          ledger.floats(8, 'workspace', 't', 's'),
        ),
      /scratch/,
    );
    K.dispose?.();
  }
});

t.test(
  'float × binary conv forward on small patches by table lookups: the grouped reference bit for bit (padding, strides, 5x5, channel counts, 1 and 2 threads)',
  async (t) => {
    const { convFwdFloat: reference } = await import('../src/kernels/conv-reference.js');
    const { patchGroupsApply } = await import('../src/kernels/conv-geometry.js');
    for (const threads of [1, 2])
      for (const [hi, wi, ci, co, padding, k, stride] of [
        [32, 32, 3, 64, 'valid', 3, 1],
        [32, 32, 3, 128, 'same', 3, 1],
        [28, 28, 1, 32, 'valid', 3, 1],
        [13, 11, 5, 7, 'same', 3, 1],
        [17, 15, 3, 10, 'same', 5, 2],
        [9, 9, 14, 33, 'valid', 3, 2],
      ] as const) {
        const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
        const rng = new Rng(hi + ci * 5 + co + threads);
        const g = convGeometry(hi, wi, ci, co, padding, k, stride);
        t.ok(patchGroupsApply(g), `${hi}x${wi}x${ci} ${k}x${k}/${stride}: patch lookups apply`);
        const x = ledger.floats(hi * wi * ci, 'workspace', 't', 'x');
        for (let i = 0; i < x.length; i++) x[i] = i % 11 === 0 ? (i % 2 ? 0 : -0) : rng.normal() * 10 ** (rng.int(4) - 2);
        const W = randomSigns(rng, co * k * k, ci);
        const w = inArena(ledger, W.bits);
        const want = new Float32Array(g.ho * g.wo * co);
        reference(Float32Array.from(x), W.bits, g, want);
        const y = ledger.floats(want.length, 'workspace', 't', 'y').fill(7);
        K.convFwdFloat(x, w, g, y);
        t.same(
          Array.from(new Uint32Array(y.buffer, y.byteOffset, y.length)),
          Array.from(new Uint32Array(want.buffer)),
          `${hi}x${wi}x${ci} -> ${co} ${k}x${k}/${stride} ${padding}, ${threads} thread(s): bit for bit`,
        );
        // three examples in one call (threads take whole examples): each as one example's call
        const xs = ledger.floats(3 * x.length, 'workspace', 't', 'xs');
        for (let e = 0; e < 3; e++) for (let i = 0; i < x.length; i++) xs[e * x.length + i] = e === 1 ? -x[i] : x[i] * (e + 1);
        const wantAll = new Float32Array(3 * want.length);
        reference(Float32Array.from(xs), W.bits, g, wantAll, 3);
        const ys = ledger.floats(wantAll.length, 'workspace', 't', 'ys').fill(7);
        K.convFwdFloat(xs, w, g, ys, 3);
        t.same(Array.from(ys), Array.from(wantAll), `3 examples in one call, ${threads} thread(s)`);
        K.dispose?.();
      }
  },
);

t.test('binary conv forward of a batch in one call (bits, and ±1 floats packed inside): the reference per example, 1 and 2 threads', async (t) => {
  const { convFwdBin: reference } = await import('../src/kernels/conv-reference.js');
  for (const threads of [1, 2])
    for (const [hi, wi, ci, co, padding, k, examples] of [
      [12, 12, 64, 20, 'same', 3, 5],
      [9, 7, 33, 6, 'valid', 3, 3],
      [30, 30, 64, 64, 'valid', 3, 8],
      [9, 9, 8, 6, 'same', 5, 3],
    ] as const) {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(hi * 7 + ci + threads);
      const g = convGeometry(hi, wi, ci, co, padding, k);
      const X = randomSigns(rng, examples * hi * wi, ci);
      const W = randomSigns(rng, co * k * k, ci);
      const [x, w] = [inArena(ledger, X.bits), inArena(ledger, W.bits)];
      const want = new Float32Array(examples * g.ho * g.wo * co);
      reference(X.bits, W.bits, g, want, examples);
      const y = ledger.floats(want.length, 'workspace', 't', 'y').fill(7);
      K.convFwdBin(x, w, g, y, examples);
      const what = `${examples} examples of ${hi}x${wi}x${ci} -> ${co} ${k}x${k} ${padding}, ${threads} thread(s)`;
      t.same(Array.from(y), Array.from(want), `${what}: bits`);
      const floats = ledger.floats(examples * hi * wi * ci, 'workspace', 't', 'x floats');
      for (let p = 0; p < examples * hi * wi; p++)
        for (let c = 0; c < ci; c++) floats[p * ci + c] = (X.bits[p * Math.ceil(ci / 32) + (c >>> 5)] >>> (c & 31)) & 1 ? 1 : -1;
      const y2 = ledger.floats(want.length, 'workspace', 't', 'y').fill(7);
      const took = K.convFwdSignFloats!(floats, w, g, y2, examples);
      if (k === 3) t.same(Array.from(y2), Array.from(want), `${what}: ±1 floats`);
      else t.notOk(took, `${what}: ±1 floats left to the caller (not a 3x3 stride-1 geometry)`);
      K.dispose?.();
    }
});

t.test('binary convolution weight gradients of a batch in quads of examples (narrow maps): the reference bit for bit, and the order shows', async (t) => {
  const { convBwdFilter: reference } = await import('../src/kernels/conv-reference.js');
  const { convFilterQuadFloats, filterQuadsApply } = await import('../src/kernels/conv-geometry.js');
  // outputs 1, 3, 8 (same padding: the edge pixels left out) and 10-12 wide; batches that are and
  // are not whole quads; bands spanning quads; channel counts that are not whole blocks; dY with zeros
  const cases: [number, number, number, number, 'valid' | 'same', number][] = [
    [3, 3, 64, 32, 'valid', 7],
    [5, 5, 32, 20, 'valid', 5],
    [8, 8, 48, 40, 'same', 6],
    [12, 12, 16, 16, 'valid', 9],
    [12, 12, 32, 8, 'same', 4],
    [14, 14, 33, 17, 'valid', 13],
    [2, 2, 16, 16, 'same', 8],
  ];
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(41 + threads);
    for (const [hi, wi, ci, co, padding, examples] of cases) {
      const g = convGeometry(hi, wi, ci, co, padding);
      t.ok(filterQuadsApply(g, examples), `${hi}x${wi} ${padding}: quads apply`);
      const dy = ledger.floats(examples * g.ho * g.wo * co, 'workspace', 't', 'dy');
      for (let i = 0; i < dy.length; i++) dy[i] = rng.next() < 0.8 ? rng.normal() * 10 ** (rng.int(5) - 2) : i % 3 ? 0 : -0;
      const X = randomSigns(rng, examples * hi * wi, ci);
      const x = inArena(ledger, X.bits);
      const dw = ledger.floats(co * 9 * ci, 'workspace', 't', 'dw');
      for (let i = 0; i < dw.length; i++) dw[i] = (i % 5) * 0.125;
      const want = Float32Array.from(dw);
      const short = ledger.floats(convFilterQuadFloats(g, co, examples) - 1, 'workspace', 't', 'short scratch');
      t.throws(() => K.convBwdFilter(dy, x, true, g, co, dw, short, examples), /needs \d+ bytes of scratch/, 'a scratch one float short is refused');
      K.convBwdFilter(dy, x, true, g, co, dw, ledger.floats(convFilterQuadFloats(g, co, examples), 'workspace', 't', 'scratch'), examples);
      reference(Float32Array.from(dy), X.bits, true, g, co, want, undefined, examples);
      t.same(
        Array.from(new Uint32Array(dw.buffer, dw.byteOffset, dw.length)),
        Array.from(new Uint32Array(want.buffer)),
        `${examples} examples of ${hi}x${wi}x${ci} -> ${co} ${padding}, ${threads} thread(s): bit for bit`,
      );
      // whole quads as a run of 4-example calls (the low-memory recipes' tiles): the batch call's bits
      if (examples % 4 === 0) {
        const inRun = ledger.floats(dw.length, 'workspace', 't', 'dw');
        for (let i = 0; i < inRun.length; i++) inRun[i] = (i % 5) * 0.125;
        const scratch = ledger.floats(convFilterQuadFloats(g, co, 4), 'workspace', 't', 'scratch');
        const [dyLen, xWords] = [4 * g.ho * g.wo * co, 4 * hi * wi * Math.ceil(ci / 32)];
        for (let q = 0; q < examples / 4; q++) {
          const run = { first: q === 0, last: q === examples / 4 - 1 };
          K.convBwdFilter(dy.subarray(q * dyLen, (q + 1) * dyLen), x.subarray(q * xWords, (q + 1) * xWords), true, g, co, inRun, scratch, 4, run);
        }
        t.same(Array.from(inRun), Array.from(dw), `${examples / 4} calls of 4 examples as a run: the batch call's bits`);
      }
      // the same sums one example at a time (pixel by pixel, or the row groups) differ only by rounding
      const apart = Float32Array.from({ length: dw.length }, (_, i) => (i % 5) * 0.125);
      for (let e = 0; e < examples; e++) {
        const d = Float32Array.from(dy.subarray(e * g.ho * g.wo * co, (e + 1) * g.ho * g.wo * co));
        reference(d, X.bits.subarray(e * hi * wi * Math.ceil(ci / 32), (e + 1) * hi * wi * Math.ceil(ci / 32)), true, g, co, apart);
      }
      let worst = 0;
      let largest = 0;
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(want[i] - apart[i]));
        largest = Math.max(largest, Math.abs(apart[i]));
      }
      t.ok(worst < 1e-5 * largest, `quads and one example at a time agree within rounding (${(worst / largest).toExponential(1)} of the largest)`);
    }
    K.dispose?.();
  }
  // a case where the grouping shows: on dw = 2^24, float32 loses 1 + 1 one term at a time but keeps their partial 2
  const g = convGeometry(3, 3, 1, 1, 'valid');
  const dy = new Float32Array([1, 1, 0, 0]);
  const x = new Uint32Array(36).fill(1);
  const quads = new Float32Array(9).fill(2 ** 24);
  reference(dy, x, true, g, 1, quads, undefined, 4);
  const apart = new Float32Array(9).fill(2 ** 24);
  for (let e = 0; e < 4; e++) reference(dy.subarray(e, e + 1), x.subarray(9 * e, 9 * e + 9), true, g, 1, apart);
  t.equal(quads[0], 2 ** 24 + 2, 'quads: the two 1s make a partial of 2 first');
  t.equal(apart[0], 2 ** 24, 'one at a time: each 1 is lost');
});

t.test('the weight-gradient reference over sign inputs adds each group of 4 pixels as one float32 partial: a case where that order shows', async (t) => {
  const { convBwdFilter: reference } = await import('../src/kernels/conv-reference.js');
  // a 3x14 valid map of one +1 channel: one output row of 12 pixels (three groups) for every tap,
  // one output channel. Grouped: 1e8, then ((1 + 1) + 1) + 2 = 5 at once → 100000008 in float32;
  // one pixel at a time each +1 and the +2 round away and it stays 1e8
  const g = convGeometry(3, 14, 1, 1, 'valid');
  const dw = new Float32Array(9);
  reference(Float32Array.from([1e8, 0, 0, 0, 1, 1, 1, 2, 0, 0, 0, 0]), new Uint32Array(42).fill(1), true, g, 1, dw);
  t.same(Array.from(dw), new Array(9).fill(100000008));
});

t.test('dense input gradients by table lookups: the grouped order bit for bit, whatever the rows per call, the group chunks and the threads', async (t) => {
  // row counts around the 12-row blocks, odd column counts (a last lone column), units not whole
  // groups of 4, more groups than one scratch of tables holds (m = 1100: two chunks)
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(5 + threads);
    for (const [B, m, n] of [
      [5, 300, 70],
      [270, 9, 47],
      [13, 513, 33],
      [2, 1100, 20],
      [25, 256, 256],
      [1, 3, 1],
      // wide odd widths, large enough to split the products on 2 threads
      [7, 300, 257],
      [3, 129, 263],
      // the index's SIMD blocks (4 groups × 16 columns) with rows past m in their last group
      [9, 127, 48],
      [4, 30, 16],
      [6, 64, 31],
    ]) {
      const dy = ledger.floats(B * m, 'workspace', 't', 'dy');
      for (let i = 0; i < dy.length; i++) dy[i] = rng.next() < 0.3 ? (i % 2 ? 0 : -0) : rng.normal() * 10 ** (rng.int(5) - 2);
      const W = randomSigns(rng, m, n);
      const w = inArena(ledger, W.bits);
      const index = ledger.floats(denseLutFloats(m, n), 'workspace', 't', 'index');
      K.gemmFloatBinTIndex(w, m, n, index);
      const dx = ledger.floats(B * n, 'workspace', 't', 'dx').fill(9);
      K.gemmFloatBinT(dy, w, B, m, n, dx, index);
      const want = new Float32Array(B * n);
      groupedDx(Float32Array.from(dy), W.bits, B, m, n, want);
      t.same(Array.from(dx), Array.from(want), `B=${B} m=${m} n=${n}, ${threads} thread(s): the grouped order`);
      // a row at a time (the streamed recipes' chunks): the same bits
      const rowwise = ledger.floats(B * n, 'workspace', 't', 'dx');
      for (let b = 0; b < B; b++) K.gemmFloatBinT(dy.subarray(b * m, (b + 1) * m), w, 1, m, n, rowwise.subarray(b * n, (b + 1) * n), index);
      t.same(Array.from(rowwise), Array.from(want), `B=${B} m=${m} n=${n}, ${threads} thread(s): one row per call`);
    }
    const w = ledger.u32(8, 'workspace', 't', 'w');
    t.throws(
      () =>
        K.gemmFloatBinT(
          ledger.floats(64, 'workspace', 't', 'dy'),
          w,
          1,
          64,
          64,
          ledger.floats(64, 'workspace', 't', 'dx'),
          ledger.floats(4, 'workspace', 't', 'i'),
        ),
      /index/,
    );
    K.dispose?.();
  }
});

t.test('the input-gradient reference adds each group of 4 output channels as one float32 partial: a case where that order shows', async (t) => {
  const { convBwdData: reference } = await import('../src/kernels/conv-reference.js');
  // one output pixel (3x3 valid, one input channel), 8 output channels, every sign +1: each
  // input pixel gets dY's 8 values through one tap. Grouped: 1e8 + ((1 + 1) + 1) + 2 = 1e8 + 5,
  // which rounds to 100000008 in float32; one channel at a time 1e8 + 1 + 1 + 1 + 2 stays 1e8
  const g = convGeometry(3, 3, 1, 8, 'valid');
  const dx = new Float32Array(9);
  reference(Float32Array.from([1e8, 0, 0, 0, 1, 1, 1, 2]), new Uint32Array(8 * 9).fill(1), g, dx);
  t.same(Array.from(dx), new Array(9).fill(100000008));
});

/**
 * The WebAssembly float × binary forward's order, plainly: y[b, o] = Σ over groups of 4 inputs
 * in order of one float32 partial ((s0·x0 + s1·x1) + s2·x2) + s3·x3.
 */
function groupedY(x: Float32Array, bits: Uint32Array, B: number, m: number, n: number, y: Float32Array): void {
  const wpr = (n + 31) >>> 5;
  const sign = (o: number, k: number) => ((bits[o * wpr + (k >>> 5)] >>> (k & 31)) & 1 ? 1 : -1);
  for (let b = 0; b < B; b++)
    for (let o = 0; o < m; o++) {
      let acc = 0;
      for (let k0 = 0; k0 < n; k0 += 4) {
        let partial = x[b * n + k0] * sign(o, k0);
        for (let k = k0 + 1; k < Math.min(n, k0 + 4); k++) partial = Math.fround(partial + x[b * n + k] * sign(o, k));
        acc = Math.fround(acc + partial);
      }
      y[b * m + o] = acc;
    }
}

t.test('two networks in one process: buffers allocated after the other network grew its memory are still taken', async (t) => {
  const a = wasmKernels.instantiate!();
  const b = wasmKernels.instantiate!();
  a.ledger.floats(16, 'workspace', 't', 'first');
  // b grows its shared memory; V8 may then show a's memory through a new buffer object
  b.ledger.floats(4 << 20, 'workspace', 't', 'large');
  const late = a.ledger.floats(64, 'workspace', 't', 'late');
  late.fill(-3);
  t.equal(a.kernels.maxAbs!(late, 64), 3, "a kernel takes the buffer a's ledger allocated after b grew");
  a.kernels.dispose?.();
  b.kernels.dispose?.();
});

t.test('float × binary forward by table lookups: the grouped order bit for bit, whatever the rows per call, the column split and the threads', async (t) => {
  // rows around the 12-row blocks, inputs not whole groups of 4 or words, more groups than one
  // scratch of tables holds (n = 2000: 3 chunks), an odd weight row count (a lone last row);
  // with 2 threads 100 rows split by rows, 8 rows by weight rows (gemmFloatBinCols)
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(23 + threads);
    for (const [B, m, n] of [
      [9, 5, 70],
      [13, 8, 784],
      [8, 3, 33],
      [100, 256, 784],
      [8, 256, 784],
      [2, 7, 2000],
      [1, 1, 1],
    ]) {
      const x = ledger.floats(B * n, 'workspace', 't', 'x');
      for (let i = 0; i < x.length; i++) x[i] = rng.next() < 0.2 ? (i % 2 ? 0 : -0) : rng.normal() * 10 ** (rng.int(5) - 2);
      const W = randomSigns(rng, m, n);
      const w = inArena(ledger, W.bits);
      const y = ledger.floats(B * m, 'workspace', 't', 'y').fill(5);
      K.gemmFloatBin(x, w, B, m, n, y);
      const want = new Float32Array(B * m);
      groupedY(Float32Array.from(x), W.bits, B, m, n, want);
      t.same(Array.from(y), Array.from(want), `B=${B} m=${m} n=${n}, ${threads} thread(s): the grouped order`);
    }
    K.dispose?.();
  }
});

t.test('gemmFloatBin: every row the same float32 sum whether it runs in a block of rows or alone (batch 1 == batch 8)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  for (const [m, n] of [
    [10, 784],
    [7, 6],
    [9, 100],
    [256, 64],
  ]) {
    const rng = new Rng(m * 31 + n);
    const B = 8;
    const W = randomSigns(rng, m, n);
    const w = inArena(ledger, W.bits);
    const x = ledger.floats(B * n, 'workspace', 't', 'x');
    x.set(Array.from(randomFloats(rng, B * n)));
    const all = ledger.floats(B * m, 'workspace', 't', 'y');
    K.gemmFloatBin(x, w, B, m, n, all);
    const one = ledger.floats(m, 'workspace', 't', 'y1');
    let same = 0;
    for (let i = 0; i < B; i++) {
      K.gemmFloatBin(x.subarray(i * n, (i + 1) * n), w, 1, m, n, one);
      if (one.every((v, j) => Object.is(v, all[i * m + j]))) same++;
    }
    t.equal(same, B, `m=${m} n=${n}: all ${B} rows identical alone`);
  }
});

t.test('wasm kernels refuse operands outside their memory', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const y = ledger.floats(4, 'workspace', 't', 'y');
  t.throws(
    () => K.gemmFloatBin(new Float32Array(4), ledger.u32(1, 'workspace', 't', 'w'), 1, 4, 4, y),
    /not a float32\/uint32 buffer of this network's kernel memory/,
  );
  t.throws(() => wasmKernels.gemmBinBin(new Uint32Array(1), new Uint32Array(1), 1, 1, 1, new Float32Array(1)), /instantiate/);
});

t.test('a network on wasm kernels computes the reference gradients; its memory is still exactly modeled', async (t) => {
  const spec = mlpSpec(100, [64, 48], 7);
  const data = syntheticDataset(2, 32, 100, 7);
  for (const preset of Object.keys(PRESETS)) {
    const nets = [referenceKernels, wasmKernels].map((kernels) => new Network({ spec, recipe: PRESETS[preset], batch: 32, kernels, seed: 4 }));
    // tiny folds weight gradients into Bop's momentum: an optimizer must be there to take them
    for (const n of nets) createOptimizer(n.params(), PRESETS[preset], n.ledger);
    const results = nets.map((n) => n.computeGradients(data, identityOrder(32), 0, 32));
    t.ok(Math.abs(results[0].loss - results[1].loss) < 1e-5, `${preset}: same loss`);
    t.equal(nets[1].kernels.name, 'wasm-simd');
    const [pr, pw] = nets.map((n) => n.params());
    let worst = 0;
    pr.forEach((p, i) => {
      if (p.grad.kind === 'float' && pw[i].grad.kind === 'float')
        worst = Math.max(worst, maxAbsDiff(p.grad.data, pw[i].grad.data) / Math.max(1e-9, maxAbs(p.grad.data)));
    });
    t.ok(worst < 1e-3, `${preset}: float gradients agree (worst rel. ${worst.toExponential(1)})`);
    // 1-bit gradients (low-memory): every sign the same, the first layer's from its re-read pixels
    // in tiles of rows x 64 columns on the wasm kernels, in tiles of whole rows on the reference
    pr.forEach((p, i) => {
      const w = pw[i].grad;
      if (p.grad.kind === 'sign' && w.kind === 'sign') t.same(Array.from(w.bits), Array.from(p.grad.bits), `${preset}: ${p.owner} 1-bit dW`);
    });
    t.equal(nets[1].ledger.totalBytes, nets[0].ledger.totalBytes, `${preset}: same ledger bytes in kernel memory`);
  }
});

const CONV_SHAPES: [number, number, number, number, 'valid' | 'same', number?, number?][] = [
  // hi, wi, ci, co, padding: odd sizes, channels below/at/above a word and above 128
  [5, 5, 1, 3, 'valid'],
  [4, 6, 3, 5, 'same'],
  [6, 5, 31, 7, 'valid'],
  [5, 5, 32, 4, 'same'],
  [4, 4, 33, 6, 'same'],
  [3, 5, 130, 5, 'valid'],
  // padded maps of 1-3 pixels a side: every pixel a border one, its in-bounds taps 1-3 rows and
  // columns (runs of 5 to 48 words: vectors and a tail)
  [1, 2, 160, 4, 'same'],
  [2, 3, 96, 9, 'same'],
  [3, 3, 512, 8, 'same'],
  // wide enough for the blocked paths (4 pixels, channel pairs and quads) with odd leftovers
  [10, 11, 3, 18, 'same'],
  [9, 10, 2, 7, 'valid'],
  [11, 13, 64, 9, 'same'],
  [9, 12, 48, 6, 'valid'],
  [7, 9, 96, 7, 'same'],
  // the general kernels: 1x1 and 5x5, stride 2 (hi, wi, ci, co, padding, k, stride)
  [5, 6, 33, 5, 'valid', 1, 1],
  [7, 6, 64, 6, 'same', 1, 2],
  [9, 8, 3, 7, 'same', 5, 2],
  [9, 11, 40, 5, 'valid', 5, 1],
  [8, 8, 32, 9, 'valid', 3, 2],
  [6, 7, 2, 4, 'same', 5, 1],
];

for (const [hi, wi, ci, co, padding, k = 3, stride = 1] of CONV_SHAPES)
  t.test(`wasm conv == reference, ${hi}x${wi}x${ci} -> ${co} ${padding} ${k}x${k} stride ${stride}`, async (t) => {
    const g = convGeometry(hi, wi, ci, co, padding, k, stride);
    const { kernels: K, ledger } = wasmKernels.instantiate!();
    const rng = new Rng(hi * 100 + ci * 10 + co);
    const X = randomSigns(rng, hi * wi, ci);
    const W = randomSigns(rng, co * k * k, ci);
    const xf = Float32Array.from(randomFloats(rng, hi * wi * ci));
    const dy = Float32Array.from(randomFloats(rng, g.ho * g.wo * co));
    dy[1] = 0;
    const rel = (a: Floats, b: Floats) => maxAbsDiff(a, b) / Math.max(1e-6, maxAbs(b));
    const yR = new Float32Array(g.ho * g.wo * co);
    const yW = inArena(ledger, new Float32Array(yR.length));
    R.convFwdBin(X.bits, W.bits, g, yR);
    K.convFwdBin(inArena(ledger, X.bits), inArena(ledger, W.bits), g, yW);
    t.same(Array.from(yW), Array.from(yR), 'convFwdBin exact');
    R.convFwdFloat(xf, W.bits, g, yR);
    K.convFwdFloat(inArena(ledger, xf), inArena(ledger, W.bits), g, yW);
    t.ok(rel(yW, yR) < 1e-5, 'convFwdFloat');
    const dxR = new Float32Array(hi * wi * ci).fill(2);
    const dxW = inArena(ledger, dxR);
    R.convBwdData(dy, W.bits, g, dxR, new Float32Array(0));
    const wW = inArena(ledger, W.bits);
    const scratch = ledger.floats(convLutFloats(g), 'workspace', 't', 'lookup scratch');
    K.convBwdDataIndex(wW, g, scratch);
    K.convBwdData(inArena(ledger, dy), wW, g, dxW, scratch);
    t.same(Array.from(dxW), Array.from(dxR), 'convBwdData exact');
    // float weights (fixed-point layers): with ±1 values the float reference equals the binary
    // one; with real values wasm equals the float reference
    const signs = Float32Array.from(W.values);
    const yF = new Float32Array(yR.length);
    R.convFwdFloatFloat(xf, signs, g, yF);
    t.ok(rel(yF, yR) < 1e-5, 'convFwdFloatFloat(±1 weights) == convFwdFloat(bits)');
    const dxF = new Float32Array(dxR.length);
    R.convBwdDataFloat(dy, signs, g, dxF);
    t.ok(rel(dxF, dxR) < 1e-5, 'convBwdDataFloat(±1 weights) == convBwdData(bits)');
    const wf = Float32Array.from(randomFloats(rng, co * k * k * ci));
    R.convFwdFloatFloat(xf, wf, g, yR);
    K.convFwdFloatFloat(inArena(ledger, xf), inArena(ledger, wf), g, yW);
    t.ok(rel(yW, yR) < 1e-5, 'convFwdFloatFloat');
    dxW.fill(5);
    R.convBwdDataFloat(dy, wf, g, dxR);
    K.convBwdDataFloat(inArena(ledger, dy), inArena(ledger, wf), g, dxW);
    t.ok(rel(dxW, dxR) < 1e-5, 'convBwdDataFloat');
    for (const bits of [false, true]) {
      const dwR = new Float32Array(co * k * k * ci).fill(0.5);
      const dwW = inArena(ledger, dwR);
      R.convBwdFilter(dy, bits ? X.bits : xf, bits, g, co, dwR);
      K.convBwdFilter(inArena(ledger, dy), bits ? inArena(ledger, X.bits) : inArena(ledger, xf), bits, g, co, dwW);
      t.ok(rel(dwW, dwR) < 1e-5, `convBwdFilter (${bits ? 'bit' : 'float'} input)`);
    }
  });

// several float examples a call (the standard recipe's first layer, the streamed recipes' images):
// the examples added one after another, as one call per example adds them
t.test('convBwdFilter over several float examples in one call == one call per example, bit for bit (1 and 2 threads)', async (t) => {
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(53 + threads);
    for (const g of [convGeometry(32, 32, 3, 64, 'valid'), convGeometry(12, 12, 3, 16, 'same'), convGeometry(9, 9, 5, 8, 'same', 3, 2)]) {
      const examples = 5;
      const [dyLen, xLen] = [g.ho * g.wo * g.co, g.hi * g.wi * g.ci];
      const dy = ledger.floats(examples * dyLen, 'workspace', 't', 'dy');
      dy.set(Array.from(randomFloats(rng, dy.length)));
      const x = ledger.floats(examples * xLen, 'workspace', 't', 'x');
      x.set(Array.from(randomFloats(rng, x.length)));
      const once = ledger.floats(g.co * g.k * g.k * g.ci, 'workspace', 't', 'dw').fill(0.25);
      const each = Float32Array.from(once);
      const eachW = ledger.floats(each.length, 'workspace', 't', 'dw each');
      eachW.set(each);
      K.convBwdFilter(dy, x, false, g, g.co, once, undefined, examples);
      for (let e = 0; e < examples; e++) K.convBwdFilter(dy.subarray(e * dyLen, (e + 1) * dyLen), x.subarray(e * xLen, (e + 1) * xLen), false, g, g.co, eachW);
      t.same(Array.from(once), Array.from(eachW), `${g.hi}x${g.wi}x${g.ci} -> ${g.co}, ${g.k}x${g.k}/${g.stride}, ${examples} examples, ${threads} thread(s)`);
    }
    K.dispose?.();
  }
});

t.test('two kernel threads give bit-identical results (kernels split into disjoint slices)', async (t) => {
  const specs: ModelSpec[] = [
    mlpSpec(784, [256, 256], 10),
    {
      name: 'conv',
      input: { h: 16, w: 16, c: 3 },
      classes: 10,
      ops: [{ conv: 64, padding: 'same' }, { pool: 2 }, { conv: 96, padding: 'valid' }, { dense: 32 }],
    },
    {
      name: 'general-conv',
      input: { h: 20, w: 20, c: 3 },
      classes: 10,
      ops: [
        { conv: 64, padding: 'same', kernel: 5, stride: 2 },
        { conv: 64, padding: 'valid', kernel: 1 },
        { conv: 64, padding: 'same', stride: 2 },
        { dense: 32 },
      ],
    },
  ];
  // fixed-point versions (float×float kernels; the recipe must be standard)
  const fixed = specs.map((s) => ({ ...s, name: `${s.name} w4a8`, quant: parseQuantConfig('w4a8', 'msqe', 'outlier') }));
  // and a model mixing them (every recipe trains it)
  const mixed: ModelSpec = {
    name: 'mixed',
    input: { h: 20, w: 20, c: 3 },
    classes: 10,
    ops: [
      { conv: 64, padding: 'same', kernel: 5, stride: 2, quant: parseQuantConfig('w8a8') },
      { conv: 64, padding: 'valid', kernel: 1 },
      { avgpool: 2 },
      { conv: 40, padding: 'same' },
      { avgpool: 'global' },
      { dense: 32 },
    ],
    classifierQuant: parseQuantConfig('w8a8'),
  };
  for (const spec of [...specs, ...fixed, mixed])
    for (const preset of spec.quant ? ['standard'] : Object.keys(PRESETS)) {
      const features = spec.input.h * spec.input.w * spec.input.c;
      const data = syntheticDataset(6, 40, features, spec.classes);
      const run = (threads: number) => {
        const net = new Network({ spec, recipe: PRESETS[preset], batch: 40, kernels: wasmKernels, seed: 4, threads });
        const opt = createOptimizer(net.params(), PRESETS[preset], net.ledger, net.kernels);
        const r = net.computeGradients(data, identityOrder(40), 0, 40);
        opt.update(1e-3);
        const out = { loss: r.loss, state: Object.values(net.stateTensors()).map((x) => Array.from(x)) };
        net.dispose();
        return out;
      };
      const one = run(1);
      const two = run(2);
      t.equal(two.loss, one.loss, `${spec.name} ${preset}: same loss`);
      t.same(two.state, one.state, `${spec.name} ${preset}: same weights after a step`);
    }
});

t.test('±1 activations kept as floats run by xnor-popcount give the same forward as bits', async (t) => {
  const spec: ModelSpec = {
    name: 'conv',
    input: { h: 12, w: 12, c: 3 },
    classes: 10,
    ops: [{ conv: 32, padding: 'same' }, { pool: 2 }, { conv: 64, padding: 'valid' }, { dense: 40 }, { dense: 24 }],
  };
  const data = syntheticDataset(9, 24, 12 * 12 * 3, 10);
  for (const kernels of [referenceKernels, wasmKernels]) {
    const loss = (actInput: 'float32' | 'bit') => {
      const net = new Network({ spec, recipe: { ...PRESETS.standard, actInput }, batch: 24, kernels, seed: 8 });
      const r = net.computeGradients(data, identityOrder(24), 0, 24);
      net.dispose();
      return r.loss;
    };
    t.equal(loss('float32'), loss('bit'), `${kernels.name}: float ±1 and packed bits give the same loss`);
  }
});

t.test('wasm MSQE sums == the TypeScript reference exactly (JavaScript rounding, ties included)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const rng = new Rng(77);
  for (const n of [1, 7, 1000, 4099]) {
    const w = ledger.floats(n, 'workspace', 't', 'w');
    const m = ledger.floats(n, 'workspace', 't', 'm');
    for (let i = 0; i < n; i++) {
      // a third exactly on rounding ties at 2^-5 (k + 0.5)·2^-5, the rest random
      w[i] = i % 3 === 0 ? (rng.int(41) - 20 + 0.5) * 2 ** -5 : (rng.next() - 0.5) * 0.3;
      m[i] = rng.next();
    }
    for (const e of [-7, -5, -3, 0])
      for (const [lo, hi] of [
        [-7, 7],
        [0, 15],
        [-1, 1],
      ]) {
        for (const weights of [null, m]) {
          const ref = msqeSums(w, weights, e, lo, hi);
          const fast = K.msqeSums!(w, weights, e, lo, hi);
          t.same(fast, ref, `n=${n} e=${e} range [${lo}, ${hi}]${weights ? ' weighted' : ''}`);
        }
      }
  }
  K.dispose?.();
});

t.test('wasm winsorized column sums == the TypeScript reference (ties, zeros, odd widths)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const rng = new Rng(91);
  const { winsorizedColumnSums } = await import('../src/layers/winsorize.js');
  for (const n of [1, 3, 4, 7, 33, 784])
    for (const B of [4, 12, 100])
      for (const c of [0, 1, 4]) {
        if (B < 2 * c + 2) continue;
        const d = ledger.floats(B, 'workspace', 't', 'd');
        const x = ledger.floats(B * n, 'workspace', 't', 'x');
        for (let i = 0; i < B; i++) d[i] = i % 5 === 0 ? 0 : rng.normal();
        // a quarter of the inputs repeat a few values, so terms tie
        for (let k = 0; k < B * n; k++) x[k] = k % 4 === 0 ? [1, -1, 0.5][k % 3] : rng.normal();
        const scratch = ledger.floats((2 * c + 3) * n, 'workspace', 't', 's');
        const [ref, fast] = [ledger.floats(n, 'workspace', 't', 'r'), ledger.floats(n, 'workspace', 't', 'f')];
        winsorizedColumnSums(d, x, B, n, c, scratch, ref);
        scratch.fill(NaN); // the kernel sets up its own scratch
        K.winsorizedColumnSums!(d, x, B, n, c, scratch, fast);
        let worst = 0;
        for (let k = 0; k < n; k++) {
          let scale = 0;
          for (let i = 0; i < B; i++) scale += Math.abs(d[i] * x[i * n + k]);
          worst = Math.max(worst, Math.abs(fast[k] - ref[k]) / Math.max(scale, 1e-12));
        }
        t.ok(worst < 1e-6, `n=${n} B=${B} c=${c}: ${worst.toExponential(1)} of the column's absolute sum`);
      }
  K.dispose?.();
});

t.test('wasm packLatentSigns == the reference (float32 and float16, ±0, NaN, odd widths, 1 and 2 threads)', async (t) => {
  const { packLatentSignsReference } = await import('../src/layers/binary-weights.js');
  const { toHalf } = await import('../src/storage/fp16.js');
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(17);
    for (const [rows, cols] of [
      [1, 1],
      [3, 7],
      [13, 37],
      [4, 256],
      [2, 784],
      [5, 33],
      // large enough that 2 threads split the rows
      [1031, 1153],
    ])
      for (const half of [false, true]) {
        const n = rows * cols;
        const vals = Array.from({ length: n }, (_, i) => [0, -0, NaN, -NaN, 1e-40, -1e-40][i % 13] ?? rng.normal());
        const raw = half ? ledger.u16(n, 'workspace', 't', 'w') : ledger.floats(n, 'workspace', 't', 'w');
        for (let i = 0; i < n; i++) raw[i] = half ? toHalf(vals[i], true) : vals[i];
        const words = rows * ((cols + 31) >>> 5);
        const want = new Uint32Array(words);
        const got = ledger.u32(words, 'workspace', 't', 'bits');
        got.fill(0xdeadbeef);
        packLatentSignsReference(raw as Float32Array | Uint16Array, rows, cols, want);
        K.packLatentSigns!(raw as Float32Array | Uint16Array, rows, cols, got);
        t.same(Array.from(got), Array.from(want), `${rows}x${cols} ${half ? 'float16' : 'float32'}, ${threads} thread(s)`);
      }
    K.dispose?.();
  }
});

t.test('signFloat and clipZero split over 2 threads: the references, element for element', async (t) => {
  const { signFloatReference, clipZeroReference } = await import('../src/bits.js');
  const { kernels: K, ledger } = wasmKernels.instantiate!({ threads: 2 });
  const rng = new Rng(29);
  // large enough to split (512 K elements), odd so a slice ends inside a vector
  const n = (1 << 20) + 3;
  const z = ledger.floats(n, 'workspace', 't', 'z');
  for (let i = 0; i < n; i++) z[i] = i % 101 === 0 ? (i % 2 ? -0 : Number.NaN) : rng.normal() * 1.5;
  const pm = ledger.floats(n, 'workspace', 't', 'pm');
  const pmWant = new Float32Array(n);
  signFloatReference(z, n, pmWant);
  K.signFloat!(z, n, pm);
  t.ok(
    pm.every((v, i) => Object.is(v, pmWant[i])),
    'signFloat',
  );
  // with z kept in the same pass (the float STE mask): the signs, and z's bits (NaN and -0 too)
  const pm2 = ledger.floats(n, 'workspace', 't', 'pm2');
  const kept = ledger.floats(n, 'workspace', 't', 'kept');
  K.signFloat!(z, n, pm2, kept);
  t.ok(
    pm2.every((v, i) => Object.is(v, pmWant[i])),
    'signFloat keeping z: the signs',
  );
  t.same(Buffer.from(kept.buffer, kept.byteOffset, 4 * n).equals(Buffer.from(z.buffer, z.byteOffset, 4 * n)), true, 'signFloat keeping z: z, bit for bit');
  const g = ledger.floats(n, 'workspace', 't', 'g');
  for (let i = 0; i < n; i++) g[i] = rng.normal();
  const gWant = Float32Array.from(g);
  clipZeroReference(gWant, z, n, 1);
  K.clipZero!(g, z, n, 1);
  t.ok(
    g.every((v, i) => Object.is(v, gWant[i])),
    'clipZero',
  );
  K.dispose?.();
});

t.test('wasm packMask and clipZero split over 2 threads (rows, elements) == the references', async (t) => {
  const { packMaskReference, clipZeroReference } = await import('../src/bits.js');
  const { kernels: K, ledger } = wasmKernels.instantiate!({ threads: 2 });
  const rng = new Rng(29);
  // 701 rows of 784 (over the split threshold), rows that end mid-word
  const [rows, cols] = [701, 784];
  const z = ledger.floats(rows * cols, 'workspace', 't', 'z');
  for (let i = 0; i < z.length; i++) z[i] = rng.normal() * 1.2;
  const words = rows * ((cols + 31) >>> 5);
  const want = new Uint32Array(words);
  const got = ledger.u32(words, 'workspace', 't', 'mask');
  packMaskReference(z, rows, cols, want, 1);
  K.packMask!(z, rows, cols, got, 1);
  t.same(Array.from(got), Array.from(want), `packMask ${rows}x${cols}, 2 threads`);
  // the standard recipe's STE on the whole batch: x zeroed where |z| > 1
  const x = ledger.floats(z.length, 'workspace', 't', 'x');
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const xRef = Float32Array.from(x);
  clipZeroReference(xRef, z, z.length, 1);
  K.clipZero!(x, z, z.length, 1);
  t.same(Array.from(x), Array.from(xRef), `clipZero ${z.length} values, 2 threads`);
  K.dispose?.();
});

t.test("wasm packSignMask (a sign layer's output bits and STE mask in one pass) == packSignRows and packMaskReference, 1 and 2 threads", async (t) => {
  const { packMaskReference, packSignRows } = await import('../src/bits.js');
  // whole words (64, 128 channels), rows ending mid-word and mid-vector (37, 7), split and not
  for (const threads of [1, 2])
    for (const [rows, cols] of [
      [2000, 64],
      [300, 128],
      [901, 37],
      [5, 7],
    ]) {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(41 + cols);
      const z = ledger.floats(rows * cols, 'workspace', 't', 'z');
      // ±0, ±clip exactly, NaN, infinities and subnormals among normal values
      const odd = [0, -0, 1, -1, Math.fround(1 + 2 ** -23), Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-40, -1e-40];
      for (let i = 0; i < z.length; i++) z[i] = rng.next() < 0.1 ? odd[rng.int(odd.length)] : rng.normal() * 1.2;
      const words = rows * ((cols + 31) >>> 5);
      const [wantBits, wantMask] = [new Uint32Array(words), new Uint32Array(words)];
      packSignRows(z, rows, cols, wantBits);
      packMaskReference(z, rows, cols, wantMask, 1);
      const bits = ledger.u32(words, 'workspace', 't', 'bits').fill(0xdeadbeef);
      const mask = ledger.u32(words, 'workspace', 't', 'mask').fill(0xdeadbeef);
      K.packSignMask!(z, rows, cols, bits, mask, 1);
      t.same(Array.from(bits), Array.from(wantBits), `signs ${rows}x${cols}, ${threads} thread(s)`);
      t.same(Array.from(mask), Array.from(wantMask), `mask ${rows}x${cols}, ${threads} thread(s)`);
      K.dispose?.();
    }
});

t.test('clipZeroShifted (the STE mask from x̂ + β) == clipZero on z = x̂ + β, 1 and 2 threads, channels ending mid-vector', async (t) => {
  const { clipZeroReference, clipZeroShiftedReference } = await import('../src/bits.js');
  for (const threads of [1, 2])
    for (const [rows, C] of [
      [9000, 64],
      [301, 7],
    ]) {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(31 + C);
      const n = rows * C;
      const xhat = ledger.floats(n, 'workspace', 't', 'xhat');
      const beta = ledger.floats(C, 'workspace', 't', 'beta');
      for (let c = 0; c < C; c++) beta[c] = rng.normal() * 0.5;
      // x̂ on both sides of the clip after the shift, exactly at it, NaN and -0
      for (let i = 0; i < n; i++) {
        const c = i % C;
        xhat[i] = i % 97 === 0 ? Math.fround(1 - beta[c]) : i % 89 === 0 ? Number.NaN : i % 83 === 0 ? -0 : rng.normal() * 1.3;
      }
      const z = Float32Array.from(xhat, (v, i) => v + beta[i % C]); // rounded to float32 as the forward rounds it
      const dy = ledger.floats(n, 'workspace', 't', 'dy');
      for (let i = 0; i < n; i++) dy[i] = rng.normal();
      const want = Float32Array.from(dy);
      clipZeroReference(want, z, n, 1);
      const ref = Float32Array.from(dy);
      clipZeroShiftedReference(ref, xhat, beta, rows, C, 1);
      K.clipZeroShifted!(dy, xhat, beta, rows, C, 1);
      t.ok(
        ref.every((v, i) => Object.is(v, want[i])),
        `reference == clipZero on z, ${rows}x${C}`,
      );
      t.ok(
        dy.every((v, i) => Object.is(v, want[i])),
        `wasm == clipZero on z, ${rows}x${C}, ${threads} thread(s)`,
      );
      t.ok(want.filter((v) => v === 0).length > n / 10, 'a tenth or more of the gradients clipped');
      K.dispose?.();
    }
});

t.test('wasm packMask, applyMask and the float16 codecs == their references (NaN, ±0, ±1, subnormals, odd widths, tails)', async (t) => {
  const { packMaskReference, applyMaskReference, packSignRows, signFloatReference, clipZeroReference } = await import('../src/bits.js');
  const { toHalf, fromHalf } = await import('../src/storage/fp16.js');
  const { packSigns } = await import('../src/layers/layer.js');
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const rng = new Rng(23);
  const special = [0, -0, NaN, 1, -1, 1.0000001, -0.9999999, 1e-40, -1e-40, Infinity, -Infinity, 65520, -7e4];
  for (const [rows, cols] of [
    [1, 1],
    [3, 7],
    [13, 37],
    [4, 256],
    [2, 784],
    [5, 33],
    [8, 36],
  ]) {
    const n = rows * cols;
    const z = ledger.floats(n, 'workspace', 't', 'z');
    for (let i = 0; i < n; i++) z[i] = special[i % 17] ?? rng.normal() * 1.5;
    const words = rows * ((cols + 31) >>> 5);
    const want = new Uint32Array(words);
    const got = ledger.u32(words, 'workspace', 't', 'mask');
    got.fill(0xdeadbeef);
    packMaskReference(z, rows, cols, want, 1);
    K.packMask!(z, rows, cols, got, 1);
    t.same(Array.from(got), Array.from(want), `packMask ${rows}x${cols}`);
    const signsWant = new Uint32Array(words);
    const signsGot = ledger.u32(words, 'workspace', 't', 'signs');
    packSignRows(z, rows, cols, signsWant);
    packSigns(K, z, rows, cols, signsGot);
    t.same(Array.from(signsGot), Array.from(signsWant), `packSigns ${rows}x${cols} (the sign layer's output bits)`);
    // applyMask on rows 1.. of the mask (row0 = 1)
    const r = Math.max(1, rows - 1);
    const x = ledger.floats(r * cols, 'workspace', 't', 'x');
    for (let i = 0; i < r * cols; i++) x[i] = special[(i + 3) % 13] ?? rng.normal();
    const ref = Float32Array.from(x);
    applyMaskReference(ref, r, cols, got, rows > 1 ? 1 : 0);
    K.applyMask!(x, r, cols, got, rows > 1 ? 1 : 0);
    t.ok(
      Array.from(ref).every((v, i) => Object.is(v, x[i])),
      `applyMask ${r}x${cols}: same values, signed zeros and NaNs included`,
    );
    // the float forms of the sign layer (standard recipe): ±1 output and the clipped STE on kept z
    const pm = ledger.floats(n, 'workspace', 't', 'pm');
    const pmWant = new Float32Array(n);
    signFloatReference(z, n, pmWant);
    K.signFloat!(z, n, pm);
    t.same(Array.from(pm), Array.from(pmWant), `signFloat ${n}`);
    const g = ledger.floats(n, 'workspace', 't', 'g');
    for (let i = 0; i < n; i++) g[i] = special[(i + 5) % 13] ?? rng.normal();
    const gWant = Float32Array.from(g);
    clipZeroReference(gWant, z, n, 1);
    K.clipZero!(g, z, n, 1);
    t.ok(
      Array.from(gWant).every((v, i) => Object.is(v, g[i])),
      `clipZero ${n}: same values, signed zeros and NaNs included`,
    );
    // float16 codecs, with lengths that leave a tail of 1-3 values
    const h = ledger.u16(n, 'workspace', 't', 'h');
    K.floatToHalf!(z, n, h);
    t.ok(
      Array.from(z).every((v, i) => h[i] === toHalf(v, true)),
      `floatToHalf ${n} values`,
    );
    // a column range of rows (a store's tile) in one call: columns [1, cols) of every row
    const tile = ledger.floats(n, 'workspace', 't', 'tile');
    K.halfRowsToFloat!(h.subarray(Math.min(1, cols - 1)), rows, cols, cols - Math.min(1, cols - 1), tile);
    const c0 = Math.min(1, cols - 1);
    const w = cols - c0;
    t.ok(
      Array.from({ length: rows * w }, (_, k) => h[Math.floor(k / w) * cols + c0 + (k % w)]).every(
        (v, k) => Object.is(tile[k], Math.fround(fromHalf(v))) || (Number.isNaN(tile[k]) && Number.isNaN(fromHalf(v))),
      ),
      `halfRowsToFloat ${rows}x${w} of ${cols}`,
    );
    // sign bits into a wider bit matrix: rows start 3 words apart, at a word offset
    const wide = ledger.u32(rows * 3 + 1, 'workspace', 't', 'wide');
    const wideWant = new Uint32Array(rows * 3 + 1);
    if (cols <= 64) {
      packSigns(K, z, rows, cols, wide.subarray(1), 3);
      packSignRows(z, rows, cols, wideWant, 1, 3);
      t.same(Array.from(wide), Array.from(wideWant), `packSigns ${rows}x${cols} with a row stride of 3 words`);
    }
    const back = ledger.floats(n, 'workspace', 't', 'back');
    K.halfToFloat!(h, n, back);
    t.ok(
      Array.from(h).every((v, i) => Object.is(back[i], Math.fround(fromHalf(v))) || (Number.isNaN(back[i]) && Number.isNaN(fromHalf(v)))),
      `halfToFloat ${n} values`,
    );
  }
  t.notOk(K.holds!(new Float32Array(4)), 'an array outside the kernel memory is not held');
  t.ok(K.holds!(ledger.floats(4, 'workspace', 't', 'held')));
  K.dispose?.();
});

t.test('wasm pixelRowsToFloat == the TypeScript decode: column runs of strided byte rows (16 a turn and the tail), every byte value', async (t) => {
  const { pixelRowsToFloat } = await import('../src/data/pixels.js');
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const rng = new Rng(41);
  const stride = 300;
  const rows = 7;
  const bytes = ledger.u8(rows * stride, 'workspace', 't', 'bytes');
  for (let i = 0; i < bytes.length; i++) bytes[i] = i < 256 ? i : rng.int(256);
  for (const [from, cols] of [
    [0, 256],
    [0, 1],
    [3, 15],
    [17, 16],
    [64, 64],
    [5, 37],
    [0, 300],
  ]) {
    const out = ledger.floats(rows * cols, 'workspace', 't', 'out').fill(7);
    K.pixelRowsToFloat!(bytes.subarray(from), rows - 1, stride, cols, out);
    const want = new Float32Array(rows * cols).fill(7);
    pixelRowsToFloat(bytes.subarray(from), rows - 1, stride, cols, want);
    t.same(Array.from(out), Array.from(want), `${rows - 1} rows of ${cols} columns from byte ${from}, the last row's floats untouched`);
  }
  K.dispose?.();
});

t.test('first-layer pixels decoded by the kernel, staged in the scratch tail == the TypeScript decode', async (t) => {
  const { inputRows } = await import('../src/layers/layer.js');
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const n = 784;
  const images = Uint8Array.from({ length: 20 * n }, (_, i) => (i * 37 + (i >> 5)) & 255);
  images[0] = 0;
  images[1] = 255;
  const index = Int32Array.from({ length: 12 }, (_, i) => (i * 7) % 20);
  const x = { kind: 'pixels' as const, images, index, cols: n, shape: { h: 28, w: 28, c: 1 }, aug: null };
  for (const [i0, i1, room] of [
    [0, 8, 8],
    [3, 11, 8],
    [5, 6, 8],
    [0, 12, 12],
    [2, 5, 3],
  ]) {
    const scratch = ledger.floats(room * n, 'workspace', 't', 'chunkX');
    const got = inputRows(x, i0, i1, n, scratch, K);
    const want = inputRows(x, i0, i1, n, new Float32Array(room * n));
    t.same(Array.from(got.subarray(0, (i1 - i0) * n)), Array.from(want.subarray(0, (i1 - i0) * n)), `rows [${i0}, ${i1}) in a ${room}-row scratch`);
  }
  // every byte value: the kernel's float32 quotient (2p − 255)/255 == the float64 p·2/255 − 1 rounded
  const all = ledger.floats(256, 'workspace', 't', 'all bytes');
  const allBytes = new Uint8Array(all.buffer, all.byteOffset + 768, 256);
  allBytes.set(Uint8Array.from({ length: 256 }, (_, p) => p));
  K.pixelsToFloat!(allBytes, 256, all);
  t.same(
    Array.from(all),
    Array.from({ length: 256 }, (_, p) => Math.fround(p * (2 / 255) - 1)),
    'all 256 byte values',
  );
  // with augmentation the TypeScript path decodes (the kernel takes plain rows only)
  const aug = Int8Array.from({ length: 36 }, (_, i) => (i % 3 === 2 ? 1 : (i % 5) - 2));
  const scratch = ledger.floats(8 * n, 'workspace', 't', 'chunkX aug');
  t.same(Array.from(inputRows({ ...x, aug }, 0, 8, n, scratch, K)), Array.from(inputRows({ ...x, aug }, 0, 8, n, new Float32Array(8 * n))), 'augmented rows');
  K.dispose?.();
});

t.test(
  'wasm po2Recode == po2RecodeTable on every code: ranges of every length and offset (4 codes a turn and the tail), neighbours kept, 2 threads',
  async (t) => {
    const { po2Get, po2Put, po2RecodeTable } = await import('../src/storage/po2.js');
    const { kernels: K, ledger } = wasmKernels.instantiate!();
    const rng = new Rng(53);
    const words = ledger.u32(512, 'workspace', 't', 'words');
    let checked = 0;
    for (const delta of [-9, -1, 1, 2, 7, 8, 15, 16, 30])
      for (const first of [0, 1, 6, 7, 31, 32, 45])
        for (const n of [0, 1, 3, 4, 5, 8, 13, 64, 257, 700]) {
          for (let w = 0; w < words.length; w++) words[w] = rng.nextU32();
          const want = Uint32Array.from(words);
          const table = po2RecodeTable(delta);
          for (let k = first; k < first + n; k++) po2Put(want, k, table[po2Get(want, k)]);
          K.po2Recode!(words, first, n, delta);
          if (words.some((v, i) => v !== want[i])) t.fail(`delta ${delta}, first ${first}, n ${n}`);
          else checked++;
        }
    t.equal(checked, 9 * 7 * 10, 'every case the same words');
    K.dispose?.();
    // split over 2 threads at codes whose bits start a word: unaligned starts and ends
    const two = wasmKernels.instantiate!({ threads: 2 });
    const big = two.ledger.u32(8000, 'workspace', 't', 'words');
    for (const [first, n, delta] of [
      [0, 40000, 3],
      [7, 40001, -2],
      [45, 41000, 15],
    ]) {
      for (let w = 0; w < big.length; w++) big[w] = rng.nextU32();
      const want = Uint32Array.from(big);
      const table = po2RecodeTable(delta);
      for (let k = first; k < first + n; k++) po2Put(want, k, table[po2Get(want, k)]);
      two.kernels.po2Recode!(big, first, n, delta);
      t.equal(
        big.findIndex((v, i) => v !== want[i]),
        -1,
        `2 threads: delta ${delta}, first ${first}, n ${n}`,
      );
    }
    two.kernels.dispose?.();
  },
);

t.test(
  'wasm po2Read == the store table on every code: rows of 8 codes a turn from a byte, strides, starts within a byte group, biases past the vector range',
  async (t) => {
    const { po2Decode, po2Get } = await import('../src/storage/po2.js');
    const { kernels: K, ledger } = wasmKernels.instantiate!();
    const rng = new Rng(37);
    const words = ledger.u32(4096, 'workspace', 't', 'words');
    // random words hold every code, 16 (−0) included
    for (let w = 0; w < words.length; w++) words[w] = rng.nextU32();
    for (const cols of [1, 3, 4, 5, 8, 13, 16, 40, 64, 101, 200])
      for (const first of [0, 1, 3, 5, 6, 7, 8])
        for (const b of [-150, -121, -120, -3, 0, 60, 119, 120, 200]) {
          const rows = 5;
          const stride = cols + 3;
          const out = ledger.floats(rows * cols, 'workspace', 't', 'out');
          K.po2Read!(words, first, rows, stride, cols, b, out);
          const want = Float32Array.from({ length: rows * cols }, (_, k) => po2Decode(po2Get(words, first + Math.floor(k / cols) * stride + (k % cols)), b));
          t.same(Array.from(out).map(String), Array.from(want).map(String), `cols=${cols} first=${first} b=${b}`);
        }
    K.dispose?.();
  },
);

// large enough that 2 threads split it (each thread's range combined by max and min: exact)
t.test('wasm absRange over a batch, 1 and 2 threads: the largest and the smallest non-zero |x| (NaN ignored, subnormals counted)', async (t) => {
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(37 + threads);
    for (const [n, at] of [
      [70001, 12],
      [70001, 69998],
      [131072, 65537],
    ]) {
      const src = ledger.floats(n, 'workspace', 't', 'src');
      for (let i = 0; i < n; i++) src[i] = rng.next() < 0.01 ? [0, -0, NaN][rng.int(3)] : rng.normal();
      // the extremes in one place: the first thread's slice or the second's
      src[at] = -1e-40;
      src[at + 1] = 3e5;
      src[at + 2] = NaN;
      t.same(K.absRange!(src, n), absRangeOf(src), `${n} values, extremes at ${at}, ${threads} thread(s)`);
    }
    // the integer min and max at their edges: only zeros and NaN (max 0, no non-zero: Infinity),
    // the largest finite value and Infinity, at every place of the 8-value turns and the tails
    const edges = ledger.floats(37, 'workspace', 't', 'edges');
    for (const [fill, extremes] of [
      [[0, -0, NaN], []],
      [[0, NaN], [3.4028234663852886e38]],
      [
        [1, -0, NaN],
        [Infinity, 1.4e-45],
      ],
      [
        [-2, 0],
        [-Infinity, -3.4028234663852886e38],
      ],
    ] as [number[], number[]][])
      for (let place = 0; place < 37; place += 5) {
        for (let i = 0; i < 37; i++) edges[i] = fill[i % fill.length];
        extremes.forEach((v, j) => {
          edges[(place + 3 * j) % 37] = v;
        });
        t.same(K.absRange!(edges, 37), absRangeOf(edges), `edges ${fill.join(',')} / ${extremes.join(',')} at ${place}, ${threads} thread(s)`);
      }
    K.dispose?.();
  }
});

t.test('wasm maxAbs and po2Write == the TypeScript store (NaN, Inf, ±0, subnormals, unaligned bases, extreme biases)', async (t) => {
  const { po2CodeOfScaled, po2Decode, po2Get, po2Put, po2Words } = await import('../src/storage/po2.js');
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const rng = new Rng(31);
  const special = [
    0,
    -0,
    NaN,
    Infinity,
    -Infinity,
    1e-40,
    -1e-40,
    1.4e-45,
    3.4e38,
    -1,
    1,
    Math.SQRT2,
    -Math.SQRT2,
    Math.fround(Math.SQRT2 * (1 - 2 ** -23)),
    Math.fround(Math.SQRT2 * (1 + 2 ** -23)),
  ];
  for (const n of [1, 3, 4, 7, 33, 100, 257]) {
    const src = ledger.floats(n, 'workspace', 't', 'src');
    for (let i = 0; i < n; i++) src[i] = special[(i * 7) % 23] ?? rng.normal() * 10 ** rng.int(6);
    let want = 0;
    for (let k = 0; k < n; k++) if (Math.abs(src[k]) > want) want = Math.abs(src[k]);
    t.equal(K.maxAbs!(src, n), want, `maxAbs over ${n}`);
    let least = Infinity;
    for (let k = 0; k < n; k++) if (Math.abs(src[k]) > 0 && Math.abs(src[k]) < least) least = Math.abs(src[k]);
    t.same(K.absRange!(src, n), { max: want, minNonzero: least }, `absRange over ${n} (the smallest non-zero |x| too, subnormals included)`);
    for (const b of [-150, -20, -3, 0, 5, 60, 140, 200])
      for (const base of [0, 1, 6, 31]) {
        const words = po2Words(base + n) + 1;
        const got = ledger.u32(words, 'workspace', 't', 'words');
        const ref = new Uint32Array(words);
        for (let w = 0; w < words; w++) got[w] = ref[w] = (w * 2654435761) >>> 0; // neighbours must survive
        const scale = 2 ** b;
        for (let k = 0; k < n; k++) po2Put(ref, base + k, po2CodeOfScaled((src[k] < 0 ? -src[k] : src[k]) * scale, src[k] < 0));
        K.po2Write!(src, n, got, base, scale);
        t.same(Array.from(got), Array.from(ref), `po2Write n=${n} b=${b} base=${base}`);
        // the same codes with the chunk's range from the same pass
        const got2 = ledger.u32(words, 'workspace', 't', 'words');
        for (let w = 0; w < words; w++) got2[w] = (w * 2654435761) >>> 0;
        const range = K.po2WriteRange!(src, n, got2, base, scale);
        t.same(Array.from(got2), Array.from(ref), `po2WriteRange n=${n} b=${b} base=${base}: the codes`);
        t.same(range, { max: want, minNonzero: least }, `po2WriteRange n=${n} b=${b} base=${base}: absRange's range`);
        // and back: rows of 2 columns from column 1 of a 3-wide layout (a tile's column range), each
        // code's value as the store's float64 table gives it, rounded to float32 (subnormals, zeros)
        const rows = Math.floor((base + n) / 3);
        if (rows > 0) {
          const out = ledger.floats(rows * 2, 'workspace', 't', 'out');
          K.po2Read!(got, 1, rows, 3, 2, b, out);
          const want = Float32Array.from({ length: rows * 2 }, (_, k) => po2Decode(po2Get(ref, 1 + Math.floor(k / 2) * 3 + (k % 2)), b));
          t.same(Array.from(out).map(String), Array.from(want).map(String), `po2Read rows=${rows} b=${b} base=${base}`);
        }
      }
  }
  // every kind of float32 bit pattern (random words, and mantissas around √2's at each exponent)
  const n = 40000;
  const src = ledger.floats(n, 'workspace', 't', 'patterns');
  const asWords = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) asWords[i] = i % 2 ? (rng.next() * 2 ** 32) >>> 0 : (((i >> 1) % 512) << 23) | (0x3504f2 + ((i >> 10) % 5));
  const range = absRangeOf(src);
  // bases 3 and 5: 4 codes a turn; 0 and 36: 32 a turn from a word's first bit, where −100 <= b <= 118
  for (const b of [-130, -101, -100, -7, 0, 9, 118, 119, 127])
    for (const base of [0, 3, 5, 36]) {
      const words = po2Words(n + base) + 1;
      const ref = new Uint32Array(words);
      for (let w = 0; w < words; w++) ref[w] = (w * 2654435761) >>> 0;
      for (let k = 0; k < n; k++) po2Put(ref, base + k, po2CodeOfScaled((src[k] < 0 ? -src[k] : src[k]) * 2 ** b, src[k] < 0));
      for (const withRange of [false, true]) {
        const got = ledger.u32(words, 'workspace', 't', 'words');
        for (let w = 0; w < words; w++) got[w] = (w * 2654435761) >>> 0;
        if (withRange) {
          t.same(K.po2WriteRange!(src, n, got, base, 2 ** b), range, `po2WriteRange on ${n} bit patterns, b=${b}, base=${base}: the range`);
        } else K.po2Write!(src, n, got, base, 2 ** b);
        t.same(Array.from(got), Array.from(ref), `${withRange ? 'po2WriteRange' : 'po2Write'} on ${n} bit patterns, b=${b}, base=${base}`);
      }
    }
  const nanOnly = ledger.floats(4, 'workspace', 't', 'nan');
  nanOnly.fill(NaN);
  t.equal(K.maxAbs!(nanOnly, 4), 0, 'NaN never becomes the maximum');
  K.dispose?.();
});

t.test('wasm bnNormalize == the TypeScript batch norm (l1 and l2, odd channel counts, large offsets, channels split over 2 threads)', async (t) => {
  const { addRowBias } = await import('../src/layers/quant-layer.js');
  const { packSignRows, wordsFor } = await import('../src/bits.js');
  const { bnNormalizeReference, BN_EPS } = await import('../src/layers/batchnorm.js');
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(41);
    for (const [n, C] of [
      [2, 1],
      [5, 3],
      [32, 256],
      [100, 10],
      [7, 33],
      [1000, 97],
      // bands of 58 rows; blocks of 16, 8 and 4 channels and single ones; past 4,096 channels
      // (the normalize then one channel at a time), split over 2 threads at 40 rows
      [300, 70],
      [3, 4101],
      [40, 4101],
    ])
      for (const l2 of [false, true]) {
        const y = ledger.floats(n * C, 'workspace', 't', 'y');
        for (let i = 0; i < n * C; i++) y[i] = rng.normal() * 40 + (i % C) * 1e3 + (i % 5 === 0 ? 1e-30 : 0);
        const yRef = Float32Array.from(y);
        const mean = ledger.floats(C, 'workspace', 't', 'mean');
        const sigma = ledger.floats(C, 'workspace', 't', 'sigma');
        const meanRef = new Float32Array(C);
        const sigmaRef = new Float32Array(C);
        bnNormalizeReference(yRef, n, C, l2, meanRef, sigmaRef, BN_EPS);
        K.bnNormalize!(y, n, C, l2, mean, sigma, BN_EPS);
        t.same([Array.from(mean), Array.from(sigma)], [Array.from(meanRef), Array.from(sigmaRef)], `${n}x${C} ${l2 ? 'l2' : 'l1'}: statistics`);
        t.same(Array.from(y), Array.from(yRef), `${n}x${C} ${l2 ? 'l2' : 'l1'}: normalized values`);
        // then the shift β on every row (odd channel counts: a scalar tail)
        const beta = ledger.floats(C, 'workspace', 't', 'beta');
        for (let c = 0; c < C; c++) beta[c] = rng.normal() * 3;
        K.addRowBias!(y, n, beta);
        addRowBias(yRef, n, beta);
        t.same(Array.from(y), Array.from(yRef), `${n}x${C}: + β (${threads} thread(s))`);
        // the fused form: x̂ kept and the shift added in the normalizing pass, the same numbers
        const y2 = ledger.floats(n * C, 'workspace', 't', 'y2');
        for (let i = 0; i < n * C; i++) y2[i] = rng.normal() * 40 + (i % C) * 1e3 + (i % 5 === 0 ? 1e-30 : 0);
        const y2Ref = Float32Array.from(y2);
        const xhat = ledger.floats(n * C, 'workspace', 't', 'xhat');
        bnNormalizeReference(y2Ref, n, C, l2, meanRef, sigmaRef, BN_EPS);
        const xhatRef = Float32Array.from(y2Ref);
        addRowBias(y2Ref, n, beta);
        K.bnNormalize!(y2, n, C, l2, mean, sigma, BN_EPS, { xhat, beta });
        t.same(Array.from(xhat), Array.from(xhatRef), `${n}x${C} ${l2 ? 'l2' : 'l1'}, fused: x̂ (${threads} thread(s))`);
        t.same(Array.from(y2), Array.from(y2Ref), `${n}x${C} ${l2 ? 'l2' : 'l1'}, fused: x̂ + β (${threads} thread(s))`);
        // x̂'s sign bits kept instead (low-memory): packSignRows' words, zeros and their signs included
        const y3 = ledger.floats(n * C, 'workspace', 't', 'y3');
        for (let i = 0; i < n * C; i++) y3[i] = i % 7 === 0 ? (i % C) * 1e3 : rng.normal() * 40 + (i % C) * 1e3;
        const y3Ref = Float32Array.from(y3);
        bnNormalizeReference(y3Ref, n, C, l2, meanRef, sigmaRef, BN_EPS);
        const signsRef = new Uint32Array(n * wordsFor(C));
        packSignRows(y3Ref, n, C, signsRef);
        addRowBias(y3Ref, n, beta);
        const signs = ledger.u32(n * wordsFor(C), 'workspace', 't', 'signs').fill(0xa5a5a5a5);
        K.bnNormalize!(y3, n, C, l2, mean, sigma, BN_EPS, { signs, beta });
        t.same(Array.from(signs), Array.from(signsRef), `${n}x${C} ${l2 ? 'l2' : 'l1'}, fused: sign bits of x̂ (${threads} thread(s))`);
        t.same(Array.from(y3), Array.from(y3Ref), `${n}x${C} ${l2 ? 'l2' : 'l1'}, fused with sign bits: x̂ + β (${threads} thread(s))`);
      }
    K.dispose?.();
  }
});

t.test('wasm bnBackStats and bnBackDx == the TypeScript batch-norm backward (float x̂ and sign bits, ghost groups, l1 exact, 1 and 2 threads)', async (t) => {
  const { bnBackStatsReference, bnBackDxReference } = await import('../src/layers/batchnorm.js');
  const { packSignRows } = await import('../src/bits.js');
  for (const threads of [1, 2]) {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    const rng = new Rng(43 + threads);
    for (const [rows, C, G] of [
      [8, 3, 8],
      [12, 37, 5],
      [16, 256, 16],
      [20, 10, 7],
      // large enough that 2 threads split the channels (sums) and the rows (dx)
      [2048, 130, 100],
    ])
      for (const bits of [false, true])
        for (const l1Exact of bits ? [false] : [false, true]) {
          const groups = Math.ceil(rows / G);
          const xhF = ledger.floats(rows * C, 'workspace', 't', 'xh');
          for (let i = 0; i < rows * C; i++) xhF[i] = rng.normal() * (i % 7 === 0 ? 0 : 1);
          const xhB = ledger.u32(rows * ((C + 31) >>> 5), 'workspace', 't', 'xhbits');
          packSignRows(xhF, rows, C, xhB);
          const xh = bits ? xhB : xhF;
          const dy = ledger.floats(rows * C, 'workspace', 't', 'dy');
          for (let i = 0; i < rows * C; i++) dy[i] = rng.normal() * 1e-3;
          const stats = ledger.floats(3 * C * groups, 'workspace', 't', 'stats');
          const statsRef = new Float32Array(3 * C * groups);
          // two chunks, as the layer reads them
          const half = rows >> 1;
          for (const [r0, r1] of [
            [0, half],
            [half, rows],
          ]) {
            const chunk = ledger.floats((r1 - r0) * C, 'workspace', 't', 'chunk');
            chunk.set(dy.subarray(r0 * C, r1 * C));
            K.bnBackStats!(chunk, xh, r1 - r0, C, r0, G, stats, l1Exact);
            bnBackStatsReference(Float32Array.from(chunk), xh, r1 - r0, C, r0, G, statsRef, l1Exact);
          }
          t.same(Array.from(stats), Array.from(statsRef), `stats ${rows}x${C} G=${G} ${bits ? 'bits' : 'float'}${l1Exact ? ' l1-exact' : ''}`);
          const sigma = ledger.floats(C * groups, 'workspace', 't', 'sigma');
          for (let i = 0; i < C * groups; i++) sigma[i] = 0.5 + rng.next();
          const out = ledger.floats(rows * C, 'workspace', 't', 'out');
          out.set(dy);
          const outRef = Float32Array.from(dy);
          K.bnBackDx!(out, xh, rows, C, 0, G, stats, sigma, l1Exact);
          bnBackDxReference(outRef, xh, rows, C, 0, G, statsRef, sigma, l1Exact);
          t.same(Array.from(out), Array.from(outRef), `dx ${rows}x${C} G=${G} ${bits ? 'bits' : 'float'}${l1Exact ? ' l1-exact' : ''}, ${threads} thread(s)`);
        }
    K.dispose?.();
  }
});

t.test('Bop on fused int8 slog momentum: the wasm fold and flip equal the JavaScript path bit for bit', async (t) => {
  const { Bop } = await import('../src/optim/bop.js');
  const { bitStore } = await import('../src/storage/param-store.js');
  const { LOG_MANT_TABLE, POW_SLOG_TABLE } = await import('../src/storage/block8.js');
  const { MemoryLedger } = await import('../src/ledger.js');
  const { kernels: K, ledger: arenaLedger } = wasmKernels.instantiate!();
  // rows × cols binary weights: cols 301 (rows not aligned to 256-blocks), 5 rows + 1 short block
  // of 225 (not a multiple of 4: the fold's scalar tail)
  const rows = 5;
  const cols = 301;
  const n = rows * cols;
  const wpr = (cols + 31) >>> 5;
  const rng = new Rng(41);
  const bits0 = Uint32Array.from({ length: rows * wpr }, () => (rng.next() * 2 ** 32) >>> 0);
  const make = (ledger: InstanceType<typeof MemoryLedger>, kernels?: typeof K, tau = 1e-6) => {
    const bits = ledger.u32(bits0.length, 'retained', 'fc', 'w');
    bits.set(bits0);
    const param = {
      owner: 'fc',
      name: 'w',
      size: n,
      value: bitStore(bits, rows, cols),
      grad: { kind: 'fused' as const, consume: null as ((f: number, tile: Floats, len: number) => void) | null },
      binary: true,
      momentFormat: 'int8' as const,
    };
    const bop = new Bop([param], ledger, { gamma: 0.05, tau }, kernels);
    const tile = ledger.floats(n, 'workspace', 't', 'tile');
    return { bop, param, bits, tile };
  };
  const fast = make(arenaLedger, K);
  const slow = make(new MemoryLedger());
  // tiles of the dW (whole rows, as dense layers hand them): normal values, zeros, subnormals, signs
  const special = [0, -0, 1e-40, -3e-42, 1e-30, 5, -5];
  for (let step = 0; step < 6; step++) {
    for (let r0 = 0; r0 < rows; r0 += 2) {
      const r1 = Math.min(rows, r0 + 2);
      const len = (r1 - r0) * cols;
      for (let k = 0; k < len; k++) {
        let v = k % 37 === 0 ? special[(k / 37 + step) % special.length] : rng.normal() * 10 ** (rng.int(7) - 5);
        if (r0 * cols + k === n - 1) v = step % 2 ? 900 : -900; // the last element the largest of its block (the scalar tail's max)
        fast.tile[k] = v;
        slow.tile[k] = v;
      }
      fast.param.grad.consume!(r0 * cols, fast.tile, len);
      slow.param.grad.consume!(r0 * cols, slow.tile, len);
    }
    fast.bop.update(0.05);
    slow.bop.update(0.05);
    const [sf, ss] = [fast.bop.stateTensors(), slow.bop.stateTensors()];
    t.same(Array.from(sf['fc.w.bop_m']), Array.from(ss['fc.w.bop_m']), `step ${step}: same momentum codes`);
    t.same(Array.from(sf['fc.w.bop_m.scales']), Array.from(ss['fc.w.bop_m.scales']), `step ${step}: same block scales`);
    t.same(Array.from(fast.bits), Array.from(slow.bits), `step ${step}: same weights`);
    t.equal(fast.bop.lastFlips, slow.bop.lastFlips, `step ${step}: ${slow.bop.lastFlips} flips`);
    t.same(fast.bop.stateMeta(), slow.bop.stateMeta(), `step ${step}: same max |m|`);
  }
  t.ok(slow.bop.lastFlips > 0, 'weights flip');
  // a block is encoded once, when its last element is folded: the state after a step does not
  // depend on the tile sizes (whole tensor, rows, 100 elements), and a tile out of order is refused;
  // τ = 0 and τ < 0 (every weight whose sign agrees flips) decided on the codes as on the values
  for (const tau of [1e-6, 0, -1]) {
    const runs = [n, 2 * cols, 100].map((tileLen) => {
      const run = make(arenaLedger, K, tau);
      const ref = make(new MemoryLedger(), undefined, tau);
      const big = arenaLedger.floats(n, 'workspace', 't', 'gradient');
      const plain = new Float32Array(n);
      for (let step = 0; step < 3; step++) {
        const g = new Rng(step + 7);
        for (let k = 0; k < n; k++) plain[k] = g.normal() * 10 ** (g.int(5) - 4);
        big.set(plain);
        for (let f = 0; f < n; f += tileLen) {
          const len = Math.min(tileLen, n - f);
          run.tile.set(big.subarray(f, f + len));
          ref.tile.set(big.subarray(f, f + len));
          run.param.grad.consume!(f, run.tile, len);
          ref.param.grad.consume!(f, ref.tile, len);
        }
        run.bop.update(0.05);
        ref.bop.update(0.05);
        t.same(Array.from(run.bits), Array.from(ref.bits), `τ=${tau}, tiles of ${tileLen}, step ${step}: wasm == JavaScript weights`);
        t.equal(run.bop.lastFlips, ref.bop.lastFlips);
      }
      return { codes: Array.from(run.bop.stateTensors()['fc.w.bop_m']), bits: Array.from(run.bits), flips: run.bop.lastFlips };
    });
    t.same(runs[1], runs[0], `τ=${tau}: tiles of whole rows give the state of one tile`);
    t.same(runs[2], runs[0], `τ=${tau}: tiles of 100 elements give the state of one tile`);
  }
  const order = make(arenaLedger, K);
  t.throws(() => order.param.grad.consume!(cols, order.tile, cols), /out of order/, 'a tile out of order is refused');
  // the tables compiled into the module are block8.ts's own, bit for bit
  const module = new WebAssembly.Module(await (await import('node:fs/promises')).readFile(KERNELS_WASM));
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
  const ex = new WebAssembly.Instance(module, { env: { memory, abort: () => {} } }).exports as { block8Table(k: number): number };
  let same = 0;
  for (let k = 0; k < LOG_MANT_TABLE.length; k++) same += Object.is(ex.block8Table(k), LOG_MANT_TABLE[k]) ? 1 : 0;
  for (let k = 0; k < POW_SLOG_TABLE.length; k++) same += Object.is(ex.block8Table(4096 + k), POW_SLOG_TABLE[k]) ? 1 : 0;
  t.equal(same, LOG_MANT_TABLE.length + POW_SLOG_TABLE.length, 'compiled log tables == block8.ts tables');
});

t.test('sign rows of the weight-gradient lookups (convFilterSignRows): bit ix + 2 of row k·hi + iy is channel k at (iy, ix), every other bit 0', async (t) => {
  const module = new WebAssembly.Module(await (await import('node:fs/promises')).readFile(KERNELS_WASM));
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
  const ex = new WebAssembly.Instance(module, { env: { memory, abort: () => {} } }).exports as Record<string, (...a: number[]) => number>;
  const rng = new Rng(91);
  const base = (ex.heapBase() + 15) & ~15;
  // rows under 16 pixels (bit by bit), exactly 16, and wider ones whose last 16 overlap; channel
  // counts that are not whole bytes or words
  for (const [hi, wi, ci] of [
    [3, 10, 32],
    [2, 15, 37],
    [3, 16, 64],
    [2, 17, 9],
    [4, 30, 64],
    [2, 33, 128],
    [2, 40, 200],
  ]) {
    const wpc = Math.ceil(ci / 32);
    const x = new Uint32Array(memory.buffer, base, hi * wi * wpc);
    for (let i = 0; i < x.length; i++) x[i] = (rng.next() * 2 ** 32) >>> 0;
    // bits past ci set too: the rows take channels [0, ci) only
    const rowBytes = ((((wi + 2 + 7) >>> 3) + 8 + 3) & ~3) >>> 0;
    const lut = base + ((4 * x.length + 15) & ~15);
    new Uint8Array(memory.buffer, lut, ci * hi * rowBytes).fill(0xff);
    ex.convFilterSignRows(base, hi, wi, ci, lut, 0, 1);
    const rows = new Uint8Array(memory.buffer, lut, ci * hi * rowBytes);
    let bad = 0;
    for (let k = 0; k < ci; k++)
      for (let iy = 0; iy < hi; iy++)
        for (let bit = 0; bit < rowBytes * 8; bit++) {
          const ix = bit - 2;
          const want = ix >= 0 && ix < wi ? (x[(iy * wi + ix) * wpc + (k >>> 5)] >>> (k & 31)) & 1 : 0;
          const got = (rows[(k * hi + iy) * rowBytes + (bit >>> 3)] >>> (bit & 7)) & 1;
          if (got !== want) bad++;
        }
    t.equal(bad, 0, `${hi}x${wi}x${ci}: every bit`);
  }
});

t.test('float × float sums over long t in column bands (rowsSum): every bit as float32 sums in t order', async (t) => {
  // T = 300 source rows make bands of 16 columns (the band holds T rows in 16 KB): 100 columns are
  // 6 bands and a 4-column tail; each output must still be its products added in t order
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const rng = new Rng(11);
  const floats = (n: number) => {
    const a = ledger.floats(n, 'workspace', 't', 'x');
    a.set(randomFloats(rng, n));
    return a;
  };
  const inOrder = (start: number, terms: number, term: (t: number) => number) => {
    let a = Math.fround(start);
    for (let i = 0; i < terms; i++) a = Math.fround(a + Math.fround(term(i)));
    return a;
  };
  const [T, m, n] = [300, 5, 100];
  const dy = floats(T * m);
  const x = floats(T * n);
  const dw = floats(m * n);
  const start = Float32Array.from(dw);
  K.gemmTnFloat(dy, x, T, m, n, dw);
  let bad = 0;
  for (let j = 0; j < m; j++)
    for (let k = 0; k < n; k++)
      if (
        !Object.is(
          dw[j * n + k],
          inOrder(start[j * n + k], T, (i) => dy[i * m + j] * x[i * n + k]),
        )
      )
        bad++;
  t.equal(bad, 0, `gemmTnFloat: ${m * n} sums of ${T} terms onto the stored dW, bit for bit`);
  const w = floats(T * n);
  const dyT = floats(3 * T);
  const dx = floats(3 * n);
  K.gemmFloatFloatT(dyT, w, 3, T, n, dx);
  bad = 0;
  for (let b = 0; b < 3; b++)
    for (let k = 0; k < n; k++)
      if (
        !Object.is(
          dx[b * n + k],
          inOrder(0, T, (j) => dyT[b * T + j] * w[j * n + k]),
        )
      )
        bad++;
  t.equal(bad, 0, `gemmFloatFloatT: ${3 * n} sums of ${T} terms, bit for bit`);
  K.dispose?.();
});
