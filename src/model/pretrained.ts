// Checkpoints trained by bitlearn itself and shipped with the package (pretrained/), usable by
// name wherever a checkpoint is read: `train --init mlp-mnist`, `predict mlp-mnist`, `export`.
// Each holds weights only (bitlearn export --format weights): the command that made it is below
// and in the README, so anyone can reproduce the file.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { own } from '../own.js';

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

/** A checkpoint argument: an existing file as given, else a shipped checkpoint's name resolved to its file. */
export function checkpointPath(arg: string): string {
  if (existsSync(arg)) return arg;
  const p = own(PRETRAINED, arg);
  if (!p) return arg; // the reader reports the missing file
  const path = `${pretrainedDir()}${p.file}`;
  if (!existsSync(path)) throw new Error(`${arg}: the shipped checkpoint ${p.file} is not in this installation (reproduce it: ${p.commands.join(' && ')})`);
  return path;
}
