// `train --init`: start from another run's tensors (any recipe keeping latent weights), a new
// classifier with --new-head, and clear refusals.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadOwnData, parseDataSource } from '../src/data/own.js';
import { selectKernels } from '../src/kernels/select.js';
import { loadTrainedNetwork } from '../src/model/load.js';
import { Network } from '../src/model/network.js';
import { Rng } from '../src/rng.js';
import { initFromCheckpoint } from '../src/train/init.js';
import { tempDir } from './helpers.js';

const CLI = join(process.cwd(), 'build/src/cli/main.js');
const dir = tempDir('bitlearn-init-');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

// 4 classes of points in 6 features
const rng = new Rng(21);
const csv = (path: string, n: number, classes: number) => {
  const rows = Array.from({ length: n }, (_, i) => {
    const c = i % classes;
    return [...Array.from({ length: 6 }, (_, k) => (8 * (k % classes === c ? 1 : 0) + rng.normal()).toFixed(3)), String(c)].join(',');
  });
  writeFileSync(path, `f0,f1,f2,f3,f4,f5,y\n${rows.join('\n')}\n`);
};
const data4 = join(dir, 'four.csv');
const data3 = join(dir, 'three.csv');
csv(data4, 400, 4);
csv(data3, 300, 3);
const model = (classes: number) => {
  const p = join(dir, `net${classes}.json`);
  writeFileSync(
    p,
    JSON.stringify({
      name: `net${classes}`,
      input: { features: 6 },
      classes,
      layers: [
        { type: 'dense', units: 64 },
        { type: 'dense', units: 64 },
      ],
    }),
  );
  return p;
};
const trainRun = (...args: string[]) => cli('train', '--label', 'y', '--batch', '25', '--quiet', '--json', ...args);

t.test('--init copies every tensor: without re-estimation the network evaluates as the checkpoint does', async (t) => {
  const ck = join(dir, 'low.ckpt');
  const r = trainRun('--model', model(4), '--data', `csv:${data4}`, '--recipe', 'low-memory', '--epochs', '3', '--checkpoint', ck);
  t.equal(r.status, 0, r.stderr);
  const loaded = loadTrainedNetwork(ck);
  const data = await loadOwnData(parseDataSource(`csv:${data4}`)!, { label: 'y', seed: 1 });
  const want = loaded.network.evaluate(data.test);
  // a fresh network of the same recipe (low-memory: float16 latent weights) and one of another (standard: float32)
  for (const recipe of [loaded.recipe, { ...loaded.recipe, weights: 'float32' as const }]) {
    const net = new Network({ spec: loaded.spec, recipe, batch: 100, kernels: selectKernels('auto'), seed: 9, threads: 1 });
    const report = initFromCheckpoint(ck, net, loaded.spec, { newHead: false, data: data.train, recalibrate: 0 });
    t.equal(report.fresh.length, 0);
    const got = net.evaluate(data.test);
    t.equal(got.accuracy, want.accuracy, `weights ${recipe.weights}: the checkpoint's accuracy`);
    if (recipe.weights === loaded.recipe.weights) t.equal(got.loss, want.loss, 'and its loss');
    net.dispose();
  }
  loaded.network.dispose();
});

t.test('--init from another recipe trains on from there; --new-head adapts to other classes', async (t) => {
  const ck = join(dir, 'base.ckpt');
  let r = trainRun('--model', model(4), '--data', `csv:${data4}`, '--recipe', 'low-memory', '--epochs', '4', '--checkpoint', ck);
  t.equal(r.status, 0, r.stderr);
  const base = JSON.parse(r.stdout).history.at(-1).testAccuracy;
  r = cli(
    'train',
    '--label',
    'y',
    '--batch',
    '25',
    '--json',
    '--model',
    model(4),
    '--data',
    `csv:${data4}`,
    '--recipe',
    'standard',
    '--epochs',
    '1',
    '--init',
    ck,
    '--no-checkpoint',
  );
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.equal(report.initializedFrom.copied, 12, 'every weight and batch-norm tensor (3 weights, 3 x beta, mean, sigma)');
  t.match(r.stderr, /initialized from .*base\.ckpt: 12 tensors/);
  t.ok(report.history[0].testAccuracy >= base - 0.1, `starts where the checkpoint was (${report.history[0].testAccuracy} vs ${base})`);
  // three classes: the classifier does not fit
  r = trainRun('--model', model(3), '--data', `csv:${data3}`, '--epochs', '1', '--init', ck, '--no-checkpoint');
  t.equal(r.status, 1);
  t.match(r.stderr, /--init .*base\.ckpt does not fit model net3: fc3\.W \(checkpoint Uint16Array\[256\], this model Float16|fc3\.W \(checkpoint/);
  t.match(r.stderr, /--new-head replaces the classifier/);
  r = trainRun('--model', model(3), '--data', `csv:${data3}`, '--epochs', '2', '--init', ck, '--new-head', '--no-checkpoint');
  t.equal(r.status, 0, r.stderr);
  const adapted = JSON.parse(r.stdout);
  t.same(adapted.initializedFrom.fresh.sort(), ['bn3.beta', 'bn3.runMean', 'bn3.runSigma', 'fc3.W'], 'the classifier starts fresh');
  t.ok(adapted.history.at(-1).testAccuracy > 0.6, `learns the new classes (${adapted.history.at(-1).testAccuracy})`);
});

t.test('--init refusals: one clear line each', async (t) => {
  const tiny = join(dir, 'tiny.ckpt');
  let r = trainRun('--model', model(4), '--data', `csv:${data4}`, '--recipe', 'tiny', '--epochs', '1', '--checkpoint', tiny);
  t.equal(r.status, 0, r.stderr);
  // tiny's sign bits start a latent-weight run (±σ, the signs kept)
  const fromBits = trainRun(
    '--model',
    model(4),
    '--data',
    `csv:${data4}`,
    '--recipe',
    'standard',
    '--init',
    tiny,
    '--no-checkpoint',
    '--epochs',
    '1',
    '--json',
  );
  t.equal(fromBits.status, 0, fromBits.stderr);
  t.same(JSON.parse(fromBits.stdout).initializedFrom.fresh, [], 'every tensor of the tiny checkpoint taken');
  const other = trainRun('--model', model(3), '--data', `csv:${data3}`, '--init', tiny, '--no-checkpoint', '--epochs', '1');
  t.match(other.stderr, /fc3\.W \(checkpoint Uint32Array\[\d+\], this model (Uint16|Float32)Array\[\d+\]\)/, 'a classifier of another size: named');
  const cases: [string[], RegExp][] = [
    [['--model', model(4), '--data', `csv:${data4}`, '--init', join(dir, 'none.ckpt'), '--no-checkpoint'], /--init .*none\.ckpt: /],
    [['--model', model(4), '--data', `csv:${data4}`, '--init', tiny, '--resume', '--checkpoint', tiny], /--init starts a new run .* give one of them/],
    [
      ['--model', model(4), '--data', `csv:${data4}`, '--new-head', '--no-checkpoint'],
      /--new-head replaces the classifier of the --init checkpoint: give --init/,
    ],
  ];
  for (const [args, want] of cases) {
    r = trainRun('--epochs', '1', ...args);
    t.equal(r.status, 1, args.join(' '));
    t.match(r.stderr, want);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  // tiny into tiny fits (bits into bits)
  r = trainRun('--model', model(4), '--data', `csv:${data4}`, '--recipe', 'tiny', '--epochs', '1', '--init', tiny, '--no-checkpoint');
  t.equal(r.status, 0, r.stderr);
});
