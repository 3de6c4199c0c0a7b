// Model files: the definition format, its checks, the built-in models written in it, training a
// model file from the CLI and reloading its checkpoint in a fresh process.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseQuantConfig } from '../quant/quant-config.js';
import { definitionOf, loadModelFile, ModelDefinitionError, parseModelDefinition } from '../src/model/definition.js';
import { BUILTIN_DEFINITIONS, MODELS, modelSpec } from '../src/model/models.js';
import { planModel } from '../src/model/spec.js';
import { tempDir } from './helpers.js';

const CLI = join(process.cwd(), 'build/src/cli/main.js');
const dir = tempDir('bitlearn-models-');

t.test('the built-in models are definitions of the file format, and every spec survives definitionOf', async (t) => {
  t.same(Object.keys(MODELS), Object.keys(BUILTIN_DEFINITIONS));
  t.same(MODELS.mlp, { name: 'mlp', input: { h: 1, w: 1, c: 784 }, classes: 10, ops: [{ dense: 256 }, { dense: 256 }, { dense: 256 }, { dense: 256 }] });
  t.equal(MODELS.binarynet.poolBeforeBn, true);
  const general = parseModelDefinition(
    {
      name: 'general',
      input: { height: 20, width: 20, channels: 3 },
      classes: 4,
      layers: [
        { type: 'conv', filters: 32, kernel: 5, stride: 2, padding: 'same' },
        { type: 'conv', filters: 32, kernel: 1 },
        { type: 'maxpool' },
        { type: 'dense', units: 16 },
      ],
    },
    'general',
  );
  t.same(general.ops[0], { conv: 32, padding: 'same', kernel: 5, stride: 2 });
  t.same(planModel(general)[0], { type: 'conv', name: 'conv1', first: true, g: { hi: 20, wi: 20, ci: 3, ho: 10, wo: 10, co: 32, pad: 2, k: 5, stride: 2 } });
  const variants = [
    general,
    ...Object.values(MODELS),
    { ...MODELS.mlp, quant: parseQuantConfig('w4a8', 'msqe', 'outlier,stable=0.5', '0.8') },
    { ...MODELS['mnist-conv'], quant: parseQuantConfig('float') },
    { ...MODELS.cnv, quant: parseQuantConfig('w2a4', 'gradient', 'msqe-round') },
  ];
  for (const spec of variants) {
    const back = parseModelDefinition(JSON.parse(JSON.stringify(definitionOf(spec))), 'round trip');
    t.same(back, spec, `${spec.name}${spec.quant ? ' (fixed-point)' : ''}`);
    t.same(planModel(back), planModel(spec));
  }
});

