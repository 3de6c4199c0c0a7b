// Train a binary network on your own arrays, save it, load it in a fresh start and predict.
//   npm run build && node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs examples/own-data.ts
// (type-checked and run by test/examples.test.ts)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArrayData, PRESETS, loadTrainedNetwork, modelMemory, parseModelDefinition, predict, splitFromArrays, train } from 'bitlearn';

// 1. Data: six sensor readings per example, three states of a machine (idle, running, fault).
//    Any Float32Array / number[][] and integer labels will do; the readings need no scaling:
//    bitlearn standardizes each feature with the training data's mean and deviation.
function readings(count: number, seed: number): ArrayData {
  let s = seed;
  const random = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < count; i++) {
    const state = i % 3;
    const temperature = 40 + 15 * state + 4 * random();
    const vibration = 0.2 + (state === 2 ? 1.5 : 0.3 * state) + 0.2 * random();
    const current = 2 + 3 * Math.min(state, 1) + 0.5 * random();
    x.push([temperature, vibration, current, random(), temperature * 0.1 + random(), vibration + current * 0.05]);
    y.push(state);
  }
  return { x, y };
}
const data = splitFromArrays(readings(1500, 1), readings(300, 2), { classNames: ['idle', 'running', 'fault'] });

// 2. The model: the same definition a JSON model file holds (docs/models.md).
const spec = parseModelDefinition(
  {
    name: 'machine-state',
    input: { features: 6 },
    classes: 3,
    layers: [
      { type: 'dense', units: 128 },
      { type: 'dense', units: 128 },
    ],
  },
  'example',
);
const recipe = PRESETS['low-memory'];
console.log(`engine memory at batch 50: ${(modelMemory(spec, recipe, 50).total / 1024).toFixed(1)} KiB`);

// 3. Train with the low-memory recipe; the checkpoint carries the model and the standardization.
const checkpoint = join(mkdtempSync(join(tmpdir(), 'bitlearn-example-')), 'machine-state.ckpt');
const result = await train({ model: spec.name, spec, recipeName: 'low-memory', recipe, batch: 50, epochs: 8, seed: 1, lr: 1e-3, checkpoint, threads: 1 }, data);
const last = result.history[result.history.length - 1];
console.log(`test accuracy after ${result.history.length} epochs: ${(100 * last.testAccuracy).toFixed(1)}%`);
result.network.dispose();

// 4. Later, in another process: the checkpoint alone rebuilds the model; raw readings in, states out.
const model = loadTrainedNetwork(checkpoint);
const fresh = readings(6, 3);
const out = predict(model, fresh.x);
for (let i = 0; i < out.classes.length; i++) {
  const p = out.probabilities.subarray(i * 3, i * 3 + 3);
  console.log(`example ${i}: ${out.classNames?.[out.classes[i]]} (p = ${p[out.classes[i]].toFixed(2)}), truth ${out.classNames?.[fresh.y[i]]}`);
}
model.network.dispose();
