// Streamed MNIST: the examples stay in their file; a batch is read when it is staged. Training on
// it is bit-identical to training on the data held in memory, and bad files are named.
import { copyFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { residentBytes, stageRows } from '../src/data/dataset.js';
import { defaultMnistDir, loadMnist, loadMnistSplit } from '../src/data/mnist.js';
import { loadData } from '../src/data/registry.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/train/loop.js';
import { tempDir } from './helpers.js';

t.test('staged batches hold exactly the examples asked for, in order', async (t) => {
  const mem = loadMnist().test;
  const str = loadMnist(defaultMnistDir(), true).test;
  t.equal(str.streamed, true);
  t.equal(str.count, mem.count);
  const order = Int32Array.from([5, 6, 7, 9999, 0, 1, 42]);
  const s = stageRows(str, order, 1, 5); // 6 7 9999 0 1
  t.equal(s.data.count, 5);
  for (let i = 0; i < 5; i++) {
    const e = order[1 + i];
    t.same(s.data.images.subarray(s.order[s.offset + i] * 784, (s.order[s.offset + i] + 1) * 784), mem.images.subarray(e * 784, (e + 1) * 784), `example ${e}`);
    t.equal(s.data.labels[s.order[s.offset + i]], mem.labels[e]);
  }
  t.ok(residentBytes(str) < 100_000, `resident ${residentBytes(str)} bytes`);
  t.equal(residentBytes(mem), 10000 * 785);
  t.throws(() => stageRows(str, Int32Array.from([10000]), 0, 1), /out of range/);
  str.close?.();
});

t.test('training on streamed data is bit-identical to training in memory (both recipes)', async (t) => {
  for (const name of ['low-memory', 'standard']) {
    const runOn = (stream: boolean) =>
      train(
        { model: 'mlp', recipeName: name, recipe: PRESETS[name], batch: 50, epochs: 2, seed: 4, lr: 1e-3, threads: 1 },
        loadData('mnist', { limitTrain: 500, limitTest: 300, stream }),
      );
    const [a, b] = [await runOn(false), await runOn(true)];
    t.same(
      b.history.map((h) => [h.trainLoss, h.testAccuracy]),
      a.history.map((h) => [h.trainLoss, h.testAccuracy]),
      name,
    );
    a.network.dispose();
    b.network.dispose();
  }
});

t.test('a truncated or wrong streamed file is named before training', async (t) => {
  const dir = tempDir('bitlearn-stream-');
  for (const f of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) copyFileSync(join(defaultMnistDir(), f), join(dir, f));
  truncateSync(join(dir, 't10k-images-idx3-ubyte'), 16 + 784 * 9999);
  t.throws(
    () => loadMnistSplit(dir, 't10k', true),
    /t10k-images-idx3-ubyte: truncated IDX file: header says 10000x28x28 = 7840000 bytes of data, file has 7839216/,
  );
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), Buffer.from([0, 0, 0x0d, 3]));
  t.throws(() => loadMnistSplit(dir, 't10k', true), /wrong magic number/);
});
