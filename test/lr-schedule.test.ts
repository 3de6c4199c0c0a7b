import t from 'tap';
import { loadData } from '../src/data/registry.js';
import { parseLrSchedule } from '../src/lr-schedule.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/trainer.js';

t.test('expressions of the epoch', async (t) => {
  const s = await parseLrSchedule('1e-3 * 0.5^floor(epoch/2)');
  t.same([0, 1, 2, 3, 4].map((e) => s.at(e)), [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]);
  t.equal((await parseLrSchedule('0.01 / (1 + epoch)')).at(3), 0.0025);
});

t.test('bad schedules fail before training, with the reason', async (t) => {
  await t.rejects(parseLrSchedule('1e-3 *'), /does not parse/);
  await t.rejects(parseLrSchedule('epoch - 1'), /gives -1 at epoch 0: it must be a positive number/);
  await t.rejects(parseLrSchedule('learningRate'), /fails at epoch 0: Undefined symbol learningRate/);
  await t.rejects(parseLrSchedule('import("fs")'), /fails at epoch 0/, 'no access to anything but mathematics');
  const s = await parseLrSchedule('1e-3 * (3 - epoch)');
  t.throws(() => s.at(3), /gives 0 at epoch 3/);
});

t.test('the trainer follows the schedule', async (t) => {
  const data = loadData('mnist', { limitTrain: 200, limitTest: 50 });
  const r = await train({ model: 'mlp', recipeName: 'low-memory', recipe: PRESETS['low-memory'], batch: 50, epochs: 3, seed: 1, lr: 1, lrSchedule: '2e-3 * 0.5^epoch' }, data);
  t.same(r.history.map((h) => h.lr), [2e-3, 1e-3, 5e-4]);
});
