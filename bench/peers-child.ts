// One peer-benchmark contestant in a process of its own (bitlearn __child peers JSON; its peak
// RSS is its own). JSON:
// { engine: 'tfjs' | 'bitlearn', backend | recipe, epochs, batch, limitTrain?, threads? }; prints JSON.
import { loadData } from '../src/data/registry.js';
import { PRESETS } from '../src/recipe.js';
import { train } from '../src/train/loop.js';

export async function peersChild(json: string): Promise<void> {
  const c = JSON.parse(json);
  // TF.js users hold the data set in memory; bitlearn streams it unless told otherwise
  const data = loadData('mnist', { limitTrain: c.limitTrain, stream: c.engine === 'bitlearn' && c.stream !== false });
  if (c.engine === 'tfjs') {
    // loaded only here: the bitlearn contestant's peak RSS must not include TF.js
    const { runPeer } = await import('./peer-tfjs.js');
    process.stdout.write(`${JSON.stringify(await runPeer(c.backend, data, c.epochs, c.batch))}\n`);
  } else {
    const r = await train(
      {
        model: 'mlp',
        recipeName: c.recipe,
        recipe: PRESETS[c.recipe],
        batch: c.batch,
        epochs: c.epochs,
        seed: 1,
        lr: 1e-3,
        threads: c.threads,
        kernels: 'auto',
      },
      data,
    );
    process.stdout.write(
      `${JSON.stringify({
        engine: 'bitlearn',
        backend: `${r.network.kernels.name}, ${c.recipe}, ${r.network.kernels.threads ?? 1} thread(s), data ${data.train.streamed ? 'streamed' : 'in memory'}`,
        epochs: c.epochs,
        batch: c.batch,
        msPerBatchMedian: r.msPerBatchMedian,
        batchesTimed: r.batchesTimed,
        testAccuracy: r.history[r.history.length - 1].testAccuracy,
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
        ledgerBytes: r.network.ledger.totalBytes,
      })}\n`,
    );
    r.network.dispose();
  }
}
