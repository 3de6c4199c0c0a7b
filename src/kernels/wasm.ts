// WebAssembly SIMD kernels: loaded at start-up, each network gets its own instance over its own
// shared linear memory, and the network's ledger allocates every buffer in that memory, so the
// kernels read and write the engine's buffers in place.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MemoryLedger, type Arena, type Floats } from '../ledger.js';
import type { Kernels } from './kernels.js';

const PAGE = 65536;
/** Largest memory a network may use (pages); wasm32 allows 65536 (4 GiB). */
const MAX_PAGES = 32768;

interface Exports {
  heapBase(): number;
  gemmBinBin(x: number, w: number, B: number, m: number, n: number, y: number): void;
  gemmFloatBin(x: number, w: number, B: number, m: number, n: number, y: number): void;
  gemmFloatBinT(dy: number, w: number, B: number, m: number, n: number, dx: number): void;
  gemmTnFloat(dy: number, x: number, B: number, m: number, n: number, dw: number): void;
  gemmTnBin(dy: number, x: number, B: number, m: number, n: number, dw: number): void;
  convFwdBin(x: number, w: number, hi: number, wi: number, ci: number, ho: number, wo: number, co: number, pad: number, y: number): void;
  convFwdFloat(x: number, w: number, hi: number, wi: number, ci: number, ho: number, wo: number, co: number, pad: number, y: number): void;
  convBwdData(dy: number, w: number, hi: number, wi: number, ci: number, ho: number, wo: number, co: number, pad: number, dx: number): void;
  convBwdFilter(dy: number, x: number, xBits: number, hi: number, wi: number, ci: number, ho: number, wo: number, count: number, pad: number, dw: number): void;
}

/** A bump allocator over a shared WebAssembly memory (network buffers are allocated once). */
class WasmArena implements Arena {
  private top: number;
  /** Every SharedArrayBuffer object this memory has shown (growing makes a new one). */
  readonly buffers = new Set<ArrayBufferLike>();

  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
  ) {
    this.top = align16(base);
    this.buffers.add(memory.buffer);
  }

  allocate(bytes: number) {
    const off = this.top;
    const end = align16(off + bytes);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(pages);
      } catch {
        throw new Error(`wasm kernels: cannot grow kernel memory to ${((have + pages * PAGE) / 2 ** 20).toFixed(1)} MiB`);
      }
      this.buffers.add(this.memory.buffer);
    }
    this.top = end;
    return { buffer: this.memory.buffer, byteOffset: off };
  }
}

function align16(n: number): number {
  return (n + 15) & ~15;
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null when this platform cannot run it (no SIMD or threads). */
function wasmModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    // next to the compiled JS (build/src/kernels -> build/), or from the sources (src/kernels -> build/)
    const candidates = ['../../kernels.wasm', '../../build/kernels.wasm'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
    const path = candidates.find((p) => existsSync(p));
    compiled = path ? new WebAssembly.Module(readFileSync(path)) : null;
  } catch {
    compiled = null;
  }
  return compiled;
}

export function wasmAvailable(): boolean {
  return wasmModule() !== null;
}

function bind(): { kernels: Kernels; ledger: MemoryLedger } {
  const module = wasmModule();
  if (!module) throw new Error('wasm kernels are not available on this platform (WebAssembly SIMD and threads are needed)');
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  const ex = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error('wasm kernel abort'); } } })
    .exports as unknown as Exports;
  const arena = new WasmArena(memory, ex.heapBase());
  const at = (a: Floats | Uint32Array): number => {
    if (!arena.buffers.has(a.buffer) || a instanceof Float64Array)
      throw new Error('wasm kernels: operand is not a float32/uint32 buffer of this network\'s kernel memory');
    return a.byteOffset;
  };
  const kernels: Kernels = {
    name: 'wasm-simd',
    gemmBinBin: (x, w, B, m, n, y) => ex.gemmBinBin(at(x), at(w), B, m, n, at(y)),
    gemmFloatBin: (x, w, B, m, n, y) => ex.gemmFloatBin(at(x), at(w), B, m, n, at(y)),
    gemmFloatBinT: (dy, w, B, m, n, dx) => ex.gemmFloatBinT(at(dy), at(w), B, m, n, at(dx)),
    gemmTnFloat: (dy, x, B, m, n, dw) => ex.gemmTnFloat(at(dy), at(x), B, m, n, at(dw)),
    gemmTnBin: (dy, x, B, m, n, dw) => ex.gemmTnBin(at(dy), at(x), B, m, n, at(dw)),
    convFwdBin: (x, w, g, y) => ex.convFwdBin(at(x), at(w), g.hi, g.wi, g.ci, g.ho, g.wo, g.co, g.pad, at(y)),
    convFwdFloat: (x, w, g, y) => ex.convFwdFloat(at(x), at(w), g.hi, g.wi, g.ci, g.ho, g.wo, g.co, g.pad, at(y)),
    convBwdData: (dy, w, g, dx) => ex.convBwdData(at(dy), at(w), g.hi, g.wi, g.ci, g.ho, g.wo, g.co, g.pad, at(dx)),
    convBwdFilter: (dy, x, xBits, g, count, dw) =>
      ex.convBwdFilter(at(dy), at(x), xBits ? 1 : 0, g.hi, g.wi, g.ci, g.ho, g.wo, count, g.pad, at(dw)),
  };
  return { kernels, ledger: new MemoryLedger({ arena }) };
}

const unbound = (): never => {
  throw new Error('wasm kernels: call instantiate() and use the kernels it returns');
};

/** The kernel set as selected at start-up; networks call instantiate() for their own instance. */
export const wasmKernels: Kernels = {
  name: 'wasm-simd',
  gemmBinBin: unbound,
  gemmFloatBin: unbound,
  gemmFloatBinT: unbound,
  gemmTnFloat: unbound,
  gemmTnBin: unbound,
  convFwdBin: unbound,
  convFwdFloat: unbound,
  convBwdData: unbound,
  convBwdFilter: unbound,
  instantiate: bind,
};
