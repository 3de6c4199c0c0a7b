// Native addons inside a single executable: written to a private temporary directory (mode 0700),
// loaded with process.dlopen, and unlinked at once (a loaded library needs no file on Linux).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundled } from './bundle.js';

export function loadBundledAddon(name: string, base64: string | undefined): unknown {
  if (!base64) throw new Error(`this executable (${bundled?.target ?? 'unknown target'}) carries no ${name} addon`);
  const dir = mkdtempSync(join(tmpdir(), 'bitlearn-addon-'));
  const file = join(dir, `${name}.node`);
  try {
    writeFileSync(file, Buffer.from(base64, 'base64'), { mode: 0o700 });
    const mod = { exports: {} as unknown };
    process.dlopen(mod, file);
    return mod.exports;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The addon i2c-bus loads through `bindings`, from the executable. */
export function bundledI2c(): unknown {
  return loadBundledAddon('i2c', bundled?.i2c);
}

/** The epoll addon onoff requires, from the executable (esbuild maps `require('epoll')` here). */
export function bundledEpoll(): unknown {
  return loadBundledAddon('epoll', bundled?.epoll);
}
