// One writer per file: a run that writes a checkpoint holds `FILE.lock` (its process id inside)
// while it trains, so a second run given the same file stops at once instead of silently
// replacing the first one's results. A lock whose process is gone (killed) is taken over.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

export class LockError extends Error {}

/** A process with this id is running (EPERM: it runs as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks this process holds (two runs inside one program exclude each other too). */
const heldHere = new Set<string>();

/** Take the lock of `path` (`what` names it in errors); the returned function releases it. */
export function lockFile(path: string, what: string): () => void {
  const lock = `${path}.lock`;
  if (heldHere.has(resolve(lock))) throw new LockError(`${what} ${path} is in use by another run in this process`);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0)
        throw new LockError(`${what} ${path}: cannot create its lock file ${lock} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let holder = NaN;
    try {
      holder = Number.parseInt(readFileSync(lock, 'utf8'), 10);
    } catch {
      // removed meanwhile: try again
    }
    if (Number.isInteger(holder) && holder !== process.pid && processAlive(holder))
      throw new LockError(`${what} ${path} is in use by another bitlearn run (process ${holder}): wait for it to finish, or give another --checkpoint`);
    rmSync(lock, { force: true }); // stale: its process is gone
  }
  let held = true;
  heldHere.add(resolve(lock));
  const release = () => {
    if (!held) return;
    held = false;
    heldHere.delete(resolve(lock));
    process.removeListener('exit', release);
    try {
      if (Number.parseInt(readFileSync(lock, 'utf8'), 10) === process.pid) rmSync(lock, { force: true });
    } catch {
      // already gone
    }
  };
  process.on('exit', release);
  return release;
}
