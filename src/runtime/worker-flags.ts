// The command-line flags a kernel or meter thread starts with.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * A compiled worker file starts with no flags. Passed on explicitly, the parent's flags broke the
 * thread in two ways: every `--import` hook (a test runner's, an instrumenter's) started a hooks
 * thread of its own and loaded the worker's modules through it (1-2 s a thread pool under tap),
 * and a Worker refuses V8 and per-process flags in its execArgv (`node --expose-gc` or
 * `--max-old-space-size` then stopped every multi-threaded run with "invalid execArgv flags").
 * Those flags hold for the whole process anyway, and our worker code needs no Node option. A
 * worker run from TypeScript source (no .js file beside it) or from code carried in memory
 * inherits the parent's flags the default way (undefined), loader included.
 */
export function workerExecArgv(script: URL | string): string[] | undefined {
  if (typeof script === 'string' || !existsSync(fileURLToPath(script))) return undefined;
  return [];
}
