// `bitlearn predict`: a trained model's class and class probabilities for new inputs.
import { Command, Option } from 'commander';
import { writeFileAtomic } from '../atomic-write.js';
import { loadInputs } from '../data/own.js';
import type { Dataset } from '../data/dataset.js';
import { isPackedFile } from '../formats/packed-file.js';
import { loadPackedModel } from '../export/packed-runner.js';
import { loadTrainedNetwork } from '../model/load.js';
import { checkpointPath } from '../model/pretrained.js';
import { checkInputsFit, featureNormalization, inputsOf, type ModelInputs } from '../model/predict.js';
import { checkOutputPath } from '../train/preflight.js';
import { positiveInt } from './options.js';
import { writeStdout } from './run-control.js';

/** A checkpoint or a packed model file, as predict uses it. */
interface Predictor {
  inputs: ModelInputs;
  predict(data: Dataset, classes: Int32Array, probabilities: Float32Array): void;
  dispose(): void;
}

function openModel(path: string, batch: number): Predictor {
  if (isPackedFile(checkpointPath(path))) {
    const packed = loadPackedModel(path, { batch });
    return { inputs: packed.inputs, predict: (d, c, p) => packed.predict(d, c, p), dispose: () => {} };
  }
  const model = loadTrainedNetwork(path, 'auto', batch);
  return { inputs: inputsOf(model), predict: (d, c, p) => model.network.predict(d, c, p), dispose: () => model.network.dispose() };
}

/** A CSV cell: quoted where it holds a comma, a quote or a line break. */
const cell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function predictCommand(): Command {
  return new Command('predict')
    .description('classes and class probabilities of new inputs from a training checkpoint or a packed model file (inputs prepared as in training)')
    .argument('<model>', 'a checkpoint written by bitlearn train, or a packed file (bitlearn export --format packed)')
    .requiredOption('--input <source>', 'csv:FILE.csv, npy:X.npy or images:DIR (a folder of images, or class folders)')
    .option('--label <column>', 'csv: a label column to leave out of the features')
    .option('--features <columns>', 'csv: the feature columns, comma-separated (default: every column but --label)')
    .option('--batch <n>', 'examples per forward pass (memory only: results do not depend on it)', positiveInt, 100)
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json']).default('csv'))
    .option('--out <file>', 'write the predictions to this file (default: stdout)')
    .option('--json', 'the same as --format json')
    .action(async (checkpoint: string, o) => {
      if (o.out) checkOutputPath(o.out, '--out');
      const model = openModel(checkpoint, o.batch);
      const m = model.inputs;
      try {
        const { data, names } = await loadInputs(o.input, {
          label: o.label,
          features: o.features?.split(',').map((s: string) => s.trim()),
          shape: m.shape,
          normalization: featureNormalization(m.input),
        });
        checkInputsFit(m, data, `--input ${o.input}`);
        const K = m.classes;
        const classes = new Int32Array(data.count);
        const probabilities = new Float32Array(data.count * K);
        model.predict(data, classes, probabilities);
        const classNames = m.input.classNames ?? Array.from({ length: K }, (_, c) => String(c));
        const json = o.json || o.format === 'json';
        const text = json
          ? `${JSON.stringify(
              {
                model: m.name,
                checkpoint,
                classes: classNames,
                predictions: names.map((name, i) => ({
                  example: name,
                  class: classNames[classes[i]],
                  probabilities: Array.from(probabilities.subarray(i * K, (i + 1) * K), (p) => Number(p.toPrecision(6))),
                })),
              },
              null,
              2,
            )}\n`
          : `${['example', 'class', ...classNames.map((c) => `p_${c}`)].map(cell).join(',')}\n${names
              .map((name, i) =>
                [name, classNames[classes[i]], ...Array.from(probabilities.subarray(i * K, (i + 1) * K), (p) => p.toPrecision(6))].map(cell).join(','),
              )
              .join('\n')}\n`;
        if (o.out) {
          writeFileAtomic(o.out, text, 'predictions');
          process.stderr.write(`predict: ${data.count} examples -> ${o.out}\n`);
        } else await writeStdout(text);
      } finally {
        model.dispose();
      }
    });
}
