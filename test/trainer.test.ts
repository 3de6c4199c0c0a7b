import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { readCheckpoint, writeCheckpoint, CheckpointError } from '../src/checkpoint.js';
import { loadData } from '../src/data/registry.js';
import { PRESETS } from '../src/recipe.js';
import { MODELS } from '../src/model/models.js';
import { train } from '../src/train/loop.js';
import { checkDiskSpace, checkFits, checkOutputPath } from '../src/train/preflight.js';
import { TrainingError, type TrainConfig } from '../src/train/records.js';
import { largestBatch, trainingMemory } from '../src/planner.js';
import { tempDir } from './helpers.js';

const data = loadData('mnist', { limitTrain: 1000, limitTest: 500 });
const base = (recipe: keyof typeof PRESETS, extra: Partial<TrainConfig> = {}): TrainConfig => ({
  model: 'mlp',
  recipeName: recipe,
  recipe: PRESETS[recipe],
  batch: 50,
  epochs: 2,
  seed: 3,
  lr: 1e-3,
  ...extra,
});

for (const recipe of ['standard', 'low-memory'] as const)
  t.test(`${recipe}: a short run on real MNIST learns`, async (t) => {
    const r = await train(base(recipe), data);
    t.equal(r.history.length, 2);
    const acc = r.history[1].testAccuracy;
    t.ok(acc > 0.5, `test accuracy after 2 epochs on 1000 examples: ${acc}`);
    t.ok(r.history[1].trainLoss < r.history[0].trainLoss, 'training loss falls');
  });

t.test('resume from a checkpoint continues exactly where the run stopped', async (t) => {
  const dir = tempDir('bitlearn-ckpt-');
  const full = await train(base('low-memory', { epochs: 2, checkpoint: join(dir, 'full.ckpt') }), data);
  const ck = join(dir, 'part.ckpt');
  await train(base('low-memory', { epochs: 1, checkpoint: ck }), data);
  const resumed = await train(base('low-memory', { epochs: 2, checkpoint: ck, resume: true }), data);
  t.equal(resumed.resumedFromEpoch, 1);
  t.same(
    resumed.history,
    full.history.map((h, i) => ({ ...h, seconds: resumed.history[i].seconds, msPerBatchMedian: resumed.history[i].msPerBatchMedian })),
    'same losses and accuracies',
  );
  const a = readCheckpoint(join(dir, 'full.ckpt'));
  const b = readCheckpoint(ck);
  for (const [k, v] of a.tensors) t.same(Buffer.from(b.tensors.get(k)!.bytes), Buffer.from(v.bytes), `tensor ${k} identical`);
});

