// Kernel selection at start-up: the WebAssembly SIMD kernels where the platform runs them, with
// the TypeScript reference as fallback (and always available by name).
import type { Kernels } from './kernels.js';
import { referenceKernels } from './reference.js';
import { wasmAvailable, wasmKernels } from './wasm.js';
import { own } from '../own.js';

const KERNEL_SETS: Record<string, () => Kernels> = {
  reference: () => referenceKernels,
  wasm: () => {
    if (!wasmAvailable()) throw new Error('kernel set "wasm" is not available here (WebAssembly SIMD and threads are needed)');
    return wasmKernels;
  },
};

export function kernelNames(): string[] {
  return Object.keys(KERNEL_SETS);
}

export function selectKernels(name = 'auto'): Kernels {
  if (name === 'auto') return wasmAvailable() ? wasmKernels : referenceKernels;
  const k = own(KERNEL_SETS, name);
  if (!k) throw new Error(`unknown kernel set "${name}" (available: auto, ${kernelNames().join(', ')})`);
  return k();
}
