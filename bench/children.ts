// Training runs of a benchmark suite, each in its own child process (the program's hidden
// `__child KIND JSON` command, so it also works from a single executable), one per core.
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { selfCommand } from '../src/runtime/bundle.js';

const self = () => selfCommand(fileURLToPath(new URL('../src/cli/main.js', import.meta.url)));

/** The last lines of a failed child's stderr, for the error message. */
const tail = (stderr: string) => stderr.trim().split('\n').slice(-3).join(' ');

/**
 * One job as `__child kind JSON`, alone (timed suites run their configurations one after the
 * other); its result is the last JSON line it prints.
 */
export function runChildSync<R>(kind: string, job: object, label = JSON.stringify(job)): R {
  const { command, args } = self();
  const run = spawnSync(command, [...args, '__child', kind, JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (run.status !== 0) throw new Error(`${kind} run ${label} failed: ${tail(run.stderr)}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as R;
}

/** Run every job as `__child kind JSON`, one per core; each child prints its result as the last JSON line. */
export async function runChildJobs<J extends { label: string }, R>(kind: string, jobs: J[], onResult?: (r: R) => void): Promise<R[]> {
  const { command, args } = self();
  const results: R[] = [];
  const runOne = (job: J) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(command, [...args, '__child', kind, JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`${kind} run ${job.label} failed: ${tail(err)}`));
        const r = JSON.parse(out.trim().split('\n').pop()!) as R;
        results.push(r);
        onResult?.(r);
        resolve();
      });
    });
  const queue = [...jobs];
  await Promise.all(
    Array.from({ length: Math.min(availableParallelism(), queue.length) }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await runOne(job);
    }),
  );
  return results;
}

/** Mean and spread (max − min) of one configuration's test accuracies over its seeds. */
export function seedSummary(accuracies: number[]): { meanAccuracy: number; spread: number } {
  return { meanAccuracy: accuracies.reduce((a, b) => a + b, 0) / accuracies.length, spread: Math.max(...accuracies) - Math.min(...accuracies) };
}
