// Layout of the control blocks shared by the kernel pool and its workers. Int32 words:
// [SEQ] job generation, bumped by the main thread; [DONE] workers finished with this generation;
// then one slot per worker: function index (-1 = nothing), argument count (FAILED once the
// worker's slice has failed). Arguments go in a Float64 block, MAX_ARGS per worker: addresses and
// sizes are exact there, and the optimizers' float arguments (learning rate, betas) pass unchanged.
export const SEQ = 0;
export const DONE = 1;
export const MAX_ARGS = 24;
export const SLOT = 2;
/** A worker's argument count word after its slice failed. */
export const FAILED = -1;
/**
 * Loads of the control block a waiting thread makes before it sleeps (about 250 µs here: longer
 * than the gaps between a step's kernel calls, short against a step).
 */
export const SPIN_LOADS = 50000;
