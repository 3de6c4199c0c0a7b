// `bitlearn predict`: a trained model's class and class probabilities for new inputs.
import { Command, Option } from 'commander';
import { writeFileAtomic } from '../atomic-write.js';
import { loadInputs } from '../data/own.js';
import { loadTrainedNetwork } from '../model/load.js';
import { featureNormalization } from '../model/predict.js';
import { checkOutputPath } from '../train/preflight.js';
import { positiveInt } from './options.js';
import { writeStdout } from './run-control.js';

/** A CSV cell: quoted where it holds a comma, a quote or a line break. */
const cell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export function predictCommand(): Command {
  return new Command('predict')
    .description('classes and class probabilities of new inputs from a training checkpoint (inputs prepared as in training)')
    .argument('<checkpoint>', 'a checkpoint written by bitlearn train')
    .requiredOption('--input <source>', 'csv:FILE.csv, npy:X.npy or images:DIR (a folder of images, or class folders)')
    .option('--label <column>', 'csv: a label column to leave out of the features')
    .option('--features <columns>', 'csv: the feature columns, comma-separated (default: every column but --label)')
    .option('--batch <n>', 'examples per forward pass (memory only: results do not depend on it)', positiveInt, 100)
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json']).default('csv'))
    .option('--out <file>', 'write the predictions to this file (default: stdout)')
    .option('--json', 'the same as --format json')
    .action(async (checkpoint: string, o) => {
      if (o.out) checkOutputPath(o.out, '--out');
      const model = loadTrainedNetwork(checkpoint, 'auto', o.batch);
      try {
        const { data, names } = await loadInputs(o.input, {
          label: o.label,
          features: o.features?.split(',').map((s: string) => s.trim()),
          shape: model.spec.input,
          normalization: featureNormalization(model.input),
        });
        if (data.features !== model.network.input.features)
          throw new Error(`--input ${o.input}: ${data.features} values per example, model ${model.spec.name} takes ${model.network.input.features}`);
        if (model.input.kind === 'features' && !data.values)
          throw new Error(`--input ${o.input}: model ${model.spec.name} was trained on float features, not images`);
        if (model.input.kind === 'pixels' && data.values) throw new Error(`--input ${o.input}: model ${model.spec.name} was trained on images (8-bit pixels)`);
        const K = model.spec.classes;
        const classes = new Int32Array(data.count);
        const probabilities = new Float32Array(data.count * K);
        model.network.predict(data, classes, probabilities);
        const classNames = model.input.classNames ?? Array.from({ length: K }, (_, c) => String(c));
        const json = o.json || o.format === 'json';
        const text = json
          ? `${JSON.stringify(
              {
                model: model.spec.name,
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
        model.network.dispose();
      }
    });
}
