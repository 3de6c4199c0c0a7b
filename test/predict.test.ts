// `bitlearn predict`: a checkpoint's classes and probabilities for new inputs, prepared as training
// prepared its data; CSV (labels optional), NumPy X, image folders; CSV and JSON output.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pngjs from 'pngjs';
import t from 'tap';
import { loadInputs } from '../src/data/own.js';
import { loadTrainedNetwork } from '../src/model/load.js';
import { featureNormalization } from '../src/model/predict.js';
import { Rng } from '../src/rng.js';
import { tempDir } from './helpers.js';

const CLI = join(process.cwd(), 'build/src/cli/main.js');
const dir = tempDir('bitlearn-predict-');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

// three classes of points in 4 features, far apart; labels as names
const rng = new Rng(12);
const rows = (n: number) =>
  Array.from({ length: n }, (_, i) => {
    const c = i % 3;
    return [...Array.from({ length: 4 }, (_, k) => (10 * (k === c ? 1 : 0) + rng.normal() + 50 * k).toFixed(3)), ['red', 'green', 'blue'][c]];
  });
const train = join(dir, 'train.csv');
const test = join(dir, 'test.csv');
const head = 'a,b,c,d,colour';
writeFileSync(train, `${head}\n${rows(300).join('\n')}\n`);
const testRows = rows(30);
writeFileSync(test, `${head}\n${testRows.join('\n')}\n`);
const model = join(dir, 'net.json');
writeFileSync(model, JSON.stringify({ name: 'points', input: { features: 4 }, classes: 3, layers: [{ type: 'dense', units: 64 }] }));
const ckpt = join(dir, 'points.ckpt');

t.test('predict on a CSV: the classes the library computes, the class names, CSV and JSON output', async (t) => {
  const r = cli('train', '--model', model, '--data', `csv:${train}`, '--label', 'colour', '--epochs', '12', '--batch', '30', '--checkpoint', ckpt, '--quiet');
  t.equal(r.status, 0, r.stderr);
  const p = cli('predict', ckpt, '--input', `csv:${test}`, '--label', 'colour');
  t.equal(p.status, 0, p.stderr);
  const lines = p.stdout.trim().split('\n');
  t.equal(lines[0], 'example,class,p_red,p_green,p_blue', 'header with the class names');
  t.equal(lines.length, 31);
  const predicted = lines.slice(1).map((l) => l.split(',')[1]);
  const right = predicted.filter((c, i) => c === testRows[i][4]).length;
  t.ok(right >= 27, `${right}/30 right`);
  for (const l of lines.slice(1)) {
    const ps = l.split(',').slice(2).map(Number);
    t.ok(Math.abs(ps.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'probabilities sum to 1');
  }
  // the library: the same inputs, the same classes
  const loaded = loadTrainedNetwork(ckpt);
  const { data } = await loadInputs(`csv:${test}`, {
    label: 'colour',
    shape: loaded.spec.input,
    normalization: featureNormalization(loaded.input),
  });
  const classes = new Int32Array(data.count);
  loaded.network.predict(data, classes);
  t.same(
    Array.from(classes, (c) => loaded.input.classNames![c]),
    predicted,
    'CLI == library',
  );
  loaded.network.dispose();
  // JSON to a file
  const out = join(dir, 'predictions.json');
  const j = cli('predict', ckpt, '--input', `csv:${test}`, '--label', 'colour', '--json', '--out', out, '--batch', '7');
  t.equal(j.status, 0, j.stderr);
  const doc = JSON.parse(readFileSync(out, 'utf8'));
  t.same(doc.classes, ['red', 'green', 'blue']);
  t.same(
    doc.predictions.map((p: { class: string }) => p.class),
    predicted,
    'the same with another batch size, as JSON',
  );
  // a CSV without the label column
  const unlabeled = join(dir, 'unlabeled.csv');
  writeFileSync(unlabeled, `a,b,c,d\n${testRows.map((r) => r.slice(0, 4).join(',')).join('\n')}\n`);
  const u = cli('predict', ckpt, '--input', `csv:${unlabeled}`);
  t.equal(u.status, 0, u.stderr);
  t.same(
    u.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[1]),
    predicted,
  );
});

