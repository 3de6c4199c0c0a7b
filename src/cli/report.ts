// `bitlearn report run.json`: the run report as an HTML page with SVG charts or as Markdown;
// --power-csv integrates an external logger's power log over the regions the run marked.
import { Command } from 'commander';
import { writeFileAtomic, writeJsonAtomic } from '../atomic-write.js';
import { checkOutputPath } from '../train/preflight.js';
import { energyOfRegions, readPowerCsv } from '../report/power-csv.js';
import { externalEnergyMarkdown, renderHtml, renderMarkdown } from '../report/render.js';
import { meteredRegions, readRunReport, ReportError } from '../report/run-report.js';

export function reportCommand(): Command {
  return new Command('report')
    .description('turn a run report (bitlearn train --out run.json) into an HTML page with plots or a Markdown summary')
    .argument('<run.json>', 'run report written by bitlearn train --out')
    .option('--html <file>', 'write a self-contained HTML page (SVG plots: loss, accuracy, memory, energy, coherence)')
    .option('--md <file>', 'write a Markdown summary')
    .option(
      '--power-csv <file>',
      "an external power logger's CSV (time + watts, or volts and amps) integrated over the run's metered regions (train --meter gpio-trigger:PIN)",
    )
    .option(
      '--clock-offset <seconds>',
      "add this to the logger's timestamps to line them up with the device clock",
      (v) => {
        const n = Number(v);
        if (!Number.isFinite(n)) throw new ReportError(`--clock-offset: "${v}" is not a number of seconds`);
        return n;
      },
      0,
    )
    .option('--out <file>', 'write the run report, with the power-log energy added, as JSON')
    .option('--json', 'print the (augmented) run report as JSON')
    .action((path: string, o) => {
      for (const [file, what] of [
        [o.html, '--html'],
        [o.md, '--md'],
        [o.out, '--out'],
      ])
        if (file) checkOutputPath(file, what);
      const run = readRunReport(path);
      if (o.powerCsv) {
        const regions = meteredRegions(run);
        if (!regions.length) throw new ReportError(`${path} has no metered regions: train with --meter gpio-trigger:PIN (or any meter) to mark them`);
        const samples = readPowerCsv(o.powerCsv, o.clockOffset);
        run.externalEnergy = { file: o.powerCsv, ...energyOfRegions(samples, regions, run.config.idleSeconds ?? 3) };
      }
      if (!o.html && !o.md && !o.out && !o.json && !o.powerCsv) throw new ReportError('say what to write: --html FILE, --md FILE, --out FILE or --json');
      if (o.html) writeFileAtomic(o.html, renderHtml(run));
      if (o.md) writeFileAtomic(o.md, renderMarkdown(run));
      if (o.out) writeJsonAtomic(o.out, run);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
        return;
      }
      const lines: string[] = [];
      if (run.externalEnergy) lines.push(externalEnergyMarkdown(run));
      for (const [flag, file] of [
        ['HTML', o.html],
        ['Markdown', o.md],
        ['JSON', o.out],
      ] as const)
        if (file) lines.push(`${flag} report: ${file}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
