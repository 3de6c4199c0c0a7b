// The WebAssembly max-pool kernels against their plain forms (pool-reference.ts), bit for bit:
// NaN, −Infinity, ±0 and ties in the windows; channel counts that are and are not multiples of 4
// and of 32; windows of 2 and 3 with dropped edges; in place and into another buffer; 1 and 2 threads.
import t from 'tap';
import { wordsFor } from '../src/bits.js';
import {
  maxPoolFloatReference,
  maxPoolGradReference,
  maxPoolGradRowReference,
  POOL_ARGMAX,
  type PoolArgmaxSource,
  type PoolDims,
} from '../src/kernels/pool-reference.js';
import { wasmAvailable, wasmKernels } from '../src/kernels/wasm.js';
import type { Floats, MemoryLedger } from '../src/ledger.js';
import { Rng } from '../src/rng.js';
import { fromHalf, toHalf } from '../src/storage/fp16.js';
import { maxAbs, po2CodesDiffering, po2FillBy, po2Store } from './helpers.js';

t.ok(wasmAvailable(), 'the wasm kernels load on this machine');

/** Values with ties, signed zeros, NaN and −Infinity among ordinary ones. */
function awkward(rng: Rng, n: number, out: Floats): void {
  const special = [Number.NaN, Number.NEGATIVE_INFINITY, -0, 0, 1, 1];
  for (let i = 0; i < n; i++) out[i] = rng.next() < 0.2 ? special[rng.int(special.length)] : Math.round(rng.normal() * 4) / 4;
}

/** Values a batch of B maps pools to (windows past the map's edge dropped). */
const pooledLength = (B: number, d: PoolDims) => B * Math.floor(d.h / d.size) * Math.floor(d.w / d.size) * d.C;

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));

/** Every argmax source over a batch of B maps: float input (awkward values), and random words read as sign bits and as a mask. */
function argmaxSources(ledger: MemoryLedger, rng: Rng, B: number, d: PoolDims): [Floats | Uint32Array, PoolArgmaxSource][] {
  const n = B * d.h * d.w * d.C;
  const x = ledger.floats(n, 'workspace', 't', 'x');
  awkward(rng, n, x);
  const words = B * d.h * d.w * wordsFor(d.C);
  const bits = ledger.u32(words, 'workspace', 't', 'bits');
  for (let i = 0; i < words; i++) bits[i] = rng.nextU32();
  return [
    [x, POOL_ARGMAX.floats],
    [bits, POOL_ARGMAX.signBits],
    [bits, POOL_ARGMAX.mask],
  ];
}

const SHAPES: [B: number, d: PoolDims][] = [
  [3, { h: 4, w: 4, C: 4, size: 2 }],
  [2, { h: 5, w: 7, C: 6, size: 2 }],
  [2, { h: 6, w: 6, C: 37, size: 3 }],
  [3, { h: 7, w: 5, C: 64, size: 2 }],
  [1, { h: 8, w: 8, C: 33, size: 2 }],
  // 2x2 argmax words gathered 32 channels at a time: 2 whole words, one of 4 channels, a tail of 2
  [2, { h: 6, w: 4, C: 70, size: 2 }],
  // large enough that 2 threads split it by examples
  [12, { h: 28, w: 28, C: 64, size: 2 }],
];

for (const threads of [1, 2])
  for (const [B, d] of SHAPES)
    t.test(`maxPoolFloat ${B}x${d.h}x${d.w}x${d.C} window ${d.size}, ${threads} thread(s): the reference, with and without argmax`, async (t) => {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(d.h * 31 + d.C + threads);
      const n = B * d.h * d.w * d.C;
      const pooled = pooledLength(B, d);
      const x = ledger.floats(n, 'workspace', 't', 'x');
      awkward(rng, n, x);
      const bits = B * d.h * d.w * wordsFor(d.C);
      for (const inPlace of [false, true])
        for (const withArgmax of [false, true]) {
          const src = Float32Array.from(x);
          const want = inPlace ? Float32Array.from(x) : new Float32Array(pooled);
          const wantMask = withArgmax ? new Uint32Array(bits) : null;
          maxPoolFloatReference(inPlace ? want : src, want, B, d, wantMask);
          const io = ledger.floats(n, 'workspace', 't', 'io');
          io.set(src);
          const out = inPlace ? io : ledger.floats(pooled, 'workspace', 't', 'out');
          const mask = withArgmax ? ledger.u32(bits, 'workspace', 't', 'mask') : null;
          K.maxPoolFloat!(io, out, B, d, mask);
          const what = `${inPlace ? 'in place' : 'into out'}${withArgmax ? ', argmax' : ''}`;
          t.ok(same(out.subarray(0, inPlace ? n : pooled), want), `${what}: values`);
          if (mask) t.same(Array.from(mask), Array.from(wantMask!), `${what}: argmax bits`);
        }
      K.dispose?.();
    });