t.test('a wrong definition gets one clear error naming the layer and the field', async (t) => {
  const base = { name: 'm', input: { height: 8, width: 8, channels: 1 }, classes: 3 };
  const cases: [unknown, RegExp][] = [
    [[], /a model definition is a JSON object/],
    [{ ...base, layers: [], extra: 1 }, /model: unknown field "extra"/],
    [{ ...base, classes: 1, layers: [] }, /classes: 1: a whole number from 2 to 256/],
    [{ ...base, input: { height: 8 }, layers: [] }, /input.width: missing: a whole number/],
    [{ ...base, input: { features: 4, height: 2 }, layers: [] }, /input: unknown field "height"/],
    [{ ...base, layers: {} }, /layers: a list of layers/],
    [{ ...base, layers: [{ type: 'conv', filters: 4, kernel: 7 }] }, /layer 1 \(conv\), kernel: 7: 1, 3, 5 \(a square kernel\)/],
    [{ ...base, layers: [{ type: 'conv', filters: 4, stride: 3 }] }, /layer 1 \(conv\), stride: 3: 1 or 2/],
    [
      { ...base, input: { height: 4, width: 4, channels: 1 }, layers: [{ type: 'conv', filters: 4, kernel: 5 }] },
      /layer 1 \(conv\): a 5x5 valid convolution does not fit its 4x4 input/,
    ],
    [{ ...base, layers: [{ type: 'conv', filters: 4, padding: 'full' }] }, /layer 1 \(conv\), padding: "full": valid or same/],
    [{ ...base, layers: [{ type: 'conv', filters: 2.5 }] }, /layer 1 \(conv\), filters: 2.5: a whole number/],
    [{ ...base, layers: [{ type: 'conv', filters: 4, units: 3 }] }, /layer 1 \(conv\): unknown field "units"/],
    [
      { ...base, input: { height: 2, width: 2, channels: 1 }, layers: [{ type: 'conv', filters: 4 }] },
      /layer 1 \(conv\): a 3x3 valid convolution does not fit its 2x2 input/,
    ],
    [
      {
        ...base,
        layers: [
          { type: 'dense', units: 4 },
          { type: 'conv', filters: 4 },
        ],
      },
      /layer 2 \(conv\): a convolution cannot follow a dense layer/,
    ],
    [{ ...base, input: { features: 10 }, layers: [{ type: 'conv', filters: 4 }] }, /layer 1 \(conv\): a convolution needs image input/],
    [{ ...base, layers: [{ type: 'maxpool' }] }, /layer 1 \(maxpool\): a max-pool needs a convolution before it/],
    [
      {
        ...base,
        layers: [
          { type: 'conv', filters: 32 },
          { type: 'maxpool', size: 5 },
        ],
      },
      /layer 2 \(maxpool\), size: 5: 2, 3, 4/,
    ],
    [
      {
        ...base,
        layers: [
          { type: 'conv', filters: 32 },
          { type: 'maxpool', size: 3, stride: 2 },
        ],
      },
      /layer 2 \(maxpool\), stride: 2: the stride is the window size \(3\); overlapping windows are not supported/,
    ],
    [
      {
        ...base,
        input: { height: 5, width: 5, channels: 1 },
        layers: [
          { type: 'conv', filters: 32 },
          { type: 'maxpool', size: 4 },
        ],
      },
      /layer 2 \(maxpool\): cannot max-pool a 3x3 feature map with 4x4 windows/,
    ],
    [{ ...base, layers: [{ type: 'dense', units: 4 }, { type: 'maxpool' }] }, /layer 2 \(maxpool\): cannot max-pool a vector/],
    [{ ...base, layers: [{ type: 'flatten' }, { type: 'flatten' }] }, /layer 2 \(flatten\): nothing to flatten/],
    [{ ...base, layers: [{ type: 'avgpool' }] }, /layer 1 \(avgpool\): an average pool needs a convolution before it/],
    [
      {
        ...base,
        layers: [
          { type: 'conv', filters: 8 },
          { type: 'avgpool', size: 1 },
        ],
      },
      /layer 2 \(avgpool\), size: 1: a whole number from 2 to 16/,
    ],
    [
      {
        ...base,
        layers: [
          { type: 'conv', filters: 8 },
          { type: 'avgpool', size: 7 },
        ],
      },
      /layer 2 \(avgpool\): a 7x7 average pool does not fit its 6x6 input/,
    ],
    [
      { ...base, layers: [{ type: 'conv', filters: 32 }, { type: 'avgpool' }, { type: 'maxpool' }] },
      /layer 3 \(maxpool\): a max-pool cannot follow an average pool/,
    ],
    [{ ...base, layers: [{ type: 'dense', units: 8 }, { type: 'globalavgpool' }] }, /layer 2 \(globalavgpool\): cannot average-pool a vector/],
    [{ ...base, layers: [{ type: 'lstm' }] }, /layer 1 \(lstm\), type: unknown layer type "lstm"/],
    [{ ...base, layers: [{ units: 3 }] }, /layer 1, type: one of dense, conv, maxpool, avgpool, globalavgpool, flatten/],
    [{ ...base, layers: [{ type: 'dense', units: 8, precision: 'w8' }] }, /layer 1 \(dense\), precision: "w8" is not wNaM/],
    [{ ...base, layers: [{ type: 'dense', units: 8, precision: 7 }] }, /layer 1 \(dense\), precision: 7: binary, float or wNaM/],
    [{ ...base, classifierPrecision: 'w40a8', layers: [] }, /classifierPrecision: w40a8: 40-bit weights are not supported/],
    [
      { ...base, layers: [{ type: 'conv', filters: 32 }, { type: 'conv', filters: 8, precision: 'w4a8' }, { type: 'maxpool' }, { type: 'maxpool' }] },
      /layer 4 \(maxpool\): after a fixed-point layer a max-pool must follow a convolution directly/,
    ],
    [{ ...base, precision: 'w9', layers: [] }, /precision: "w9" is not wNaM/],
    [{ ...base, precision: 'w4a8', quantizer: 'adam', layers: [] }, /precision: unknown quantizer "adam"/],
    [{ ...base, quantizer: 'msqe', layers: [] }, /quantizer: applies to fixed-point and float layers only/],
    [{ ...base, precision: 'w4a8', batchNormFoldAt: 2, layers: [] }, /batchNormFoldAt: 2: a fraction of training/],
    [
      {
        ...base,
        layers: [
          { type: 'conv', filters: 20 },
          { type: 'dense', units: 8 },
        ],
      },
      /layer 2 \(dense\): flattening packed bits needs a multiple of 32 channels before it, got 20/,
    ],
    [
      { ...base, precision: 'w4a8', layers: [{ type: 'conv', filters: 8 }, { type: 'dense', units: 4 }, { type: 'maxpool' }] },
      /layer 3 \(maxpool\): cannot max-pool a vector/,
    ],
  ];
  for (const [def, want] of cases) {
    try {
      parseModelDefinition(def, 'model file m.json');
      t.fail(`accepted: ${JSON.stringify(def)}`);
    } catch (e) {
      t.ok(e instanceof ModelDefinitionError, 'a definition error');
      t.match((e as Error).message, want);
      t.match((e as Error).message, /^model file m\.json: /, 'names the file');
      t.notOk((e as Error).message.includes('\n'), 'one line');
    }
  }
  // mixed precision: a float first layer, binary hidden layers, an 8-bit classifier
  const mixed = parseModelDefinition(
    {
      ...base,
      classifierPrecision: 'w8a8',
      fixes: 'outlier',
      layers: [
        { type: 'conv', filters: 20, precision: 'float' },
        { type: 'conv', filters: 32 },
        { type: 'dense', units: 16, precision: 'binary' },
      ],
    },
    'mixed',
  );
  t.same(mixed.ops[0], { conv: 20, padding: 'valid', quant: parseQuantConfig('float', 'msqe', 'outlier') });
  t.equal((mixed.ops[1] as { quant?: unknown }).quant, undefined, 'the model precision (binary)');
  t.same(mixed.classifierQuant, parseQuantConfig('w8a8', 'msqe', 'outlier'));
  t.same(
    planModel(mixed).map((l) => l.type),
    ['qconv', 'qact', 'conv', 'bn', 'sign', 'flatten', 'dense', 'bn', 'sign', 'qdense'],
  );
  t.same(parseModelDefinition(JSON.parse(JSON.stringify(definitionOf(mixed))), 'round trip'), mixed, 'mixed precision survives definitionOf');
  // 3x3 max-pooling survives the round trip
  const pooled = parseModelDefinition(
    {
      ...base,
      layers: [
        { type: 'conv', filters: 32, padding: 'same' },
        { type: 'maxpool', size: 3 },
      ],
    },
    'pooled',
  );
  t.same(pooled.ops[1], { pool: 3 });
  t.same(parseModelDefinition(JSON.parse(JSON.stringify(definitionOf(pooled))), 'round trip'), pooled);
  // average pooling: a float map, so a dense layer after it takes any channel count
  const averaged = parseModelDefinition(
    {
      ...base,
      layers: [
        { type: 'conv', filters: 20 },
        { type: 'avgpool', size: 3 },
        { type: 'conv', filters: 12, kernel: 1 },
        { type: 'globalavgpool' },
        { type: 'dense', units: 8 },
      ],
    },
    'averaged',
  );
  t.same(averaged.ops[1], { avgpool: 3 });
  t.same(averaged.ops[3], { avgpool: 'global' });
  t.same(planModel(averaged)[3], { type: 'avgpool', name: 'avgpool1', h: 6, w: 6, channels: 20, sh: 3, sw: 3 });
  t.same(parseModelDefinition(JSON.parse(JSON.stringify(definitionOf(averaged))), 'round trip'), averaged, 'average pooling survives definitionOf');
  // a fixed-point model may flatten any channel count
  t.ok(
    parseModelDefinition(
      {
        ...base,
        precision: 'w4a8',
        layers: [
          { type: 'conv', filters: 20 },
          { type: 'dense', units: 8 },
        ],
      },
      'ok',
    ),
  );
});

