// The packed model file (export --format packed): the checkpoint's exact predictions and
// probabilities on every test example (dense, conv, pools, float and bit inputs, every recipe),
// thresholds equal to batch norm + sign on every integer input, and a damaged file refused.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadData } from '../src/data/registry.js';
import { decodePacked, encodePacked, PackedFileError, packCodes, unpackCodes } from '../src/formats/packed-file.js';
import { PackedModel } from '../src/export/packed-runner.js';
import { packedFile, signThresholds } from '../src/export/packed.js';
import { BatchNormLayer } from '../src/layers/batchnorm.js';
import { loadTrainedNetwork } from '../src/model/load.js';
import { predict } from '../src/model/predict.js';
import { Rng } from '../src/rng.js';
import { tempDir } from './helpers.js';

const CLI = join(process.cwd(), 'build/src/cli/main.js');
const dir = tempDir('bitlearn-packed-');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

function trainCkpt(t: Test, name: string, args: string[]): string {
  const ckpt = join(dir, `${name}.ckpt`);
  const r = cli('train', ...args, '--epochs', '1', '--checkpoint', ckpt, '--out', join(dir, `${name}-run`), '--quiet');
  t.equal(r.status, 0, r.stderr);
  return ckpt;
}

/**
 * The packed file's classes and probabilities == the checkpoint's on every test example, at batch
 * 1, 7 and 100, each on the kernel set the checkpoint is evaluated with (float32 sums of float
 * weights may differ in their last bit between the WebAssembly and the reference kernels; binary
 * and fixed-point sums are exact on both).
 */
function samePredictions(t: Test, ckpt: string, data: string, limitTest: number): Uint8Array {
  const test = loadData(data, { limitTrain: 2, limitTest }).test;
  let bytes: Uint8Array = new Uint8Array(0);
  for (const [kernels, batches] of [
    ['auto', [1, 100]],
    ['reference', [7]],
  ] as const) {
    const loaded = loadTrainedNetwork(ckpt, kernels);
    bytes = packedFile(loaded.network, loaded.spec, loaded.input, 'test');
    const K = loaded.spec.classes;
    const want = new Float32Array(test.count * K);
    const wantClasses = new Int32Array(test.count);
    loaded.network.evaluate(test, wantClasses, want);
    for (const batch of batches) {
      const packed = new PackedModel(bytes, 'model.blpk', { batch, kernels });
      const classes = new Int32Array(test.count);
      const probs = new Float32Array(test.count * K);
      packed.predict(test, classes, probs);
      t.same(classes, wantClasses, `${loaded.spec.name} (${loaded.recipeName}): the same ${test.count} classes, batch ${batch}, ${kernels} kernels`);
      t.same(probs, want, 'the same probabilities, bit for bit');
    }
    loaded.network.dispose();
  }
  return bytes;
}

t.test('binary MLP: the checkpoint exactly, in 64 KiB or less', async (t) => {
  for (const recipe of ['low-memory', 'standard', 'tiny']) {
    const ckpt = trainCkpt(t, `mlp-${recipe}`, ['--model', 'mlp', '--recipe', recipe, '--limit-train', '3000', '--limit-test', '10']);
    const bytes = samePredictions(t, ckpt, 'mnist', 2000);
    t.ok(bytes.length <= 64 * 1024, `${bytes.length} bytes <= 64 KiB`);
  }
});

t.test('conv nets: float-input and xnor convolutions, strides, kernels, max and average pools, pooling before batch norm', async (t) => {
  const ckpt = trainCkpt(t, 'mnist-conv', ['--model', 'mnist-conv', '--recipe', 'standard', '--limit-train', '500', '--limit-test', '10']);
  samePredictions(t, ckpt, 'mnist', 300);
  const model = join(dir, 'pools.json');
  writeFileSync(
    model,
    JSON.stringify({
      name: 'pools',
      input: { height: 32, width: 32, channels: 3 },
      classes: 10,
      poolBeforeBatchNorm: true,
      layers: [
        { type: 'conv', filters: 32, kernel: 5, stride: 2, padding: 'same' },
        { type: 'maxpool', size: 2 },
        { type: 'conv', filters: 32, kernel: 1 },
        { type: 'conv', filters: 64, padding: 'same' },
        { type: 'avgpool', size: 2 },
        { type: 'dense', units: 64 },
      ],
    }),
  );
  const c2 = trainCkpt(t, 'pools', [
    '--model',
    model,
    '--data',
    'synthetic-cifar',
    '--recipe',
    'tiny',
    '--limit-train',
    '200',
    '--limit-test',
    '10',
    '--batch',
    '50',
  ]);
  samePredictions(t, c2, 'synthetic-cifar', 200);
});

