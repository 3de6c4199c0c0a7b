// Train a binary MLP on a CSV file from TypeScript: the same reader, standardization and checks
// as `bitlearn train --data csv:FILE --label COLUMN`.
//   npm run build && node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs examples/csv-data.ts [FILE.csv LABEL]
// Without arguments it writes a small CSV of sensor readings first. (Run by test/examples.test.ts.)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS, loadOwnData, parseDataSource, parseModelDefinition, train } from 'bitlearn';

let [file, label] = process.argv.slice(2);
if (!file) {
  // 900 rows: temperature, humidity, vibration -> "ok", "warn" or "alarm"
  file = join(mkdtempSync(join(tmpdir(), 'bitlearn-csv-')), 'readings.csv');
  label = 'state';
  const rows = ['temperature,humidity,vibration,state'];
  for (let i = 0; i < 900; i++) {
    const k = i % 3;
    const noise = (n: number) => Math.sin(i * 12.9898 + n * 78.233) * 0.5;
    rows.push(
      [(20 + 8 * k + 3 * noise(1)).toFixed(2), (40 + 10 * noise(2)).toFixed(1), (0.1 + 0.4 * k + 0.15 * noise(3)).toFixed(3), ['ok', 'warn', 'alarm'][k]].join(
        ',',
      ),
    );
  }
  writeFileSync(file, `${rows.join('\n')}\n`);
}

// the CSV streams from a float32 row file; 20% of the rows (seeded) are held out for testing
const data = await loadOwnData(parseDataSource(`csv:${file}`)!, { label, seed: 1 });
console.log(`${data.train.count} training rows, ${data.test.count} test rows, ${data.train.features} features, classes ${data.train.classNames?.join(', ')}`);
const spec = parseModelDefinition(
  {
    name: 'csv-mlp',
    input: { features: data.train.features },
    classes: data.train.classes,
    layers: [
      { type: 'dense', units: 128 },
      { type: 'dense', units: 128 },
    ],
  },
  'example',
);
const result = await train(
  { model: spec.name, spec, recipeName: 'low-memory', recipe: PRESETS['low-memory'], batch: 40, epochs: 6, seed: 1, lr: 1e-3, threads: 1 },
  data,
);
console.log(`test accuracy: ${(100 * result.history[result.history.length - 1].testAccuracy).toFixed(1)}%`);
result.network.dispose();
