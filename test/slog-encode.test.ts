// The wasm slog encoder (8-bit log codes of Bop's momentum) against block8.ts's encodeBlock8: on
// values whose 8·log2|v| − 8·log2(max) is within 2^-15 of a half-integer (found by search over
// the log table); on values either side of every step of the encoder's step tables, for every
// max index (the encoder counts steps instead of taking logs); on blocks whose max is below
// 2^-109, which take the float64 path throughout (subnormal values then may get codes); and on
// blocks holding NaN or an infinity. Values go in through Bop's fused fold with γ = 1 (the
// momentum becomes the values themselves).
import t, { type Test } from 'tap';
import { wasmKernels } from '../src/kernels/wasm.js';
import { Rng } from '../src/rng.js';
import { BLOCK8, encodeBlock8, LOG_MANT_TABLE } from '../src/storage/block8.js';

/** float32 2^e·(1 + (k + 0.5)/4096): mantissa top 12 bits k (exact in float32). */
const valueAt = (e: number, k: number) => Math.fround(2 ** e * (1 + (k + 0.5) / 4096));
/** 8·log2 as block8.ts computes it for a value made by valueAt. */
const log2x8 = (e: number, k: number) => 8 * e + LOG_MANT_TABLE[k];

/** Blocks of a max and values whose code rounding is within 2^-15 of a tie. */
function nearTieBlocks(): { values: number[]; ties: number } {
  const values: number[] = [];
  let ties = 0;
  for (let M = 0; M < 4096; M += 13) {
    const eMax = -3 + (M % 7);
    const logMax = log2x8(eMax, M);
    const block = [valueAt(eMax, M)];
    for (const d of [0, -1, -6, -13])
      for (let k = 0; k < 4096 && block.length < BLOCK8; k++) {
        const x = log2x8(eMax + d, k) - logMax;
        if (x >= 0 || x < -127) continue;
        if (Math.abs(x - Math.round(x)) > 0.5 - 2 ** -15) {
          block.push((k & 1 ? -1 : 1) * valueAt(eMax + d, k));
          ties++;
        }
      }
    while (block.length < BLOCK8) block.push(valueAt(eMax - 2, (block.length * 31) % 4096));
    values.push(...block);
  }
  return { values, ties };
}

/**
 * One block per max index iMax (4096): its max 2^eMax·(1 + (iMax + 0.5)/4096), and values either
 * side of each index where round(8·log2 − 8·log2 max) steps up, at exponents from the max's down
 * to where codes end (Δ = −16, −17), with random signs; the rest random below the max, with
 * zeros and subnormals where the max is small. Returns the values and how many sit at a step.
 */
function stepBlocks(rng: Rng): { values: number[]; atSteps: number } {
  const values: number[] = [];
  let atSteps = 0;
  for (let iMax = 0; iMax < 4096; iMax++) {
    // exponents 2^-109 (the smallest max of the step path) to 2^20
    const eMax = iMax % 3 === 0 ? -109 + (iMax % 11) : -20 + (iMax % 41);
    const block = [valueAt(eMax, iMax)];
    const step = (k: number) => Math.round(LOG_MANT_TABLE[k] - LOG_MANT_TABLE[iMax]);
    const sign = () => (rng.next() < 0.5 ? -1 : 1);
    for (let k = 1; k < 4096; k++) {
      if (step(k) === step(k - 1)) continue;
      for (const d of [0, -1, -2, -15, -16, -17])
        for (const at of [k - 1, k])
          if (d < 0 || at <= iMax) {
            block.push(sign() * valueAt(eMax + d, at));
            atSteps++;
          }
    }
    while (block.length < BLOCK8) {
      const r = rng.next();
      const small = eMax < -100 && r < 0.15;
      block.push(
        small ? (r < 0.05 ? 0 : sign() * rng.next() * 2 ** -126) : sign() * valueAt(eMax - 1 - Math.floor(rng.next() * 20), Math.floor(rng.next() * 4096)),
      );
    }
    values.push(...block.slice(0, BLOCK8));
  }
  return { values, atSteps };
}

/** Bop's fused fold with γ = 1 over values against encodeBlock8, block by block: codes and scales (returns encodeBlock8's codes). */
function checkEncode(t: Test, values: number[]): Uint8Array {
  const n = values.length;
  const blocks = Math.ceil(n / BLOCK8);
  const { kernels: K, ledger } = wasmKernels.instantiate!();
  const codes = ledger.u8(n, 'optimizer', 't', 'codes');
  const scales = ledger.floats(blocks, 'optimizer', 't', 'scales');
  const tile = ledger.floats(n, 'workspace', 't', 'values');
  tile.set(values);
  K.bopFoldSlog!(codes, scales, n, 0, tile, n, 1, ledger.floats(BLOCK8, 'workspace', 't', 'bm'));
  const refCodes = new Uint8Array(n);
  const refScales = new Float32Array(blocks);
  const f32 = Float32Array.from(values);
  for (let b = 0; b < blocks; b++) encodeBlock8('slog', f32.subarray(b * BLOCK8), Math.min(BLOCK8, n - b * BLOCK8), refCodes, refScales, b);
  let bad = 0;
  for (let k = 0; k < n; k++) if (codes[k] !== refCodes[k]) bad++;
  t.equal(bad, 0, `${n} codes equal`);
  let badScales = 0;
  for (let b = 0; b < blocks; b++) if (!Object.is(scales[b], refScales[b])) badScales++;
  t.equal(badScales, 0, `${blocks} block scales equal`);
  K.dispose?.();
  return refCodes;
}

t.test('slog codes either side of every step of every max index: the wasm fold with γ = 1 encodes as encodeBlock8', async (t) => {
  const rng = new Rng(11);
  const { values, atSteps } = stepBlocks(rng);
  t.ok(atSteps > 4096 * 8 * 8, `${atSteps} values at a step`);
  checkEncode(t, values);
});

t.test('slog blocks holding NaN or an infinity, and a short last block: encoded as encodeBlock8', async (t) => {
  const rng = new Rng(12);
  const values: number[] = [];
  for (const odd of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0])
    for (let k = 0; k < BLOCK8; k++) values.push(k === 77 ? odd : rng.normal() * 1e-3);
  for (let k = 0; k < 37; k++) values.push(rng.normal());
  checkEncode(t, values);
});

t.test('slog codes near a rounding tie and below 2^-109: the wasm fold with γ = 1 encodes as encodeBlock8', async (t) => {
  const { values, ties } = nearTieBlocks();
  t.ok(ties > 100, `${ties} values within 2^-15 of a tie`);
  const rng = new Rng(5);
  // blocks with a max below 2^-109: normal values, subnormals, zeros
  for (let b = 0; b < 4; b++)
    for (let k = 0; k < BLOCK8; k++) {
      const r = rng.next();
      values.push(r < 0.1 ? 0 : r < 0.4 ? (rng.next() - 0.5) * 2 ** -126 : rng.normal() * 2 ** (-112 - b));
    }
  const n = values.length;
  const refCodes = checkEncode(t, values);
  const tiny = refCodes.subarray(n - 4 * BLOCK8);
  t.ok(
    tiny.some((c, k) => c !== 0 && Math.abs(values[n - 4 * BLOCK8 + k]) < 2 ** -126),
    'some subnormal value has a code (the float64 path)',
  );
});
