// How a long command behaves toward its user: Ctrl-C stops training after the current batch and
// says where the last checkpoint is; --threads beyond the cores is capped with a warning; a
// failed write to standard output (a full disk behind `> file`) is one clear error.
import { InvalidArgumentError } from 'commander';
import { availableParallelism } from 'node:os';
import { OutputError, reason } from '../atomic-write.js';
import { MAX_THREADS } from '../train/loop.js';
import type { TrainResult } from '../train/records.js';
import { positiveInt } from './options.js';

/** Thrown after an interrupted run has reported what it did: exit status 130, no error line. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/**
 * The first Ctrl-C (or SIGTERM) asks training to stop after the current batch; a second one quits
 * at once. `dispose` restores the default handling.
 */
export function stopOnInterrupt(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    process.stderr.write(`\n${name === 'SIGINT' ? 'Ctrl-C' : name}: stopping after this batch (press Ctrl-C again to quit at once)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

export function interruptedMessage(at: NonNullable<TrainResult['interrupted']>, checkpoint: string | undefined, lastEpoch: number): string {
  const where = `interrupted in epoch ${at.epoch} after batch ${at.batch} of ${at.batches}`;
  if (!checkpoint) return `${where}; no checkpoint (--no-checkpoint): the epochs done are in the report`;
  if (lastEpoch < 1) return `${where}; no epoch finished, so no checkpoint was written`;
  return `${where}; the last checkpoint is ${checkpoint} (epoch ${lastEpoch}): run the same command with --resume to continue from there`;
}

let warnedThreads = false;

/** --threads: a positive whole number, at most MAX_THREADS, capped at the cores with a warning. */
export function threadCount(value: string): number {
  const n = positiveInt(value);
  if (n > MAX_THREADS) throw new InvalidArgumentError(`expected at most ${MAX_THREADS} threads, got ${n}`);
  const cores = availableParallelism();
  if (n <= cores) return n;
  if (!warnedThreads) process.stderr.write(`bitlearn: warning: --threads ${n}: this machine has ${cores} cores, using ${cores} threads\n`);
  warnedThreads = true;
  return cores;
}

/** Write to standard output; a failure (full disk, closed pipe) becomes an OutputError. */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (e) => {
      if (!e) return resolve();
      (e as Error & { reported?: boolean }).reported = true;
      reject(new OutputError(`cannot write to standard output: ${reason(e)}`));
    });
  });
}
