// Fine-tune the shipped binary MLP on a slice of MNIST, pack it into one small file, load the file
// as a device would (no training engine) and classify new digits with it.
// Run: node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs examples/packed-model.ts
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadData, loadPackedModel, loadTrainedNetwork, packedFile, PRESETS, train } from 'bitlearn';

const dir = mkdtempSync(join(tmpdir(), 'bitlearn-example-'));
const checkpoint = join(dir, 'tuned.ckpt');
const data = loadData('mnist', { limitTrain: 2000, limitTest: 1000 });

// start from the shipped checkpoint (by name) and train one more epoch on 2,000 examples
const run = await train(
  { model: 'mlp', init: 'mlp-mnist', recipeName: 'standard', recipe: PRESETS.standard, batch: 100, epochs: 1, seed: 1, lr: 1e-4, checkpoint },
  data,
);
run.network.dispose();
console.log(`fine-tuned: test accuracy ${(100 * run.history[0].testAccuracy).toFixed(2)}%`);

// pack it: sign bits, thresholds, a checksum
const model = loadTrainedNetwork(checkpoint);
const file = join(dir, 'model.blpk');
const bytes = packedFile(model.network, model.spec, model.input, 'example');
writeFileSync(file, bytes);
model.network.dispose();
console.log(`packed model: ${bytes.length} bytes`);

// on the device: load the file and classify the first 5 test digits (8-bit pixels in)
const packed = loadPackedModel(file);
const px = data.test.images.subarray(0, 5 * 784);
const { classes, probabilities } = packed.predictRows(px);
for (const [i, c] of classes.entries()) console.log(`digit ${i}: ${c} (p = ${probabilities[i * 10 + c].toFixed(3)}), truth ${data.test.labels[i]}`);
