// Your own data: CSV, NumPy pairs and image folders, their splits and standardization, their
// bad-input errors, and training on them from the CLI.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import t from 'tap';
import { readCheckpoint } from '../src/checkpoint.js';
import { stageRows, type Dataset } from '../src/data/dataset.js';
import { loadOwnData, parseDataSource, type OwnDataOptions } from '../src/data/own.js';
import { Rng } from '../src/rng.js';
import { tempDir } from './helpers.js';

const CLI = join(process.cwd(), 'build/src/cli/main.js');
const dir = tempDir('bitlearn-own-');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/** A .npy file (version 1.0, C order) of `dtype` ('<f4', '<f8', '<i8', '|u1', ...) and shape. */
function npy(path: string, dtype: string, shape: number[], data: ArrayBufferView): void {
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += `${' '.repeat(63 - ((10 + header.length) % 64))}\n`;
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

// a 3-class problem on 5 features: class = which of three centres a point is near
const N = 600;
const F = 5;
const rng = new Rng(3);
const X = new Float32Array(N * F);
const Y = new Int32Array(N);
for (let i = 0; i < N; i++) {
  Y[i] = rng.int(3);
  for (let k = 0; k < F; k++) X[i * F + k] = Math.fround(100 + 10 * (k === Y[i] ? 3 : 0) + 5 * rng.normal() + k * 1000);
}
const header = ['f0', 'f1', 'label', 'f2', 'f3', 'f4'];
const csvRow = (i: number) => [X[i * F], X[i * F + 1], `c${Y[i]}`, X[i * F + 2], X[i * F + 3], X[i * F + 4]].join(',');
const csvPath = join(dir, 'points.csv');
writeFileSync(csvPath, `${header.join(',')}\n${Array.from({ length: N }, (_, i) => csvRow(i)).join('\n')}\n`);
const numericCsv = join(dir, 'numeric.csv');
writeFileSync(numericCsv, `${header.join(',')}\n${Array.from({ length: N }, (_, i) => csvRow(i).replace(`c${Y[i]}`, String(Y[i]))).join('\n')}\n`);
npy(join(dir, 'x.npy'), '<f4', [N, F], X);
npy(join(dir, 'x64.npy'), '<f8', [N, F], Float64Array.from(X));
npy(
  join(dir, 'y.npy'),
  '<i8',
  [N],
  BigInt64Array.from(Y, (v) => BigInt(v)),
);
const base: OwnDataOptions = { shape: { h: 1, w: 1, c: F }, seed: 7 };

function allRows(d: Dataset): { values: number[]; labels: number[] } {
  const order = Int32Array.from({ length: d.count }, (_, i) => i);
  const s = stageRows(d, order, 0, d.count);
  return { values: Array.from(s.data.values!.subarray(0, d.count * d.features)), labels: Array.from(s.data.labels.subarray(0, d.count)) };
}

t.test('CSV: label column by name, seeded validation split, standardization from the training split', async (t) => {
  const split = await loadOwnData(parseDataSource(`csv:${numericCsv}`)!, { ...base, label: 'label' });
  t.equal(split.train.count + split.test.count, N);
  t.equal(split.test.count, 120, 'default validation split 0.2');
  t.equal(split.train.features, F);
  t.equal(split.train.classes, 3);
  t.ok(split.train.streamed, 'streamed from its row file by default');
  const train = allRows(split.train);
  // training features are standardized: mean 0, variance 1 per feature
  for (let k = 0; k < F; k++) {
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < split.train.count; i++) {
      s += train.values[i * F + k];
      s2 += train.values[i * F + k] ** 2;
    }
    t.ok(Math.abs(s / split.train.count) < 1e-4, `feature ${k}: mean 0`);
    t.ok(Math.abs(s2 / split.train.count - 1) < 1e-3, `feature ${k}: variance 1`);
  }
  const again = await loadOwnData(parseDataSource(`csv:${numericCsv}`)!, { ...base, label: 'label', stream: false });
  t.same(allRows(again.train), train, 'in memory == streamed, and the split is seeded');
  t.same(Array.from(again.train.normalization!.mean), Array.from(split.train.normalization!.mean));
  const names = await loadOwnData(parseDataSource(`csv:${csvPath}`)!, { ...base, label: 'label' });
  const firstSeen = [...new Set(Array.from(Y, (y) => `c${y}`))];
  t.same(names.train.classNames, firstSeen, 'class names numbered in the order they first appear');
  t.equal(names.train.classNames!.length, 3);
  const picked = await loadOwnData(parseDataSource(`csv:${numericCsv}`)!, { ...base, shape: { h: 1, w: 1, c: 2 }, label: 'label', features: ['f3', 'f0'] });
  t.equal(picked.train.features, 2, '--features picks columns');
});

