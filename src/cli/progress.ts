// Progress for long work: a bar per epoch on a terminal (cli-progress), one line per epoch otherwise.
import cliProgress from 'cli-progress';
import type { EpochRecord, TrainHooks } from '../trainer.js';

export function progressHooks(opts: { quiet: boolean; totalEpochs: number }): TrainHooks {
  if (opts.quiet) return {};
  const tty = Boolean(process.stderr.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  return {
    onEpochStart(epoch, batches) {
      if (!tty) return;
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `epoch ${epoch}/${opts.totalEpochs} [{bar}] {value}/{total} batches | loss {loss} | eta {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(batches, 0, { loss: '-' });
    },
    onBatch(_epoch, b, loss) {
      bar?.update(b, { loss: loss.toFixed(4) });
    },
    onEpochEnd(r: EpochRecord) {
      bar?.stop();
      bar = null;
      process.stderr.write(
        `epoch ${r.epoch}/${opts.totalEpochs}: train loss ${r.trainLoss.toFixed(4)} acc ${(100 * r.trainAccuracy).toFixed(2)}% | ` +
          `test loss ${r.testLoss.toFixed(4)} acc ${(100 * r.testAccuracy).toFixed(2)}% | lr ${r.lr.toExponential(2)} | ` +
          `${r.msPerBatchMedian.toFixed(1)} ms/batch | ${r.seconds.toFixed(1)} s\n`,
      );
    },
  };
}
