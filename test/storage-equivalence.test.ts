// Keeping activations as bits must not change the gradients: the 1-bit storage knobs
// (layer inputs, STE masks, max-pool argmax, first-layer re-read) against their float32 forms.
import t from 'tap';
import { referenceKernels } from '../src/kernels/reference.js';
import type { Floats } from '../src/ledger.js';
import { Network } from '../src/model/network.js';
import type { ModelSpec } from '../src/model/spec.js';
import { PRESETS, type Recipe } from '../src/recipe.js';
import { identityOrder, maxAbs, maxAbsDiff, mlpSpec, syntheticDataset } from './helpers.js';

const bitsEverywhere: Partial<Recipe> = { actInput: 'bit', steMask: 'bit', poolMask: 'bit', firstInput: 'reread' };

const SPECS: ModelSpec[] = [
  mlpSpec(40, [33, 64], 5),
  {
    name: 'cnv-like',
    input: { h: 10, w: 10, c: 3 },
    classes: 4,
    ops: [{ conv: 16, padding: 'valid' }, { pool: 2 }, { conv: 32, padding: 'same' }, { dense: 12 }],
  },
  {
    name: 'binarynet-like',
    input: { h: 9, w: 9, c: 2 },
    classes: 3,
    ops: [{ conv: 8, padding: 'same' }, { pool: 2 }, { conv: 32, padding: 'valid' }, { pool: 2 }, { dense: 7 }],
    poolBeforeBn: true,
  },
];

for (const spec of SPECS)
  for (const base of ['standard', 'low-memory'] as const)
    t.test(`${spec.name}, ${base} precisions: 1-bit storage gives the float32-storage gradients`, async (t) => {
      const features = spec.input.h * spec.input.w * spec.input.c;
      const data = syntheticDataset(3, 6, features, spec.classes);
      const floatStore: Partial<Recipe> = { actInput: 'float32', steMask: 'float32', poolMask: 'float32', firstInput: 'float32' };
      const grads = [floatStore, bitsEverywhere].map((knobs) => {
        const recipe = { ...PRESETS[base], ...knobs, dw: 'float32' as const };
        const net = new Network({ spec, recipe, batch: 6, kernels: referenceKernels, seed: 2 });
        const r = net.computeGradients(data, identityOrder(6), 0, 6);
        return { loss: r.loss, g: net.params().map((p) => Float64Array.from((p.grad as { data: Floats }).data)) };
      });
      t.equal(grads[1].loss, grads[0].loss, 'same loss');
      let worst = 0;
      grads[0].g.forEach((g, i) => {
        worst = Math.max(worst, maxAbsDiff(g, grads[1].g[i]) / Math.max(1e-12, maxAbs(g)));
      });
      t.ok(worst < 1e-5, `worst rel. difference ${worst.toExponential(1)}`);
    });

