// `bitlearn export`: a trained checkpoint as a TF.js LayersModel (model.json + weights.bin).
import { Command, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { loadData, DATA_SETS } from '../data/registry.js';
import type { Dataset } from '../data/dataset.js';
import { loadLabeledInputs, parseDataSource } from '../data/own.js';
import { checkInputsFit, featureNormalization, inputsOf } from '../model/predict.js';
import { loadTrainedNetwork, type LoadedModel } from '../model/load.js';
import { precisionKind } from '../model/spec.js';
import type { IntCheck } from '../export/int.js';
import type { ExportCheck } from '../export/verify.js';
import type { PackedCheck } from '../export/packed-check.js';
import { VERSION } from '../version.js';
import { readCheckpoint, writeCheckpoint } from '../checkpoint.js';
import { checkpointPath, PRETRAINED } from '../model/pretrained.js';
import { positiveInt } from './options.js';

const FORMATS = ['tfjs', 'int', 'packed', 'weights'];

export function exportCommand(): Command {
  return new Command('export')
    .description(
      'export a trained checkpoint: tfjs = a TF.js LayersModel (standard layers only: tf.loadLayersModel loads ' +
        'it as is); int = integer weights, one shift per tensor, for integer-only inference (fixed-point models); ' +
        'packed = one compact file that bitlearn predict runs: sign bits, batch norm + sign as thresholds, fixed-point weights ' +
        'as packed integer codes, a checksum (docs/inference.md); weights = a checkpoint without optimizer state (for --init, ' +
        'predict and export; not --resume)',
    )
    .argument('<checkpoint>', `training checkpoint (bitlearn train --checkpoint), or a shipped one: ${Object.keys(PRETRAINED).join(', ')}`)
    .option(
      '--format <name>',
      `export format (${FORMATS.join(', ')})`,
      (v) => {
        if (!FORMATS.includes(v)) throw new InvalidArgumentError(`unknown format "${v}" (available: ${FORMATS.join(', ')})`);
        return v;
      },
      'tfjs',
    )
    .option('--out <dir>', 'output directory (tfjs: model.json and weights.bin; int: model.int.json; packed: model.blpk; weights: NAME.ckpt)', 'export')
    .option('--name <name>', 'weights: the file name (default: the model name)')
    .option(
      '--verify',
      'tfjs: load the export with tf.loadLayersModel; int: run the integer-only forward; packed: run the file; ' +
        "and compare the predictions with bitlearn's on the test set",
    )
    .option(
      '--data <name|source>',
      `data for --verify: a data set's test split (${DATA_SETS.join(', ')}), or your own: csv:FILE.csv (with --label), npy:X.npy,Y.npy, images:DIR`,
      'mnist',
    )
    .option('--data-dir <dir>', 'directory with the data set files')
    .option('--label <column>', 'csv: the label column (the other columns, or --features, are the features)')
    .option('--features <columns>', 'csv: the feature columns, comma-separated')
    .option('--limit-test <n>', 'verify on the first n examples', positiveInt)
    .option('--json', 'print the result as JSON')
    .action(async (ckpt: string, o) => {
      const loaded = loadTrainedNetwork(ckpt);
      // the examples to verify on are read (and checked) before anything is written
      const check = o.verify ? await verifySet(o, loaded) : null;
      if (o.format === 'int') return exportInt(ckpt, loaded, o, check);
      if (o.format === 'packed') return exportPacked(ckpt, loaded, o, check);
      if (o.format === 'weights') return exportWeights(ckpt, loaded, o);
      const kind = precisionKind(loaded.spec);
      const other = kind === 'fixed' ? 'a fixed-point model exports with --format int' : 'a model mixing precisions exports with --format packed';
      if (kind !== 'binary') throw new Error(`--format tfjs exports binary models; ${other}`);
      // TF.js is loaded only by the commands that use it (it adds ~35 MiB to a process)
      const { loadTfjs, modelJson, tfjsArtifacts } = await import('../export/tfjs.js');
      const tf = await loadTfjs();
      const { checkExport } = await import('../export/verify.js');
      tf.env().set('PROD', true); // no console banner about tfjs-node
      await tf.setBackend('cpu');
      const artifacts = await tfjsArtifacts(loaded.network, loaded.spec);
      // weights first: a model.json never points at weights that are not there
      writeFileAtomic(join(o.out, 'weights.bin'), new Uint8Array(artifacts.weightData));
      writeJsonAtomic(join(o.out, 'model.json'), modelJson(artifacts, 'weights.bin', `bitlearn ${VERSION}`));
      const result: Record<string, unknown> = {
        checkpoint: ckpt,
        model: loaded.spec.name,
        recipe: loaded.recipeName,
        epoch: loaded.epoch,
        format: o.format,
        files: [join(o.out, 'model.json'), join(o.out, 'weights.bin')],
        weightBytes: artifacts.weightData.byteLength,
      };
      if (check) result.verify = await checkExport(artifacts, loaded.network, loaded.spec, check);
      loaded.network.dispose();
      if (o.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const lines = [
        `exported ${loaded.spec.name} (${loaded.recipeName}, epoch ${loaded.epoch}) to ` +
          `${o.out}/model.json + weights.bin (${artifacts.weightData.byteLength} bytes of weights)`,
      ];
      const v = result.verify as ExportCheck | undefined;
      if (v)
        lines.push(
          `verify on ${v.examples} test examples: TF.js and bitlearn agree on ${v.agree} (${((100 * v.agree) / v.examples).toFixed(2)}%); ` +
            `accuracy TF.js ${(100 * v.tfjsAccuracy).toFixed(2)}%, bitlearn ${(100 * v.bitlearnAccuracy).toFixed(2)}%`,
        );
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

async function exportInt(ckpt: string, loaded: LoadedModel, o: { out: string; json?: boolean }, check: Dataset | null): Promise<void> {
  const { intArtifacts, checkIntExport } = await import('../export/int.js');
  const model = intArtifacts(loaded.network, loaded.spec, `bitlearn ${VERSION}`);
  const file = join(o.out, 'model.int.json');
  writeJsonAtomic(file, model);
  const result: Record<string, unknown> = {
    checkpoint: ckpt,
    model: loaded.spec.name,
    quant: model.quant,
    epoch: loaded.epoch,
    format: 'int',
    files: [file],
    ops: model.ops.map((o) =>
      o.op === 'dense' || o.op === 'conv'
        ? { op: o.op, name: o.name, weightBits: o.weightBits, weightExponent: o.weightExponent, accExponent: o.accExponent }
        : o,
    ),
    accumulatorBound: model.accumulatorBound,
  };
  if (check) result.verify = checkIntExport(model, loaded.network, check);
  loaded.network.dispose();
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const lines = [
    `exported ${loaded.spec.name} ${model.quant} (epoch ${loaded.epoch}) to ${file}: ` +
      `integer weights, one exponent per tensor, int32 biases, one shift per activation`,
    ...model.ops.map((o) =>
      o.op === 'dense' || o.op === 'conv'
        ? `  ${o.name}: ${o.op === 'conv' ? `3x3 conv ${o.nIn} -> ${o.nOut} channels` : `${o.nOut}x${o.nIn}`}, ` +
          `int${o.weightBits} weights x 2^${o.weightExponent}, accumulator 2^${o.accExponent}`
        : o.op === 'maxpool'
          ? `  ${o.name}: 2x2 max-pool of the accumulators`
          : `  ${o.name}: ReLU -> uint${o.bits} x 2^${o.exponent} (shift ${o.shift})`,
    ),
    `largest possible |accumulator|: ` +
      String(model.accumulatorBound) +
      (model.accumulatorBound >= 2 ** 24
        ? ' (above 2^24: the float simulation may round where the integer forward does not)'
        : ' (< 2^24: the float simulation is exact)'),
  ];
  const v = result.verify as IntCheck | undefined;
  if (v)
    lines.push(
      `verify on ${v.examples} test examples: integer-only forward and float simulation agree on ${v.agree} (${((100 * v.agree) / v.examples).toFixed(2)}%); ` +
        `accuracy integer ${(100 * v.intAccuracy).toFixed(2)}%, float simulation ${(100 * v.floatAccuracy).toFixed(2)}%`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function exportPacked(ckpt: string, loaded: LoadedModel, o: { out: string; json?: boolean }, check: Dataset | null): Promise<void> {
  const { packedFile } = await import('../export/packed.js');
  const { PackedModel } = await import('../export/packed-runner.js');
  const bytes = packedFile(loaded.network, loaded.spec, loaded.input, `bitlearn ${VERSION}`);
  const file = join(o.out, 'model.blpk');
  writeFileAtomic(file, bytes);
  const result: Record<string, unknown> = {
    checkpoint: ckpt,
    model: loaded.spec.name,
    recipe: loaded.recipeName,
    epoch: loaded.epoch,
    format: 'packed',
    files: [file],
    bytes: bytes.length,
  };
  if (check) {
    const { checkPacked } = await import('../export/packed-check.js');
    result.verify = checkPacked(new PackedModel(bytes, file), loaded.network, check);
  }
  loaded.network.dispose();
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const lines = [
    `exported ${loaded.spec.name} (${loaded.recipeName}, epoch ${loaded.epoch}) to ${file}: ${bytes.length} bytes (${(bytes.length / 1024).toFixed(1)} KiB)`,
  ];
  const v = result.verify as PackedCheck | undefined;
  if (v)
    lines.push(
      `verify on ${v.examples} test examples: packed file and checkpoint agree on ${v.agree} (${((100 * v.agree) / v.examples).toFixed(2)}%); ` +
        `accuracy ${(100 * v.packedAccuracy).toFixed(2)}% vs ${(100 * v.checkpointAccuracy).toFixed(2)}%; ` +
        `largest probability difference ${v.maxProbabilityDifference}`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The checkpoint's model, input preparation and trained tensors, without optimizer or loop state. */
function exportWeights(ckpt: string, loaded: LoadedModel, o: { out: string; name?: string; json?: boolean }): void {
  const name = o.name ?? loaded.spec.name;
  if (!/^[\w.-]+$/.test(name)) throw new Error(`--name ${JSON.stringify(name)}: letters, digits, _ . - only`);
  const m = readCheckpoint(checkpointPath(ckpt)).meta;
  const last = Array.isArray(m.history) ? (m.history[m.history.length - 1] as { testAccuracy?: number } | undefined) : undefined;
  const meta = {
    format: 'bitlearn-train',
    weightsOnly: true,
    producer: `bitlearn ${VERSION}`,
    model: m.model,
    definition: m.definition,
    input: m.input,
    quant: m.quant ?? null,
    recipeName: m.recipeName,
    recipe: m.recipe,
    batch: m.batch,
    seed: m.seed,
    epoch: m.epoch,
    trainScope: m.trainScope ?? 'all',
    testAccuracy: last?.testAccuracy ?? null,
  };
  const file = join(o.out, `${name}.ckpt`);
  writeCheckpoint(file, meta, loaded.network.stateTensors());
  loaded.network.dispose();
  const bytes = statSync(file).size;
  if (o.json) process.stdout.write(`${JSON.stringify({ checkpoint: ckpt, format: 'weights', files: [file], bytes }, null, 2)}\n`);
  else
    process.stdout.write(
      `exported the trained tensors of ${ckpt} (${loaded.spec.name}, ${loaded.recipeName}, epoch ${loaded.epoch}) to ${file}: ${bytes} bytes\n`,
    );
}

/**
 * The examples `--verify` compares on: a data set's test split, or every example of your own
 * source prepared as the model's training data was (its standardization and class names).
 */
async function verifySet(o: { data: string; dataDir?: string; label?: string; features?: string; limitTest?: number }, loaded: LoadedModel): Promise<Dataset> {
  if (!parseDataSource(o.data)) {
    if (o.label || o.features) throw new Error(`--label and --features apply to your own data (--data csv:, npy: or images:), not ${o.data}`);
    return loadData(o.data, { dir: o.dataDir, limitTrain: 2, limitTest: o.limitTest }).test;
  }
  const m = inputsOf(loaded);
  const data = await loadLabeledInputs(o.data, {
    label: o.label,
    features: o.features?.split(',').map((s) => s.trim()),
    shape: m.shape,
    normalization: featureNormalization(m.input),
    classNames: m.input.classNames,
    classes: m.classes,
    limit: o.limitTest,
  });
  checkInputsFit(m, data, `--data ${o.data}`);
  return data;
}
