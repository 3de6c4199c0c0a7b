// Files the tools write (reports, exports) appear whole or not at all: temp file + rename. A
// failed write removes its temp file and says which file and why, in one line.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export class OutputError extends Error {}

/** `what` names the file in errors, e.g. "run report" or "--out". */
export function writeFileAtomic(path: string, data: string | Uint8Array, what = 'output file'): void {
  const tmp = join(dirname(path) || '.', `.${basename(path)}.tmp-${process.pid}`);
  try {
    mkdirSync(dirname(path) || '.', { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new OutputError(`cannot write ${what} ${path}: ${reason(e)}`);
  }
}

export function writeJsonAtomic(path: string, value: unknown, what = 'output file'): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, what);
}

/** "permission denied (EACCES)" rather than Node's full message with the syscall. */
export function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const text: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the disk',
    EDQUOT: 'disk quota exceeded',
    EISDIR: 'is a directory',
    ENOTDIR: 'a part of the path is not a directory',
    ENOENT: 'no such file or directory',
    EEXIST: 'already exists',
    ENAMETOOLONG: 'name too long',
    EMFILE: 'too many open files',
    EIO: 'input/output error',
  };
  return code ? `${Object.hasOwn(text, code) ? text[code] : 'error'} (${code})` : (e as Error).message;
}
