// The PyTorch contestant: bench/torch/peer_torch.py run by a Python that has torch (Debian's
// python3-torch), one process per measurement, arguments passed as arguments (no shell).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface TorchRun {
  msPerBatch: number[];
  /** The untimed first steps together. */
  warmupMsTotal: number;
  peakRssBytes: number;
  torch: string;
  threads: number;
}

/** The script, next to the sources (src or build/ layout); null in a single executable. */
function scriptPath(): string | null {
  for (const rel of ['./torch/peer_torch.py', '../../bench/torch/peer_torch.py']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return null;
}

const PYTHONS = ['/usr/bin/python3', 'python3'];

/** A Python that imports torch, or why there is none (the contestant is then skipped). */
export function findTorch(): { python: string; version: string } | { why: string } {
  if (!scriptPath()) return { why: 'bench/torch/peer_torch.py is not here (a single executable does not carry it: run from the npm package)' };
  for (const python of PYTHONS) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python, version: r.stdout.trim() };
  }
  return { why: 'no python3 with torch (Debian: apt-get install python3-torch libopenblas0-pthread)' };
}

/**
 * Time `repeats` training steps of a model in PyTorch on `threads` threads. OpenBLAS and OpenMP
 * are held to the same thread count: torch.set_num_threads alone leaves OpenBLAS on every core.
 */
export function runTorch(python: string, job: { model: string; batch: number; threads: number; repeats: number; warmup: number }): TorchRun {
  const threads = String(job.threads);
  const r = spawnSync(python, [scriptPath()!, JSON.stringify(job)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    env: { ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads },
  });
  if (r.status !== 0) throw new Error(`PyTorch run ${JSON.stringify(job)} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchRun;
}
