// A pool of worker threads over one network's shared WebAssembly memory. A kernel call is cut
// into slices that write disjoint outputs; the main thread runs the first slice itself while the
// workers run the others, then waits for them (Atomics on a shared control block: no messages,
// no copies).
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { bundled } from '../runtime/bundle.js';
import { workerExecArgv } from '../runtime/worker-flags.js';
import { DONE, FAILED, MAX_ARGS, SEQ, SLOT } from './wasm-pool-layout.js';
import { sleepUntilDone, spinUntilDone } from './wasm-pool-waits.js';

export class WasmPool {
  private readonly workers: Worker[] = [];
  /** Where each worker posts why a slice of its failed. */
  private readonly failures: MessagePort[] = [];
  private readonly ctrl: Int32Array;
  private readonly argv: Float64Array;
  private readonly index: Map<string, number>;

  constructor(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    readonly threads: number,
    private readonly main: Record<string, (...args: number[]) => void>,
    names: string[],
    /** Worker i's kernel scratch starts at base + i·bytes. */
    scratch: { base: number; bytes: number },
  ) {
    this.index = new Map(names.map((n, i) => [n, i]));
    const control = new SharedArrayBuffer(4 * (2 + (threads - 1) * SLOT));
    this.ctrl = new Int32Array(control);
    const args = new SharedArrayBuffer(8 * (threads - 1) * MAX_ARGS);
    this.argv = new Float64Array(args);
    // a single executable has no worker file: it carries the worker's code
    const script = bundled ? bundled.worker : new URL('./wasm-worker.js', import.meta.url);
    const execArgv = workerExecArgv(script); // none for a compiled file; undefined: the parent's, as by default
    for (let i = 0; i < threads - 1; i++) {
      const { port1, port2 } = new MessageChannel();
      this.failures.push(port1);
      const w = new Worker(script, {
        eval: Boolean(bundled),
        execArgv,
        workerData: { module, memory, control, args, index: i, names, scratch: scratch.base + i * scratch.bytes, failures: port2 },
        transferList: [port2],
      });
      w.unref(); // idle workers never keep the process alive
      this.workers.push(w);
    }
  }

  /**
   * Run `fn` once per argument list, concurrently; returns when all are done. A slice that fails
   * (a trap or abort in the kernel) throws here once every thread is done: a worker's failure
   * used to leave the main thread waiting for it forever.
   */
  run(fn: string, slices: number[][]): void {
    const n = this.workers.length;
    if (slices.length === 0) return;
    if (slices.length > n + 1) throw new Error(`wasm pool: ${slices.length} slices for ${n + 1} threads`);
    const id = this.index.get(fn);
    if (id === undefined) throw new Error(`wasm pool: unknown kernel ${fn}`);
    const ctrl = this.ctrl;
    for (let w = 0; w < n; w++) {
      const base = 2 + w * SLOT;
      const args = slices[w + 1];
      if (!args) {
        ctrl[base] = -1;
        continue;
      }
      if (args.length > MAX_ARGS) throw new Error('wasm pool: too many arguments');
      ctrl[base] = id;
      ctrl[base + 1] = args.length;
      this.argv.set(args, w * MAX_ARGS);
    }
    Atomics.store(ctrl, DONE, 0);
    Atomics.add(ctrl, SEQ, 1);
    Atomics.notify(ctrl, SEQ);
    let failure: unknown = null;
    try {
      this.main[fn](...slices[0]);
    } catch (e) {
      failure = e;
    }
    spinUntilDone(ctrl, n);
    sleepUntilDone(ctrl, n);
    // every failed worker's reason is read, thrown or not, so none is left to name a later failure
    for (let w = 0; w < n; w++)
      if (slices[w + 1] && ctrl[2 + w * SLOT + 1] === FAILED) {
        const why = receiveMessageOnPort(this.failures[w])?.message;
        failure ??= new Error(`wasm kernel ${fn} failed on worker thread ${w + 1}${why ? `: ${why}` : ''}`);
      }
    if (failure !== null) throw failure;
  }

  terminate(): Promise<number[]> {
    for (const port of this.failures) port.close();
    return Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Cut [0, n) into at most `parts` contiguous ranges of about equal size (multiples of `align`). */
export function splitRange(n: number, parts: number, align = 1): [number, number][] {
  const units = Math.ceil(n / align);
  const k = Math.max(1, Math.min(parts, units));
  const out: [number, number][] = [];
  for (let p = 0; p < k; p++) {
    const a = Math.min(n, Math.floor((units * p) / k) * align);
    const b = p === k - 1 ? n : Math.min(n, Math.floor((units * (p + 1)) / k) * align);
    if (b > a) out.push([a, b]);
  }
  return out;
}
