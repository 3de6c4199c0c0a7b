// The exact reference for the in-backward estimate: on a fixed probe sample of m examples, m
// backward passes, each from one example's loss term, give the per-example gradients of the batch
// loss exactly; their m-coherence is computed from the explicit vectors (O(m) memory per layer:
// a running sum and a scalar). A network of the probe's size with float32 gradients (and exact
// batch-norm backward) does the work, with the trained network's weights copied in.
//
// The definitions differ through batch norm, which couples the examples. Both kinds of per-example
// gradient sum to the same batch gradient (tested). For a layer followed by batch norm the exact
// gradient of example i's loss is about (x_i − x̄)ᵀ g_i / σ (the batch mean enters through the
// statistics); the estimate's term is (x_i − x̄)ᵀ dY_i with dY_i = (g_i − ḡ − x̂_i·mean(g·x̂))/σ,
// i.e. the same with the gradient centred too. On the test's structured data the estimate is
// 5-20% above the exact value, per layer and for the network.
import type { Dataset } from '../data/dataset.js';
import { selectKernels } from '../kernels/select.js';
import { Network } from '../model/network.js';
import { PRESETS, type Recipe } from '../recipe.js';
import { mCoherence, networkCoherence, type LayerCoherence } from '../coherence/coherence.js';
import { NETWORK } from '../coherence/tracker.js';

export interface ProbeResult {
  examples: number;
  /** Per layer: ||Σ g_i||² and Σ ||g_i||² of the exact per-example gradients and of the estimate. */
  exactStats: LayerCoherence[];
  estimateStats: LayerCoherence[];
  /** From the m explicit per-example gradients. */
  exact: Record<string, number>;
  /** The in-backward estimate on the same batch and weights. */
  estimate: Record<string, number>;
}

export class CoherenceProbe {
  private readonly net: Network;

  constructor(
    private readonly trained: Network,
    private readonly data: Dataset,
    private readonly order: Int32Array,
    recipe: Recipe,
  ) {
    const m = order.length;
    if (m < 2) throw new Error('coherence probe: needs at least 2 examples');
    const probeRecipe: Recipe = { ...PRESETS.standard, bn: recipe.bn, bnBackward: 'exact' };
    this.net = new Network({
      spec: trained.opts.spec,
      recipe: probeRecipe,
      batch: m,
      kernels: selectKernels(trained.kernels.name === 'reference' ? 'reference' : 'auto'),
      seed: 0,
      threads: trained.kernels.threads ?? 1,
      coherence: true,
    });
  }

  /** Copy the trained network's weights and batch-norm shifts into the probe network. */
  private sync(): void {
    const src = this.trained.params();
    const dst = this.net.params();
    for (let k = 0; k < src.length; k++) for (let i = 0; i < src[k].size; i++) dst[k].value.set(i, src[k].value.get(i));
    // fixed-point layers: the quantizers' state too (exponents in use), so both quantize alike
    this.trained.layers.forEach((l, i) => {
      const from = l.state().quantizer;
      const to = this.net.layers[i].state().quantizer;
      if (from && to) to.set(from);
    });
    this.net.refreshDerived();
  }

  run(): ProbeResult {
    this.sync();
    const m = this.order.length;
    const weights = this.net.params().filter((p) => p.binary || p.name === 'W');
    const sums = weights.map((p) => new Float64Array(p.size));
    const exampleSq = weights.map(() => 0);
    this.net.setCoherence(false);
    for (let i = 0; i < m; i++) {
      this.net.computeGradients(this.data, this.order, 0, m, i);
      weights.forEach((p, k) => {
        if (p.grad.kind !== 'float') throw new Error('coherence probe: float gradients expected');
        const g = p.grad.data;
        const s = sums[k];
        let sq = 0;
        for (let j = 0; j < p.size; j++) {
          s[j] += g[j];
          sq += g[j] * g[j];
        }
        exampleSq[k] += sq;
      });
    }
    const exactLayers = weights.map((p, k) => {
      let sumSq = 0;
      for (const v of sums[k]) sumSq += v * v;
      return { layer: p.owner, sumSq, exampleSq: exampleSq[k] };
    });
    this.net.setCoherence(true);
    this.net.computeGradients(this.data, this.order, 0, m);
    const est = this.net.coherenceStats();
    this.net.setCoherence(false);
    const table = (ls: { layer: string; sumSq: number; exampleSq: number }[]) => ({
      ...Object.fromEntries(ls.map((l) => [l.layer, mCoherence(l.sumSq, l.exampleSq)])),
      [NETWORK]: networkCoherence(ls),
    });
    return { examples: m, exactStats: exactLayers, estimateStats: est, exact: table(exactLayers), estimate: table(est) };
  }

  dispose(): void {
    this.net.dispose();
  }
}
