// Packages a single executable carries compressed and compiles on first use: mathjs (learning-rate
// schedules, units) and TF.js (export, the TF.js peer) are 5.8 MB of its 7.5 MB of code, and a
// script that held them was parsed whole at every start (peak RSS 91 vs 61 MiB for `--version`).
// device/dist.ts bundles each on its own, gzips it into the bundle's assets and maps the
// package's imports here.
import { createRequire } from 'node:module';
import { compileFunction } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import { bundled } from './bundle.js';

const loaded = new Map<string, unknown>();

/** The exports of package `name` from this executable's assets (compiled once, then cached). */
export function bundledPackage(name: string): unknown {
  if (loaded.has(name)) return loaded.get(name);
  const packed = bundled?.packages?.[name];
  if (!packed) throw new Error(`this executable (${bundled?.target ?? 'unknown target'}) carries no ${name} package`);
  const code = gunzipSync(Buffer.from(packed, 'base64')).toString('utf8');
  // a CommonJS module of its own; what it requires beyond itself is Node's built-in modules
  const module = { exports: {} as unknown };
  const run = compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: `bitlearn-bundled:${name}` });
  run(module.exports, createRequire(import.meta.url), module, `bitlearn-bundled:${name}`, '.');
  loaded.set(name, module.exports);
  return module.exports;
}
