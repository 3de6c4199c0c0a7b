// Bop's fold decodes 8-bit slog momentum with an exponent add to one of 8 per-block parts instead
// of a table load per value (kernels.as.ts, slogDecode4), where the block's scale lets that be
// exact, and one value at a time elsewhere. Every code of blocks at scales across the float32
// range (both sides of the 2^-110 and 2^126 bounds, zero, subnormal, infinite, NaN) goes through
// bopFoldWhole; the folded values must be JavaScript's (1 − γ)·decode + γ·g, bit for bit.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { Rng } from '../src/rng.js';
import { BLOCK8, decodeBlock8 } from '../src/storage/block8.js';
import { KERNELS_WASM } from './helpers.js';

interface FoldExports {
  heapBase(): number;
  bopFoldWhole(raw: number, scales: number, n: number, tile: number, gamma: number, b0: number, b1: number): void;
}

function scalesToTry(rng: Rng): number[] {
  const s = [0, 2 ** -149, 2 ** -127, 2 ** -126, 2 ** -112, 2 ** -111, 2 ** -110, 1.5 * 2 ** -111, 1.75 * 2 ** -110, 2 ** -109, 1, 0.75];
  s.push(2 ** 125 * 1.99, 2 ** 126, 2 ** 126 * 1.5, 3.4028234663852886e38, Number.POSITIVE_INFINITY, Number.NaN);
  for (let k = 0; k < 200; k++) s.push(Math.fround(2 ** (Math.floor(rng.next() * 240) - 115) * (1 + rng.next())));
  return s.map(Math.fround);
}

t.test('slog decode in the fold: every code at scales across the float32 range is decodeBlock8 then the fold, bit for bit', async (t) => {
  const module = new WebAssembly.Module(await readFile(KERNELS_WASM));
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
  const ex = new WebAssembly.Instance(module, { env: { memory, abort: () => {} } }).exports as unknown as FoldExports;
  const rng = new Rng(17);
  const scales = scalesToTry(rng);
  const blocks = scales.length;
  const n = blocks * BLOCK8 - 3; // a short last block: its last 3 codes are left out
  const base = (ex.heapBase() + 15) & ~15;
  memory.grow(Math.ceil((base + n * 9 + blocks * 4 + 64) / 65536));
  const raw = base;
  const sc = (raw + n + 15) & ~15;
  const tile = sc + blocks * 4;
  for (const gamma of [0, 1e-4, 0.5]) {
    const codes = new Uint8Array(memory.buffer, raw, n);
    const sF = new Float32Array(memory.buffer, sc, blocks);
    const g = new Float32Array(memory.buffer, tile, n);
    for (let i = 0; i < n; i++) {
      // every code once a block, in a shuffled order
      codes[i] = ((i & 255) * 167 + (i >> 8)) & 255;
      g[i] = gamma === 0 ? 0 : rng.normal() * 2 ** (Math.floor(rng.next() * 40) - 30);
    }
    sF.set(scales);
    const keep = 1 - gamma;
    // decodeBlock8's values, stored as float32 as Bop's block buffer holds them, then folded
    const want = new Float32Array(n);
    for (let b = 0; b < blocks; b++) decodeBlock8('slog', codes, sF, b, Math.min(BLOCK8, n - b * BLOCK8), want.subarray(b * BLOCK8));
    for (let i = 0; i < n; i++) want[i] = keep * want[i] + gamma * g[i];
    ex.bopFoldWhole(raw, sc, n, tile, gamma, 0, blocks);
    const got = new Float32Array(memory.buffer, tile, n);
    let bad = 0;
    let first = '';
    for (let i = 0; i < n; i++)
      if (!Object.is(got[i], want[i])) {
        if (!bad) first = ` (first: code ${codes[i]} at scale ${sF[i >> 8]}: ${got[i]} for ${want[i]})`;
        bad++;
      }
    t.equal(bad, 0, `γ=${gamma}: ${n} folded values equal${first}`);
  }
});
