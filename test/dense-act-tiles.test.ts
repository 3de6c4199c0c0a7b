// The first dense layer's tile-by-tile dW (dw=fused: each tile handed to the optimizer in order)
// takes extra tiles from the idle activation buffer when it can keep a pass of decoded rows: the
// tiles handed over must be the same numbers, bit for bit, as with the two workspace tiles alone.
import t from 'tap';
import type { Activation } from '../src/layers/layer.js';
import { DenseLayer } from '../src/layers/dense.js';
import type { Kernels } from '../src/kernels/kernels.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { MemoryLedger } from '../src/ledger.js';
import { createWorkspace } from '../src/model/workspace.js';
import { PRESETS } from '../src/recipe.js';
import { Rng } from '../src/rng.js';
import { createGradStore } from '../src/storage/grad-store.js';

const [B, nIn, nOut] = [40, 100, 40];

/** The dW tiles the layer hands over (flat start, values), with an activation buffer of `act` floats. */
function fusedTiles(make: () => { kernels: Kernels; ledger: MemoryLedger }, act: number): { tiles: number; dw: Float32Array } {
  const { kernels, ledger } = make();
  const rng = new Rng(5);
  // chunks of 3 input rows: dW tiles of 3 output rows; the activation buffer decides the rest
  const ws = createWorkspace({ chunkRows: 4, batch: B, act, chunk: 3 * nIn, chan: nIn, grad: 0 }, kernels, ledger);
  const dense = new DenseLayer('fc', nIn, nOut, true, PRESETS.tiny, ws, ledger, new Rng(2));
  const dw = new Float32Array(nIn * nOut).fill(Number.NaN);
  let tiles = 0;
  let next = 0;
  const grad = dense.weights.grad as { consume: ((flat0: number, tile: Float32Array, len: number) => void) | null };
  grad.consume = (flat0, tile, len) => {
    if (flat0 !== next) throw new Error(`tile at ${flat0}, expected ${next}`);
    dw.set(tile.subarray(0, len), flat0);
    next = flat0 + len;
    tiles++;
  };
  const images = Uint8Array.from({ length: 60 * nIn }, () => rng.int(256));
  const index = Int32Array.from({ length: B }, () => rng.int(60));
  const x: Activation = { kind: 'pixels', images, index, cols: nIn, shape: { h: 10, w: 10, c: 1 }, aug: null };
  dense.forward(x, B, true);
  const g = createGradStore(PRESETS.tiny.dy, B * nOut, ledger, 't', 'g');
  const spare = createGradStore(PRESETS.tiny.dy, B * nOut, ledger, 't', 'spare');
  g.setShape(B, nOut);
  const dy = Float64Array.from({ length: B * nOut }, () => rng.normal());
  g.beginWrite(Math.max(...dy.map(Math.abs)));
  g.write(0, B, dy);
  dense.backward(g, spare, B);
  return { tiles, dw };
}

for (const [name, make] of [
  ['reference', () => ({ kernels: referenceKernels, ledger: new MemoryLedger() })],
  ['wasm', () => wasmKernels.instantiate!()],
] as const)
  t.test(`${name} kernels: extra tiles from the activation buffer hand over the same dW`, async (t) => {
    // an activation buffer of a pass of 4 decoded rows only (the chunk rows), and one of a pass of 32 rows and 8 tiles more
    const plain = fusedTiles(make, 4 * nIn + 1);
    const more = fusedTiles(make, 32 * nIn + 8 * 3 * nIn);
    t.equal(plain.tiles, Math.ceil(nOut / 3), 'every tile handed over once, in order');
    t.equal(more.tiles, plain.tiles, 'the same tiles');
    t.notOk(plain.dw.some(Number.isNaN), 'every element of dW handed over');
    t.same(Buffer.from(more.dw.buffer), Buffer.from(plain.dw.buffer), 'dW bit for bit');
  });
