// The WebAssembly SIMD float16 codec (Adam on float16 weights and moments; the float16 gradient stores, branch-free) against the
// TypeScript codec in src/storage/fp16.ts: every one of the 65,536 half codes decoded, and float32
// values around every rounding boundary encoded (ties to even, subnormals, saturation, NaN).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fromHalf, toHalf } from '../src/storage/fp16.js';
import { KERNELS_WASM } from './helpers.js';

const memory = new WebAssembly.Memory({ initial: 64, maximum: 64, shared: true });
const ex = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(KERNELS_WASM)), { env: { memory, abort: () => {} } }).exports as Record<
  string,
  (...a: number[]) => number
>;
const base = (ex.heapBase() + 15) & ~15;

for (const fast of [0, 1]) {
  const mode = fast ? 'with the all-normal test (Adam)' : 'branch-free (gradient stores)';
  t.test(`decode ${mode}: all 65,536 half codes == fromHalf`, async (t) => {
    const n = 65536;
    const src = new Uint16Array(memory.buffer, base, n);
    for (let h = 0; h < n; h++) src[h] = h;
    const dstOff = base + 2 * n;
    ex.halfDecode(base, n, dstOff, fast);
    const dst = new Float32Array(memory.buffer, dstOff, n);
    let bad = 0;
    for (let h = 0; h < n; h++) {
      const want = fromHalf(h);
      const ok = Number.isNaN(want) ? Number.isNaN(dst[h]) : Object.is(dst[h], Math.fround(want));
      if (!ok && bad++ < 5) t.fail(`half 0x${h.toString(16)}: ${dst[h]} != ${want}`);
    }
    t.equal(bad, 0, 'every code decodes exactly (signed zeros, subnormals, Inf, NaN)');
  });

  t.test(`encode ${mode}: values at and around every half rounding boundary == toHalf(v, saturate)`, async (t) => {
    const values: number[] = [0, -0, Infinity, -Infinity, NaN, 65504, 65519, 65520, 1e9, -1e9, 2 ** -25, 2 ** -26, 3 * 2 ** -26, 2 ** -24, 1e-30, -1e-45];
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 0x7c00; h++) {
      const a = fromHalf(h);
      const b = fromHalf(h + 1);
      const mid = (a + b) / 2; // a tie: rounds to the even code
      for (const v of [a, mid, Math.fround(mid)]) {
        f[0] = v;
        for (const d of [-1, 0, 1]) {
          const w = new Uint32Array([u[0] + d]);
          const x = new Float32Array(w.buffer)[0];
          values.push(x, -x);
        }
      }
    }
    while (values.length % 4) values.push(0);
    const n = values.length;
    const src = new Float32Array(memory.buffer, base, n);
    src.set(values);
    const dstOff = base + 4 * n;
    ex.halfEncode(base, n, dstOff, fast);
    const dst = new Uint16Array(memory.buffer, dstOff, n);
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const want = toHalf(src[i], true);
      if (dst[i] !== want && bad++ < 5) t.fail(`${src[i]}: 0x${dst[i].toString(16)} != 0x${want.toString(16)}`);
    }
    t.equal(bad, 0, `${n} values encode exactly as toHalf(v, true)`);
  });
}

t.test('encode with the all-normal test: whole groups of 8 just below 2^-14 that round up to it take the 8-wide path exactly', async (t) => {
  // the 8-wide encoder judges a value normal by its rounded code (>= 0x400), so a value just
  // below 2^-14 that rounds to 2^-14 stays on that path: its code must be the subnormal path's
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = 2 ** -14;
  const values: number[] = [];
  for (let d = 1; d <= 0x1001; d++) {
    const w = new Uint32Array([u[0] - d]);
    values.push(new Float32Array(w.buffer)[0]);
  }
  values.push(2 ** -14 - 2 ** -25, -(2 ** -14 - 2 ** -25)); // the exact tie, both signs
  while (values.length % 8) values.push(2 ** -14);
  const n = values.length;
  const src = new Float32Array(memory.buffer, base, n);
  src.set(values);
  const dstOff = base + 4 * n;
  ex.halfEncode(base, n, dstOff, 1);
  const dst = new Uint16Array(memory.buffer, dstOff, n);
  let bad = 0;
  let up = 0;
  for (let i = 0; i < n; i++) {
    const want = toHalf(src[i], true);
    if ((want & 0x7fff) === 0x400) up++;
    if (dst[i] !== want && bad++ < 5) t.fail(`${src[i]}: 0x${dst[i].toString(16)} != 0x${want.toString(16)}`);
  }
  t.ok(up > 0x1000, `${up} of the values round up to 2^-14`);
  t.equal(bad, 0, `${n} values encode exactly as toHalf(v, true)`);
});
