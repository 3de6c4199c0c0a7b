// Sizes of the binary dense input gradient's sign index (kernels.gemmFloatBinT; denseLutIndexBytes
// in kernels.as.ts): a u16 per (column, group of 4 weight rows), columns rounded up to a pair.

/** Floats of gemmFloatBinT's index for an m × n sign matrix. */
export function denseLutFloats(m: number, n: number): number {
  return ((((n + 1) & ~1) * Math.ceil(m / 4) * 2 + 15) & ~15) / 4;
}
