// The shared workspace: buffers every layer borrows, sized once for the largest layer.
import type { Kernels } from '../kernels/kernels.js';
import type { Workspace } from '../layers/layer.js';
import type { MemoryLedger } from '../ledger.js';
import type { workspaceSizes } from './sizes.js';
import { winsorFloats } from '../layers/winsorize.js';

export function createWorkspace(
  sizes: ReturnType<typeof workspaceSizes>,
  kernels: Kernels,
  ledger: MemoryLedger,
  coherenceBatch = 0,
  winsor: { c: number; batch: number; widestInput: number } | null = null,
): Workspace {
  const w = winsor ? winsorFloats(winsor.c, winsor.batch, winsor.widestInput) : null;
  const chunkX = ledger.floats(sizes.chunk, 'workspace', 'shared', 'input chunk / decoded pixels / packed ±1 input');
  return {
    chunkRows: sizes.chunkRows,
    act: ledger.floats(sizes.act, 'workspace', 'shared', 'pre-activations'),
    chunkDy: ledger.floats(sizes.chunk, 'workspace', 'shared', 'dY chunk'),
    chunkX,
    chunkXBits: new Uint32Array(chunkX.buffer, chunkX.byteOffset, chunkX.length),
    chunkDx: ledger.floats(sizes.chunk, 'workspace', 'shared', 'dX chunk / dW tile'),
    chan: ledger.floats(sizes.chan, 'workspace', 'shared', 'channel statistics'),
    kernels,
    coherence: coherenceBatch
      ? {
          active: false,
          scratch: ledger.floats(sizes.chunk, 'workspace', 'coherence', 'one example dW tile'),
          mean: ledger.floats(sizes.chunk, 'workspace', 'coherence', 'batch-mean input row / patch'),
          perExample: ledger.floats(2 * coherenceBatch, 'workspace', 'coherence', 'per-example squared norms'),
        }
      : null,
    winsor:
      winsor && w
        ? {
            c: winsor.c,
            rows: ledger.floats(w.rows, 'workspace', 'winsorized', 'input rows (float)'),
            scratch: ledger.floats(w.scratch, 'workspace', 'winsorized', 'per-column sums and extremes'),
            column: ledger.floats(w.column, 'workspace', 'winsorized', 'dY column'),
            ones: ledger.floats(w.ones, 'workspace', 'winsorized', 'ones (bias terms)').fill(1),
          }
        : null,
  };
}
