// The shipped checkpoints (pretrained/): each loads by name, evaluates to the accuracy it records,
// starts a fine-tuning run by name; export --format weights drops the optimizer state and such a
// file refuses --resume with one line.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { readCheckpoint } from '../src/checkpoint.js';
import { loadData } from '../src/data/registry.js';
import { loadTrainedNetwork } from '../src/model/load.js';
import { checkpointPath, PRETRAINED } from '../src/model/pretrained.js';
import { tempDir } from './helpers.js';

const CLI = join(process.cwd(), 'build/src/cli/main.js');
const dir = tempDir('bitlearn-pretrained-');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir });

t.test('every shipped checkpoint loads by name and gives the test accuracy it records', async (t) => {
  const test = loadData('mnist', { limitTrain: 2 }).test;
  for (const [name, p] of Object.entries(PRETRAINED)) {
    const path = checkpointPath(name);
    t.ok(existsSync(path), `${name}: ${p.file} is shipped`);
    const meta = readCheckpoint(path).meta;
    t.equal(meta.weightsOnly, true, `${name}: weights only`);
    t.ok(statSync(path).size < 1.5 * 2 ** 20, `${name}: ${statSync(path).size} bytes`);
    const m = loadTrainedNetwork(name);
    const { accuracy } = m.network.evaluate(test);
    t.equal(accuracy, meta.testAccuracy, `${name}: test accuracy ${(100 * accuracy).toFixed(2)}% as recorded`);
    t.ok(accuracy > 0.9, `${name}: above 90%`);
    m.network.dispose();
  }
});

t.test('--init by name fine-tunes; a weights-only checkpoint refuses --resume; an unknown name is a missing file', async (t) => {
  const r = cli(
    'train',
    '--init',
    'mlp-mnist',
    '--recipe',
    'standard',
    '--epochs',
    '1',
    '--limit-train',
    '600',
    '--limit-test',
    '1000',
    '--checkpoint',
    'ft.ckpt',
    '--json',
  );
  t.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  t.equal(rep.initializedFrom.checkpoint, 'mlp-mnist');
  t.ok(rep.history[0].testAccuracy > 0.85, `fine-tuned from the shipped MLP: ${rep.history[0].testAccuracy} after 6 batches`);
  const w = cli('export', 'ft.ckpt', '--format', 'weights', '--out', 'w', '--name', 'mine');
  t.equal(w.status, 0, w.stderr);
  t.ok(statSync(join(dir, 'w', 'mine.ckpt')).size < statSync(join(dir, 'ft.ckpt')).size / 2, 'optimizer state dropped');
  const res = cli('train', '--resume', '--checkpoint', 'w/mine.ckpt', '--recipe', 'standard', '--epochs', '2');
  t.equal(res.status, 1);
  t.match(res.stderr, /^bitlearn: error: cannot resume from w\/mine\.ckpt: it holds trained weights only .*--init w\/mine\.ckpt\n$/);
  const p = cli('predict', 'w/mine.ckpt', '--input', 'csv:missing.csv');
  t.match(p.stderr, /missing\.csv/, 'a weights-only checkpoint loads for predict');
  const unknown = cli('train', '--init', 'no-such-model', '--epochs', '1');
  t.equal(unknown.status, 1);
  t.match(unknown.stderr, /^bitlearn: error: --init no-such-model: cannot read checkpoint no-such-model: ENOENT\n$/);
  const bad = cli('export', 'ft.ckpt', '--format', 'weights', '--name', '../x');
  t.equal(bad.status, 1);
  t.match(bad.stderr, /--name "\.\.\/x": letters, digits/);
});
