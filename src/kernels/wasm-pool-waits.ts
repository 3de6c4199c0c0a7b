// The waits of the kernel pool's protocol (wasm-pool.ts runs jobs, wasm-worker.ts takes them) on
// the shared control block. Each wait spins a while, then sleeps, and returns only once the value
// it waits for is there: a thread woken by Atomics.notify re-reads, since a notify can be stale.
import { DONE, SEQ, SPIN_LOADS } from './wasm-pool-layout.js';

/**
 * A worker's wait for the job after generation `seen`; returns the new generation. The main
 * thread bumps SEQ and then notifies: preempted between the two, it let a worker see the bump,
 * run the job, go back to sleep and be woken by that late notify with no new job. The worker
 * then ran the same job again, and an in-place kernel (batch norm, Bop's fold) applied twice made
 * 2-thread training differ from run to run on a loaded machine (1-2 runs in 12 of 600 steps).
 */
export function waitForJob(ctrl: Int32Array, seen: number): number {
  // a training step calls kernels back to back: spin before sleeping, since waking from
  // Atomics.wait costs tens of microseconds, more than a small kernel slice takes
  for (let spin = 0; spin < SPIN_LOADS && Atomics.load(ctrl, SEQ) === seen; spin++);
  while (Atomics.load(ctrl, SEQ) === seen) Atomics.wait(ctrl, SEQ, seen);
  return Atomics.load(ctrl, SEQ);
}

// The main thread's waits are functions of their own, and every call in them runs on every
// visit: V8 compiled run() on the stack during its first spin (on-stack replacement of the loop)
// before the sleep after it had ever been called, and that code then deoptimized at the sleep on
// each later visit, 200-1500 times in 30 steps of a 2-thread tiny MLP.

/** Spin a while (SPIN_LOADS loads) for n workers to be done. */
export function spinUntilDone(ctrl: Int32Array, n: number): void {
  for (let spin = 0; spin < SPIN_LOADS && Atomics.load(ctrl, DONE) < n; spin++);
}

/** Sleep until n workers are done; Atomics.wait returns at once ("not-equal") when they are. */
export function sleepUntilDone(ctrl: Int32Array, n: number): void {
  for (;;) {
    const done = Atomics.load(ctrl, DONE);
    Atomics.wait(ctrl, DONE, done >= n ? -1 : done);
    if (done >= n) return;
  }
}
