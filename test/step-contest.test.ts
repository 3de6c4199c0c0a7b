// The peers suite's step-time contest: multiply-add counts from the model plan, the floor, the
// PyTorch contestant (run for real when a python3 with torch is here, else skipped with a reason).
import t from 'tap';
import { clockFromReadings, clockGhz, floorMs, measureClockGhz, stepWork, WASM_MACS_PER_CYCLE } from '../bench/floor.js';
import { findTorch, runTorch } from '../bench/peer-torch.js';
import { roundOrder } from '../bench/step-contest.js';
import { modelSpec } from '../src/model/models.js';

t.test('multiply-adds of a step, counted by hand for the MLP and CNV', async (t) => {
  const mlp = stepWork(modelSpec('mlp'), 100);
  const fwd = 100 * (784 * 256 + 3 * 256 * 256 + 256 * 10);
  t.equal(mlp.forwardMacs, fwd, 'MLP forward: Σ B·n_in·n_out');
  t.equal(mlp.weightGradMacs, fwd, 'weight gradients: as many as forward');
  t.equal(mlp.inputGradMacs, fwd - 100 * 784 * 256, 'input gradients: every layer but the first');
  t.equal(mlp.totalMacs, 2 * fwd + fwd - 100 * 784 * 256);
  const cnv = stepWork(modelSpec('cnv'), 1);
  // valid 3x3 convolutions: 30x30x64 (from 3), 28x28x64, pool, 12x12x128, 10x10x128, pool, 3x3x256, 1x1x256, then 256-512-512-10
  const conv = 30 * 30 * 64 * 9 * 3 + 28 * 28 * 64 * 9 * 64 + 12 * 12 * 128 * 9 * 64 + 10 * 10 * 128 * 9 * 128 + 3 * 3 * 256 * 9 * 128 + 1 * 1 * 256 * 9 * 256;
  t.equal(cnv.forwardMacs, conv + 256 * 512 + 512 * 512 + 512 * 10, 'CNV forward');
});

t.test('round order: each group in turn, rotated a place a round', async (t) => {
  const c = (model: string, threads: number, variant: string) => ({ model, batch: 100, threads, variant });
  const all = [c('mlp', 1, 'a'), c('mlp', 1, 'b'), c('mlp', 1, 'torch'), c('mlp', 2, 'a'), c('mlp', 2, 'b'), c('mlp', 2, 'torch'), c('cnv', 1, 'a')];
  const names = (round: number) => roundOrder(all, round).map((x) => `${x.model}${x.threads}${x.variant}`);
  t.same(names(1), ['mlp1a', 'mlp1b', 'mlp1torch', 'mlp2a', 'mlp2b', 'mlp2torch', 'cnv1a'], 'round 1: as given');
  t.same(names(2), ['mlp1b', 'mlp1torch', 'mlp1a', 'mlp2b', 'mlp2torch', 'mlp2a', 'cnv1a']);
  t.same(names(4), names(1), 'a group of 3 comes back to its order every 3 rounds');
  const firsts = new Set([1, 2, 3].map((r) => names(r)[0]));
  t.equal(firsts.size, 3, 'every member of a group goes first once in 3 rounds');
  t.equal(roundOrder(all, 5).length, all.length, 'every contestant runs every round');
});

t.test('the floor: work / (threads × clock × MACs per cycle)', async (t) => {
  const w = { forwardMacs: 0, weightGradMacs: 0, inputGradMacs: 0, totalMacs: 3.6e9 * WASM_MACS_PER_CYCLE };
  t.equal(floorMs(w, 1, 3.6), 1000, 'one second of one core');
  t.equal(floorMs(w, 2, 3.6), 500, 'two cores halve it');
});

t.test('the clock: the maximum Linux reports, else measured by a dependent chain', async (t) => {
  const ghz = measureClockGhz(1_000_000);
  // every core this runs on lies between a Pi Zero's 1 GHz and 6 GHz; a chain folded by the
  // compiler would read tens of GHz, a chain of slow operations well under 1
  t.ok(ghz > 0.5 && ghz < 6, `measured ${ghz.toFixed(2)} GHz`);
  const clock = clockGhz();
  t.match(clock.source, /^(cpuinfo_max_freq|measured|assumed)/, clock.source);
  t.ok(clock.ghz > 0.5 && clock.ghz < 6, `the floor's clock ${clock.ghz.toFixed(2)} GHz`);
  const several = clockFromReadings([1.5, 2.5, 2]);
  t.equal(several.ghz, 2.5, 'several readings: the fastest');
  t.match(several.source, /fastest of 3 readings 1.50-2.50/);
  t.match(clockFromReadings([40]).source, /^assumed 3.6 GHz \(measured 40.00 GHz is not plausible\)/, 'an implausible reading is not used');
  t.equal(clockFromReadings([40]).ghz, 3.6);
});

t.test('PyTorch contestant', async (t) => {
  const torch = findTorch();
  if ('why' in torch) {
    t.match(torch.why, /torch|single executable/, `skipped with a reason: ${torch.why}`);
    return;
  }
  const r = runTorch(torch.python, { model: 'mlp', batch: 8, threads: 1, repeats: 2, warmup: 1 });
  t.equal(r.msPerBatch.length, 2, 'one time per timed step');
  t.ok(
    r.msPerBatch.every((ms) => ms > 0),
    'positive times',
  );
  t.equal(r.threads, 1, 'held to one thread');
  t.ok(r.warmupMsTotal > 0, 'the untimed warm-up step is timed too');
  t.ok(r.peakRssBytes > 2 ** 20, 'peak RSS reported');
  t.throws(
    () => runTorch(torch.python, { model: 'nope', batch: 8, threads: 1, repeats: 1, warmup: 0 }),
    /PyTorch run .* failed: .*unknown model/,
    'a failed run names the job and the reason',
  );
});
