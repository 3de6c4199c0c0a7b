// A binary conv layer's input gradient between gradient stores in one kernel call (threads take
// examples, each reading dY, looking up and writing dX in its own slot) against the plain way:
// codes decoded, the reference input gradient, written. float16 (convBwdDataHalf): every code
// the same as encoding each value. po2 (convBwdDataPo2, the tiny recipe: each thread writes under
// its own running bias, then every range is re-coded to the common one): every code the same as a
// two-pass fill under the max of everything, with examples whose size grows (the bias moves
// inside a thread and threads end on different ones) and zero examples first. Geometries: CNV's
// wide layer (valid), same padding with an odd example count (a thread split that leaves one
// thread more), and shapes they decline.
import t from 'tap';
import { convGeometry, convLutFloats, type ConvGeometry } from '../src/kernels/conv-geometry.js';
import { referenceKernels as R } from '../src/kernels/reference.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { Rng } from '../src/rng.js';
import { fromHalf, toHalf } from '../src/storage/fp16.js';
import { maxAbs, po2CodesDiffering, po2FillBy, po2Store, randomSigns } from './helpers.js';

const CASES: { g: ConvGeometry; examples: number }[] = [
  { g: convGeometry(30, 30, 64, 64, 'valid'), examples: 3 },
  { g: convGeometry(12, 12, 16, 24, 'same'), examples: 5 },
  { g: convGeometry(16, 16, 32, 8, 'same'), examples: 4 },
];

/** Floats of scratch convBwdDataHalf needs for `slots` threads' tables and buffers (generous). */
function scratchFloats(g: ConvGeometry, slots: number): number {
  return convLutFloats(g) * (slots + 1) + slots * (g.ho * g.wo * g.co + g.hi * g.wi * g.ci);
}

for (const threads of [1, 2])
  for (const { g, examples } of CASES)
    t.test(`convBwdDataHalf ${g.hi}x${g.wi}x${g.ci} <- ${g.co}, ${examples} examples, ${threads} thread(s): the codes of the plain way`, async (t) => {
      const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
      const rng = new Rng(g.hi * 7 + g.co + examples);
      const [dyLen, dxLen] = [g.ho * g.wo * g.co, g.hi * g.wi * g.ci];
      const dy = ledger.u16(examples * dyLen, 'workspace', 't', 'dy');
      // zeros, subnormal and large halves over six decades
      for (let k = 0; k < dy.length; k++) dy[k] = rng.next() < 0.3 ? 0 : toHalf(rng.normal() * 10 ** (rng.int(6) - 5), true);
      const W = randomSigns(rng, g.co * 9, g.ci);
      const w = ledger.u32(W.bits.length, 'workspace', 't', 'w');
      w.set(W.bits);
      const scratch = ledger.floats(scratchFloats(g, threads), 'workspace', 't', 'scratch');
      K.convBwdDataIndex(w, g, scratch);
      const dx = ledger.u16(examples * dxLen, 'workspace', 't', 'dx').fill(0xffff);
      t.ok(K.convBwdDataHalf!(dy, w, g, dx, scratch, examples), 'done in one call');
      let bad = 0;
      let nonzero = 0;
      const dyF = new Float32Array(dyLen);
      const dxF = new Float32Array(dxLen);
      for (let e = 0; e < examples; e++) {
        for (let k = 0; k < dyLen; k++) dyF[k] = fromHalf(dy[e * dyLen + k]);
        R.convBwdData(dyF, W.bits, g, dxF, new Float32Array(0));
        for (let k = 0; k < dxLen; k++) {
          const want = toHalf(dxF[k], true);
          if (dx[e * dxLen + k] !== want) bad++;
          if (want !== 0) nonzero++;
        }
      }
      t.equal(bad, 0, `${examples * dxLen} codes equal`);
      t.ok(nonzero > dxLen, 'the gradient is not all zeros');
      K.dispose?.();
    });

