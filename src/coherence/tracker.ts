// Live gradient-coherence tracking: which steps measure, the series per layer and for the whole
// network, and per-epoch summaries (mean and peak), kept with the run and its checkpoints.
import { mCoherence, networkCoherence, type LayerCoherence } from './coherence.js';

export interface CoherenceSeries {
  /** Global step (1-based) of each sample. */
  steps: number[];
  /** Per layer and `network`: m-coherence at each sample (m = the batch's examples). */
  layers: Record<string, number[]>;
}

export interface EpochCoherence {
  samples: number;
  /** Mean over the epoch's samples, per layer and `network`. */
  mean: Record<string, number>;
  peak: Record<string, number>;
}

export const NETWORK = 'network';

export class CoherenceTracker {
  readonly series: CoherenceSeries;
  private epochStart = 0;

  constructor(
    /** Measure every `every` steps (1 = every step). */
    readonly every: number,
    series?: CoherenceSeries,
  ) {
    if (!Number.isInteger(every) || every < 1) throw new Error(`coherence: every must be a positive integer, got ${every}`);
    this.series = series ?? { steps: [], layers: {} };
  }

  measures(step: number): boolean {
    return step % this.every === 0;
  }

  record(step: number, layers: LayerCoherence[]): void {
    const s = this.series;
    const at = s.steps.length;
    s.steps.push(step);
    const put = (name: string, v: number) => {
      const row = (s.layers[name] ??= []);
      while (row.length < at) row.push(NaN);
      row.push(v);
    };
    for (const l of layers) put(l.layer, mCoherence(l.sumSq, l.exampleSq));
    put(NETWORK, networkCoherence(layers));
  }

  beginEpoch(): void {
    this.epochStart = this.series.steps.length;
  }

  /** Mean and peak of the samples since beginEpoch; null when the epoch had none. */
  endEpoch(): EpochCoherence | null {
    const from = this.epochStart;
    const samples = this.series.steps.length - from;
    if (samples <= 0) return null;
    const mean: Record<string, number> = {};
    const peak: Record<string, number> = {};
    for (const [name, row] of Object.entries(this.series.layers)) {
      const vs = row.slice(from).filter(Number.isFinite);
      mean[name] = vs.reduce((a, b) => a + b, 0) / vs.length;
      peak[name] = Math.max(...vs);
    }
    return { samples, mean, peak };
  }
}

/** `every=50,probe=256` (or a bare number: every). */
export function parseCoherenceSpec(text: string): { every: number; probe: number } {
  const out = { every: 50, probe: 0 };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [k, v] = part.includes('=') ? part.split('=') : ['every', part];
    const n = Number(v);
    if (!(k in out) || !Number.isInteger(n) || n < (k === 'probe' ? 0 : 1))
      throw new Error(`--coherence: "${part}" is not every=N (N >= 1) or probe=M (M >= 0 examples)`);
    out[k as 'every' | 'probe'] = n;
  }
  return out;
}
