// Checks made before the first training step, so a run that cannot finish fails at once with a
// reason instead of after hours: memory (the machine's and the WebAssembly kernel memory's) and
// every file the run will write.
import { closeSync, mkdirSync, openSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import { freemem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { probeDevice } from '../../device/probe.js';
import { WASM_ARENA_LIMIT_BYTES } from '../kernels/wasm.js';
import { canApplyInBackward } from '../model/shared-weight-grads.js';
import { modelMemory } from '../model/memory-model.js';
import type { ModelSpec } from '../model/spec.js';
import { largestBatch } from '../planner.js';
import type { Recipe } from '../recipe.js';
import { TrainingError } from './records.js';
import { OutputError, reason } from '../atomic-write.js';

/** Memory this process can still use: the device's MemAvailable, else the OS's free memory. */
export function availableMemory(): number {
  return probeDevice().memAvailableBytes ?? freemem();
}

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/**
 * Refuse before starting when the engine's buffers plus what the process already holds (Node.js,
 * the loaded data set) exceed the memory available, or when the engine's buffers exceed what one
 * WebAssembly kernel memory can hold (`kernelLimit`, wasm kernels only); name the largest batch
 * that would fit.
 */
export function checkFits(
  spec: ModelSpec,
  recipe: Recipe,
  batch: number,
  opts: { augment?: boolean; budget?: number; engineBytes?: number; runtimeBytes?: number; kernelLimit?: number } = {},
): void {
  const engine = opts.engineBytes ?? modelMemory(spec, recipe, batch, { augment: opts.augment, applyInBackward: canApplyInBackward(spec, recipe) }).total;
  if (opts.kernelLimit !== undefined && engine > opts.kernelLimit) {
    const fits = largestBatch(spec, recipe, opts.kernelLimit);
    throw new TrainingError(
      `this run's engine buffers (${MiB(engine)}) exceed the ${MiB(opts.kernelLimit)} one WebAssembly kernel memory can hold: ` +
        `${fits > 0 ? `the largest batch that fits is ${fits}` : 'not even batch 1 fits'} (or --kernels reference, much slower)`,
    );
  }
  const budget = opts.budget ?? availableMemory();
  const runtime = opts.runtimeBytes ?? process.memoryUsage().rss;
  if (engine + runtime <= budget) return;
  const fits = largestBatch(spec, recipe, Math.min(budget - runtime, opts.kernelLimit ?? Infinity));
  throw new TrainingError(
    `this run needs ${MiB(engine + runtime)} (engine buffers ${MiB(engine)} + ${MiB(runtime)} already in use by Node.js and the data set) ` +
      `but only ${MiB(budget)} is available: ${fits > 0 ? `the largest batch that fits is ${fits}` : 'not even batch 1 fits'}` +
      `${recipe.actInput === 'float32' ? '; the low-memory recipe needs far less' : ''}`,
  );
}

/** The kernel-memory limit of a kernel set (undefined: ordinary JavaScript memory). */
export function kernelMemoryLimit(kernelsName: string): number | undefined {
  return kernelsName === 'wasm-simd' ? WASM_ARENA_LIMIT_BYTES : undefined;
}

/**
 * A file the run will write (atomically: a temp file beside it, then a rename) can be written:
 * not a directory, its directory exists or can be made, and a file can be created there. Throws a
 * one-line reason naming the option and the file.
 */
export function checkOutputPath(path: string, what: string): void {
  const fail = (why: string) => new OutputError(`${what} ${path.length > 120 ? `${path.slice(0, 117)}...` : path}: ${why}`);
  // the temp file beside it takes ~20 more bytes of name; file systems allow 255
  if (Buffer.byteLength(basename(path)) > 230) throw fail('file name longer than 230 bytes');
  try {
    if (statSync(path).isDirectory()) throw fail('is a directory');
  } catch (e) {
    if (e instanceof OutputError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fail(reason(e));
  }
  const dir = dirname(path) || '.';
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fail(`cannot create its directory ${dir}: ${reason(e)}`);
  }
  const probe = join(dir, `.${basename(path)}.probe-${process.pid}`);
  try {
    const fd = openSync(probe, 'wx');
    try {
      writeSync(fd, 'x');
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw fail(`cannot write in ${dir}: ${reason(e)}`);
  } finally {
    try {
      rmSync(probe, { force: true });
    } catch {
      // nothing was created
    }
  }
}

/** The disk holding `path` has room for `bytes` more (the temp copy lives next to the old file). */
export function checkDiskSpace(path: string, what: string, bytes: number): void {
  let free = Infinity;
  try {
    const fs = statfsSync(dirname(path) || '.');
    free = fs.bavail * fs.bsize;
  } catch {
    // no statfs here: the write itself will tell
  }
  if (free < bytes) throw new OutputError(`${what} ${path}: needs ${MiB(bytes)} but the disk has ${MiB(free)} free`);
}
