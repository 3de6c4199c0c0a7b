import t from 'tap';
import { loadData } from '../src/data/registry.js';
import { parseLrSchedule } from '../src/lr-schedule.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/train/loop.js';

t.test('expressions of the epoch', async (t) => {
  const s = await parseLrSchedule('1e-3 * 0.5^floor(epoch/2)');
  t.same(
    [0, 1, 2, 3, 4].map((e) => s.at(e)),
    [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4],
  );
  t.equal((await parseLrSchedule('0.01 / (1 + epoch)')).at(3), 0.0025);
});

t.test('bad schedules fail before training, with the reason', async (t) => {
  await t.rejects(parseLrSchedule('1e-3 *'), /does not parse/);
  await t.rejects(parseLrSchedule('epoch - 1'), /gives -1 at epoch 0: it must be a positive number/);
  await t.rejects(parseLrSchedule('learningRate'), /uses the name "learningRate"; a schedule may use numbers, epoch/);
  await t.rejects(parseLrSchedule('import("fs")'), /uses the function import/, 'no access to anything but mathematics');
  const s = await parseLrSchedule('1e-3 * (3 - epoch)');
  t.throws(() => s.at(3), /gives 0 at epoch 3/);
});

t.test('a schedule is checked at every epoch of the run, bounded, and quoted short', async (t) => {
  // fine at epoch 0, negative from epoch 1 on: caught before training, not after the first epoch
  await t.resolves(parseLrSchedule('epoch < 1 ? 1e-3 : -1'));
  await t.rejects(parseLrSchedule('epoch < 1 ? 1e-3 : -1', { epochs: 3 }), /gives -1 at epoch 1: it must be a positive number/);
  await t.rejects(parseLrSchedule('1e-3 * 10^(epoch * 100)', { epochs: 5 }), /gives Infinity at epoch 4/, 'overflow is not a rate');
  // nothing that allocates or loops: matrices, ranges, assignments, function definitions, strings
  for (const [expr, why] of [
    ['zeros(30000,30000)', /uses the function zeros/],
    ['sum(ones(1e5))', /uses the function sum/],
    ['[1e-3, 2][1]', /uses accessor/],
    ['1:1e9', /uses range/],
    ['f(x) = x; 1e-3', /uses /],
    ['x = 1e-3', /uses assignment/],
    ['"1e-3"', /uses the constant "1e-3"/],
    ['5!', /uses the operator !/],
    ['epoch.constructor', /uses /],
  ] as const)
    await t.rejects(parseLrSchedule(expr), why, expr);
  const long = `1e-3${' + 0'.repeat(40000)}`;
  const err = await parseLrSchedule(long).catch((e: Error) => e);
  t.match((err as Error).message, /^learning-rate schedule "1e-3 \+ 0 \+ 0.*\.\.\." \(160004 characters\) is longer than 500 characters$/);
  t.ok((err as Error).message.length < 200, 'the error quotes a cut expression');
  const bop = await parseLrSchedule('1e-4 * 0.1^floor(epoch/5)', { epochs: 20, what: 'Bop gamma schedule' });
  t.ok(Math.abs(bop.at(19) - 1e-7) < 1e-20);
});

t.test('the trainer follows the schedule', async (t) => {
  const data = loadData('mnist', { limitTrain: 200, limitTest: 50 });
  const r = await train(
    { model: 'mlp', recipeName: 'low-memory', recipe: PRESETS['low-memory'], batch: 50, epochs: 3, seed: 1, lr: 1, lrSchedule: '2e-3 * 0.5^epoch' },
    data,
  );
  t.same(
    r.history.map((h) => h.lr),
    [2e-3, 1e-3, 5e-4],
  );
});