t.test('npy pairs give the same data as the same numbers in CSV (float32 streamed as is, float64 converted)', async (t) => {
  const fromCsv = await loadOwnData(parseDataSource(`csv:${numericCsv}`)!, { ...base, label: 'label' });
  for (const x of ['x.npy', 'x64.npy']) {
    const fromNpy = await loadOwnData(parseDataSource(`npy:${join(dir, x)},${join(dir, 'y.npy')}`)!, base);
    t.same(allRows(fromNpy.train), allRows(fromCsv.train), `${x}: training split`);
    t.same(allRows(fromNpy.test), allRows(fromCsv.test), `${x}: test split`);
  }
  // and training on them gives the same run
  const model = join(dir, 'mlp5.json');
  writeFileSync(model, JSON.stringify({ input: { features: F }, classes: 3, layers: [{ type: 'dense', units: 64 }] }));
  const run = (data: string[]) => {
    const r = cli('train', '--model', model, ...data, '--batch', '40', '--epochs', '3', '--no-checkpoint', '--quiet', '--json', '--threads', '1');
    t.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout).history.map((h: { trainLoss: number; testAccuracy: number }) => [h.trainLoss, h.testAccuracy]);
  };
  const a = run(['--data', `csv:${numericCsv}`, '--label', 'label']);
  const b = run(['--data', `npy:${join(dir, 'x.npy')},${join(dir, 'y.npy')}`]);
  t.same(b, a, 'same losses and accuracies from .npy and from CSV');
  t.ok(a.at(-1)[1] > 0.9, `the points are learned (test accuracy ${a.at(-1)[1]})`);
  // the coherence experiments take the same sources (real and random labels on the CSV)
  const coh = cli(
    'coherence',
    '--model',
    model,
    '--data',
    `csv:${numericCsv}`,
    '--label',
    'label',
    '--epochs',
    '1',
    '--batch',
    '40',
    '--every',
    '2',
    '--json',
    '--quiet',
  );
  t.equal(coh.status, 0, coh.stderr);
  const runs = JSON.parse(coh.stdout).runs as { labelNoise: number; epochs: unknown[] }[];
  t.same(
    runs.map((r) => r.labelNoise),
    [0, 1],
    'coherence on a CSV: a run with real and one with random labels',
  );
  const wrong = cli('coherence', '--model', model, '--label', 'label', '--epochs', '1', '--quiet');
  t.equal(wrong.status, 1);
  t.match(
    wrong.stderr.trim(),
    /^bitlearn: error: --label, --features, --test and --val-split apply to your own data/,
    'own-data options on a built-in set: one line',
  );
});