for (const threads of [1, 2])
  for (const { g, examples } of CASES)
    for (const sizes of ['growing', 'zeros first'] as const)
      t.test(
        `convBwdDataPo2 ${g.hi}x${g.wi}x${g.ci} <- ${g.co}, ${examples} examples, ${sizes}, ${threads} thread(s): the codes of a two-pass fill`,
        async (t) => {
          const { kernels: K, ledger } = wasmKernels.instantiate!({ threads });
          const rng = new Rng(g.hi * 5 + g.co + examples);
          const [dyLen, dxLen] = [g.ho * g.wo * g.co, g.hi * g.wi * g.ci];
          const size = (e: number) => (sizes === 'growing' ? 4 ** e : e === 0 ? 0 : 1);
          const values = Float32Array.from({ length: examples * dyLen }, (_, k) => (rng.next() < 0.2 ? 0 : rng.normal() * 1e-3 * size(Math.floor(k / dyLen))));
          const dy = po2Store(ledger, K, examples, dyLen, values);
          const W = randomSigns(rng, g.co * 9, g.ci);
          const w = ledger.u32(W.bits.length, 'workspace', 't', 'w');
          w.set(W.bits);
          const scratch = ledger.floats(scratchFloats(g, threads), 'workspace', 't', 'scratch');
          K.convBwdDataIndex(w, g, scratch);
          const view = dy.po2View!()!;
          const got = po2FillBy(po2Store(ledger, K, examples, dxLen), (into) => K.convBwdDataPo2!(view.words, view.bias, w, g, into, scratch, examples));
          t.ok(got.done, 'done in one call');
          // the plain way: dY decoded, the reference input gradient of each example, a two-pass fill
          const dyF = new Float32Array(examples * dyLen);
          dy.read(0, examples, 0, dyLen, dyF);
          const dxF = ledger.floats(examples * dxLen, 'workspace', 't', 'dx floats');
          for (let e = 0; e < examples; e++)
            R.convBwdData(dyF.subarray(e * dyLen, (e + 1) * dyLen), W.bits, g, dxF.subarray(e * dxLen, (e + 1) * dxLen), new Float32Array(0));
          const want = po2Store(ledger, K, examples, dxLen, dxF) as unknown as { words: Uint32Array };
          t.equal(po2CodesDiffering(got.words, want.words, examples * dxLen), 0, `${examples * dxLen} codes equal`);
          t.equal(got.max, maxAbs(dxF), 'returns the max |dX|');
          t.ok(
            dxF.some((v) => v !== 0),
            'the gradient is not all zeros',
          );
          K.dispose?.();
        },
      );

t.test('convBwdDataHalf declines what it does not take (the layer then goes chunk by chunk)', async (t) => {
  const { kernels: K, ledger } = wasmKernels.instantiate!({ threads: 2 });
  const take = (g: ConvGeometry, scratch: number) =>
    K.convBwdDataHalf!(
      ledger.u16(2 * g.ho * g.wo * g.co, 'workspace', 't', 'dy'),
      ledger.u32(g.co * 9, 'workspace', 't', 'w'),
      g,
      ledger.u16(2 * g.hi * g.wi * g.ci, 'workspace', 't', 'dx'),
      ledger.floats(scratch, 'workspace', 't', 'scratch'),
      2,
    );
  const wide = convGeometry(16, 16, 32, 8, 'same');
  t.notOk(take(wide, convLutFloats(wide)), 'scratch with room for the tables but no thread buffers');
  const odd = convGeometry(5, 5, 6, 8, 'same');
  t.notOk(take(odd, scratchFloats(odd, 2)), 'an example of dX not a multiple of 4 codes (5x5x6)');
  const strided = convGeometry(9, 9, 8, 8, 'valid', 3, 2);
  t.notOk(take(strided, 1 << 16), 'stride 2 (no lookup tables)');
  // po2: an example's codes must start a word (a multiple of 32 codes)
  const po2 = (g: ConvGeometry) =>
    K.convBwdDataPo2!(
      ledger.u32(g.ho * g.wo * g.co, 'workspace', 't', 'dy'),
      0,
      ledger.u32(g.co * 9, 'workspace', 't', 'w'),
      g,
      ledger.u32(2 * g.hi * g.wi * g.ci, 'workspace', 't', 'dx'),
      ledger.floats(scratchFloats(g, 2), 'workspace', 't', 'scratch'),
      2,
    );
  t.equal(po2(convGeometry(6, 6, 6, 8, 'same')), null, 'po2: 6x6x6 = 216 codes an example');
  K.dispose?.();
});