t.test('float features (standardized): float thresholds after the first layer; the library and the CLI on a packed file', async (t) => {
  const rng = new Rng(3);
  const rows = (n: number) =>
    Array.from({ length: n }, (_, i) => [
      ...Array.from({ length: 6 }, (_, k) => (3 * (k === i % 3 ? 1 : 0) + rng.normal() + 100 * k).toFixed(4)),
      String(i % 3),
    ]);
  const train = join(dir, 'f.csv');
  writeFileSync(train, `a,b,c,d,e,f,y\n${rows(300).join('\n')}\n`);
  const test = join(dir, 'ft.csv');
  writeFileSync(test, `a,b,c,d,e,f,y\n${rows(60).join('\n')}\n`);
  const model = join(dir, 'f.json');
  writeFileSync(model, JSON.stringify({ name: 'f', input: { features: 6 }, classes: 3, layers: [{ type: 'dense', units: 32 }] }));
  const ckpt = trainCkpt(t, 'features', ['--model', model, '--data', `csv:${train}`, '--label', 'y', '--batch', '30']);
  const ex = cli('export', ckpt, '--format', 'packed', '--out', join(dir, 'fx'), '--json');
  t.equal(ex.status, 0, ex.stderr);
  const file = JSON.parse(ex.stdout).files[0];
  const a = cli('predict', ckpt, '--input', `csv:${test}`, '--label', 'y');
  const b = cli('predict', file, '--input', `csv:${test}`, '--label', 'y', '--batch', '1');
  t.equal(b.status, 0, b.stderr);
  t.equal(b.stdout, a.stdout, 'predict on the packed file prints exactly what it prints for the checkpoint');
  const loaded = loadTrainedNetwork(ckpt);
  const x = Float32Array.from(rows(20).flatMap((r) => r.slice(0, 6).map(Number)));
  const packed = new PackedModel(readFileSync(file), file);
  t.same(packed.predictRows(x), predict(loaded, x), 'library: predictRows == predict on the checkpoint');
  loaded.network.dispose();
  const wrong = cli('predict', file, '--input', `csv:${train}`);
  t.equal(wrong.status, 1);
  t.match(wrong.stderr, /^bitlearn: error: --input csv:.*: 7 features per example, the model takes 6\n$/, 'an input of the wrong shape: one line');
});

t.test('thresholds: bit = z >= t is sign(batch norm(z)) for every integer z and for floats around t', async (t) => {
  const rng = new Rng(5);
  const ledger = { floats: (n: number) => new Float32Array(n), u8: (n: number) => new Uint8Array(n), u32: (n: number) => new Uint32Array(n) };
  const ws = { chan: new Float32Array(3 * 64) } as never;
  const bn = new BatchNormLayer('bn', 64, 'l2', 'exact', 4, ws, ledger as never);
  for (let c = 0; c < 64; c++) {
    bn.runMean[c] = Math.fround(rng.normal() * 20);
    bn.runSigma[c] = Math.fround(0.01 + Math.abs(rng.normal()) * 5);
    (bn.beta.raw as Float32Array)[c] = Math.fround(c < 2 ? (c ? 1e6 : -1e6) : rng.normal());
  }
  const sign = (z: number, c: number) => Math.fround((z - bn.runMean[c]) / bn.runSigma[c] + (bn.beta.raw as Float32Array)[c]) >= 0;
  const ti = signThresholds(bn, 100);
  let bad = 0;
  for (let c = 0; c < 64; c++) for (let z = -100; z <= 100; z++) if (z >= ti[c] !== sign(z, c)) bad++;
  t.equal(bad, 0, 'integer thresholds: 64 channels x 201 values');
  t.equal(ti[0], 101, 'a channel that is never +1');
  t.equal(ti[1], -100, 'a channel that is always +1');
  t.ok(ti instanceof Int16Array, 'int16 where the range fits');
  const tf = signThresholds(bn, null);
  bad = 0;
  for (let c = 0; c < 64; c++) {
    const zs = [
      tf[c],
      Math.fround(tf[c] * (1 - 2 ** -23)),
      Math.fround(tf[c] * (1 + 2 ** -23)),
      ...Array.from({ length: 50 }, () => Math.fround(rng.normal() * 40)),
    ];
    for (const z of zs) if (Number.isFinite(z) && z >= tf[c] !== sign(z, c)) bad++;
  }
  t.equal(bad, 0, 'float thresholds at, just below and just above t, and at random z');
});

