// The fault campaign: bad data files, model and recipe files, checkpoints, outputs, options and
// meters, each given to the real command line. Every case must end in one clear line (exit 1 or
// 2, no stack trace, no internal JavaScript message, no hang) and leave no temp file behind.
// BITLEARN_CLI=/path/to/main.js runs the same campaign against another build (before/after).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { writeCheckpoint } from '../src/checkpoint.js';
import { tempDir } from './helpers.js';

const CLI = process.env.BITLEARN_CLI ?? join(process.cwd(), 'build/src/cli/main.js');
const root = tempDir('bitlearn-faults-');
const QUICK = ['--limit-train', '100', '--limit-test', '50', '--batch', '50', '--epochs', '1', '--quiet'];

function idx(dims: number[], data: Uint8Array | number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE((0x08 << 8) | dims.length, 0);
  dims.forEach((d, i) => {
    head.writeUInt32BE(d, 4 + 4 * i);
  });
  return Buffer.concat([head, Buffer.from(data)]);
}

/** A small MNIST-shaped directory (100 training, 50 test examples) with one file replaced. */
function mnistDir(name: string, replace: Record<string, Buffer | null> = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const files: Record<string, Buffer> = {
    'train-images-idx3-ubyte': idx(
      [100, 28, 28],
      new Uint8Array(100 * 784).map((_, i) => (i * 7) & 255),
    ),
    'train-labels-idx1-ubyte': idx(
      [100],
      new Uint8Array(100).map((_, i) => i % 10),
    ),
    't10k-images-idx3-ubyte': idx(
      [50, 28, 28],
      new Uint8Array(50 * 784).map((_, i) => (i * 3) & 255),
    ),
    't10k-labels-idx1-ubyte': idx(
      [50],
      new Uint8Array(50).map((_, i) => i % 10),
    ),
  };
  for (const [f, b] of Object.entries({ ...files, ...replace })) if (b) writeFileSync(join(dir, f), b);
  return dir;
}

function file(name: string, content: string | Buffer): string {
  const p = join(root, name);
  writeFileSync(p, content);
  return p;
}

const goodDir = mnistDir('good');
const tensor = { 'fc1.W': new Float32Array(4) };
const foreignCkpt = join(root, 'foreign.ckpt');
writeCheckpoint(foreignCkpt, { format: 'something-else' }, tensor);
const otherModelCkpt = join(root, 'other-model.ckpt');
writeCheckpoint(otherModelCkpt, { format: 'bitlearn-train', model: 'cnv', recipe: {}, epoch: 1 }, tensor);
const badMetaCkpt = join(root, 'bad-meta.ckpt');
writeCheckpoint(badMetaCkpt, { format: 'bitlearn-train', model: 'mlp', quant: null, recipe: { preset: 'x' }, epoch: -3, lr: null }, tensor);
const randomCkpt = file('random.ckpt', Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 255)));
const truncatedCkpt = (() => {
  const p = join(root, 'truncated.ckpt');
  writeCheckpoint(p, { format: 'bitlearn-train' }, { w: new Float32Array(1000) });
  writeFileSync(p, readFileSync(p).subarray(0, 200));
  return p;
})();
const editedCkpt = (() => {
  const p = join(root, 'edited.ckpt');
  writeCheckpoint(p, { format: 'bitlearn-train', epoch: 1 }, { w: new Float32Array(8) });
  const text = readFileSync(p).toString('latin1').replace('"offset":0', '"offset":4');
  writeFileSync(p, Buffer.from(text, 'latin1'));
  return p;
})();
const notJson = file('not.json', '{ not json');
const arrayJson = file('array.json', '[1, 2]');
const protoRecipe = file('proto.json', '{"__proto__": {"dy": "float32"}, "preset": "low-memory"}');
const ctorRecipe = file('ctor.json', '{"constructor": "x"}');
const badKnobRecipe = file('bad-knob.json', '{"preset": "low-memory", "dy": "float8"}');
const unknownPresetRecipe = file('unknown-preset.json', '{"preset": "toString"}');
const emptyFile = file('empty.json', '');
const runReport = file('run-not-report.json', '{"tool": "other"}');
const csvNoTime = file('power.csv', 'when,watts\n1,2\n');
const plainFile = file('plain-file', 'x');
const dirPath = join(root, 'a-directory');
mkdirSync(dirPath);
const longSchedule = `1e-3${' + 0'.repeat(30000)}`;

interface Case {
  what: string;
  args: string[];
  /** Part of the one line the user should read. */
  expect: RegExp;
}