t.test('a CSV trains from the CLI with a test file; the checkpoint keeps the standardization and class names', async (t) => {
  const trainCsv = join(dir, 'train.csv');
  const testCsv = join(dir, 'test.csv');
  writeFileSync(trainCsv, `${header.join(',')}\n${Array.from({ length: 500 }, (_, i) => csvRow(i)).join('\n')}\n`);
  writeFileSync(testCsv, `${header.join(',')}\n${Array.from({ length: 100 }, (_, i) => csvRow(500 + i)).join('\n')}\n`);
  const model = join(dir, 'net.json');
  writeFileSync(model, JSON.stringify({ name: 'points', input: { features: F }, classes: 3, layers: [{ type: 'dense', units: 64 }] }));
  const ckpt = join(dir, 'points.ckpt');
  const r = cli(
    'train',
    '--model',
    model,
    '--data',
    `csv:${trainCsv}`,
    '--label',
    'label',
    '--test',
    `csv:${testCsv}`,
    '--batch',
    '50',
    '--epochs',
    '2',
    '--checkpoint',
    ckpt,
    '--quiet',
    '--json',
  );
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.equal(report.config.trainExamples, 500);
  t.equal(report.config.testExamples, 100);
  const meta = readCheckpoint(ckpt).meta as { input: { kind: string; normalization: { mean: number[]; std: number[] }; classNames: string[] } };
  t.equal(meta.input.kind, 'features');
  t.equal(meta.input.normalization.mean.length, F);
  t.ok(Math.abs(meta.input.normalization.mean[4] - 4100) < 5, `feature 4's mean (${meta.input.normalization.mean[4]})`);
  t.equal(meta.input.classNames.length, 3);
  // export --verify on the user's own file: the packed file and the checkpoint agree on every
  // example of the test CSV, prepared with the checkpoint's standardization and class names
  const out = join(dir, 'points-packed');
  const v = cli('export', ckpt, '--format', 'packed', '--out', out, '--verify', '--data', `csv:${testCsv}`, '--label', 'label', '--json');
  t.equal(v.status, 0, v.stderr);
  const verify = JSON.parse(v.stdout).verify as { examples: number; agree: number; accuracy?: number };
  t.equal(verify.examples, 100, 'verified on the 100 rows of test.csv');
  t.equal(verify.agree, 100, 'every class the same');
  // a label the model never saw: one line naming the file and line, nothing written
  const strange = join(dir, 'strange.csv');
  writeFileSync(
    strange,
    `${header.join(',')}
${csvRow(0)}
${csvRow(1).replace(/c\d/, 'c9')}
`,
  );
  const none = join(dir, 'not-written');
  const bad = cli('export', ckpt, '--format', 'packed', '--out', none, '--verify', '--data', `csv:${strange}`, '--label', 'label');
  t.equal(bad.status, 1);
  t.match(bad.stderr.trim(), /^bitlearn: error: .*strange\.csv line 3: label "c9" is not one of the training classes/);
  t.notOk(existsSync(none), 'no export written');
  const noLabel = cli('export', ckpt, '--format', 'packed', '--out', none, '--verify', '--label', 'label');
  t.match(noLabel.stderr.trim(), /^bitlearn: error: --label and --features apply to your own data/, '--label with a built-in set: one line');
});

