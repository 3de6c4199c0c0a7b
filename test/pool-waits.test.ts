// The kernel pool's waits (src/kernels/wasm-pool-waits.ts) on a real worker thread: a worker woken
// by a stale notify, with no new job posted, goes back to sleep instead of running the last job
// again (which applied in-place kernels twice and made 2-thread training nondeterministic).
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { SEQ } from '../src/kernels/wasm-pool-layout.js';

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