t.test('a damaged or foreign file is refused with one line', async (t) => {
  const ckpt = join(dir, 'mlp-low-memory.ckpt');
  if (!existsSync(ckpt)) trainCkpt(t, 'mlp-low-memory', ['--model', 'mlp', '--limit-train', '500', '--limit-test', '10']);
  const out = join(dir, 'px');
  const r = cli('export', ckpt, '--format', 'packed', '--out', out);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /to .*model\.blpk: \d+ bytes/);
  const bytes = readFileSync(join(out, 'model.blpk'));
  const csv = join(dir, 'x.csv');
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated', bytes.subarray(0, bytes.length - 100), /checksum mismatch: the file was altered or truncated/],
    ['cut inside the header', bytes.subarray(0, 40), /truncated/],
    [
      'one byte changed',
      (() => {
        const b = Uint8Array.from(bytes);
        b[b.length >> 1] ^= 1;
        return b;
      })(),
      /checksum mismatch/,
    ],
    ['not packed', Buffer.from('hello world, this is not a model at all'), /not a bitlearn packed model/],
    [
      'another version',
      (() => {
        const b = Uint8Array.from(bytes);
        b[4] = 9;
        return b;
      })(),
      /packed format version 9, this bitlearn reads version 1/,
    ],
  ];
  for (const [what, b, re] of cases) {
    t.throws(() => new PackedModel(b, 'm.blpk'), re, what);
    const f = join(dir, `bad-${what.replace(/ /g, '-')}.blpk`);
    writeFileSync(f, b);
    const p = cli('predict', f, '--input', `csv:${csv}`, '--out', join(dir, 'never.csv'));
    t.equal(p.status, 1, `${what}: exit 1`);
    t.equal(p.stderr.split('\n').length, 2, `${what}: one line: ${p.stderr.trim()}`);
    t.notOk(existsSync(join(dir, 'never.csv')), 'nothing written');
  }
  // a header whose ops do not fit its arrays: refused before anything runs
  const { header, data } = decodePacked(bytes, 'x');
  const ops = header.ops as { weights?: { length: number } }[];
  ops[0].weights!.length -= 1;
  t.throws(() => new PackedModel(encodePacked(header, data), 'm.blpk'), /op 1 \(fc1\) weights: section out of bounds or of the wrong length/);
  t.ok(new PackedFileError('x') instanceof Error);
});

t.test('fixed-point, float and mixed models: integer weights with their exponent, the checkpoint exactly', async (t) => {
  for (const quant of ['w4a8', 'float']) {
    const ckpt = trainCkpt(t, `mlp-${quant}`, ['--model', 'mlp', '--quant', quant, '--limit-train', '1000', '--limit-test', '10']);
    const bytes = samePredictions(t, ckpt, 'mnist', 500);
    if (quant === 'w4a8') t.ok(bytes.length < 220_000, `4-bit weights packed 8 to a word: ${bytes.length} bytes`);
  }
  // a fixed-point conv net whose batch norms were folded into the weights
  const convModel = join(dir, 'qconv.json');
  writeFileSync(
    convModel,
    JSON.stringify({
      name: 'qconv',
      input: { height: 28, width: 28, channels: 1 },
      classes: 10,
      precision: 'w4a8',
      batchNormFoldAt: 0.5,
      layers: [{ type: 'conv', filters: 8, stride: 2 }, { type: 'maxpool' }, { type: 'conv', filters: 16, kernel: 1 }, { type: 'dense', units: 32 }],
    }),
  );
  const folded = trainCkpt(t, 'qconv', ['--model', convModel, '--recipe', 'standard', '--limit-train', '400', '--limit-test', '10']);
  samePredictions(t, folded, 'mnist', 200);
  const model = join(dir, 'mixed.json');
  writeFileSync(
    model,
    JSON.stringify({
      name: 'mixed',
      input: { height: 28, width: 28, channels: 1 },
      classes: 10,
      classifierPrecision: 'w8a8',
      layers: [
        { type: 'conv', filters: 16, kernel: 5, stride: 2, padding: 'same', precision: 'w8a8' },
        { type: 'conv', filters: 32, kernel: 1 },
        { type: 'maxpool' },
        { type: 'dense', units: 64 },
      ],
    }),
  );
  for (const recipe of ['standard', 'low-memory']) {
    const ckpt = trainCkpt(t, `mixed-${recipe}`, ['--model', model, '--recipe', recipe, '--limit-train', '500', '--limit-test', '10']);
    samePredictions(t, ckpt, 'mnist', 300);
  }
});

t.test('weight codes pack bits-wide into words and back', async (t) => {
  const rng = new Rng(8);
  for (let bits = 2; bits <= 16; bits++) {
    const hi = 2 ** (bits - 1);
    const codes = Int32Array.from({ length: 257 }, (_, k) => (k < 2 ? (k ? hi - 1 : -hi) : rng.int(2 * hi) - hi));
    const words = packCodes(codes, bits);
    t.equal(words.length, Math.ceil((257 * bits) / 32));
    t.same(unpackCodes(words, 257, bits), codes, `${bits} bits`);
  }
});

t.test('bench --suite inference: both engines give the checkpoint classes; the table and JSON carry the figures', async (t) => {
  const out = join(dir, 'inference.json');
  const r = cli('bench', '--suite', 'inference', '--rounds', '1', '--limit-train', '300', '--repeats', '20', '--out', out);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /batch-1 latency: TF\.js-wasm \/ packed = [\d.]+x/);
  const rep = JSON.parse(readFileSync(out, 'utf8')).results;
  t.same(
    rep.rows.map((x: { engine: string }) => x.engine),
    ['packed', 'tfjs-wasm'],
  );
  for (const x of rep.rows) {
    t.equal(x.agree, x.examples, `${x.engine}: the checkpoint's class on all ${x.examples} test examples`);
    t.ok(x.batch1MsMedian > 0 && x.batch100MsMedian > 0 && x.peakRssBytes > 0 && x.fileBytes > 0, `${x.engine}: figures present`);
  }
  t.ok(rep.rows[0].fileBytes * 10 < rep.rows[1].fileBytes, 'the packed file is over 10x smaller than the TF.js export');
});