t.test('model files: read errors, --quant on a file that sets its own precision', async (t) => {
  t.throws(() => loadModelFile(join(dir, 'missing.json')), /model file .*missing\.json: cannot read it \(no such file\)/);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"name": ');
  t.throws(() => loadModelFile(bad), /model file .*bad\.json: not valid JSON/);
  const fixed = join(dir, 'fixed.json');
  writeFileSync(fixed, JSON.stringify({ input: { features: 4 }, classes: 2, layers: [], precision: 'w8a8' }));
  t.throws(() => modelSpec(fixed, parseQuantConfig('w4a8')), /sets its precision \(w8a8 msqe\): leave out --quant/);
  t.throws(() => modelSpec('mlpp'), /unknown model "mlpp" \(available: mlp, cnv, binarynet, mnist-conv, or the path of a JSON model file\)/);
});

t.test('a model file trains from the CLI, and its checkpoint reloads in a fresh process with nothing else', async (t) => {
  const file = join(dir, 'small-conv.json');
  writeFileSync(
    file,
    JSON.stringify({
      name: 'small-conv',
      input: { height: 28, width: 28, channels: 1 },
      classes: 10,
      layers: [
        { type: 'conv', filters: 32, padding: 'same' },
        { type: 'maxpool' },
        { type: 'conv', filters: 32 },
        { type: 'maxpool' },
        { type: 'flatten' },
        { type: 'dense', units: 64 },
      ],
    }),
  );
  const ckpt = join(dir, 'small.ckpt');
  const args = [
    'train',
    '--model',
    file,
    '--limit-train',
    '400',
    '--limit-test',
    '200',
    '--batch',
    '50',
    '--epochs',
    '1',
    '--checkpoint',
    ckpt,
    '--quiet',
    '--json',
  ];
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.equal(report.config.model, 'small-conv');
  t.equal(report.config.modelFile, file);
  // the model file is gone: the checkpoint alone rebuilds the network and evaluates the same
  writeFileSync(file, '{}');
  const probe = `
    import { loadTrainedNetwork } from ${JSON.stringify(join(process.cwd(), 'build/src/model/load.js'))};
    import { loadData } from ${JSON.stringify(join(process.cwd(), 'build/src/data/registry.js'))};
    const m = loadTrainedNetwork(${JSON.stringify(ckpt)});
    const data = loadData('mnist', { limitTrain: 400, limitTest: 200 });
    const r = m.network.evaluate(data.test);
    console.log(JSON.stringify({ spec: m.spec, accuracy: r.accuracy, loss: r.loss }));
  `;
  const p = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
  t.equal(p.status, 0, p.stderr);
  const loaded = JSON.parse(p.stdout);
  t.equal(loaded.spec.name, 'small-conv');
  t.same(loaded.spec.ops, [{ conv: 32, padding: 'same' }, { pool: 2 }, { conv: 32, padding: 'valid' }, { pool: 2 }, { dense: 64 }]);
  const last = report.history.at(-1);
  t.equal(loaded.accuracy, last.testAccuracy, 'same test accuracy as the run reported');
  t.equal(loaded.loss, last.testLoss, 'same test loss');
  // resuming with the edited (now empty) file is refused before anything trains
  const resume = spawnSync(process.execPath, [CLI, ...args, '--resume'], { encoding: 'utf8' });
  t.equal(resume.status, 1);
  t.match(resume.stderr, /model file .*small-conv\.json: (input|classes|layers)/);
});
