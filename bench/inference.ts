// bench --suite inference: a trained binary model run the two ways a device can run it, each in a
// process of its own (its peak RSS is its own), in interleaved rounds: bitlearn's packed file
// (PackedModel) and the TF.js export on TF.js's wasm backend. Per contestant: file bytes, load
// time, latency at batch 1 (one example in, its probabilities out, input scaling included),
// time per batch of 100, agreement with the checkpoint's classes, peak RSS.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stageRows } from '../src/data/dataset.js';
import { loadData } from '../src/data/registry.js';
import { loadTrainedNetwork } from '../src/model/load.js';
import { PRESETS } from '../src/recipe.js';
import { median } from '../src/stats.js';
import { train } from '../src/train/loop.js';
import { runChildSync } from './children.js';
import { formatTable } from '../src/report/table.js';

export interface InferenceJob {
  engine: 'packed' | 'tfjs-wasm';
  dir: string;
  model: string;
  /** The model's input shape (the TF.js model takes images as [n, h, w, c], vectors as [n, features]). */
  shape: { h: number; w: number; c: number };
  limitTest: number;
  /** Single-example predictions timed. */
  singles: number;
  /** Batches of 100 timed. */
  batches: number;
}

export interface InferenceRun {
  engine: string;
  fileBytes: number;
  loadMs: number;
  batch1MsMedian: number;
  batch100MsMedian: number;
  /** The classes of the test examples. */
  classes: number[];
  peakRssBytes: number;
}

export interface InferenceRow {
  engine: string;
  fileBytes: number;
  loadMs: number;
  batch1MsMedian: number;
  batch100MsMedian: number;
  examplesPerSecond: number;
  /** Test examples where the engine's class equals the checkpoint's. */
  agree: number;
  examples: number;
  accuracy: number;
  peakRssBytes: number;
}

export interface InferenceReport {
  model: string;
  recipe: string;
  trainedOn: number;
  checkpointAccuracy: number;
  rounds: number;
  rows: InferenceRow[];
  /** TF.js's batch-1 latency over the packed file's (same run). */
  batch1Speedup: number | null;
}