const cases: Case[] = [
  // data files
  { what: 'IDX: missing directory', args: ['train', ...QUICK, '--data-dir', join(root, 'nowhere')], expect: /MNIST: missing file/ },
  {
    what: 'IDX: truncated images',
    args: ['train', ...QUICK, '--data-dir', mnistDir('trunc', { 'train-images-idx3-ubyte': idx([100, 28, 28], new Uint8Array(500)) })],
    expect: /truncated IDX file|bytes, expected/,
  },
  {
    what: 'IDX: bytes past the data',
    args: ['train', ...QUICK, '--in-memory', '--data-dir', mnistDir('long', { 't10k-labels-idx1-ubyte': idx([50], new Uint8Array(60)) })],
    expect: /bytes past the/,
  },
  {
    what: 'IDX: wrong magic',
    args: ['train', ...QUICK, '--data-dir', mnistDir('magic', { 'train-labels-idx1-ubyte': Buffer.from('hello world, not idx') })],
    expect: /IDX|magic/i,
  },
  {
    what: 'IDX: empty file',
    args: ['train', ...QUICK, '--data-dir', mnistDir('empty', { 'train-labels-idx1-ubyte': Buffer.alloc(0) })],
    expect: /train-labels-idx1-ubyte/,
  },
  {
    what: 'IDX: 14x56 images',
    args: ['train', ...QUICK, '--data-dir', mnistDir('shape', { 'train-images-idx3-ubyte': idx([100, 14, 56], new Uint8Array(100 * 784)) })],
    expect: /declares 14x56 images; MNIST images are 28x28/,
  },
  {
    what: 'IDX: label 12',
    args: ['train', ...QUICK, '--data-dir', mnistDir('label', { 'train-labels-idx1-ubyte': idx([100], new Uint8Array(100).fill(12)) })],
    expect: /label 12 at index 0 is not a digit/,
  },
  {
    what: 'IDX: labels and images disagree',
    args: ['train', ...QUICK, '--data-dir', mnistDir('count', { 'train-labels-idx1-ubyte': idx([90], new Uint8Array(90)) })],
    expect: /has 100 images but .* has 90 labels/,
  },
  {
    what: 'IDX: 4-dimensional images',
    args: ['train', ...QUICK, '--data-dir', mnistDir('dims', { 'train-images-idx3-ubyte': idx([100, 28, 28, 1], new Uint8Array(100 * 784)) })],
    expect: /dimensions, expected 3/,
  },
  {
    what: 'IDX: a directory where a file should be',
    args: [
      'train',
      ...QUICK,
      '--data-dir',
      (() => {
        const d = mnistDir('dirfile', { 'train-labels-idx1-ubyte': null });
        mkdirSync(join(d, 'train-labels-idx1-ubyte'));
        return d;
      })(),
    ],
    expect: /train-labels-idx1-ubyte/,
  },
  { what: 'cifar10 without --data-dir', args: ['train', ...QUICK, '--model', 'cnv', '--data', 'cifar10'], expect: /cifar10: give the directory/ },
  {
    what: 'cifar10 in an empty directory',
    args: ['train', ...QUICK, '--model', 'cnv', '--data', 'cifar10', '--data-dir', dirPath],
    expect: /cifar|data_batch/i,
  },
  {
    what: 'model and data disagree',
    args: ['train', ...QUICK, '--model', 'cnv', '--data', 'mnist', '--data-dir', goodDir],
    expect: /takes 3072 inputs per example|takes 32x32x3/,
  },
  {
    what: '--limit-train 1',
    args: ['train', '--limit-train', '1', '--limit-test', '50', '--epochs', '1', '--quiet', '--no-checkpoint', '--data-dir', goodDir],
    expect: /batch size 100 is larger than the training set \(1 examples\)/,
  },
  {
    what: 'binarynet batch 4000 (beyond one WebAssembly memory)',
    args: [
      'train',
      '--model',
      'binarynet',
      '--data',
      'synthetic-cifar',
      '--batch',
      '4000',
      '--limit-train',
      '4000',
      '--epochs',
      '1',
      '--quiet',
      '--no-checkpoint',
    ],
    expect: /exceed the 2047\.0 MiB one WebAssembly kernel memory can hold: the largest batch that fits is \d+/,
  },
  // recipe files and knobs
  { what: 'recipe file: not JSON', args: ['train', ...QUICK, '--recipe', notJson], expect: /cannot read recipe file .*not\.json/ },
  { what: 'recipe file: an array', args: ['train', ...QUICK, '--recipe', arrayJson], expect: /must hold a JSON object/ },
  { what: 'recipe file: __proto__ key', args: ['train', ...QUICK, '--recipe', protoRecipe], expect: /unknown recipe knob "__proto__"/ },
  { what: 'recipe file: constructor key', args: ['train', ...QUICK, '--recipe', ctorRecipe], expect: /unknown recipe knob "constructor"/ },
  { what: 'recipe file: bad knob value', args: ['train', ...QUICK, '--recipe', badKnobRecipe], expect: /recipe knob dy cannot be "float8"/ },
  { what: 'recipe file: preset toString', args: ['train', ...QUICK, '--recipe', unknownPresetRecipe], expect: /unknown preset "toString"/ },
  { what: 'recipe file: empty', args: ['train', ...QUICK, '--recipe', emptyFile], expect: /cannot read recipe file/ },
  { what: 'recipe file: missing', args: ['train', ...QUICK, '--recipe', join(root, 'missing.json')], expect: /cannot read recipe file .*missing\.json/ },
  { what: '--recipe constructor', args: ['train', ...QUICK, '--recipe', 'constructor'], expect: /unknown recipe "constructor"/ },
  { what: '--set constructor=1', args: ['train', ...QUICK, '--set', 'constructor=1'], expect: /unknown recipe knob "constructor"/ },
  { what: '--set toString=x', args: ['train', ...QUICK, '--set', 'toString=x'], expect: /unknown recipe knob "toString"/ },
  { what: '--set __proto__=x', args: ['train', ...QUICK, '--set', '__proto__=x'], expect: /unknown recipe knob "__proto__"/ },
  { what: '--set without =', args: ['train', ...QUICK, '--set', 'dy'], expect: /is not knob=value/ },
  { what: '--set incompatible knobs', args: ['train', ...QUICK, '--set', 'weights=bit'], expect: /weights=bit .* and optimizer=bop go together/ },
  { what: '--model constructor', args: ['train', ...QUICK, '--model', 'constructor'], expect: /unknown model "constructor"/ },
  { what: '--data toString', args: ['train', ...QUICK, '--data', 'toString'], expect: /unknown data set "toString"/ },
  { what: '--kernels constructor', args: ['train', ...QUICK, '--kernels', 'constructor'], expect: /unknown kernel set "constructor"/ },
  { what: '--quant w99a8', args: ['train', ...QUICK, '--quant', 'w99a8'], expect: /quant|bits/i },
  { what: '--fix without --quant', args: ['train', ...QUICK, '--fix', 'stable'], expect: /need --quant/ },
  // checkpoints
  { what: 'resume: random bytes', args: ['train', ...QUICK, '--resume', '--checkpoint', randomCkpt], expect: /is not a bitlearn checkpoint/ },
  { what: 'resume: truncated', args: ['train', ...QUICK, '--resume', '--checkpoint', truncatedCkpt], expect: /truncated|checksum/ },
  { what: 'resume: header edited', args: ['train', ...QUICK, '--resume', '--checkpoint', editedCkpt], expect: /does not match its checksum/ },
  { what: 'resume: not a training checkpoint', args: ['train', ...QUICK, '--resume', '--checkpoint', foreignCkpt], expect: /not a training checkpoint/ },
  { what: 'resume: another model', args: ['train', ...QUICK, '--resume', '--checkpoint', otherModelCkpt], expect: /trained with model cnv \(this run: mlp\)/ },
  { what: 'resume: invalid fields', args: ['train', ...QUICK, '--resume', '--checkpoint', badMetaCkpt], expect: /cannot resume from .*bad-meta\.ckpt/ },
  { what: 'resume: no such file', args: ['train', ...QUICK, '--resume', '--checkpoint', join(root, 'none.ckpt')], expect: /cannot read checkpoint .*ENOENT/ },
  { what: 'resume: a directory', args: ['train', ...QUICK, '--resume', '--checkpoint', dirPath], expect: /a-directory: is a directory/ },
  { what: 'fresh run onto a foreign file', args: ['train', ...QUICK, '--checkpoint', plainFile], expect: /exists and is not a readable bitlearn checkpoint/ },
  { what: 'export: random bytes', args: ['export', randomCkpt, '--format', 'tfjs', '--out', join(root, 'exp1')], expect: /is not a bitlearn checkpoint/ },
  {
    what: 'export: foreign checkpoint',
    args: ['export', foreignCkpt, '--format', 'tfjs', '--out', join(root, 'exp2')],
    expect: /not a bitlearn training checkpoint/,
  },
  {
    what: 'export: other model metadata',
    args: ['export', otherModelCkpt, '--format', 'int', '--out', join(root, 'exp3')],
    expect: /checkpoint|recipe|tensor/,
  },
  // outputs
  { what: '--out onto a directory', args: ['train', ...QUICK, '--no-checkpoint', '--out', dirPath], expect: /--out .*a-directory: is a directory/ },
  {
    what: '--out under a file',
    args: ['train', ...QUICK, '--no-checkpoint', '--out', join(plainFile, 'run.json')],
    expect: /--out .*: a part of the path is not a directory/,
  },
  {
    what: '--out in /proc',
    args: ['train', ...QUICK, '--no-checkpoint', '--out', '/proc/run.json'],
    expect: /--out \/proc\/run\.json: cannot write in \/proc/,
  },
  { what: '--checkpoint in /proc', args: ['train', ...QUICK, '--checkpoint', '/proc/a.ckpt'], expect: /checkpoint \/proc\/a\.ckpt: cannot write in \/proc/ },
  { what: '--checkpoint onto a directory', args: ['train', ...QUICK, '--checkpoint', dirPath], expect: /checkpoint .*a-directory: is a directory/ },
  { what: 'report --html onto a directory', args: ['report', runReport, '--html', dirPath], expect: /--html .*a-directory: is a directory/ },
  { what: 'bench --out in /proc', args: ['bench', '--suite', 'memory', '--out', '/proc/b.json'], expect: /\/proc\/b\.json/ },
  // options
  { what: '--batch 0', args: ['train', '--batch', '0'], expect: /expected a positive integer, got "0"/ },
  { what: '--epochs abc', args: ['train', '--epochs', 'abc'], expect: /expected a positive integer, got "abc"/ },
  { what: '--lr NaN', args: ['train', '--lr', 'NaN'], expect: /expected a positive number, got "NaN"/ },
  { what: '--lr -1', args: ['train', '--lr', '-1'], expect: /expected a positive number/ },
  { what: '--seed -2', args: ['train', '--seed', '-2'], expect: /expected an integer >= 0/ },
  { what: '--threads 0', args: ['train', '--threads', '0'], expect: /expected a positive integer/ },
  { what: '--threads 999', args: ['train', '--threads', '999'], expect: /expected at most 256 threads, got 999/ },
  { what: '--label-noise 2', args: ['train', '--label-noise', '2'], expect: /expected a fraction from 0 to 1/ },
  { what: '--gradients toString', args: ['train', '--gradients', 'toString'], expect: /unknown gradient method "toString"/ },
  { what: '--coherence nonsense', args: ['train', '--coherence', 'every=abc'], expect: /coherence|every/ },
  { what: '--stop-on-memorization alone', args: ['train', ...QUICK, '--stop-on-memorization'], expect: /needs --coherence/ },
  {
    what: '--lr-schedule negative later',
    args: ['train', ...QUICK, '--epochs', '3', '--no-checkpoint', '--lr-schedule', 'epoch < 1 ? 1e-3 : -1'],
    expect: /gives -1 at epoch 1: it must be a positive number/,
  },
  {
    what: '--lr-schedule zeros(30000,30000)',
    args: ['train', ...QUICK, '--no-checkpoint', '--lr-schedule', 'zeros(30000,30000)'],
    expect: /uses the function zeros/,
  },
  {
    what: '--lr-schedule 120 KB',
    args: ['train', ...QUICK, '--no-checkpoint', '--lr-schedule', longSchedule],
    expect: /\(120004 characters\) is longer than 500 characters/,
  },
  {
    what: '--bop-gamma-schedule bad',
    args: ['train', ...QUICK, '--no-checkpoint', '--recipe', 'tiny', '--bop-gamma-schedule', 'epoch - 1'],
    expect: /Bop gamma schedule "epoch - 1" gives -1 at epoch 0/,
  },
  { what: 'unknown option', args: ['train', '--epoch', '3'], expect: /unknown option '--epoch'/ },
  { what: 'unknown command', args: ['trian'], expect: /unknown command 'trian'/ },
  { what: 'plan --ram nonsense', args: ['plan', '--ram', 'lots'], expect: /--ram/ },
  { what: 'plan --model constructor', args: ['plan', '--ram', '1GB', '--model', 'constructor'], expect: /unknown model "constructor"/ },
  { what: 'bench --suite nonsense', args: ['bench', '--suite', 'nonsense'], expect: /suite/ },
  { what: 'report: missing file', args: ['report', join(root, 'missing-run.json'), '--md', join(root, 'r.md')], expect: /missing-run\.json/ },
  { what: 'report: not a run report', args: ['report', runReport, '--md', join(root, 'r2.md')], expect: /run-not-report\.json/ },
  { what: 'report: CSV without a time column', args: ['report', runReport, '--power-csv', csvNoTime], expect: /run-not-report\.json|no time column/ },
  { what: 'report --clock-offset x', args: ['report', runReport, '--clock-offset', 'x'], expect: /--clock-offset: "x" is not a number/ },
  // meters
  { what: '--meter nonsense', args: ['train', ...QUICK, '--no-checkpoint', '--meter', 'nonsense'], expect: /unknown meter "nonsense"/ },
  {
    what: '--meter estimate:constructor',
    args: ['train', ...QUICK, '--no-checkpoint', '--meter', 'estimate:constructor'],
    expect: /no power model for board "constructor"/,
  },
  { what: '--meter gpio-pulse:abc:1', args: ['train', ...QUICK, '--no-checkpoint', '--meter', 'gpio-pulse:abc:1'], expect: /meter "gpio-pulse:abc:1"/ },
  {
    what: '--meter gpio-pulse:17:-1',
    args: ['train', ...QUICK, '--no-checkpoint', '--meter', 'gpio-pulse:17:-1'],
    expect: /joules per pulse must be a positive number/,
  },
  {
    what: '--meter gpio-trigger (no GPIO here)',
    args: ['train', ...QUICK, '--no-checkpoint', '--meter', 'gpio-trigger:27'],
    expect: /meter "gpio-trigger:27"/,
  },
];

