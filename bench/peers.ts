// Peers suite: the MNIST MLP trained by bitlearn and by TF.js (the way a TF.js user writes it),
// each contestant in a process of its own, same data, batch and epochs: time per batch (median),
// peak RSS, test accuracy, and the ratios TF.js / bitlearn.
import { createRequire } from 'node:module';
import { formatTable } from '../src/report/table.js';
import { runChildSync } from './children.js';
// type only: the suite itself never loads TF.js (its children do)
import type { PeerRun } from './peer-tfjs.js';

/** A contestant's run: TF.js (a PeerRun) or bitlearn (no tensor counts, its ledger bytes). */
export type PeerResult = Omit<PeerRun, 'tensorsAfterFirstBatch' | 'tensorsAtEnd'> & Partial<PeerRun> & { ledgerBytes?: number };

export interface PeersOptions {
  epochs: number;
  batch: number;
  limitTrain?: number;
  /** bitlearn contestants: recipe and kernel threads. */
  bitlearn: { recipe: string; threads: number; stream: boolean }[];
  /** TF.js backends to run (tensorflow = tfjs-node, only when installed). */
  tfjs: string[];
}

export interface PeersReport {
  results: PeerResult[];
  skipped: { contestant: string; why: string }[];
  ratios: { baseline: string; contender: string; timeRatio: number; rssRatio: number }[];
}

function tfjsNodeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

export function runPeersSuite(o: PeersOptions, onResult?: (r: PeerResult) => void): PeersReport {
  const results: PeerResult[] = [];
  const skipped: PeersReport['skipped'] = [];
  const contest = (config: object) => {
    const r = runChildSync<PeerResult>('peers', { ...config, epochs: o.epochs, batch: o.batch, limitTrain: o.limitTrain }, JSON.stringify(config));
    results.push(r);
    onResult?.(r);
    return r;
  };
  for (const backend of o.tfjs) {
    if (backend === 'tensorflow' && !tfjsNodeInstalled()) {
      skipped.push({
        contestant: 'tfjs-node',
        why: '@tensorflow/tfjs-node is not installed (its install downloads libtensorflow: impossible offline, and there is none for arm64)',
      });
      continue;
    }
    contest({ engine: 'tfjs', backend });
  }
  for (const b of o.bitlearn) contest({ engine: 'bitlearn', recipe: b.recipe, threads: b.threads, stream: b.stream });
  const ratios: PeersReport['ratios'] = [];
  for (const base of results.filter((r) => r.engine === 'tfjs'))
    for (const c of results.filter((r) => r.engine === 'bitlearn'))
      ratios.push({
        baseline: `tfjs ${base.backend}`,
        contender: `bitlearn ${c.backend}`,
        timeRatio: base.msPerBatchMedian / c.msPerBatchMedian,
        rssRatio: base.peakRssBytes / c.peakRssBytes,
      });
  return { results, skipped, ratios };
}

/** The TF.js comparison as terminal tables: the contestants, then the ratios, then what was skipped. */
export function formatPeersReport(rep: PeersReport): string {
  return [
    formatTable(
      ['engine', 'backend / recipe', 'batch', 'epochs', 'ms/batch (median)', 'peak RSS MiB', 'test acc %'],
      rep.results.map((r) => [
        r.engine,
        r.backend,
        r.batch,
        r.epochs,
        r.msPerBatchMedian.toFixed(1),
        (r.peakRssBytes / 2 ** 20).toFixed(0),
        (100 * r.testAccuracy).toFixed(2),
      ]),
    ),
    '',
    formatTable(
      ['baseline', 'contender', 'time ratio (baseline/contender)', 'peak RSS ratio'],
      rep.ratios.map((r) => [r.baseline, r.contender, `${r.timeRatio.toFixed(2)}x`, `${r.rssRatio.toFixed(2)}x`]),
    ),
    ...rep.skipped.map((s) => `skipped ${s.contestant}: ${s.why}`),
  ].join('\n');
}