// Rows per chunk (recipe knob chunkRows) sizes the chunk buffers only: every row is still summed
// in order, so a training step gives the same bits whatever it is (wasm kernels, each preset).
t.test('chunkRows changes no number: the same weights after a few steps, each preset, MLP and conv', async (t) => {
  const { wasmKernels } = await import('../src/kernels/wasm.js');
  const { createOptimizer } = await import('../src/optim/optimizer.js');
  const specs: ModelSpec[] = [mlpSpec(300, [64, 64], 5), SPECS[1]];
  for (const spec of specs)
    for (const preset of ['standard', 'low-memory', 'tiny']) {
      const features = spec.input.h * spec.input.w * spec.input.c;
      const data = syntheticDataset(4, 40, features, spec.classes);
      const run = (chunkRows: number) => {
        const recipe = { ...PRESETS[preset], chunkRows };
        const net = new Network({ spec, recipe, batch: 40, kernels: wasmKernels, seed: 3, threads: 1 });
        const opt = createOptimizer(net.params(), recipe, net.ledger, net.kernels);
        const losses: number[] = [];
        for (let s = 0; s < 3; s++) {
          losses.push(net.computeGradients(data, identityOrder(40), 0, 40).loss);
          opt.update(1e-2);
        }
        const state = net.stateTensors();
        const bytes = Object.values(state).map((v) => Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
        net.dispose();
        return { losses, bytes };
      };
      const a = run(8);
      const b = run(32);
      t.same(b.losses, a.losses, `${spec.name} ${preset}: same losses`);
      t.ok(
        b.bytes.every((x, i) => x.length === a.bytes[i].length && x.every((v, k) => v === a.bytes[i][k])),
        `${spec.name} ${preset}: same state, bit for bit`,
      );
    }
});

t.test('dense weight gradients over ±1 floats packed in several passes (chunkXBits holds 32 rows of a 1024-wide input): the bits of one pass', async (t) => {
  const { wasmKernels } = await import('../src/kernels/wasm.js');
  const { createOptimizer } = await import('../src/optim/optimizer.js');
  const spec = mlpSpec(300, [1024, 64], 5);
  const data = syntheticDataset(6, 40, 300, 5);
  const run = (chunkRows: number) => {
    const recipe = { ...PRESETS.standard, chunkRows };
    const net = new Network({ spec, recipe, batch: 40, kernels: wasmKernels, seed: 4, threads: 1 });
    const opt = createOptimizer(net.params(), recipe, net.ledger, net.kernels);
    for (let s = 0; s < 3; s++) {
      net.computeGradients(data, identityOrder(40), 0, 40);
      opt.update(1e-2);
    }
    const bytes = Object.values(net.stateTensors()).map((v) => Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)));
    net.dispose();
    return bytes;
  };
  // chunkRows 1: chunkX holds 1024 words, 32 packed rows of the 1024-wide layer's input (2 passes
  // over the batch of 40); chunkRows 8: 256 rows, one pass
  const [a, b] = [run(1), run(8)];
  t.ok(
    a.every((x, i) => x.length === b[i].length && x.every((v, k) => v === b[i][k])),
    'same state, bit for bit',
  );
});

// dW tiles over sign inputs gather in the idle pre-activation buffer when chunkDx holds fewer
// channels, and dX goes in chunks of several examples there: channels are summed independently
// and examples are independent, so neither changes a number (both dW paths: a narrow map's quads
// of examples and a wide map's one-example lookups; 1 and 2 threads).
t.test('conv dW tiles and dX chunks in the idle pre-activation buffer change no number: the chunkDx ones, bit for bit', async (t) => {
  const { wasmKernels } = await import('../src/kernels/wasm.js');
  const { createOptimizer } = await import('../src/optim/optimizer.js');
  const { IDLE_ACTIVATIONS } = await import('../src/layers/conv.js');
  // 16x16x64 -> 64 (wide: lookups) and 8x8x64 -> 160 (narrow: quads); chunkDx holds 8 rows of
  // the dense layer's 2560 inputs: 35 channels of either dW (tiles of 32), where the idle
  // buffer of a batch of 24 takes tiles of 64 and 112, and dX chunks of 4 and 12 examples
  // instead of 1 and 2
  const spec: ModelSpec = {
    name: 'wide-tiles',
    input: { h: 16, w: 16, c: 3 },
    classes: 5,
    ops: [{ conv: 64, padding: 'same' }, { conv: 64, padding: 'same' }, { pool: 2 }, { conv: 160, padding: 'same' }, { pool: 2 }, { dense: 8 }],
  };
  const data = syntheticDataset(5, 24, 16 * 16 * 3, 5);
  for (const threads of [1, 2])
    for (const preset of ['low-memory', 'tiny']) {
      const run = (inIdle: boolean) => {
        IDLE_ACTIVATIONS.borrowed = inIdle;
        const recipe = PRESETS[preset];
        const net = new Network({ spec, recipe, batch: 24, kernels: wasmKernels, seed: 4, threads });
        const opt = createOptimizer(net.params(), recipe, net.ledger, net.kernels);
        const losses: number[] = [];
        for (let s = 0; s < 2; s++) {
          losses.push(net.computeGradients(data, identityOrder(24), 0, 24).loss);
          opt.update(1e-2);
        }
        const bytes = [...Object.values(net.stateTensors()), ...Object.values(opt.stateTensors())].map((v) =>
          Buffer.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).toString('hex'),
        );
        net.dispose();
        return { losses, bytes };
      };
      const a = run(false);
      const b = run(true);
      IDLE_ACTIVATIONS.borrowed = true;
      t.same(b.losses, a.losses, `${preset}, ${threads} thread(s): same losses`);
      t.same(b.bytes, a.bytes, `${preset}, ${threads} thread(s): same weights and optimizer state, bit for bit`);
    }
});
