// The runnable examples run as a user runs them and do what they say.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { tempDir } from './helpers.js';

const LOADER = './node_modules/@tapjs/typescript/dist/esm/import.mjs';

t.test('examples/csv-data.ts: trains a binary MLP on a CSV file from the library', async (t) => {
  const r = spawnSync(process.execPath, [`--import=${LOADER}`, 'examples/csv-data.ts'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /720 training rows, 180 test rows, 3 features, classes ok, warn, alarm/);
  const accuracy = Number(/test accuracy: ([\d.]+)%/.exec(r.stdout)?.[1]);
  t.ok(accuracy >= 90, `test accuracy ${accuracy}%`);
});

t.test('examples/own-data.ts: trains on arrays, saves, reloads and predicts', async (t) => {
  const r = spawnSync(process.execPath, [`--import=${LOADER}`, 'examples/own-data.ts'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /engine memory at batch 50: [\d.]+ KiB/);
  const accuracy = Number(/test accuracy after 8 epochs: ([\d.]+)%/.exec(r.stdout)?.[1]);
  t.ok(accuracy >= 90, `test accuracy ${accuracy}%`);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('example '));
  t.equal(lines.length, 6, 'a prediction per new example');
  const right = lines.filter((l) => {
    const m = /: (\w+) \(p = ([\d.]+)\), truth (\w+)/.exec(l);
    return m && m[1] === m[3];
  });
  t.ok(right.length >= 4, `${right.length} of 6 predictions right`);
});

t.test('examples/packed-model.ts: fine-tunes the shipped MLP, packs it, classifies with the packed file', async (t) => {
  const r = spawnSync(process.execPath, [`--import=${LOADER}`, 'examples/packed-model.ts'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, r.stderr);
  const accuracy = Number(/fine-tuned: test accuracy ([\d.]+)%/.exec(r.stdout)?.[1]);
  t.ok(accuracy >= 90, `test accuracy ${accuracy}%`);
  const bytes = Number(/packed model: (\d+) bytes/.exec(r.stdout)?.[1]);
  t.ok(bytes > 0 && bytes <= 64 * 1024, `${bytes} bytes`);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('digit '));
  t.equal(lines.length, 5);
  const right = lines.filter((l) => {
    const m = /: (\d) \(p = [\d.]+\), truth (\d)/.exec(l);
    return m && m[1] === m[2];
  });
  t.ok(right.length >= 4, `${right.length} of 5 right`);
});

t.test('examples/fashion-mnist-idx.mjs: the fashion-mnist package layout becomes MNIST-format files train reads', async (t) => {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = tempDir('bitlearn-fashion-');
  const clothes = join(dir, 'clothes');
  mkdirSync(clothes);
  // 10 classes of 5 images (class 0 with an empty entry, as the package has), pixel value = class * 20
  for (let c = 0; c < 10; c++) {
    const images = Array.from({ length: 5 }, () => Array.from({ length: 784 }, () => c * 20));
    writeFileSync(join(clothes, `${c}.json`), JSON.stringify({ data: c === 0 ? [...images.slice(0, 2), [], ...images.slice(2)] : images }));
  }
  const out = join(dir, 'idx');
  const r = spawnSync(process.execPath, ['examples/fashion-mnist-idx.mjs', out, clothes, '3'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /30 training and 20 test images/);
  const tr = spawnSync(
    process.execPath,
    ['build/src/cli/main.js', 'train', '--data', 'mnist', '--data-dir', out, '--epochs', '3', '--batch', '10', '--no-checkpoint', '--json', '--quiet'],
    {
      encoding: 'utf8',
    },
  );
  t.equal(tr.status, 0, tr.stderr);
  const rep = JSON.parse(tr.stdout);
  t.equal(rep.config.trainExamples, 30);
  t.equal(rep.config.testExamples, 20);
});