for (const [B, d] of SHAPES)
  t.test(`maxPoolGradRow ${B}x${d.h}x${d.w}x${d.C} window ${d.size}: the reference for every row and argmax source`, async (t) => {
    const { kernels: K, ledger } = wasmKernels.instantiate!();
    const rng = new Rng(d.w * 17 + d.C);
    const n = B * d.h * d.w * d.C;
    const wp = Math.floor(d.w / d.size);
    const x = ledger.floats(n, 'workspace', 't', 'x');
    awkward(rng, n, x);
    // sign bits of the ±1 input, and an argmax mask as forward writes it (plus marks forward never
    // leaves, so the first-marked rule is tested too); windows with no mark are left in both
    const words = B * d.h * d.w * wordsFor(d.C);
    const signBits = ledger.u32(words, 'workspace', 't', 'signs');
    const mask = ledger.u32(words, 'workspace', 't', 'mask');
    for (let i = 0; i < words; i++) {
      signBits[i] = rng.next() < 0.3 ? 0 : rng.nextU32();
      mask[i] = rng.next() < 0.5 ? 0 : rng.nextU32() & rng.nextU32();
    }
    const dy = ledger.floats(wp * d.C, 'workspace', 't', 'dy');
    const out = ledger.floats(d.w * d.C, 'workspace', 't', 'out');
    const sources = [
      [x, POOL_ARGMAX.floats],
      [signBits, POOL_ARGMAX.signBits],
      [mask, POOL_ARGMAX.mask],
    ] as const;
    let rowsChecked = 0;
    for (const [src, source] of sources)
      for (let b = 0; b < B; b++)
        for (let y = 0; y < d.h; y++) {
          awkward(rng, wp * d.C, dy);
          const want = new Float32Array(d.w * d.C);
          maxPoolGradRowReference(src, source, d, b, y, dy, want);
          out.fill(0);
          K.maxPoolGradRow!(src, source, d, b, y, dy, out);
          if (!same(out, want)) t.fail(`source ${source}, example ${b}, row ${y}`);
          else rowsChecked++;
        }
    t.equal(rowsChecked, 3 * B * d.h, 'every row of every source');
    K.dispose?.();
  });

for (const threads of [1, 2])
  t.test(`maxPoolGrad over a batch, ${threads} thread(s): the reference for every shape and argmax source (rows below the last window zeroed)`, async (t) => {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    for (const [B, d] of SHAPES) {
      const rng = new Rng(d.h * 13 + d.C + threads);
      const n = B * d.h * d.w * d.C;
      const pooled = pooledLength(B, d);
      const sources = argmaxSources(ledger, rng, B, d);
      const dy = ledger.floats(pooled, 'workspace', 't', 'dy');
      awkward(rng, pooled, dy);
      for (const [src, source] of sources) {
        const want = new Float32Array(n).fill(9);
        maxPoolGradReference(src, source, d, B, dy, want);
        const out = ledger.floats(n, 'workspace', 't', 'out').fill(9);
        K.maxPoolGrad!(src, source, d, B, dy, out);
        t.ok(same(out, want), `${B}x${d.h}x${d.w}x${d.C} window ${d.size}, source ${source}`);
      }
    }
    K.dispose?.();
  });

