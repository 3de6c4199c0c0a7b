// Checkpoints trained by bitlearn itself and shipped with the package (pretrained/), usable by
// name wherever a checkpoint is read: `train --init mlp-mnist`, `predict mlp-mnist`, `export`.
// Each holds weights only (bitlearn export --format weights): the command that made it is below
// and in the README, so anyone can reproduce the file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../atomic-write.js';
import { own } from '../own.js';
import { bundled } from '../runtime/bundle.js';

export interface Pretrained {
  file: string;
  about: string;
  /** The commands that reproduce the file. */
  commands: string[];
}

export const PRETRAINED: Record<string, Pretrained> = {
  'mlp-mnist': {
    file: 'mlp-mnist.ckpt',
    about: 'the binary MLP (784-4x256-10), low-memory recipe, 5 epochs on MNIST',
    commands: [
      'bitlearn train --model mlp --recipe low-memory --epochs 5 --seed 1 --checkpoint mlp.ckpt',
      'bitlearn export mlp.ckpt --format weights --out pretrained/ --name mlp-mnist',
    ],
  },
  'mnist-conv-mnist': {
    file: 'mnist-conv-mnist.ckpt',
    about: 'the small binary conv net (4 conv layers, 2 pools, dense 256), low-memory recipe, 2 epochs on MNIST',
    commands: [
      'bitlearn train --model mnist-conv --recipe low-memory --epochs 2 --seed 1 --checkpoint mnist-conv.ckpt',
      'bitlearn export mnist-conv.ckpt --format weights --out pretrained/ --name mnist-conv-mnist',
    ],
  },
};

/** The shipped directory: next to build/ in an install, or in the source tree. */
function pretrainedDir(): string {
  for (const rel of ['../../../pretrained/', '../../pretrained/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  return fileURLToPath(new URL('../../../pretrained/', import.meta.url));
}

/** Files this process has already written (or found whole): one check per file, however often a name is used. */
const written = new Map<string, string>();

/**
 * A single executable carries the files inside itself: the first use writes one (whole, or not at
 * all) to a cache directory named by its content, which later uses read again.
 */
function unbundled(file: string, base64: string): string {
  const known = written.get(file);
  if (known) return known;
  const bytes = Buffer.from(base64, 'base64');
  const dir = join(tmpdir(), `bitlearn-pretrained-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}`);
  const path = join(dir, file);
  if (!existsSync(path) || !readFileSync(path).equals(bytes)) {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(path, bytes, 'shipped checkpoint');
  }
  written.set(file, path);
  return path;
}

/** A checkpoint argument: an existing file as given, else a shipped checkpoint's name resolved to its file. */
export function checkpointPath(arg: string): string {
  if (existsSync(arg)) return arg;
  const p = own(PRETRAINED, arg);
  if (!p) return arg; // the reader reports the missing file
  const inside = bundled?.pretrained?.[p.file];
  if (inside) return unbundled(p.file, inside);
  const path = `${pretrainedDir()}${p.file}`;
  if (!existsSync(path)) throw new Error(`${arg}: the shipped checkpoint ${p.file} is not in this installation (reproduce it: ${p.commands.join(' && ')})`);
  return path;
}