t.test('image folders: PNG and JPEG, resized and turned grayscale, train a model file', async (t) => {
  const images = join(dir, 'shapes');
  // two classes: bright left half, bright right half; 20x16 PNGs and 24x24 JPEGs
  for (const [c, name] of ['left', 'right'].entries()) {
    mkdirSync(join(images, name), { recursive: true });
    for (let i = 0; i < 30; i++) {
      const [w, h] = i % 2 ? [20, 16] : [24, 24];
      const data = Buffer.alloc(w * h * 4);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const bright = x < w / 2 === (c === 0);
          const v = Math.max(0, Math.min(255, Math.round((bright ? 170 : 70) + 40 * rng.normal())));
          data.set([v, v, v, 255], (y * w + x) * 4);
        }
      const file = join(images, name, `${i}.${i % 2 ? 'png' : 'jpg'}`);
      if (i % 2) {
        const png = new pngjs.PNG({ width: w, height: h });
        data.copy(png.data);
        writeFileSync(file, pngjs.PNG.sync.write(png));
      } else writeFileSync(file, jpeg.encode({ width: w, height: h, data }, 90).data);
    }
  }
  writeFileSync(join(images, 'left', 'notes.txt'), 'not an image');
  const split = await loadOwnData(parseDataSource(`images:${images}`)!, { ...base, shape: { h: 8, w: 8, c: 1 } });
  t.equal(split.train.count + split.test.count, 60);
  t.same(split.train.shape, { h: 8, w: 8, c: 1 });
  t.same(split.train.classNames, ['left', 'right']);
  // a left-class image: left columns bright, right columns dark
  const i = split.train.labels.indexOf(0);
  const px = split.train.images.subarray(i * 64, i * 64 + 64);
  t.ok(px[0] > 150 && px[7] < 80, `resized image keeps its halves (${px[0]}, ${px[7]})`);
  const model = join(dir, 'tiny-conv.json');
  writeFileSync(
    model,
    JSON.stringify({
      input: { height: 8, width: 8, channels: 1 },
      classes: 2,
      layers: [{ type: 'conv', filters: 32 }, { type: 'maxpool' }, { type: 'dense', units: 32 }],
    }),
  );
  const r = cli('train', '--model', model, '--data', `images:${images}`, '--batch', '12', '--epochs', '4', '--no-checkpoint', '--quiet', '--json');
  t.equal(r.status, 0, r.stderr);
  const accuracy = JSON.parse(r.stdout).history.at(-1).testAccuracy;
  t.ok(accuracy >= 0.75, `learns left from right (test accuracy ${accuracy})`);
});

