// Batch norm's backward into a float16 or po2 store decodes the whole batch into the idle
// pre-activation buffer where it fits (both passes over it, one encode), in chunks where it does
// not: the stored dx and dβ must be the same bit for bit, for every x̂ form, with and without ghost
// batches, on 1 and 2 threads.
import t from 'tap';
import { BatchNormLayer } from '../src/layers/batchnorm.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { createWorkspace } from '../src/model/workspace.js';
import type { Recipe } from '../src/recipe.js';
import { Rng } from '../src/rng.js';
import { createGradStore, type GradFormat } from '../src/storage/grad-store.js';

const B = 6;
const PIXELS = 5;
const C = 36;
const FORMS: { bn: Recipe['bn']; backward: Recipe['bnBackward']; ghost: number }[] = [
  { bn: 'l2', backward: 'exact', ghost: 0 },
  { bn: 'l2', backward: 'sign-approx', ghost: 0 },
  { bn: 'l1', backward: 'exact', ghost: 0 },
  { bn: 'l1', backward: 'sign-approx', ghost: 4 },
];

/** dx as stored (decoded) and dβ's bits after one forward and backward; `whole`: the batch fits the pre-activation buffer. */
function bnGradient(threads: number, format: GradFormat, form: (typeof FORMS)[number], whole: boolean): { dx: number[]; dBeta: number[] } {
  const { kernels, ledger } = wasmKernels.instantiate!({ threads });
  const rng = new Rng(C + form.ghost);
  const rows = B * PIXELS;
  const act = whole ? rows * C : rows * C - 1;
  const ws = createWorkspace({ chunkRows: 4, batch: B, act, chunk: 2 * PIXELS * C, chan: 3 * C, grad: 0 }, kernels, ledger);
  const layer = new BatchNormLayer('bn', C, form.bn, form.backward, B, ws, ledger, PIXELS, form.ghost);
  const x = ledger.floats(rows * C, 'workspace', 't', 'x');
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * 3 + (i % C) / 7;
  layer.forward({ kind: 'float', data: x, cols: C }, rows, true);
  const dy = ledger.floats(rows * C, 'workspace', 't', 'dy values');
  for (let i = 0; i < dy.length; i++) dy[i] = rng.next() < 0.1 ? 0 : rng.normal() * 2 ** (rng.int(20) - 12);
  const grad = createGradStore(format, dy.length, ledger, 't', 'dy', kernels);
  grad.setShape(rows, C);
  let maxAbs = 0;
  for (const v of dy) maxAbs = Math.max(maxAbs, Math.abs(v));
  grad.beginWrite(maxAbs);
  grad.write(0, rows, dy);
  const spare = createGradStore(format, rows * C, ledger, 't', 'spare', kernels);
  const out = layer.backward(grad, spare, rows);
  if (!out) throw new Error('no dx');
  const values = ledger.floats(rows * C, 'workspace', 't', 'dx values');
  out.read(0, rows, 0, C, values);
  const dBeta = layer.params()[0].grad as { data: Float32Array };
  const result = { dx: Array.from(values), dBeta: Array.from(new Uint32Array(Float32Array.from(dBeta.data).buffer)) };
  kernels.dispose?.();
  return result;
}

for (const threads of [1, 2])
  for (const format of ['float16', 'po2'] as const)
    t.test(`${threads} thread(s), ${format} store: the whole batch decoded once stores the chunks' dx and dβ`, async (t) => {
      for (const form of FORMS) {
        const chunks = bnGradient(threads, format, form, false);
        const whole = bnGradient(threads, format, form, true);
        const what = `${form.bn} ${form.backward}${form.ghost ? `, ghost batches of ${form.ghost}` : ''}`;
        t.ok(
          chunks.dx.some((v) => v !== 0),
          `${what}: dx not all zero`,
        );
        t.ok(
          whole.dx.every((v, i) => Object.is(v, chunks.dx[i])),
          `${what}: dx`,
        );
        t.same(whole.dBeta, chunks.dBeta, `${what}: dβ bits`);
      }
    });
