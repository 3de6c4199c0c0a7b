// Progress for long work, on stderr: a bar per epoch on a terminal (cli-progress); otherwise (a
// log file, CI) a line when an epoch starts and then one every PERIOD_MS, so something shows within
// a second or two and a log stays readable. One summary line per finished epoch either way.
import cliProgress from 'cli-progress';
import type { EpochRecord, TrainHooks } from '../train/records.js';

const PERIOD_MS = 10_000;

export function progressHooks(opts: { quiet: boolean; totalEpochs: number; tty?: boolean; periodMs?: number; write?: (s: string) => void }): TrainHooks {
  if (opts.quiet) return {};
  const tty = opts.tty ?? Boolean(process.stderr.isTTY);
  const write = opts.write ?? ((s: string) => process.stderr.write(s));
  const period = opts.periodMs ?? PERIOD_MS;
  let bar: cliProgress.SingleBar | null = null;
  let batches = 0;
  let lastLine = 0;
  let epochStart = 0;
  return {
    onEpochStart(epoch, n) {
      batches = n;
      epochStart = lastLine = performance.now();
      if (!tty) {
        write(`epoch ${epoch}/${opts.totalEpochs}: ${n} batches\n`);
        return;
      }
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `epoch ${epoch}/${opts.totalEpochs} [{bar}] {value}/{total} batches | loss {loss} | eta {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(n, 0, { loss: '-' });
    },
    onBatch(epoch, b, loss) {
      if (bar) return bar.update(b, { loss: loss.toFixed(4) });
      const now = performance.now();
      if (now - lastLine < period || b === batches) return;
      lastLine = now;
      const eta = ((now - epochStart) / b) * (batches - b);
      write(`epoch ${epoch}/${opts.totalEpochs}: batch ${b}/${batches}, loss ${loss.toFixed(4)}, about ${Math.ceil(eta / 1000)} s left in this epoch\n`);
    },
    onEpochEnd(r: EpochRecord) {
      bar?.stop();
      bar = null;
      write(
        `epoch ${r.epoch}/${opts.totalEpochs}: train loss ${r.trainLoss.toFixed(4)} acc ${(100 * r.trainAccuracy).toFixed(2)}% | ` +
          `test loss ${r.testLoss.toFixed(4)} acc ${(100 * r.testAccuracy).toFixed(2)}% | lr ${r.lr.toExponential(2)} | ` +
          `${r.msPerBatchMedian.toFixed(1)} ms/batch | ${r.seconds.toFixed(1)} s\n`,
      );
    },
  };
}
