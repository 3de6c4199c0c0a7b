// Kernel selection at start-up. Only the reference set exists so far; fast WebAssembly kernels
// register here when they land, with the reference as fallback.
import type { Kernels } from './kernels.js';
import { referenceKernels } from './reference.js';

const available: Record<string, Kernels> = { reference: referenceKernels };

export function kernelNames(): string[] {
  return Object.keys(available);
}

export function selectKernels(name = 'auto'): Kernels {
  if (name === 'auto') return referenceKernels;
  const k = available[name];
  if (!k) throw new Error(`unknown kernel set "${name}" (available: auto, ${kernelNames().join(', ')})`);
  return k;
}
