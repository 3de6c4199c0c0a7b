#!/usr/bin/env node
// bitlearn command line.
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { benchCommand } from './bench.js';
import { exportCommand } from './export.js';
import { planCommand } from './plan.js';
import { probeCommand } from './probe.js';
import { reportCommand } from './report.js';
import { trainCommand } from './train.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('bitlearn')
    .description('train binarized and fixed-point neural networks on small devices, and measure what it costs')
    .version(VERSION)
    .exitOverride()
    .addCommand(trainCommand().exitOverride())
    .addCommand(benchCommand().exitOverride())
    .addCommand(planCommand().exitOverride())
    .addCommand(probeCommand().exitOverride())
    .addCommand(exportCommand().exitOverride())
    .addCommand(reportCommand().exitOverride());
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    process.stderr.write(`bitlearn: error: ${(e as Error).message}\n`);
    if (process.env.BITLEARN_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
