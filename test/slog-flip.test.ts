// Bop's flip on 8-bit slog momentum (kernels.as.ts, bopFlipRows) decides 16 weights at a time on
// the codes, against per-block bounds (slogFlipBounds: the smallest code whose value exceeds τ,
// found from a log estimate stepped on the values; the largest whose value is 0). Every code of
// blocks at scales across the float32 range, τ at, just below and just above decoded values, and
// rows that do and do not start at multiples of 16 must flip as Bop.update's JavaScript loop does:
// where |m| > τ and sign(m) = sign(w) (sign(0) = +1), m the float32 each code decodes to.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { Rng } from '../src/rng.js';
import { BLOCK8, decodeBlock8 } from '../src/storage/block8.js';
import { KERNELS_WASM } from './helpers.js';

interface FlipExports {
  heapBase(): number;
  bopFlipRows(raw: number, scales: number, n: number, bits: number, rowLen: number, tau: number, out: number, r0: number, r1: number): void;
}

/** The float32 value of slog code c in a block of scale max: decodeBlock8's, stored in a Float32Array. */
function slogValue(c: number, max: number): number {
  const out = new Float32Array(1);
  decodeBlock8('slog', Uint8Array.of(c), [max], 0, 1, out);
  return out[0];
}

t.test('Bop flip on slog codes: every code, scales across the float32 range, τ at and around decoded values, as the JavaScript loop', async (t) => {
  const module = new WebAssembly.Module(await readFile(KERNELS_WASM));
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
  const ex = new WebAssembly.Instance(module, { env: { memory, abort: () => {} } }).exports as unknown as FlipExports;
  const rng = new Rng(23);
  const scales = [0, 2 ** -149, 2 ** -140, 2 ** -133, 2 ** -126, 2 ** -110, 1e-5, 0.01, 1, 3e38, Number.POSITIVE_INFINITY, Number.NaN].map(Math.fround);
  for (let k = 0; k < 40; k++) scales.push(Math.fround(2 ** (Math.floor(rng.next() * 60) - 40) * (1 + rng.next())));
  const blocks = scales.length;
  const taus = [1e-8, 0, -1, 1e-30, 2 ** -149, slogValue(40, 1e-5), Math.fround(slogValue(40, 1e-5) * (1 - 2 ** -20)), slogValue(90, 0.01) * (1 + 2 ** -30)];
  const base = (ex.heapBase() + 15) & ~15;
  memory.grow(Math.ceil((base + blocks * BLOCK8 * 2 + 4096) / 65536) + 1);
  let checked = 0;
  for (const rowLen of [64, 100, 256])
    for (const tau of taus) {
      const rows = Math.floor((blocks * BLOCK8) / rowLen);
      const n = rows * rowLen;
      const wpr = (rowLen + 31) >>> 5;
      const raw = base;
      const sc = (raw + n + 15) & ~15;
      const bitsAt = sc + blocks * 4;
      const out = bitsAt + rows * wpr * 4;
      const codes = new Uint8Array(memory.buffer, raw, n);
      for (let i = 0; i < n; i++) codes[i] = ((i & 255) * 101 + (i >> 8) * 7) & 255;
      new Float32Array(memory.buffer, sc, blocks).set(scales);
      const bits = new Uint32Array(memory.buffer, bitsAt, rows * wpr);
      for (let k = 0; k < bits.length; k++) bits[k] = rng.int(2 ** 32) >>> 0;
      // the JavaScript loop's decisions, on the values Bop's block buffer holds (decodeBlock8's, as float32)
      const values = new Float32Array(n);
      for (let b = 0; b * BLOCK8 < n; b++) decodeBlock8('slog', codes, scales, b, Math.min(BLOCK8, n - b * BLOCK8), values.subarray(b * BLOCK8));
      const want = Uint32Array.from(bits);
      let wantFlips = 0;
      let wantMax = 0;
      for (let i = 0; i < n; i++) {
        const m = values[i];
        const a = m < 0 ? -m : m;
        if (a > wantMax) wantMax = a;
        const [r, c] = [Math.floor(i / rowLen), i % rowLen];
        const word = r * wpr + (c >>> 5);
        const mask = 1 << (c & 31);
        if (a > tau && m >= 0 === ((want[word] & mask) !== 0)) {
          want[word] = (want[word] ^ mask) >>> 0;
          wantFlips++;
        }
      }
      ex.bopFlipRows(raw, sc, n, bitsAt, rowLen, tau, out, 0, rows);
      const got = new Uint32Array(memory.buffer, bitsAt, rows * wpr);
      let bad = 0;
      for (let k = 0; k < want.length; k++) if (got[k] !== want[k]) bad++;
      const [max, flips] = [new Float32Array(memory.buffer, out, 1)[0], new Int32Array(memory.buffer, out + 4, 1)[0]];
      if (bad || flips !== wantFlips || max !== Math.fround(wantMax))
        t.fail(`rows of ${rowLen}, τ=${tau}: ${bad} words differ, ${flips} flips for ${wantFlips}, max ${max} for ${wantMax}`);
      checked += wantFlips;
    }
  t.ok(checked > 10000, `every flip decision as the JavaScript loop's (${checked} flips in all)`);
});
