import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { MODELS } from '../src/model/models.js';
import { knobSavings, largestBatch, planBatches, trainingMemory } from '../src/planner.js';
import { PRESETS } from '../src/recipe.js';
import { parseBytes } from '../src/units.js';
import { tempDir } from './helpers.js';

t.test('sizes', async (t) => {
  t.equal(await parseBytes('512MiB'), 512 * 2 ** 20);
  t.equal(await parseBytes('1.5 GB'), 1.5e9);
  t.equal(await parseBytes('300000'), 300000);
  t.equal(await parseBytes('2 KiB'), 2048);
  await t.rejects(parseBytes('10kg'), /"10kg" is not a size/);
  await t.rejects(parseBytes('-5 MiB'), /not a (positive )?size/);
});

t.test('the largest batch fits and one more does not', async (t) => {
  for (const model of ['mlp', 'cnv'])
    for (const [name, recipe] of Object.entries(PRESETS)) {
      const budget = 64 * 2 ** 20;
      const b = largestBatch(MODELS[model], recipe, budget);
      if (b === 0) {
        t.ok(trainingMemory(MODELS[model], recipe, 1) > budget, `${model} ${name}: nothing fits`);
        continue;
      }
      t.ok(trainingMemory(MODELS[model], recipe, b) <= budget, `${model} ${name}: batch ${b} fits`);
      t.ok(trainingMemory(MODELS[model], recipe, b + 1) > budget, `${model} ${name}: batch ${b + 1} does not`);
    }
  const plans = planBatches(MODELS.cnv, PRESETS, 256 * 2 ** 20);
  // standard keeps no z on sign layers (rebuilt from x-hat and beta): 155 vs 528 at 256 MiB
  t.ok(plans[1].largestBatch > 3 * plans[0].largestBatch, 'low-memory fits more than 3x the batch on CNV');
  t.equal(largestBatch(MODELS.binarynet, PRESETS.standard, 2 ** 20), 0, 'too small a budget fits nothing');
});

t.test('knob savings: each knob alone, from standard', async (t) => {
  const k = knobSavings(MODELS.mlp, 100);
  const by = Object.fromEntries(k.map((s) => [s.knob, s]));
  // dW 1-bit: standard hands every dense layer's float32 dW to Adam tile by tile (no dW buffer),
  // so 1-bit dW only adds every layer's sign bits (399,872 weights, rows padded to words): a cost
  t.ok(by.dw.savedBytes < -399872 / 8 && by.dw.savedBytes > -399872 / 8 - 8192, `dw saves ${by.dw.savedBytes} bytes`);
  // fp16 Adam moments halve 2 × 4 bytes per binary weight, but their scale needs the whole dW: the
  // largest layer's (784 x 256 float32) comes back in the shared block
  const shared = 784 * 256 * 4;
  const halved = 2 * (399872 * 2);
  t.ok(by.moments.savedBytes < halved - shared + 8192 && by.moments.savedBytes > halved - shared, `fp16 moments save ${by.moments.savedBytes} bytes`);
  t.ok(
    k.every((s, i) => i === 0 || k[i - 1].savedBytes >= s.savedBytes),
    'sorted by saving',
  );
});

t.test('plan CLI', async (t) => {
  const cli = join(process.cwd(), 'build/src/cli/main.js');
  const r = spawnSync(process.execPath, [cli, 'plan', '--model', 'cnv', '--ram', '512MiB', '--json'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  t.equal(p.ramBytes, 512 * 2 ** 20);
  t.same(
    p.batches.map((b: { recipe: string }) => b.recipe),
    ['standard', 'low-memory', 'tiny'],
  );
  const human = spawnSync(process.execPath, [cli, 'plan', '--ram', '4MiB'], { encoding: 'utf8' });
  t.match(human.stdout, /standard\s+does not fit/);
  // 8 GiB of RAM, but one WebAssembly memory holds 2 GiB less 1 MiB: batches planned within that
  const big = JSON.parse(spawnSync(process.execPath, [cli, 'plan', '--model', 'binarynet', '--ram', '8GiB', '--json'], { encoding: 'utf8' }).stdout);
  t.equal(big.kernelLimitBytes, 2 ** 31 - 2 ** 20);
  const { largestBatch } = await import('../src/planner.js');
  const { MODELS } = await import('../src/model/models.js');
  const { PRESETS } = await import('../src/recipe.js');
  t.equal(big.batches[0].largestBatch, largestBatch(MODELS.binarynet, PRESETS.standard, 2 ** 31 - 2 ** 20));
  t.ok(big.batches[0].largestBatch < 4000 && big.batches[0].bytesAtLargest <= big.kernelLimitBytes);
  t.match(
    spawnSync(process.execPath, [cli, 'plan', '--model', 'binarynet', '--ram', '8GiB'], { encoding: 'utf8' }).stdout,
    /the WebAssembly kernels hold at most 2047\.00 MiB of engine buffers/,
  );
  const bad = spawnSync(process.execPath, [cli, 'plan', '--ram', 'lots'], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /"lots" is not a size/);
});

t.test('a model file of fixed-point layers: plan shows the standard recipe only, train takes it by default', async (t) => {
  const { writeFileSync } = await import('node:fs');
  const dir = tempDir('bitlearn-plan-fixed-');
  const model = join(dir, 'q.json');
  writeFileSync(model, JSON.stringify({ name: 'q', input: { features: 784 }, classes: 10, precision: 'w4a8', layers: [{ type: 'dense', units: 64 }] }));
  const cli = join(process.cwd(), 'build/src/cli/main.js');
  const p = spawnSync(process.execPath, [cli, 'plan', '--model', model, '--ram', '16MiB', '--json'], { encoding: 'utf8' });
  t.equal(p.status, 0, p.stderr);
  const plan = JSON.parse(p.stdout);
  t.same(
    plan.batches.map((b: { recipe: string }) => b.recipe),
    ['standard'],
  );
  t.same(plan.scopes.costs, [], 'no partial-update table for fixed-point layers');
  const r = spawnSync(
    process.execPath,
    [cli, 'train', '--model', model, '--epochs', '1', '--limit-train', '200', '--limit-test', '50', '--no-checkpoint', '--json'],
    {
      encoding: 'utf8',
    },
  );
  t.equal(r.status, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).config.recipeName, 'standard');
});
