// The instability report of fixed-point training (docs/method.md §4): each quantizer's exponent
// over training and how often it changed. Sampled about 50 times per epoch for plots; the flip
// counts are exact (the quantizers count every change).
import type { Network } from './network.js';
import { QuantWeightLayer } from '../layers/quant-layer.js';
import { QuantActLayer } from '../layers/quant-act.js';
import { weightedMsqe, type Po2Format } from '../../quant/po2-quantizers.js';

/** A per-layer time series (quantizer exponents here; m-coherence has the same shape). */
export interface LayerSeries {
  steps: number[];
  layers: Record<string, number[]>;
}

export interface QuantizerState {
  /** `fc1`/`conv1` (weights) or `act1` (activations). */
  layer: string;
  kind: 'weights' | 'activations';
  bits: number;
  exponent: number | null;
  /** Exponent changes since the start of training. */
  flips: number;
  /**
   * Weights: how much larger the MSQE is at the better neighbouring exponent than at the one in
   * use (relative; near 0 = the tensor sits at a boundary, where the exponent can oscillate).
   */
  margin?: number;
}

/** min(MSQE(e − 1), MSQE(e + 1)) / MSQE(e) − 1 for w at exponent e. */
export function exponentMargin(w: ArrayLike<number>, e: number, f: Po2Format): number {
  const at = weightedMsqe(w, e, f);
  return at > 0 ? Math.min(weightedMsqe(w, e - 1, f), weightedMsqe(w, e + 1, f)) / at - 1 : Infinity;
}

/** Every quantizer's state; `margins`: also each weight tensor's MSQE margin (three passes over its weights). */
export function quantizerStates(net: Network, margins = false): QuantizerState[] {
  const out: QuantizerState[] = [];
  for (const l of net.layers) {
    if (l instanceof QuantWeightLayer && l.weights.format) {
      const e = l.weights.exponent;
      const margin = !margins || e === null ? undefined : exponentMargin(l.weights.w, e, l.weights.format);
      out.push({
        layer: l.name,
        kind: 'weights',
        bits: l.weights.format.bits,
        exponent: e,
        flips: l.weights.flips,
        ...(margin !== undefined ? { margin } : {}),
      });
    } else if (l instanceof QuantActLayer && l.bits !== null)
      out.push({ layer: l.name, kind: 'activations', bits: l.bits, exponent: l.exponent, flips: l.flips });
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