t.test('bad data: one clear error naming the file and the line or index, nothing trained', async (t) => {
  const bad = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const model = join(dir, 'two.json');
  writeFileSync(model, JSON.stringify({ input: { features: 2 }, classes: 2, layers: [] }));
  const cases: [string[], RegExp][] = [
    [['--data', `csv:${bad('nan.csv', 'a,b,y\n1,2,0\n1,x,1\n')}`, '--label', 'y'], /nan\.csv line 3, column "b": "x" is not a number/],
    [['--data', `csv:${bad('empty-cell.csv', 'a,b,y\n1,,0\n')}`, '--label', 'y'], /empty-cell\.csv line 2, column "b": "" is not a number/],
    [['--data', `csv:${bad('ragged.csv', 'a,b,y\n1,2,0\n1,2\n')}`, '--label', 'y'], /ragged\.csv line 3: 2 cells, the header has 3/],
    [['--data', `csv:${bad('nolabel.csv', 'a,b,y\n1,2,0\n')}`, '--label', 'class'], /nolabel\.csv: no column "class" for the label \(columns: "a", "b", "y"\)/],
    [['--data', `csv:${bad('header.csv', 'a,b,y\n')}`, '--label', 'y'], /header\.csv: a header and no examples/],
    [['--data', `csv:${join(dir, 'missing.csv')}`, '--label', 'y'], /missing\.csv: cannot read it \(ENOENT\)/],
    [['--data', `csv:${csvPath}`], /name the label column with --label COLUMN/],
    [
      ['--data', `csv:${bad('tr.csv', 'a,b,y\n1,2,cat\n3,4,dog\n1,2,cat\n')}`, '--label', 'y', '--test', `csv:${bad('te.csv', 'a,b,y\n1,2,cat\n5,6,cow\n')}`],
      /te\.csv line 3: label "cow" is not one of the training classes \(cat, dog\)/,
    ],
    [['--data', `csv:${csvPath}`, '--label', 'label', '--val-split', '1.5'], /--val-split.*(invalid|between 0 and 1)/],
    [['--data', `npy:${join(dir, 'x.npy')}`], /npy takes two files, npy:X\.npy,Y\.npy/],
    [['--data', 'mnist', '--label', 'y'], /--label, --features, --test and --val-split apply to your own data/],
  ];
  for (const [args, want] of cases) {
    const r = cli('train', '--model', model, ...args, '--epochs', '1', '--batch', '1', '--no-checkpoint', '--quiet');
    t.ok(r.status === 1 || r.status === 2, `${args.join(' ')}: exit 1, or 2 for a usage error (${r.stderr.trim()})`);
    t.match(r.stderr, want);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.notMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
  // NumPy pairs
  const n = (name: string, dtype: string, shape: number[], data: ArrayBufferView) => {
    const p = join(dir, name);
    npy(p, dtype, shape, data);
    return p;
  };
  const y3 = n('y3.npy', '<i4', [3], Int32Array.of(0, 1, 0));
  const npyCases: [string, string, RegExp][] = [
    [n('x2.npy', '<f4', [2, 2], new Float32Array(4)), y3, /y3\.npy: 3 labels for 2 examples in x2\.npy/],
    [n('x3.npy', '<f4', [3, 2], Float32Array.of(1, 2, Number.NaN, 4, 5, 6)), y3, /x3\.npy: example 1, feature 0: NaN is not a finite number/],
    [n('xf.npy', '<f4', [3, 2], new Float32Array(6)), n('yf.npy', '<f4', [3], new Float32Array(3)), /yf\.npy: labels are 32-bit floats/],
    [n('xn.npy', '<f4', [3, 2], new Float32Array(6)), n('yn.npy', '<i4', [3], Int32Array.of(0, -1, 2)), /yn\.npy: index 1: label -1 is not a class index/],
    [n('x1.npy', '<f4', [6], new Float32Array(6)), y3, /x1\.npy: shape \(6\): X needs one row per example/],
    [bad('junk.npy', 'hello'), y3, /junk\.npy: not a NumPy \.npy file/],
  ];
  const trunc = join(dir, 'trunc.npy');
  npy(trunc, '<f4', [3, 2], new Float32Array(6));
  writeFileSync(trunc, (await import('node:fs')).readFileSync(trunc).subarray(0, 100));
  npyCases.push([trunc, y3, /trunc\.npy: \d+ bytes, the header declares \d+ .*truncated/]);
  for (const [x, y, want] of npyCases) {
    const r = cli('train', '--model', model, '--data', `npy:${x},${y}`, '--epochs', '1', '--batch', '1', '--no-checkpoint', '--quiet');
    t.equal(r.status, 1, `npy ${x}: exit 1`);
    t.match(r.stderr, want);
  }
  // image folders
  const imgs = join(dir, 'imgs');
  mkdirSync(join(imgs, 'a'), { recursive: true });
  mkdirSync(join(imgs, 'b'), { recursive: true });
  const png = new pngjs.PNG({ width: 4, height: 4 });
  writeFileSync(join(imgs, 'a', '1.png'), pngjs.PNG.sync.write(png));
  const img = (...args: string[]) =>
    cli('train', '--model', join(dir, 'tiny-img.json'), '--data', `images:${imgs}`, ...args, '--epochs', '1', '--batch', '1', '--no-checkpoint', '--quiet');
  writeFileSync(join(dir, 'tiny-img.json'), JSON.stringify({ input: { height: 4, width: 4, channels: 1 }, classes: 2, layers: [] }));
  let r = img();
  t.match(r.stderr, /imgs\/b: no \.png or \.jpg images in class folder "b"/);
  writeFileSync(join(imgs, 'b', 'broken.jpg'), 'not a jpeg');
  r = img();
  t.match(r.stderr, /broken\.jpg: cannot decode the image/);
  r = cli('train', '--model', join(dir, 'tiny-img.json'), '--data', `images:${join(dir, 'nowhere')}`, '--epochs', '1', '--no-checkpoint');
  t.match(r.stderr, /nowhere: cannot read the folder \(ENOENT\)/);
  // a model that does not fit the data
  r = cli('train', '--model', 'mlp', '--data', `csv:${numericCsv}`, '--label', 'label', '--epochs', '1', '--no-checkpoint');
  t.match(r.stderr, /model mlp takes 784 inputs per example, data set numeric\.csv has 5 \(a model file with "input": \{"features": 5\} takes them/);
});
