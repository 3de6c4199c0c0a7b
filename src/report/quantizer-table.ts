// The quantizer instability table: per quantizer, its exponent at the end of training and how
// many times it changed in each epoch (the oscillation the stable-exponent fix removes).
import type { EpochRecord } from '../train/records.js';
import { formatTable } from './table.js';

export interface QuantizerRow {
  layer: string;
  kind: string;
  bits: number;
  exponent: number | null;
  flips: number;
  flipsPerEpoch: number[];
  /** Weights, at the end: relative MSQE increase at the better neighbouring exponent. */
  margin?: number;
}

export function quantizerRows(history: EpochRecord[]): QuantizerRow[] {
  const withQ = history.filter((r) => r.quantizers);
  if (!withQ.length) return [];
  const last = withQ[withQ.length - 1].quantizers!;
  return last.map((q) => {
    let prev = 0;
    const flipsPerEpoch = withQ.map((r) => {
      const now = r.quantizers!.find((x) => x.layer === q.layer)?.flips ?? prev;
      const d = now - prev;
      prev = now;
      return d;
    });
    return {
      layer: q.layer,
      kind: q.kind,
      bits: q.bits,
      exponent: q.exponent,
      flips: q.flips,
      flipsPerEpoch,
      ...(q.margin !== undefined ? { margin: q.margin } : {}),
    };
  });
}

export function quantizerLines(history: EpochRecord[]): string[] {
  const rows = quantizerRows(history);
  if (!rows.length) return [];
  const first = history.find((r) => r.quantizers)?.epoch ?? 1;
  return [
    '',
    `Quantizer exponents (scale 2^e), exponent flips per epoch (from epoch ${first}), and the MSQE margin: how ` +
      `much worse the better neighbouring exponent is (near 0%: at a boundary, where the exponent can oscillate)`,
    formatTable(
      ['quantizer', 'kind', 'bits', 'final e', 'flips', 'flips per epoch', 'MSQE margin'],
      rows.map((r) => [r.layer, r.kind, r.bits, r.exponent ?? '-', r.flips, r.flipsPerEpoch.join(' '), formatMargin(r.margin)]),
    ),
  ];
}

export function formatMargin(m: number | undefined): string {
  return m === undefined ? '-' : Number.isFinite(m) ? `${(100 * m).toFixed(1)}%` : 'inf';
}
