// The instability report of fixed-point training (DESIGN section 4): each quantizer's exponent
// over training and how often it changed. Sampled about 50 times per epoch for plots; the flip
// counts are exact (the quantizers count every change).
import type { Network } from './network.js';
import { QuantWeightLayer } from '../layers/quant-layer.js';
import { QuantActLayer } from '../layers/quant-act.js';
import type { LayerSeries } from '../report/run-report.js';

export interface QuantizerState {
  /** `fc1`/`conv1` (weights) or `act1` (activations). */
  layer: string;
  kind: 'weights' | 'activations';
  bits: number;
  exponent: number | null;
  /** Exponent changes since the start of training. */
  flips: number;
}

export function quantizerStates(net: Network): QuantizerState[] {
  const out: QuantizerState[] = [];
  for (const l of net.layers) {
    if (l instanceof QuantWeightLayer && l.weights.format) out.push({ layer: l.name, kind: 'weights', bits: l.weights.format.bits, exponent: l.weights.exponent, flips: l.weights.flips });
    else if (l instanceof QuantActLayer && l.bits !== null) out.push({ layer: l.name, kind: 'activations', bits: l.bits, exponent: l.exponent, flips: l.flips });
  }
  return out;
}

export class QuantizerLog {
  readonly series: LayerSeries;
  constructor(series?: LayerSeries) {
    this.series = series ?? { steps: [], layers: {} };
  }

  /** Record the exponents after `step` when it is a sampling step. */
  maybeRecord(net: Network, step: number, batchesPerEpoch: number): void {
    const every = Math.max(1, Math.round(batchesPerEpoch / 50));
    if (step % every !== 0) return;
    const states = quantizerStates(net);
    if (!states.length) return;
    this.series.steps.push(step);
    for (const s of states) (this.series.layers[s.layer] ??= []).push(s.exponent ?? NaN);
  }
}
