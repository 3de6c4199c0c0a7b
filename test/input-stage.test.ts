// The standard recipe's float32 batch: with kernels whose memory holds it, the examples' bytes are
// staged in the batch's own tail and decoded in one call; every value must equal the JavaScript
// decode (readImage), for a full and a short batch, widths that are not a multiple of 16, and
// every byte value. Augmented batches keep the JavaScript path.
import t from 'tap';
import type { Dataset } from '../src/data/dataset.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { MemoryLedger } from '../src/ledger.js';
import { InputStage } from '../src/model/input.js';
import { Rng } from '../src/rng.js';

function dataset(count: number, h: number, w: number, rng: Rng): Dataset {
  const n = h * w;
  const images = new Uint8Array(count * n);
  for (let k = 0; k < images.length; k++) images[k] = k < 256 ? k : rng.int(256);
  return { name: 'bytes', count, features: n, classes: 10, shape: { h, w, c: 1 }, images, labels: new Uint8Array(count) };
}

for (const [h, w] of [
  [28, 28],
  [5, 7],
])
  for (const rows of [16, 11])
    t.test(`${h}x${w} images, ${rows} of 16 rows: decoded in the kernels as in JavaScript, every bit`, async (t) => {
      const rng = new Rng(h * w + rows);
      const data = dataset(40, h, w, rng);
      const order = Int32Array.from({ length: 40 }, (_, i) => (i * 7) % 40);
      const { kernels, ledger } = wasmKernels.instantiate!();
      const fast = new InputStage('float32', data.shape!, 16, ledger, false, 1, kernels);
      const plain = new InputStage('float32', data.shape!, 16, new MemoryLedger(), false, 1);
      const a = fast.load(data, order, 3, rows);
      const b = plain.load(data, order, 3, rows);
      if (a.kind !== 'float' || b.kind !== 'float') throw new Error('float batches expected');
      const x = new Uint32Array(a.data.buffer, a.data.byteOffset, rows * h * w);
      const y = new Uint32Array(b.data.buffer, b.data.byteOffset, rows * h * w);
      let bad = 0;
      for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) bad++;
      t.equal(bad, 0, `${x.length} values`);
      t.same(Array.from(fast.labels.subarray(0, rows)), Array.from(plain.labels.subarray(0, rows)), 'labels');
      kernels.dispose?.();
    });

t.test('an augmented batch takes the JavaScript path and still matches it', async (t) => {
  const data = dataset(20, 28, 28, new Rng(3));
  const order = Int32Array.from({ length: 20 }, (_, i) => i);
  const { kernels, ledger } = wasmKernels.instantiate!();
  const fast = new InputStage('float32', data.shape!, 8, ledger, true, 5, kernels);
  const plain = new InputStage('float32', data.shape!, 8, new MemoryLedger(), true, 5);
  const a = fast.load(data, order, 0, 8);
  const b = plain.load(data, order, 0, 8);
  if (a.kind !== 'float' || b.kind !== 'float') throw new Error('float batches expected');
  t.same(Array.from(a.data.subarray(0, 8 * 784)), Array.from(b.data.subarray(0, 8 * 784)));
  kernels.dispose?.();
});
