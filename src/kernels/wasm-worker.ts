// A kernel worker: runs slices of WebAssembly kernels on the network's shared memory.
// It spins, then sleeps on the control block (Atomics.wait) between jobs; see wasm-pool.ts for the protocol.
import { type MessagePort, workerData } from 'node:worker_threads';
import { DONE, FAILED, MAX_ARGS, SLOT } from './wasm-pool-layout.js';
import { waitForJob } from './wasm-pool-waits.js';

const {
  module,
  memory,
  control,
  args: argBlock,
  index,
  names,
  scratch,
  failures,
} = workerData as {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  args: SharedArrayBuffer;
  index: number;
  names: string[];
  scratch: number;
  failures: MessagePort;
};
const exports = new WebAssembly.Instance(module, {
  env: {
    memory,
    abort: () => {
      throw new Error('wasm kernel abort');
    },
  },
}).exports as Record<string, (...args: number[]) => void>;
exports.setScratch(scratch);
const fns = names.map((n) => exports[n]);
const ctrl = new Int32Array(control);
const argv = new Float64Array(argBlock);
let seen = 0;
for (;;) {
  seen = waitForJob(ctrl, seen);
  const base = 2 + index * SLOT;
  const fn = ctrl[base];
  if (fn >= 0) {
    const argc = ctrl[base + 1];
    const args: number[] = [];
    for (let a = 0; a < argc; a++) args.push(argv[index * MAX_ARGS + a]);
    try {
      fns[fn](...args);
    } catch (e) {
      // the main thread throws, with this reason, once every thread is done
      failures.postMessage(e instanceof Error ? e.message : String(e));
      ctrl[base + 1] = FAILED;
    }
  }
  Atomics.add(ctrl, DONE, 1);
  Atomics.notify(ctrl, DONE);
}