/** Train the model (one epoch), export it both ways, then the contestants in `rounds` interleaved rounds. */
export async function runInferenceSuite(
  o: { model: string; recipe: string; limitTrain: number; limitTest: number; rounds: number; singles: number; batches: number },
  progress: (line: string) => void,
): Promise<InferenceReport> {
  const dir = mkdtempSync(join(tmpdir(), 'bitlearn-inference-'));
  try {
    progress(`  training ${o.model} (${o.recipe}) for one epoch on ${o.limitTrain} MNIST examples`);
    const ckpt = join(dir, 'model.ckpt');
    const data = loadData('mnist', { limitTrain: o.limitTrain, limitTest: o.limitTest });
    const r = await train(
      {
        model: o.model,
        recipeName: o.recipe,
        recipe: PRESETS[o.recipe],
        batch: 100,
        epochs: 1,
        seed: 1,
        lr: 1e-3,
        threads: 1,
        checkpoint: ckpt,
        overwrite: true,
      },
      data,
    );
    r.network.dispose();
    const loaded = loadTrainedNetwork(ckpt);
    const { packedFile } = await import('../src/export/packed.js');
    writeFileSync(join(dir, 'model.blpk'), packedFile(loaded.network, loaded.spec, loaded.input, 'bench'));
    const tf = await import('@tensorflow/tfjs');
    tf.env().set('PROD', true); // no console banner about tfjs-node
    await tf.setBackend('cpu');
    const { tfjsArtifacts, modelJson } = await import('../src/export/tfjs.js');
    const a = await tfjsArtifacts(loaded.network, loaded.spec);
    writeFileSync(join(dir, 'weights.bin'), new Uint8Array(a.weightData));
    writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson(a, 'weights.bin', 'bench')));
    const ours = new Int32Array(data.test.count);
    const { accuracy } = loaded.network.evaluate(data.test, ours);
    const shape = loaded.spec.input;
    loaded.network.dispose();
    const runs: Record<string, InferenceRun[]> = { packed: [], 'tfjs-wasm': [] };
    for (let round = 1; round <= o.rounds; round++)
      for (const engine of ['packed', 'tfjs-wasm'] as const) {
        const job: InferenceJob = { engine, dir, model: o.model, shape, limitTest: o.limitTest, singles: o.singles, batches: o.batches };
        const run = runChildSync<InferenceRun>('inference', job, engine);
        runs[engine].push(run);
        progress(`  round ${round} ${engine}: batch 1 ${run.batch1MsMedian.toFixed(3)} ms, batch 100 ${run.batch100MsMedian.toFixed(2)} ms`);
      }
    const rows = Object.entries(runs).map(([engine, rs]): InferenceRow => {
      const classes = rs[0].classes;
      let agree = 0;
      let correct = 0;
      classes.forEach((c, i) => {
        if (c === ours[i]) agree++;
        if (c === data.test.labels[i]) correct++;
      });
      const b100 = median(rs.map((x) => x.batch100MsMedian));
      return {
        engine,
        fileBytes: rs[0].fileBytes,
        loadMs: median(rs.map((x) => x.loadMs)),
        batch1MsMedian: median(rs.map((x) => x.batch1MsMedian)),
        batch100MsMedian: b100,
        examplesPerSecond: 100 / (b100 / 1000),
        agree,
        examples: classes.length,
        accuracy: correct / classes.length,
        peakRssBytes: median(rs.map((x) => x.peakRssBytes)),
      };
    });
    const [packed, tfjs] = rows;
    return {
      model: o.model,
      recipe: o.recipe,
      trainedOn: o.limitTrain,
      checkpointAccuracy: accuracy,
      rounds: o.rounds,
      rows,
      batch1Speedup: tfjs.batch1MsMedian / packed.batch1MsMedian,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const now = () => performance.now();

/** One contestant (bitlearn __child inference JSON): prints an InferenceRun. */
export async function inferenceChild(json: string): Promise<void> {
  const job = JSON.parse(json) as InferenceJob;
  // the test examples only (the training file stays on disk)
  const test = loadData('mnist', { limitTrain: 2, limitTest: job.limitTest, stream: true }).test;
  const f = test.features;
  const staged = stageRows(
    test,
    Int32Array.from({ length: test.count }, (_, i) => i),
    0,
    test.count,
  );
  const px = staged.data.images.subarray(staged.offset * f, (staged.offset + test.count) * f);
  const singles: number[] = [];
  const hundreds: number[] = [];
  const classes: number[] = [];
  let fileBytes: number;
  let loadMs: number;
  if (job.engine === 'packed') {
    const { loadPackedModel } = await import('../src/export/packed-runner.js');
    const t0 = now();
    const m = loadPackedModel(join(job.dir, 'model.blpk'), { batch: 100 });
    loadMs = now() - t0;
    fileBytes = m.info.fileBytes;
    for (let i = 0; i < job.singles; i++) {
      const k = i % test.count;
      const s = now();
      m.predictRows(px.subarray(k * f, (k + 1) * f));
      singles.push(now() - s);
    }
    for (let b = 0; b < job.batches; b++) {
      const k = (b * 100) % Math.max(1, test.count - 100);
      const s = now();
      m.predictRows(px.subarray(k * f, (k + 100) * f));
      hundreds.push(now() - s);
    }
    for (let k = 0; k < test.count; k += 100) classes.push(...m.predictRows(px.subarray(k * f, Math.min(test.count, k + 100) * f)).classes);
  } else {
    const tf = await import('@tensorflow/tfjs');
    const { useBackend } = await import('./peer-tfjs.js');
    await useBackend('wasm');
    const t0 = now();
    const json = JSON.parse(readFileSync(join(job.dir, 'model.json'), 'utf8'));
    const weights = readFileSync(join(job.dir, 'weights.bin'));
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      }),
    );
    loadMs = now() - t0;
    fileBytes = Buffer.byteLength(JSON.stringify(json)) + weights.length;
    const { h, w, c } = job.shape;
    const run = (k: number, n: number) => {
      const x = Float32Array.from(px.subarray(k * f, (k + n) * f), (p) => p * (2 / 255) - 1);
      return tf.tidy(() => {
        const input = h * w > 1 ? tf.tensor4d(x, [n, h, w, c]) : tf.tensor2d(x, [n, f]);
        const p = model.predict(input) as import('@tensorflow/tfjs').Tensor;
        return { probs: p.dataSync(), classes: p.argMax(-1).dataSync() };
      });
    };
    for (let i = 0; i < job.singles; i++) {
      const s = now();
      run(i % test.count, 1);
      singles.push(now() - s);
    }
    for (let b = 0; b < job.batches; b++) {
      const s = now();
      run((b * 100) % Math.max(1, test.count - 100), 100);
      hundreds.push(now() - s);
    }
    for (let k = 0; k < test.count; k += 100) classes.push(...run(k, Math.min(100, test.count - k)).classes);
  }
  // the first calls warm up (JIT, allocation): the medians skip them anyway
  const result: InferenceRun = {
    engine: job.engine,
    fileBytes,
    loadMs,
    batch1MsMedian: median(singles),
    batch100MsMedian: median(hundreds),
    classes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** The suite's table and its one-line conclusion. */
export function formatInferenceReport(r: InferenceReport): string {
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const table = formatTable(
    ['engine', 'file bytes', 'load ms', 'batch 1 ms (median)', 'batch 100 ms', 'examples/s', 'same class as checkpoint', 'test accuracy', 'peak RSS MiB'],
    r.rows.map((x) => [
      x.engine,
      x.fileBytes,
      x.loadMs.toFixed(1),
      x.batch1MsMedian.toFixed(3),
      x.batch100MsMedian.toFixed(2),
      x.examplesPerSecond.toFixed(0),
      `${x.agree}/${x.examples}`,
      `${(100 * x.accuracy).toFixed(2)}%`,
      mib(x.peakRssBytes),
    ]),
  );
  return [
    `${r.model} (${r.recipe}), trained one epoch on ${r.trainedOn} MNIST examples (checkpoint accuracy ${(100 * r.checkpointAccuracy).toFixed(2)}%); ` +
      `${r.rounds} interleaved rounds, each contestant in its own process, medians`,
    table,
    r.batch1Speedup === null ? '' : `batch-1 latency: TF.js-wasm / packed = ${r.batch1Speedup.toFixed(1)}x`,
  ].join('\n');
}