t.test('resume refuses a checkpoint of another configuration', async (t) => {
  const dir = tempDir('bitlearn-ckpt-');
  const ck = join(dir, 'a.ckpt');
  await train(base('low-memory', { epochs: 1, checkpoint: ck }), data);
  await t.rejects(train(base('standard', { checkpoint: ck, resume: true }), data), /cannot resume .* recipe/);
  await t.rejects(train(base('low-memory', { batch: 20, checkpoint: ck, resume: true }), data), /trained with batch 50 \(this run: 20\)/);
  await t.rejects(train(base('low-memory', { checkpoint: join(dir, 'none.ckpt'), resume: true }), data), /cannot read checkpoint .*ENOENT/);
  // what the run's results depend on cannot change on resume: each named, with both values
  await t.rejects(
    train(base('low-memory', { seed: 5, lr: 1e-2, checkpoint: ck, resume: true }), data),
    /trained with seed 3 \(this run: 5\); learning rate \(--lr\) 0\.001 \(this run: 0\.01\): resume with the run's own options \(only --epochs may change\)/,
  );
  await t.rejects(
    train(base('low-memory', { checkpoint: ck, resume: true }), loadData('mnist', { limitTrain: 900, limitTest: 500 })),
    /data mnist-train, 1000 training and 500 test examples \(this run: mnist-train, 900 training/,
  );
  const noisy = { ...data, train: { ...data.train, labels: data.train.labels.map((l, i) => (i === 7 ? (l + 1) % 10 : l)) } };
  await t.rejects(
    train(base('low-memory', { checkpoint: ck, resume: true }), noisy),
    /other data \(mnist-train, 1000 training and 500 test examples, but other labels or images\)/,
  );
  await t.rejects(train(base('low-memory', { lrSchedule: '1e-3', checkpoint: ck, resume: true }), data), /learning-rate schedule null \(this run: 1e-3\)/);
  // only --epochs: accepted
  t.equal((await train(base('low-memory', { epochs: 2, checkpoint: ck, resume: true }), data)).resumedFromEpoch, 1);
});

t.test('a fresh run never replaces the checkpoint of a run unless told to', async (t) => {
  const dir = tempDir('bitlearn-keep-');
  const ck = join(dir, 'a.ckpt');
  await train(base('low-memory', { epochs: 1, checkpoint: ck }), data);
  const before = readFileSync(ck);
  await t.rejects(
    train(base('low-memory', { epochs: 1, checkpoint: ck }), data),
    /checkpoint .*a\.ckpt already holds this run at epoch 1: --resume continues it, --overwrite replaces it/,
  );
  await t.rejects(
    train(base('low-memory', { epochs: 1, checkpoint: ck }), loadData('mnist', { limitTrain: 300, limitTest: 500 })),
    /already holds another run \(data mnist-train, 1000 training/,
  );
  t.same(readFileSync(ck), before, 'untouched');
  writeFileSync(ck, 'not a checkpoint');
  await t.rejects(train(base('low-memory', { epochs: 1, checkpoint: ck }), data), /exists and is not a readable bitlearn checkpoint: --overwrite replaces it/);
  const r = await train(base('low-memory', { epochs: 1, checkpoint: ck, overwrite: true }), data);
  t.equal(readCheckpoint(ck).meta.epoch, 1, 'replaced when told to');
  t.equal(r.history.length, 1);
});

t.test('one run per checkpoint: a second one is refused while the first holds it', async (t) => {
  const { spawn } = await import('node:child_process');
  const dir = tempDir('bitlearn-lock-');
  const ck = join(dir, 'a.ckpt');
  // another process holds the lock
  const holder = spawn('sleep', ['60']);
  writeFileSync(`${ck}.lock`, `${holder.pid}\n`);
  await t.rejects(
    train(base('low-memory', { epochs: 1, checkpoint: ck }), data),
    new RegExp(`checkpoint .*a\\.ckpt is in use by another bitlearn run \\(process ${holder.pid}\\)`),
  );
  t.notOk(existsSync(ck), 'nothing written');
  holder.kill();
  await new Promise((r) => holder.once('exit', r));
  // its process is gone: the stale lock is taken over, and released at the end
  await train(base('low-memory', { epochs: 1, checkpoint: ck }), data);
  t.notOk(existsSync(`${ck}.lock`), 'lock released');
  // two runs in one process
  let second: Promise<unknown> | null = null;
  await train(base('low-memory', { epochs: 1, checkpoint: join(dir, 'b.ckpt') }), data, {
    onBatch: () => {
      second ??= train(base('low-memory', { epochs: 1, checkpoint: join(dir, 'b.ckpt') }), data).then(
        () => null,
        (e: Error) => e.message,
      );
    },
  });
  t.match(await second, /b\.ckpt is in use by another run in this process/);
});

t.test('a checkpoint whose fields were edited (checksum recomputed) is refused field by field', async (t) => {
  const dir = tempDir('bitlearn-meta-');
  const ck = join(dir, 'a.ckpt');
  await train(base('low-memory', { epochs: 1, checkpoint: ck }), data);
  const good = readCheckpoint(ck);
  const tensors = Object.fromEntries([...good.tensors].map(([k, v]) => [k, Uint8Array.from(v.bytes)]));
  const edits: [Record<string, unknown>, RegExp][] = [
    [{ epoch: -3 }, /field "epoch" must be a whole number >= 0, is -3/],
    [{ epoch: 1.5 }, /field "epoch" must be a whole number >= 0, is 1\.5/],
    [{ lr: null }, /field "lr" must be a positive number, is null/],
    [{ lr: -1 }, /field "lr" must be a positive number, is -1/],
    [{ rng: [0, 0, 0, 0] }, /field "rng" is not a random-generator state/],
    [{ history: [] }, /field "history" must list the 1 epochs done/],
    [{ plateau: { best: 'x', bad: 0 } }, /field "plateau.best" must be a number/],
    [{ optimizer: null }, /field "optimizer" is not an optimizer state/],
  ];
  for (const [edit, why] of edits) {
    // the tensors as written, with their dtypes
    const typed = Object.fromEntries(
      Object.entries(tensors).map(([k, bytes]) => {
        const Ctor = { Float32Array, Float64Array, Uint16Array, Uint32Array, Uint8Array }[good.tensors.get(k)!.dtype as 'Uint8Array'];
        return [k, new Ctor(bytes.buffer, 0, good.tensors.get(k)!.length)];
      }),
    );
    writeCheckpoint(ck, { ...good.meta, ...edit }, typed);
    await t.rejects(train(base('low-memory', { epochs: 2, checkpoint: ck, resume: true }), data), why, JSON.stringify(edit));
  }
});

t.test('a stop request ends training after the current batch; the last checkpoint is the last whole epoch', async (t) => {
  const dir = tempDir('bitlearn-stop-');
  const ck = join(dir, 'a.ckpt');
  const stop = new AbortController();
  const r = await train(base('low-memory', { epochs: 3, checkpoint: ck, signal: stop.signal }), data, {
    onBatch: (epoch, b) => {
      if (epoch === 2 && b === 5) stop.abort();
    },
  });
  t.same(r.interrupted, { epoch: 2, batch: 5, batches: 20 });
  t.equal(r.history.length, 1, 'the records of the whole epochs');
  t.equal(readCheckpoint(ck).meta.epoch, 1);
  t.notOk(existsSync(`${ck}.lock`), 'lock released');
  const resumed = await train(base('low-memory', { epochs: 3, checkpoint: ck, resume: true }), data);
  t.equal(resumed.resumedFromEpoch, 1);
  t.equal(resumed.interrupted, null);
});

t.test('outputs are checked before the first step', async (t) => {
  const dir = tempDir('bitlearn-out-');
  const file = join(dir, 'file');
  writeFileSync(file, 'x');
  await t.rejects(train(base('low-memory', { epochs: 1, checkpoint: dir }), data), new RegExp(`checkpoint ${dir}: is a directory`));
  await t.rejects(
    train(base('low-memory', { epochs: 1, checkpoint: join(file, 'a.ckpt') }), data),
    /checkpoint .*file\/a\.ckpt: a part of the path is not a directory \(ENOTDIR\)/,
  );
  await t.rejects(train(base('low-memory', { epochs: 1, checkpoint: '/proc/a.ckpt' }), data), /checkpoint \/proc\/a\.ckpt: cannot write in \/proc: /);
  t.throws(() => checkDiskSpace(join(dir, 'big.json'), '--out', 2 ** 60), /--out .*big\.json: needs .* MiB but the disk has .* MiB free/);
  t.throws(() => checkOutputPath(join(dir, 'sub', 'x'.repeat(300)), '--out'), /--out .*\.\.\.: file name longer than 230 bytes/);
  t.same(readdirSync(dir), ['file'], 'no probe or temp file left');
  await t.rejects(train(base('low-memory', { threads: 999 }), data), /threads must be a whole number from 1 to 256, got 999/);
});

t.test('the pre-flight knows one WebAssembly memory holds at most 2 GiB of engine buffers', async (t) => {
  const limit = 2 ** 31 - 2 ** 20;
  const huge = 10 ** 12;
  t.throws(
    () => checkFits(MODELS.binarynet, PRESETS.standard, 4000, { budget: huge, runtimeBytes: 0, kernelLimit: limit }),
    /engine buffers \(.* MiB\) exceed the 2047\.0 MiB one WebAssembly kernel memory can hold: the largest batch that fits is \d+ \(or --kernels reference/,
  );
  const fits = largestBatch(MODELS.binarynet, PRESETS.standard, limit);
  t.doesNotThrow(() => checkFits(MODELS.binarynet, PRESETS.standard, fits, { budget: huge, runtimeBytes: 0, kernelLimit: limit }));
  t.throws(() => checkFits(MODELS.binarynet, PRESETS.standard, fits + 1, { budget: huge, runtimeBytes: 0, kernelLimit: limit }));
  t.doesNotThrow(() => checkFits(MODELS.binarynet, PRESETS.standard, 4000, { budget: huge, runtimeBytes: 0 }), 'no limit for the reference kernels');
});

t.test('bad training input is refused before any work', async (t) => {
  await t.rejects(train(base('standard', { batch: 1001 }), data), new TrainingError('batch size 1001 is larger than the training set (1000 examples)'));
  await t.rejects(train(base('standard', { epochs: 0 }), data), /epochs must be a positive integer/);
  await t.rejects(
    train(base('standard', { ramBudget: 1e6 }), data),
    new RegExp(
      'needs .* MiB \\(engine buffers .* MiB \\+ .* MiB already in use by Node\\.js and the data set\\) ' +
        'but only 1\\.0 MiB is available: not even batch 1 fits; the low-memory recipe needs far less',
    ),
  );
  // room for the fixed part and a few examples: refused, with the batch that would fit (the
  // process's own memory is given, so the figure does not drift with the test process's RSS)
  const runtime = 100 * 2 ** 20;
  const budget = runtime + trainingMemory(MODELS.mlp, PRESETS.standard, 1) + 512 * 1024;
  const fits = largestBatch(MODELS.mlp, PRESETS.standard, budget - runtime);
  t.ok(fits >= 1 && fits < 50, `${fits} examples fit`);
  t.throws(() => checkFits(MODELS.mlp, PRESETS.standard, 50, { budget, runtimeBytes: runtime }), new RegExp(`the largest batch that fits is ${fits}\\b`));
  await t.rejects(train(base('standard', { model: 'resnet' }), data), /unknown model "resnet"/);
});

t.test('a NaN/inf loss stops training with a clear error and keeps the last good checkpoint', async (t) => {
  const dir = tempDir('bitlearn-nan-');
  const ck = join(dir, 'a.ckpt');
  await train(base('standard', { epochs: 1, checkpoint: ck }), data);
  const before = readFileSync(ck);
  // an absurd learning rate drives batch-norm betas to infinity within a few steps
  await t.rejects(
    train(base('standard', { epochs: 1, lr: 1e308, checkpoint: ck, overwrite: true }), data),
    /loss became (NaN|Infinity) at epoch 1, batch \d+: training stopped\. Try a lower --lr/,
  );
  t.same(readFileSync(ck), before, 'checkpoint untouched');
});

t.test('checkpoint files: corruption and truncation are detected', async (t) => {
  const dir = tempDir('bitlearn-ck-');
  const p = join(dir, 'c.ckpt');
  writeCheckpoint(p, { a: 1 }, { x: Float32Array.from([1, 2, 3]), y: Uint16Array.from([7]) });
  const ck = readCheckpoint(p);
  t.same(ck.meta, { a: 1 });
  t.same(Array.from(new Float32Array(Uint8Array.from(ck.tensors.get('x')!.bytes).buffer)), [1, 2, 3]);
  const buf = readFileSync(p);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(p, buf.subarray(0, buf.length - 2));
  t.throws(() => readCheckpoint(p), /checkpoint does not match its checksum \(changed or truncated\)/);
  const flipped = Buffer.from(buf);
  flipped[flipped.length - 1] ^= 0xff;
  writeFileSync(p, flipped);
  t.throws(() => readCheckpoint(p), /does not match its checksum/);
  writeFileSync(p, 'hello');
  t.throws(() => readCheckpoint(p), new CheckpointError(`${p} is not a bitlearn checkpoint`));
  // the header is covered too: a tensor offset or a meta field edited in place is caught
  for (const [from, to] of [
    ['"offset":12', '"offset":10'],
    ['"a":1', '"a":7'],
  ]) {
    const text = buf.toString('latin1');
    t.ok(text.includes(from), `header holds ${from}`);
    writeFileSync(p, Buffer.from(text.replace(from, to), 'latin1'));
    t.throws(() => readCheckpoint(p), /checkpoint does not match its checksum/, `edited header ${from} -> ${to}`);
  }
});

t.test('format-1 checkpoints (header outside the checksum) are still read, every header field bounds-checked', async (t) => {
  const { createHash } = await import('node:crypto');
  const { writeFileSync } = await import('node:fs');
  const dir = tempDir('bitlearn-ck1-');
  const p = join(dir, 'old.ckpt');
  const payload = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
  const v1 = (header: object) => {
    const h = Buffer.from(JSON.stringify({ sha256: createHash('sha256').update(payload).digest('hex'), payloadBytes: 16, ...header }));
    const lead = Buffer.alloc(20);
    lead.write('BITLEARN-CKPT-1\n', 0, 'latin1');
    lead.writeUInt32LE(h.length, 16);
    writeFileSync(p, Buffer.concat([lead, h, payload]));
  };
  const entry = (o: object) => ({ key: 'w', dtype: 'Float32Array', length: 4, offset: 0, ...o });
  v1({ meta: { epoch: 1 }, tensors: [entry({})] });
  t.same(Array.from(new Float32Array(Uint8Array.from(readCheckpoint(p).tensors.get('w')!.bytes).buffer)), [1, 2, 3, 4]);
  const cases: [object, RegExp][] = [
    [{ meta: {}, tensors: [entry({ offset: 4, length: 3 })] }, /tensor "w" starts at byte 4, expected 0/],
    [{ meta: {}, tensors: [entry({ length: 5 })] }, /tensor "w" ends past the payload \(16 bytes\)/],
    [{ meta: {}, tensors: [entry({ length: 2 })] }, /the tensors cover 8 of 16 payload bytes/],
    [{ meta: {}, tensors: [entry({ length: -1 })] }, /tensor "w" has length -1/],
    [{ meta: {}, tensors: [entry({ dtype: 'constructor' })] }, /tensor "w" has unknown type "constructor"/],
    [{ meta: {}, tensors: [entry({ length: 2 }), entry({ length: 2, offset: 8 })] }, /tensor "w" appears twice/],
    [{ meta: null, tensors: [] }, /"meta" is not an object/],
    [{ meta: {}, tensors: {} }, /"tensors" is not a list/],
    [{ meta: {}, tensors: [], payloadBytes: 'x' }, /"payloadBytes" is not a byte count/],
  ];
  for (const [header, why] of cases) {
    v1(header);
    t.throws(() => readCheckpoint(p), why, JSON.stringify(header));
    t.throws(() => readCheckpoint(p), /^.*old\.ckpt: invalid checkpoint header: /);
  }
});

t.test('batch-norm recalibration: statistics of the final weights, whatever the running averages were', async (t) => {
  const { Network } = await import('../src/model/network.js');
  const { BatchNormLayer } = await import('../src/layers/batchnorm.js');
  const { selectKernels } = await import('../src/kernels/select.js');
  const net = new Network({ spec: MODELS['mnist-conv'], recipe: PRESETS['low-memory'], batch: 50, kernels: selectKernels('reference'), seed: 2 });
  const bns = net.layers.filter((l): l is InstanceType<typeof BatchNormLayer> => l instanceof BatchNormLayer);
  net.recalibrateBatchNorm(data.train, 3);
  const first = bns.map((b) => [Array.from(b.runMean), Array.from(b.runSigma)]);
  for (const b of bns) {
    b.runMean.fill(1000);
    b.runSigma.fill(0.001);
  }
  net.recalibrateBatchNorm(data.train, 3);
  t.same(
    bns.map((b) => [Array.from(b.runMean), Array.from(b.runSigma)]),
    first,
    'independent of the previous running statistics',
  );
  // a single batch: the running statistics are exactly that batch's
  net.recalibrateBatchNorm(data.train, 1);
  const order = Int32Array.from({ length: 50 }, (_, i) => i);
  const trainMode = net.computeGradients(data.train, order, 0, 50).correct;
  t.equal(
    net.evaluate({ ...data.train, count: 50, images: data.train.images.subarray(0, 50 * 784), labels: data.train.labels.subarray(0, 50) }).accuracy * 50,
    trainMode,
    'inference with them predicts like the batch statistics did',
  );
});
