#!/usr/bin/env node
// bitlearn command line.
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { reason } from '../atomic-write.js';
import { Interrupted } from './run-control.js';
import { own } from '../own.js';
import { benchCommand } from './bench.js';
import { exportCommand } from './export.js';
import { planCommand } from './plan.js';
import { predictCommand } from './predict.js';
import { meterCommand } from './meter.js';
import { probeCommand } from './probe.js';
import { reportCommand } from './report.js';
import { coherenceCommand } from './coherence.js';
import { trainCommand } from './train.js';
import { peersChild } from '../../bench/peers-child.js';
import { speedChild } from '../../bench/speed-child.js';
import { ablationChild } from '../../bench/ablation.js';
import { quantChild } from '../../bench/quant.js';
import { inferenceChild } from '../../bench/inference.js';

/** Benchmark configurations run in a process of their own (this program started again). */
function childCommand(): Command {
  const kinds: Record<string, (json: string) => Promise<void>> = {
    speed: speedChild,
    peers: peersChild,
    ablation: ablationChild,
    quant: quantChild,
    inference: inferenceChild,
  };
  return new Command('__child')
    .argument('<kind>')
    .argument('<config>')
    .action(async (kind: string, config: string) => {
      const run = own(kinds, kind);
      if (!run) throw new Error(`unknown child kind ${kind}`);
      await run(config);
    });
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('bitlearn')
    .description('train binarized and fixed-point neural networks on small devices, and measure what it costs')
    .version(VERSION)
    .exitOverride()
    .addCommand(trainCommand().exitOverride())
    .addCommand(benchCommand().exitOverride())
    .addCommand(planCommand().exitOverride())
    .addCommand(predictCommand().exitOverride())
    .addCommand(probeCommand().exitOverride())
    .addCommand(meterCommand().exitOverride())
    .addCommand(exportCommand().exitOverride())
    .addCommand(reportCommand().exitOverride())
    .addCommand(coherenceCommand().exitOverride())
    .addCommand(childCommand().exitOverride(), { hidden: true });
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof Interrupted) return 130;
    process.stderr.write(`bitlearn: error: ${(e as Error).message}\n`);
    if (process.env.BITLEARN_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}

// a write to standard output that fails later (full disk behind `> file`): one line, status 1;
// a closed pipe (`| head`) ends quietly
process.stdout.on('error', (e: NodeJS.ErrnoException & { reported?: boolean }) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  if (!e.reported) process.stderr.write(`bitlearn: error: cannot write to standard output: ${reason(e)}\n`);
  process.exitCode = 1;
});

main(process.argv).then((code) => {
  process.exitCode ||= code;
});