// between float16 stores (low-memory): each code as decoding, the reference and encoding give it;
// dY codes include zeros, −0, subnormals, infinities and NaN payloads
for (const threads of [1, 2])
  t.test(`maxPoolGradHalf over a batch, ${threads} thread(s): the codes of the reference's values for every shape it takes and argmax source`, async (t) => {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    let shapes = 0;
    for (const [B, d] of SHAPES) {
      const rng = new Rng(d.h * 17 + d.C + threads);
      const n = B * d.h * d.w * d.C;
      const pooled = pooledLength(B, d);
      const sources = argmaxSources(ledger, rng, B, d);
      const dy = ledger.u16(pooled, 'workspace', 't', 'dy');
      for (let i = 0; i < pooled; i++) dy[i] = rng.next() < 0.1 ? [0, 0x8000, 0x0001, 0x7c00, 0xfc00, 0x7e01][rng.int(6)] : toHalf(rng.normal(), true);
      const dyFloats = Float32Array.from(dy, fromHalf);
      let taken = true;
      for (const [src, source] of sources) {
        const want = new Float32Array(n);
        maxPoolGradReference(src, source, d, B, dyFloats, want);
        const out = ledger.u16(n, 'workspace', 't', 'out').fill(0x1234);
        if (!K.maxPoolGradHalf!(src, source, d, B, dy, out)) {
          taken = false;
          t.ok(
            (d.w * d.C) % 4 !== 0 || (Math.floor(d.w / d.size) * d.C) % 4 !== 0,
            `${B}x${d.h}x${d.w}x${d.C}: declined only for rows of codes that are not whole vectors`,
          );
          break;
        }
        let bad = 0;
        for (let i = 0; i < n; i++) if (out[i] !== toHalf(want[i], true)) bad++;
        t.equal(bad, 0, `${B}x${d.h}x${d.w}x${d.C} window ${d.size}, source ${source}: ${n} codes`);
      }
      if (taken) shapes++;
    }
    t.ok(shapes >= 4, `${shapes} shapes taken`);
    K.dispose?.();
  });

// between po2 stores (tiny): every code as a two-pass fill of the reference's values gives it,
// with examples whose size grows (the running bias moves inside a thread, threads end on
// different biases); maps whose example is not whole words of codes are declined
for (const threads of [1, 2])
  t.test(`maxPoolGradPo2 over a batch, ${threads} thread(s): the codes of a fill of the reference's values`, async (t) => {
    const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
    let shapes = 0;
    for (const [B, d] of SHAPES) {
      const rng = new Rng(d.h * 19 + d.C + threads);
      const n = B * d.h * d.w * d.C;
      const pooled = pooledLength(B, d);
      const perPooled = pooled / B;
      const sources = argmaxSources(ledger, rng, B, d);
      const values = Float32Array.from({ length: pooled }, (_, i) => (rng.next() < 0.2 ? 0 : rng.normal() * 1e-3 * 4 ** Math.floor(i / perPooled)));
      const dy = po2Store(ledger, K, B, perPooled, values);
      const view = dy.po2View!()!;
      const dyFloats = ledger.floats(pooled, 'workspace', 't', 'dy floats');
      dy.read(0, B, 0, perPooled, dyFloats);
      for (const [src, source] of sources) {
        const wantFloats = ledger.floats(n, 'workspace', 't', 'want floats');
        maxPoolGradReference(src, source, d, B, dyFloats, wantFloats);
        const want = po2Store(ledger, K, B, n / B, wantFloats) as unknown as { words: Uint32Array };
        const got = po2FillBy(po2Store(ledger, K, B, n / B), (into) => K.maxPoolGradPo2!(src, source, d, B, view.words, view.bias, into));
        if (!got.done) {
          t.ok((d.h * d.w * d.C) % 32 !== 0, `${B}x${d.h}x${d.w}x${d.C}: declined only where an example is not whole words of codes`);
          break;
        }
        t.equal(po2CodesDiffering(got.words, want.words, n), 0, `${B}x${d.h}x${d.w}x${d.C} window ${d.size}, source ${source}: ${n} codes`);
        t.equal(got.max, maxAbs(wantFloats), 'returns the max |dX|');
        if (source === POOL_ARGMAX.mask) shapes++;
      }
    }
    t.ok(shapes >= 3, `${shapes} shapes taken`);
    K.dispose?.();
  });