type Outcome = 'clear error' | 'stack trace' | 'internal message' | 'hang' | 'accepted' | 'temp file left';
const INTERNAL = new RegExp(
  [
    'TypeError',
    'ReferenceError',
    'RangeError',
    'Cannot read properties',
    'Cannot set properties',
    'Cannot destructure',
    'is not a function',
    'is not iterable',
    'undefined',
    '\\[object Object\\]',
    'Invalid typed array',
    'Maximum call stack',
  ].join('|'),
);

function runCase(c: Case, cwd: string): Promise<{ status: number | null; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...c.args], { cwd, env: { ...process.env, BITLEARN_DEBUG: '' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, stderr, timedOut: signal === 'SIGKILL' });
    });
  });
}

function leftovers(dirs: string[]): string[] {
  return dirs.flatMap((d) =>
    readdirSync(d)
      .filter((f) => /\.tmp-\d+|\.probe-\d+|\.lock$/.test(f))
      .map((f) => join(d, f)),
  );
}

t.test(`fault campaign: ${cases.length} bad inputs each end in one clear line`, async (t) => {
  const counts: Record<Outcome, number> = { 'clear error': 0, 'stack trace': 0, 'internal message': 0, hang: 0, accepted: 0, 'temp file left': 0 };
  const results: { c: Case; outcome: Outcome; line: string }[] = [];
  const queue = [...cases];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const cwd = mkdtempSync(join(root, 'cwd-'));
      const r = await runCase(c, cwd);
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => l && !l.startsWith('bitlearn: warning:') && !l.startsWith('(Did you mean'));
      let outcome: Outcome = 'clear error';
      if (r.timedOut) outcome = 'hang';
      else if (r.status === 0) outcome = 'accepted';
      else if (/^\s+at /m.test(r.stderr)) outcome = 'stack trace';
      else if (INTERNAL.test(r.stderr) || lines.length !== 1) outcome = 'internal message';
      else if (leftovers([cwd]).length) outcome = 'temp file left';
      counts[outcome]++;
      results.push({ c, outcome, line: lines.join(' / ').slice(0, 300) });
    }
  };
  await Promise.all([worker(), worker()]);
  for (const { c, outcome, line } of results.sort((a, b) => cases.indexOf(a.c) - cases.indexOf(b.c))) {
    t.equal(outcome, 'clear error', `${c.what}: ${line}`);
    if (outcome === 'clear error') t.match(line, c.expect, `${c.what}: says why`);
  }
  t.same(leftovers([root, dirPath, goodDir]), [], 'no temp, probe or lock file left beside the inputs');
  t.comment(
    `fault campaign (${CLI}): ${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
});