t.test('predict: bad input gets one clear line and writes nothing', async (t) => {
  const bad = join(dir, 'three.csv');
  writeFileSync(bad, 'a,b,c\n1,2,3\n');
  const cases: [string[], RegExp][] = [
    [[ckpt, '--input', `csv:${bad}`], /3 features per example, the model takes 4/],
    [[join(dir, 'none.ckpt'), '--input', `csv:${test}`], /none\.ckpt/],
    [[ckpt, '--input', `csv:${test}`], /column "colour": "red" is not a number/],
    [[ckpt, '--input', 'test.csv'], /--input test\.csv: csv:FILE, npy:X\.npy or images:DIR/],
    [[ckpt, '--input', `csv:${test}`, '--label', 'colour', '--out', join(test, 'p.csv')], /--out .*test\.csv\/p\.csv: a part of the path is not a directory/],
  ];
  for (const [args, want] of cases) {
    const r = cli('predict', ...args);
    t.equal(r.status, 1, `${args.join(' ')}: exit 1`);
    t.match(r.stderr, want);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  t.notOk(existsSync(join(dir, 'p.csv')), 'nothing written');
});

t.test('predict on images: a flat folder of PNGs, named by file', async (t) => {
  const folder = join(dir, 'shapes');
  const make = (path: string, top: boolean) => {
    const png = new pngjs.PNG({ width: 12, height: 12 });
    for (let y = 0; y < 12; y++)
      for (let x = 0; x < 12; x++) {
        const v = Math.max(0, Math.min(255, Math.round((y < 6 === top ? 190 : 50) + 30 * rng.normal())));
        png.data.set([v, v, v, 255], (y * 12 + x) * 4);
      }
    writeFileSync(path, pngjs.PNG.sync.write(png));
  };
  for (const name of ['top', 'bottom']) {
    mkdirSync(join(folder, name), { recursive: true });
    for (let i = 0; i < 30; i++) make(join(folder, name, `${i}.png`), name === 'top');
  }
  const conv = join(dir, 'conv.json');
  writeFileSync(
    conv,
    JSON.stringify({
      input: { height: 8, width: 8, channels: 1 },
      classes: 2,
      layers: [{ type: 'conv', filters: 32 }, { type: 'maxpool' }, { type: 'dense', units: 32 }],
    }),
  );
  const ck = join(dir, 'shapes.ckpt');
  const r = cli('train', '--model', conv, '--data', `images:${folder}`, '--epochs', '6', '--batch', '12', '--checkpoint', ck, '--quiet');
  t.equal(r.status, 0, r.stderr);
  const fresh = join(dir, 'fresh');
  mkdirSync(fresh);
  make(join(fresh, 'a-top.png'), true);
  make(join(fresh, 'b-bottom.png'), false);
  const p = cli('predict', ck, '--input', `images:${fresh}`, '--json');
  t.equal(p.status, 0, p.stderr);
  const doc = JSON.parse(p.stdout);
  t.same(
    doc.predictions.map((x: { example: string }) => x.example),
    [join(fresh, 'a-top.png'), join(fresh, 'b-bottom.png')],
  );
  t.same(
    doc.predictions.map((x: { class: string }) => x.class),
    ['top', 'bottom'],
  );
  const wrong = cli('predict', ck, '--input', `csv:${test}`, '--label', 'colour');
  t.equal(wrong.status, 1);
  t.match(wrong.stderr, /(trained on images|values per example)/);
});

t.test('a vector model (the shipped MNIST MLP) predicts a folder of 28x28 PNG digits, as its checkpoint evaluates them', async (t) => {
  const { loadData } = await import('../src/data/registry.js');
  const test = loadData('mnist', { limitTrain: 2, limitTest: 12 }).test;
  const digits = join(dir, 'digits');
  mkdirSync(digits);
  for (let i = 0; i < 12; i++) {
    const png = new pngjs.PNG({ width: 28, height: 28 });
    for (let p = 0; p < 784; p++) png.data.set([test.images[i * 784 + p], test.images[i * 784 + p], test.images[i * 784 + p], 255], 4 * p);
    writeFileSync(join(digits, `d${String(i).padStart(2, '0')}.png`), pngjs.PNG.sync.write(png));
  }
  const r = cli('predict', 'mlp-mnist', '--input', `images:${digits}`, '--format', 'json');
  t.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout).predictions.map((p: { class: string }) => Number(p.class));
  const m = loadTrainedNetwork('mlp-mnist');
  const want = new Int32Array(12);
  m.network.evaluate(test, want);
  m.network.dispose();
  t.same(got, Array.from(want), 'the same classes as evaluating the MNIST images themselves');
});
