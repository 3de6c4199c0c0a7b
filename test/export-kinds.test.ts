// The exports ask each layer's kind to write its part (src/model/kinds/export-walk.ts): a kind may
// write the layers after it (fusion) and the walk skips them; a kind with no form in a format is
// refused with one line naming the layer, in that format's error class.
import t from 'tap';
import { IntExportError, intArtifacts } from '../src/export/int.js';
import { SectionWriter } from '../src/formats/packed-file.js';
import type { PackedWriter } from '../src/formats/packed-ops.js';
import { TfjsExportError, type TfjsWriter } from '../src/formats/tfjs-stage.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { writeLayers } from '../src/model/kinds/export-walk.js';
import { kindOf } from '../src/model/kinds/registry.js';
import { Network } from '../src/model/network.js';
import { planModel, type ModelSpec } from '../src/model/spec.js';
import { parseQuantConfig } from '../quant/quant-config.js';
import { PRESETS } from '../src/recipe.js';
import { identityOrder, mlpSpec, syntheticDataset } from './helpers.js';

const net = (spec: ModelSpec) => new Network({ spec, recipe: PRESETS.standard, batch: 8, kernels: referenceKernels, seed: 5 });

t.test('binary MLP: batch norm writes the sign after it (packed), the dense layer its batch norm and sign (TF.js)', async (t) => {
  const n = net(mlpSpec(20, [32], 4));
  t.same(
    n.plan.map((l) => l.type),
    ['dense', 'bn', 'sign', 'dense', 'bn'],
  );
  const packed: PackedWriter = { sections: new SectionWriter(), ops: [], input: 'float', zRange: null };
  writeLayers(n, 'packed', packed, (m) => new Error(m));
  t.same(
    packed.ops.map((o) => `${o.op} ${o.name}`),
    ['dense fc1', 'threshold bn1', 'dense fc2', 'batchnorm bn2'],
  );
  t.same(
    packed.ops.map((o) => ('input' in o ? o.input : '-')),
    ['float', '-', 'bits', '-'],
    'the layer after a threshold reads bits',
  );
  const tfjs: TfjsWriter = { stages: [], firstWeightLayer: true };
  writeLayers(n, 'tfjs', tfjs, (m) => new Error(m));
  t.same(
    tfjs.stages.map((s) => `${s.layer} ${s.config.name} ${s.config.activation}`),
    ['dense fc1 tanh', 'dense fc2 softmax'],
  );
  t.same(
    tfjs.stages.map((s) => s.weights?.map((w) => w.shape)),
    [
      [[20, 32], [32]],
      [[32, 4], [4]],
    ],
  );
  n.dispose();
});

t.test('a walk over a plan that does not match the layers is refused', async (t) => {
  const n = net(mlpSpec(20, [32], 4));
  t.throws(() => writeLayers({ plan: n.plan, layers: n.layers.slice(1) }, 'packed', {} as PackedWriter, (m) => new Error(m)), /does not match its model plan/);
  n.dispose();
});

t.test('a layer with no form in a format: one line naming it, in the format error class', async (t) => {
  const binary: ModelSpec = { name: 'avg', input: { h: 8, w: 8, c: 1 }, classes: 3, ops: [{ conv: 32, padding: 'same' }, { avgpool: 2 }, { dense: 16 }] };
  const b = net(binary);
  const { toTfjsModel } = await import('../src/export/tfjs.js');
  await t.rejects(toTfjsModel(b, binary), new TfjsExportError('avgpool1: the TF.js export has no form for average pooling yet'));
  b.dispose();
  const fixed: ModelSpec = { ...binary, name: 'avg-fixed', quant: parseQuantConfig('w4a8') };
  const f = net(fixed);
  f.computeGradients(syntheticDataset(1, 8, 64, 3), identityOrder(8), 0, 8); // the activation quantizers run in training
  t.throws(() => intArtifacts(f, fixed, 'test'), new IntExportError('avgpool1: the integer export has no form for average pooling yet'));
  f.dispose();
});

t.test('every kind of the plans names itself for those messages', async (t) => {
  const specs: ModelSpec[] = [
    mlpSpec(10, [32], 3),
    { name: 'c', input: { h: 8, w: 8, c: 1 }, classes: 3, ops: [{ conv: 32, padding: 'same' }, { pool: 2 }, { avgpool: 'global' }, { dense: 16 }] },
    {
      name: 'q',
      input: { h: 8, w: 8, c: 1 },
      classes: 3,
      quant: parseQuantConfig('w4a8', 'msqe', undefined, '0.5'),
      ops: [{ conv: 8, padding: 'same' }, { dense: 16 }],
    },
  ];
  const types = new Set<string>();
  for (const s of specs)
    for (const l of planModel(s)) {
      types.add(l.type);
      t.match(kindOf(l).title, /^[a-z][a-z -]+$/, l.type);
    }
  t.ok(types.size >= 9, [...types].join(' '));
});
