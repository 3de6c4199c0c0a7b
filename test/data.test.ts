import { writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { limitDataset } from '../src/data/dataset.js';
import { DataFileError, parseIdx, readIdx } from '../src/data/idx.js';
import { defaultMnistDir, loadMnist, loadMnistSplit } from '../src/data/mnist.js';
import { tempDir } from './helpers.js';

function idx(dims: number[], data: number[] | Uint8Array, magicType = 0x08): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE((magicType << 8) | dims.length, 0);
  dims.forEach((d, i) => {
    head.writeUInt32BE(d, 4 + 4 * i);
  });
  return Buffer.concat([head, Buffer.from(data)]);
}

t.test('the bundled MNIST loads: 60000 + 10000 examples of 784 pixels, digit labels', async (t) => {
  const { train, test } = loadMnist();
  t.equal(train.count, 60000);
  t.equal(test.count, 10000);
  t.equal(train.features, 784);
  t.equal(train.images.length, 60000 * 784);
  const counts = new Array(10).fill(0);
  for (const l of train.labels) counts[l]++;
  t.ok(
    counts.every((c) => c > 5000),
    `every digit is present: ${counts.join(',')}`,
  );
});

t.test('IDX parsing', async (t) => {
  const ok = parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6]), 'x');
  t.same(ok.dims, [2, 3]);
  t.same(Array.from(ok.data), [1, 2, 3, 4, 5, 6]);
  t.throws(() => parseIdx(idx([2, 3], [1, 2, 3]), 'f.idx'), new DataFileError('f.idx: truncated IDX file: header says 2x3 = 6 bytes of data, file has 3'));
  t.throws(() => parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6], 0x0d), 'f.idx'), /f\.idx: wrong magic number 0x00000d02/);
  t.throws(() => parseIdx(Buffer.from([0, 0]), 'f.idx'), /f\.idx: truncated IDX file \(2 bytes, no header\)/);
  t.throws(() => parseIdx(idx([2], [1, 2, 3]), 'f.idx'), /1 bytes past/);
  t.throws(() => parseIdx(idx([2], [1, 2]), 'f.idx', 3), /has 1 dimensions, expected 3/);
  t.throws(() => readIdx('/nonexistent/file'), /\/nonexistent\/file: cannot read \(ENOENT\)/);
});

t.test('MNIST directory problems are named', async (t) => {
  const dir = tempDir('bitlearn-mnist-');
  t.throws(() => loadMnistSplit(dir, 't10k'), /MNIST: missing file .*t10k-images-idx3-ubyte/);
  const src = defaultMnistDir();
  copyFileSync(join(src, 't10k-images-idx3-ubyte'), join(dir, 't10k-images-idx3-ubyte'));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([5], [1, 2, 3, 4, 5]));
  t.throws(() => loadMnistSplit(dir, 't10k'), /has 10000 images but .* has 5 labels/);
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([1, 28, 28], new Array(784).fill(0)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([1], [12]));
  t.throws(() => loadMnistSplit(dir, 't10k'), /label 12 at index 0 is not a digit/);
  // 14x56 holds as many pixels as 28x28, but it is not MNIST: refused, streamed or not
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([1, 14, 56], new Array(784).fill(0)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([1], [3]));
  for (const stream of [false, true])
    t.throws(() => loadMnistSplit(dir, 't10k', stream), /t10k-images-idx3-ubyte declares 14x56 images; MNIST images are 28x28/);
});

t.test('limitDataset takes views of the first n examples', async (t) => {
  const { test } = loadMnist();
  const small = limitDataset(test, 10);
  t.equal(small.count, 10);
  t.equal(small.images.buffer, test.images.buffer, 'no copy');
  t.throws(() => limitDataset(test, 0));
});

t.test('synthetic images of any shape: seeded, labels in range, a learnable stripe per class', async (t) => {
  const { syntheticImages } = await import('../src/data/synthetic.js');
  const a = syntheticImages({ h: 10, w: 6, c: 2 }, 5, 40, 8, 3);
  const b = syntheticImages({ h: 10, w: 6, c: 2 }, 5, 40, 8, 3);
  t.same(a.train.images, b.train.images, 'seeded');
  t.equal(a.train.images.length, 40 * 120);
  t.same(a.train.shape, { h: 10, w: 6, c: 2 });
  t.equal(a.test.count, 8);
  t.ok(a.train.labels.every((l) => l < 5));
  // the stripe of rows a class brightens is brighter on average for that class
  const rowMean = (set: typeof a.train, label: number, row: number) => {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < set.count; i++) if (set.labels[i] === label) for (let f = row * 12; f < (row + 1) * 12; f++, n++) sum += set.images[i * 120 + f];
    return sum / n;
  };
  t.ok(rowMean(a.train, 0, 0) > rowMean(a.train, 4, 0) + 30, 'class 0 brightens the top rows');
});
