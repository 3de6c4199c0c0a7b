// `bench --suite signal`: why binary MLPs show low gradient coherence. Through random layers at
// initialisation, how much of the similarity of two same-class MNIST examples survives: a sign
// after batch norm maps a correlation ρ to (2/π)·arcsin ρ, so class structure fades with depth;
// ReLU keeps most of it. Per layer: mean centred cosine of same-class and of different-class pairs.
import { loadMnist } from '../src/data/mnist.js';
import { pixelsToFloat } from '../src/data/pixels.js';
import { Rng } from '../src/rng.js';

type Rows = Float64Array[];

/** Mean cosine of the batch-centred rows over same-label and over different-label pairs. */
function centredCosines(rows: Rows, labels: Uint8Array): { same: number; different: number } {
  const n = rows.length;
  const d = rows[0].length;
  const mean = new Float64Array(d);
  for (const r of rows) for (let k = 0; k < d; k++) mean[k] += r[k] / n;
  const unit = rows.map((r) => {
    const c = r.map((v, k) => v - mean[k]);
    const norm = Math.hypot(...c) || 1;
    return c.map((v) => v / norm);
  });
  let same = 0,
    nSame = 0,
    different = 0,
    nDifferent = 0;
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += unit[i][k] * unit[j][k];
      if (labels[i] === labels[j]) {
        same += dot;
        nSame++;
      } else {
        different += dot;
        nDifferent++;
      }
    }
  return { same: same / nSame, different: different / nDifferent };
}

/** rows · W for a random W (binary: ±1; relu: He-normal), then the layer's nonlinearity. */
function randomLayer(rows: Rows, width: number, kind: 'sign+bn' | 'relu', rng: Rng): Rows {
  const nIn = rows[0].length;
  const std = Math.sqrt(2 / nIn);
  const W = Float64Array.from({ length: nIn * width }, () => (kind === 'relu' ? rng.normal() * std : rng.next() < 0.5 ? -1 : 1));
  const z = rows.map((r) => {
    const out = new Float64Array(width);
    for (let k = 0; k < nIn; k++) if (r[k] !== 0) for (let j = 0; j < width; j++) out[j] += r[k] * W[k * width + j];
    return out;
  });
  if (kind === 'relu') return z.map((r) => r.map((v) => Math.max(v, 0)));
  // batch norm then sign: the sign of the value minus its batch mean
  const mean = new Float64Array(width);
  for (const r of z) for (let j = 0; j < width; j++) mean[j] += r[j] / z.length;
  return z.map((r) => r.map((v, j) => (v - mean[j] >= 0 ? 1 : -1)));
}

export interface SignalRow {
  layers: 'sign+bn' | 'relu';
  /** After the input (index 0) and after each layer. */
  sameClass: number[];
  differentClass: number[];
}

export function runSignalSuite(c: { examples: number; depth: number; width: number }): SignalRow[] {
  const { train } = loadMnist();
  const n = Math.min(c.examples, train.count);
  const labels = train.labels.subarray(0, n);
  const input: Rows = Array.from({ length: n }, (_, i) => {
    const row = new Float64Array(train.features);
    pixelsToFloat(train.images, i * train.features, train.features, row, 0);
    return row;
  });
  return (['sign+bn', 'relu'] as const).map((kind) => {
    const rng = new Rng(1);
    let rows = input;
    const cells = [centredCosines(rows, labels)];
    for (let l = 0; l < c.depth; l++) {
      rows = randomLayer(rows, c.width, kind, rng);
      cells.push(centredCosines(rows, labels));
    }
    return { layers: kind, sameClass: cells.map((x) => x.same), differentClass: cells.map((x) => x.different) };
  });
}
