// Step-time contest (bench --suite peers): bitlearn's recipes against PyTorch on the same model,
// batch and thread count. Every contestant runs in a process of its own; the contestants take
// turns over several rounds (so a noisy spell on this shared machine hits them all), each round
// gives a median step time, and the result is the median of the rounds with their range, the
// ratio to PyTorch at the same thread count, and the ratio to the hardware floor.
import { median } from '../src/stats.js';
import { modelSpec } from '../src/model/models.js';
import { runChildSync } from './children.js';
import { clockGhz, floorMs, measureClockGhz, reportedClockGhz, stepWork, type StepWork } from './floor.js';
import { findTorch, runTorch } from './peer-torch.js';
import type { SpeedConfig, SpeedResult } from './speed.js';

export interface ContestOptions {
  models: string[];
  /** Batch sizes per model. */
  batches: (model: string) => number[];
  recipes: string[];
  threads: number[];
  rounds: number;
  /** Timed and untimed steps per round, per model (conv nets take seconds a step). */
  repeatsFor: (model: string) => number;
  warmupFor: (model: string) => number;
}

/** The batches the speed issue compares at: MLP 100 and 200, CNV 100, BinaryNet 40. */
export const PEER_BATCHES: Record<string, number[]> = { mlp: [100, 200], cnv: [100], binarynet: [40], 'mnist-conv': [100] };

export interface ContestRow {
  model: string;
  batch: number;
  engine: 'bitlearn' | 'pytorch';
  /** Recipe (bitlearn) or "float latent weights + Adam" (PyTorch). */
  variant: string;
  threads: number;
  /** Median over rounds of each round's median step time. */
  msMedian: number;
  msMin: number;
  msMax: number;
  /** Median over rounds of the untimed first steps' total time (JIT warm-up, first touch). */
  warmupMs: number;
  warmupSteps: number;
  peakRssBytes: number;
  floorMs: number;
  /** Each round's median step time, in round order. */
  roundMs: number[];
  /** This row's time / PyTorch's at the same model, batch and threads (below 1: faster). */
  vsPyTorch: number | null;
  /**
   * The median over rounds of this row's time / the standard recipe's in the same round (same
   * model, batch and threads): paired, so a slow spell of the host that spans a round cancels.
   */
  vsStandard: number | null;
  vsFloor: number;
}

export interface ContestReport {
  rows: ContestRow[];
  work: { model: string; batch: number; work: StepWork }[];
  clock: { ghz: number; source: string };
  torch: string | null;
  skipped: { contestant: string; why: string }[];
}

interface Contestant {
  model: string;
  batch: number;
  engine: ContestRow['engine'];
  variant: string;
  threads: number;
  roundMedians: number[];
  roundWarmups: number[];
  peakRss: number;
}

/**
 * The contestants in round r's order: each group (same model, batch and threads) in turn, its
 * members rotated by r − 1, so each takes every place in the group's sequence over the rounds and
 * no recipe always runs right after another (a first or last place may carry an effect of its own:
 * the previous process's threads and caches, a spell that starts or ends).
 */
export function roundOrder<C extends { model: string; batch: number; threads: number }>(contestants: C[], round: number): C[] {
  const groups = new Map<string, C[]>();
  for (const c of contestants) {
    const key = `${c.model}/${c.batch}/${c.threads}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.values()].flatMap((g) => g.map((_, k) => g[(k + round - 1) % g.length]));
}

export function runStepContest(o: ContestOptions, progress: (line: string) => void = () => {}): ContestReport {
  const torch = findTorch();
  const python = 'python' in torch ? torch.python : null;
  const skipped: ContestReport['skipped'] = 'why' in torch ? [{ contestant: 'pytorch', why: torch.why }] : [];
  const contestants: Contestant[] = [];
  for (const model of o.models)
    for (const batch of o.batches(model))
      for (const threads of o.threads) {
        for (const recipe of o.recipes)
          contestants.push({ model, batch, engine: 'bitlearn', variant: recipe, threads, roundMedians: [], roundWarmups: [], peakRss: 0 });
        if (python)
          contestants.push({ model, batch, engine: 'pytorch', variant: 'float latent + Adam', threads, roundMedians: [], roundWarmups: [], peakRss: 0 });
      }
  // where Linux does not report the clock: read at the start and after every turn, the floor takes
  // the fastest (see clockGhz; a neighbour on the host can slow a few readings in a row)
  const measureClock = reportedClockGhz() === null;
  const clockReadings: number[] = measureClock ? [measureClockGhz()] : [];
  for (let round = 1; round <= o.rounds; round++)
    for (const c of roundOrder(contestants, round)) {
      let ms: number;
      let rss: number;
      let warm: number;
      if (c.engine === 'bitlearn') {
        const config: SpeedConfig = {
          model: c.model,
          recipe: c.variant,
          batch: c.batch,
          kernels: 'wasm',
          threads: c.threads,
          repeats: o.repeatsFor(c.model),
          warmup: o.warmupFor(c.model),
        };
        const r = runChildSync<SpeedResult>('speed', config);
        [ms, rss, warm] = [r.msPerBatchMedian, r.peakRssBytes, r.warmupMsTotal];
      } else {
        const r = runTorch(python!, { model: c.model, batch: c.batch, threads: c.threads, repeats: o.repeatsFor(c.model), warmup: o.warmupFor(c.model) });
        [ms, rss, warm] = [median(r.msPerBatch), r.peakRssBytes, r.warmupMsTotal];
      }
      c.roundMedians.push(ms);
      c.roundWarmups.push(warm);
      c.peakRss = Math.max(c.peakRss, rss);
      progress(`  round ${round}/${o.rounds}: ${c.model} B=${c.batch} ${c.engine} ${c.variant}, ${c.threads} thr: ${ms.toFixed(2)} ms/step`);
      if (measureClock) clockReadings.push(measureClockGhz());
    }
  const clock = clockGhz(clockReadings);
  const work = new Map<string, ContestReport['work'][number]>();
  for (const { model, batch } of contestants) work.set(`${model}/${batch}`, { model, batch, work: stepWork(modelSpec(model), batch) });
  const rows: ContestRow[] = contestants.map((c) => {
    const floor = floorMs(work.get(`${c.model}/${c.batch}`)!.work, c.threads, clock.ghz);
    const ms = median(c.roundMedians);
    return {
      model: c.model,
      batch: c.batch,
      engine: c.engine,
      variant: c.variant,
      threads: c.threads,
      msMedian: ms,
      msMin: Math.min(...c.roundMedians),
      msMax: Math.max(...c.roundMedians),
      warmupMs: median(c.roundWarmups),
      warmupSteps: o.warmupFor(c.model),
      peakRssBytes: c.peakRss,
      floorMs: floor,
      roundMs: c.roundMedians,
      vsPyTorch: null,
      vsStandard: null,
      vsFloor: ms / floor,
    };
  });
  for (const r of rows) {
    const same = (p: ContestRow) => p.model === r.model && p.batch === r.batch && p.threads === r.threads;
    const peer = rows.find((p) => p.engine === 'pytorch' && same(p));
    r.vsPyTorch = peer && r.engine === 'bitlearn' ? r.msMedian / peer.msMedian : null;
    const standard = rows.find((p) => p.engine === 'bitlearn' && p.variant === 'standard' && same(p));
    r.vsStandard = standard && r.engine === 'bitlearn' && r !== standard ? median(r.roundMs.map((ms, k) => ms / standard.roundMs[k])) : null;
  }
  return {
    rows,
    work: [...work.values()],
    clock,
    torch: 'version' in torch ? torch.version : null,
    skipped,
  };
}
