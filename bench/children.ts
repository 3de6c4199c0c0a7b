// Training runs of a benchmark suite, each in its own child process (the program's hidden
// `__child KIND JSON` command, so it also works from a single executable), one per core.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { selfCommand } from '../src/runtime/bundle.js';

/** Run every job as `__child kind JSON`; each child prints its result as the last JSON line. */
export async function runChildJobs<J extends { label: string }, R>(kind: string, jobs: J[], onResult?: (r: R) => void): Promise<R[]> {
  const self = selfCommand(fileURLToPath(new URL('../src/cli/main.js', import.meta.url)));
  const results: R[] = [];
  const runOne = (job: J) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(self.command, [...self.args, '__child', kind, JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`${kind} run ${job.label} failed: ${err.trim().split('\n').slice(-2).join(' ')}`));
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
