import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PRESETS, resolveRecipe } from '../src/recipe.js';
import { tempDir } from './helpers.js';

t.test('presets match docs/method.md §2', async (t) => {
  t.same(PRESETS.standard, {
    firstInput: 'float32',
    actInput: 'float32',
    steMask: 'float32',
    bn: 'l2',
    bnBackward: 'exact',
    poolMask: 'float32',
    dw: 'float32',
    dy: 'float32',
    weights: 'float32',
    moments: 'float32',
    optimizer: 'adam',
    ghostBatch: 0,
    ste: 'clipped',
    chunkRows: 8,
  });
  t.same(PRESETS['low-memory'], {
    firstInput: 'reread',
    actInput: 'bit',
    steMask: 'bit',
    bn: 'l1',
    bnBackward: 'sign-approx',
    poolMask: 'bit',
    dw: 'sign',
    dy: 'float16',
    weights: 'float16',
    moments: 'float16',
    optimizer: 'adam',
    ghostBatch: 0,
    ste: 'clipped',
    chunkRows: 8,
  });
  // beyond the paper: no latent weights (Bop), no dW buffer (fused into Bop's momentum), 8-bit momentum
  t.same(PRESETS.tiny, { ...PRESETS['low-memory'], dw: 'fused', dy: 'po2', weights: 'bit', moments: 'int8', optimizer: 'bop' });
});

t.test('knobs that go together, and numeric knobs', async (t) => {
  t.throws(() => resolveRecipe('low-memory', ['optimizer=bop']), /weights=bit \(no latent weights\) and optimizer=bop go together/);
  t.throws(() => resolveRecipe('tiny', ['weights=float16']), /go together/);
  t.throws(() => resolveRecipe('low-memory', ['ste=reste']), /ste=reste needs the pre-activation value in backward: set steMask=float32/);
  t.equal(resolveRecipe('low-memory', ['ste=reste', 'steMask=float32']).recipe.ste, 'reste');
  t.throws(() => resolveRecipe('low-memory', ['dw=fused']), /dw=fused folds weight gradients into Bop's momentum/);
  t.throws(() => resolveRecipe('tiny', ['moments=float16']), /moments=float32 or int8/);
  t.equal(resolveRecipe('low-memory', ['ghostBatch=128']).recipe.ghostBatch, 128);
  t.throws(() => resolveRecipe('low-memory', ['ghostBatch=100']), /ghostBatch cannot be "100" \(allowed: 0, 32, 64, 128, 256\)/);
});

t.test('knobs are set one at a time', async (t) => {
  const r = resolveRecipe('low-memory', ['dy=float32', 'dw=float32']);
  t.equal(r.recipe.dy, 'float32');
  t.equal(r.recipe.dw, 'float32');
  t.equal(r.recipe.actInput, 'bit');
  t.equal(r.name, 'low-memory (dy=float32, dw=float32)');
  t.equal(resolveRecipe('low-memory', ['dy=po2']).recipe.dy, 'po2');
});

t.test('bad recipes are refused with a clear message', async (t) => {
  t.throws(() => resolveRecipe('low-memory', ['colour=blue']), /unknown recipe knob "colour" \(knobs: firstInput=float32\|reread/);
  t.throws(() => resolveRecipe('low-memory', ['dy=float8']), /recipe knob dy cannot be "float8" \(allowed: float32, float16, po2\)/);
  t.throws(() => resolveRecipe('low-memory', ['dy']), /is not knob=value/);
  t.throws(() => resolveRecipe('fastest'), /unknown recipe "fastest"/);
  t.throws(() => resolveRecipe('standard', ['bnBackward=sign-approx']), /only l1 batch norm gives: set bn=l1/);
});

t.test('JSON recipe files', async (t) => {
  const dir = tempDir('bitlearn-recipe-');
  const good = join(dir, 'r.json');
  writeFileSync(good, JSON.stringify({ preset: 'low-memory', dy: 'po2', weights: 'float32' }));
  const r = resolveRecipe(good);
  t.equal(r.recipe.dy, 'po2');
  t.equal(r.recipe.weights, 'float32');
  t.equal(r.recipe.dw, 'sign');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ preset: 'low-memory', speed: 'max' }));
  t.throws(() => resolveRecipe(bad), /unknown recipe knob "speed"/);
  writeFileSync(bad, '{ not json');
  t.throws(() => resolveRecipe(bad), /cannot read recipe file .*bad\.json/);
  writeFileSync(bad, '[1]');
  t.throws(() => resolveRecipe(bad), /must hold a JSON object/);
  t.throws(() => resolveRecipe(join(dir, 'missing.json')), /cannot read recipe file/);
});
