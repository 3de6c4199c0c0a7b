// Kernel suite: each kernel, reference vs WebAssembly, on the MLP's layer shapes; median time
// per call and the speed-up.
import { wordsFor } from '../src/bits.js';
import type { Kernels } from '../src/kernels/kernels.js';
import { denseLutFloats } from '../src/kernels/dense-lut.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { wasmKernels } from '../src/kernels/wasm.js';
import { MemoryLedger } from '../src/ledger.js';
import { Rng } from '../src/rng.js';
import { median } from '../src/stats.js';

export interface KernelResult {
  kernel: string;
  shape: string;
  referenceMs: number;
  wasmMs: number;
  speedup: number;
}

type Op = 'gemmBinBin' | 'gemmFloatBin' | 'gemmFloatBinT' | 'gemmTnFloat' | 'gemmTnBin';
const OPS: Op[] = ['gemmBinBin', 'gemmFloatBin', 'gemmFloatBinT', 'gemmTnFloat', 'gemmTnBin'];

function operands(ledger: MemoryLedger, B: number, m: number, n: number) {
  const rng = new Rng(1);
  const fill = <T extends Float32Array | Uint32Array>(a: T, f: () => number) => {
    for (let i = 0; i < a.length; i++) a[i] = f();
    return a;
  };
  const fl = (k: number) => fill(ledger.floats(k, 'workspace', 'bench', 'f') as Float32Array, () => rng.normal());
  const bits = (rows: number, cols: number) => fill(ledger.u32(rows * wordsFor(cols), 'workspace', 'bench', 'b'), () => rng.nextU32());
  // keep padding bits zero, as the engine does
  const clean = (b: Uint32Array, cols: number) => {
    const wpr = wordsFor(cols);
    if (cols & 31) for (let r = 0; r < b.length / wpr; r++) b[r * wpr + wpr - 1] &= (1 << (cols & 31)) - 1;
    return b;
  };
  return {
    xb: clean(bits(B, n), n),
    wb: clean(bits(m, n), n),
    xf: fl(B * n),
    dy: fl(B * m),
    y: fl(B * m),
    dx: fl(B * n),
    dw: fl(m * n),
    index: fl(denseLutFloats(m, n)),
  };
}

function call(k: Kernels, op: Op, o: ReturnType<typeof operands>, B: number, m: number, n: number) {
  if (op === 'gemmBinBin') k.gemmBinBin(o.xb, o.wb, B, m, n, o.y);
  else if (op === 'gemmFloatBin') k.gemmFloatBin(o.xf, o.wb, B, m, n, o.y);
  else if (op === 'gemmFloatBinT') k.gemmFloatBinT(o.dy, o.wb, B, m, n, o.dx, o.index);
  else if (op === 'gemmTnFloat') k.gemmTnFloat(o.dy, o.xf, B, m, n, o.dw);
  else k.gemmTnBin(o.dy, o.xb, B, m, n, o.dw);
}

function time(f: () => void, repeats: number): number {
  f();
  const ts: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

export function runKernelSuite(opts: { shapes: [number, number, number][]; repeats: number }, onResult?: (r: KernelResult) => void): KernelResult[] {
  const out: KernelResult[] = [];
  for (const [B, m, n] of opts.shapes) {
    const ref = operands(new MemoryLedger(), B, m, n);
    const { kernels: wasm, ledger } = wasmKernels.instantiate!();
    const wo = operands(ledger, B, m, n);
    // once per weights, as a layer does before its backward
    wasm.gemmFloatBinTIndex(wo.wb, m, n, wo.index);
    for (const op of OPS) {
      const referenceMs = time(() => call(referenceKernels, op, ref, B, m, n), opts.repeats);
      const wasmMs = time(() => call(wasm, op, wo, B, m, n), opts.repeats);
      const r = { kernel: op, shape: `B=${B} m=${m} n=${n}`, referenceMs, wasmMs, speedup: referenceMs / wasmMs };
      out.push(r);
      onResult?.(r);
    }
  }
  return out;
}
