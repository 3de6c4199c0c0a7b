// Layout of the control block shared by the kernel pool and its workers (Int32 words):
// [SEQ] job generation, bumped by the main thread; [DONE] workers finished with this generation;
// then one slot per worker: function index (-1 = nothing), argument count, arguments.
export const SEQ = 0;
export const DONE = 1;
export const MAX_ARGS = 16;
export const SLOT = 2 + MAX_ARGS;
