// The command-line flags a kernel or meter thread starts with.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Flags that load module hooks or preload scripts: `--import x`, `--require=x`, `-r x`, ... */
const HOOK_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);

/**
 * A worker inherits its parent's flags, and with them every `--import` hook (a test runner's,
 * an instrumenter's): each worker starts its own hooks thread and loads its modules through it,
 * which cost 1-2 s a thread pool under tap. Our compiled worker files need no hooks, so they
 * start without them; a worker run from TypeScript source (no .js file beside it) still needs
 * its loader and keeps them all.
 */
export function workerExecArgv(script: URL | string, parent: readonly string[] = process.execArgv): string[] | undefined {
  if (typeof script === 'string' || !existsSync(fileURLToPath(script))) return undefined;
  const kept: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const flag = parent[i];
    const name = flag.split('=', 1)[0];
    if (!HOOK_FLAGS.has(name)) kept.push(flag);
    else if (!flag.includes('=')) i++; // its value is the next argument
  }
  return kept;
}
