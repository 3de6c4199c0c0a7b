import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadCifar10, parseCifarBatches } from '../src/data/cifar10.js';
import { readImage } from '../src/data/pixels.js';
import { loadData } from '../src/data/registry.js';
import { referenceKernels } from '../src/kernels/reference.js';
import type { Floats } from '../src/ledger.js';
import { Network } from '../src/model/network.js';
import { PRESETS } from '../src/recipe.js';
import { identityOrder, maxAbsDiff, tempDir } from './helpers.js';

function record(label: number, fill: (plane: number, p: number) => number): Uint8Array {
  const r = new Uint8Array(3073);
  r[0] = label;
  for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) r[1 + c * 1024 + p] = fill(c, p);
  return r;
}

t.test('CIFAR-10 records become channels-last images', async (t) => {
  const bytes = Buffer.concat([record(3, (c, p) => (c * 50 + p) % 256), record(9, () => 7)]);
  const d = parseCifarBatches([{ path: 'b.bin', bytes }], 'x');
  t.equal(d.count, 2);
  t.same(Array.from(d.labels), [3, 9]);
  // pixel p = 5, channel 2 (blue) of image 0
  t.equal(d.images[5 * 3 + 2], (100 + 5) % 256);
  t.equal(d.images[3072 + 100], 7);
});

t.test('CIFAR-10 file problems are named', async (t) => {
  t.throws(
    () => parseCifarBatches([{ path: 'b.bin', bytes: new Uint8Array(3000) }], 'x'),
    /b\.bin: 3000 bytes is not a whole number of CIFAR-10 records \(3073 bytes each\)/,
  );
  t.throws(() => parseCifarBatches([{ path: 'b.bin', bytes: record(12, () => 0) }], 'x'), /b\.bin: record 0 has label 12/);
  const dir = tempDir('bitlearn-cifar-');
  t.throws(() => loadCifar10(dir), /CIFAR-10: missing file .*data_batch_1\.bin/);
  for (let i = 1; i <= 5; i++)
    writeFileSync(
      join(dir, `data_batch_${i}.bin`),
      record(i, () => i),
    );
  writeFileSync(
    join(dir, 'test_batch.bin'),
    record(0, () => 0),
  );
  const split = loadCifar10(dir);
  t.equal(split.train.count, 5);
  t.equal(split.test.count, 1);
  t.throws(() => loadData('cifar10'), /give the directory of the binary version with --data-dir/);
});

t.test('shift and flip', async (t) => {
  const shape = { h: 3, w: 4, c: 1 };
  const images = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
  const val = (y: number, x: number, out: Float32Array) => out[y * 4 + x];
  const out = new Float32Array(12);
  readImage(images, 0, shape, 0, 0, 1, out, 0);
  t.equal(val(0, 0, out), Math.fround((3 * 20 * 2) / 255 - 1), 'flip mirrors columns');
  readImage(images, 0, shape, 1, 2, 0, out, 0);
  t.equal(val(0, 0, out), 0, 'shifted-in pixels read as 0');
  t.equal(val(1, 2, out), (0 * 2) / 255 - 1, 'pixel (0,0) moved to (1,2)');
  t.equal(val(2, 3, out), Math.fround((5 * 20 * 2) / 255 - 1));
});

t.test('augmented training: re-reading pixels gives the gradients of the gathered float batch', async (t) => {
  const data = loadData('synthetic-cifar', { limitTrain: 8, limitTest: 4 });
  const spec = { name: 'c', input: { h: 32, w: 32, c: 3 }, classes: 10, ops: [{ conv: 32, padding: 'valid' as const }, { pool: 2 as const }, { dense: 16 }] };
  const grads = (['float32', 'reread'] as const).map((firstInput) => {
    const net = new Network({ spec, recipe: { ...PRESETS.standard, firstInput }, batch: 8, kernels: referenceKernels, seed: 5, augment: true });
    net.computeGradients(data.train, identityOrder(8), 0, 8);
    return net.params().map((p) => Float64Array.from((p.grad as { data: Floats }).data));
  });
  let worst = 0;
  grads[0].forEach((g, i) => {
    worst = Math.max(worst, maxAbsDiff(g, grads[1][i]));
  });
  t.equal(worst, 0, 'identical');
  const plain = new Network({ spec, recipe: PRESETS.standard, batch: 8, kernels: referenceKernels, seed: 5 });
  plain.computeGradients(data.train, identityOrder(8), 0, 8);
  t.ok(maxAbsDiff((plain.params()[0].grad as { data: Floats }).data, grads[0][0]) > 0, 'augmentation changes the batch');
});
