// The kernel pool's protocol on real worker threads: a worker woken by a stale notify, with no new
// job posted, goes back to sleep instead of running the last job again (which applied in-place
// kernels twice and made 2-thread training nondeterministic; src/kernels/wasm-pool-waits.ts), and a
// kernel that fails on a worker throws on the main thread instead of leaving it waiting forever.
import { readFileSync } from 'node:fs';
import { type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import t from 'tap';
import { SEQ } from '../src/kernels/wasm-pool-layout.js';
import { WasmPool } from '../src/kernels/wasm-pool.js';

const waits = new URL('../src/kernels/wasm-pool-waits.js', import.meta.url).href;
/** Word of the control block where the test's worker reports: 0 while waiting, 1 + the generation it took. */
const TOOK = 4;

/** Sleep ms milliseconds on this thread. */
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Notify SEQ until a sleeping worker is woken (it spins a while first); false after `ms`. */
function wakeSleeper(ctrl: Int32Array, ms: number): boolean {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (Atomics.notify(ctrl, SEQ, 1) === 1) return true;
    sleep(1);
  }
  return false;
}

t.test('a worker woken with no new job keeps waiting, and takes the next job once', async (t) => {
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * 8));
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     import(workerData.waits).then(({ waitForJob }) => {
       const ctrl = new Int32Array(workerData.control);
       const seq = waitForJob(ctrl, 0);
       Atomics.store(ctrl, ${TOOK}, 1 + seq);
       Atomics.notify(ctrl, ${TOOK});
     });`,
    { eval: true, workerData: { waits, control: ctrl.buffer } },
  );
  try {
    // the late notify of a job the worker already ran: SEQ unchanged
    t.ok(wakeSleeper(ctrl, 10_000), 'the worker went to sleep and a notify woke it');
    sleep(200);
    t.equal(Atomics.load(ctrl, TOOK), 0, 'woken with SEQ unchanged, the worker took no job');
    t.ok(wakeSleeper(ctrl, 10_000), 'the worker went back to sleep');
    Atomics.add(ctrl, SEQ, 1);
    Atomics.notify(ctrl, SEQ);
    Atomics.wait(ctrl, TOOK, 0, 10_000);
    t.equal(Atomics.load(ctrl, TOOK), 2, 'a posted job is taken, with its generation');
  } finally {
    await worker.terminate();
  }
});

t.test('a kernel that fails on a worker throws on the main thread, naming it; the pool goes on', async (t) => {
  const module = new WebAssembly.Module(readFileSync(new URL('../kernels.wasm', import.meta.url)));
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 16, shared: true });
  const imports = { env: { memory, abort: () => {} } };
  const main = new WebAssembly.Instance(module, imports).exports as unknown as Record<string, (...args: number[]) => void>;
  const pool = new WasmPool(module, memory, 2, main, ['signFloat'], { base: 0, bytes: 0 });
  const out = new Float32Array(memory.buffer, 1024, 8);
  try {
    // signFloat(z, n, out, keep): the worker's z lies past the memory's end (a trap)
    t.throws(
      () =>
        pool.run('signFloat', [
          [0, 0, 1024, 0],
          [1 << 30, 16, 1024, 0],
        ]),
      /wasm kernel signFloat failed on worker thread 1: .*out of bounds/,
    );
    new Float32Array(memory.buffer, 0, 8).set([1, -2, 3, -4, 0, -0, 5, -6]);
    pool.run('signFloat', [
      [0, 4, 1024, 0],
      [16, 4, 1040, 0],
    ]);
    t.same(Array.from(out), [1, -1, 1, -1, 1, 1, 1, -1], 'the next call runs on both threads (−0 counts +1)');
    t.throws(
      () =>
        pool.run('signFloat', [
          [1 << 30, 16, 1024, 0],
          [0, 0, 1024, 0],
        ]),
      /out of bounds/,
      "the main thread's own failure, once the worker is done",
    );
    // both fail: the main thread's error is thrown, and the worker's reason does not linger to
    // name a later failure
    let thrown: unknown = null;
    try {
      pool.run('signFloat', [
        [1 << 30, 16, 1024, 0],
        [1 << 30, 16, 1024, 0],
      ]);
    } catch (e) {
      thrown = e;
    }
    t.match(String(thrown), /^RuntimeError: .*out of bounds/, "both slices fail: the main thread's own error is thrown");
    t.throws(
      () =>
        pool.run('signFloat', [
          [0, 0, 1024, 0],
          [1 << 29, 8, 1024, 0],
        ]),
      /failed on worker thread 1: .*out of bounds/,
    );
    // the pool's private port: a reason left there would name the next failure
    const port = (pool as unknown as { failures: MessagePort[] }).failures[0];
    t.equal(receiveMessageOnPort(port), undefined, 'no reason left on the port');
  } finally {
    await pool.terminate();
  }
});
