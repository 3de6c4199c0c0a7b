// m-coherence of per-example gradients g_1 … g_m (Chatterjee & Zielinski; docs/method.md §5):
//   m-coherence = ||Σ g_i||² / Σ ||g_i||²
// 1 when the g_i are pairwise orthogonal, m when identical; below 1 when they cancel. Computed in
// O(m) from a running sum and a running sum of squared norms: no pairwise products.

/** m-coherence from ||Σ g_i||² and Σ ||g_i||² (NaN when every g_i is zero). */
export function mCoherence(sumSq: number, exampleSq: number): number {
  return exampleSq > 0 ? sumSq / exampleSq : NaN;
}

/** O(m) over explicit vectors (tests and the exact probe). */
export function coherenceOfVectors(gs: ArrayLike<number>[]): number {
  if (!gs.length) return NaN;
  const sum = new Float64Array(gs[0].length);
  let exampleSq = 0;
  for (const g of gs)
    for (let k = 0; k < g.length; k++) {
      sum[k] += g[k];
      exampleSq += g[k] * g[k];
    }
  let sumSq = 0;
  for (let k = 0; k < sum.length; k++) sumSq += sum[k] * sum[k];
  return mCoherence(sumSq, exampleSq);
}

/** The definition with pairwise products, O(m²): Σ_i Σ_j <g_i, g_j> / Σ_i <g_i, g_i>. */
export function coherencePairwise(gs: ArrayLike<number>[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < gs.length; i++)
    for (let j = 0; j < gs.length; j++) {
      let dot = 0;
      for (let k = 0; k < gs[i].length; k++) dot += gs[i][k] * gs[j][k];
      num += dot;
      if (i === j) den += dot;
    }
  return mCoherence(num, den);
}

/** What one layer measured in one backward pass. */
export interface LayerCoherence {
  layer: string;
  /** ||Σ_i g_i||²: the squared norm of the batch weight gradient. */
  sumSq: number;
  /** Σ_i ||g_i||². */
  exampleSq: number;
}

/** Network m-coherence over all layers' weights together (the g_i concatenated). */
export function networkCoherence(layers: LayerCoherence[]): number {
  return mCoherence(
    layers.reduce((s, l) => s + l.sumSq, 0),
    layers.reduce((s, l) => s + l.exampleSq, 0),
  );
}
