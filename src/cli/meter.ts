// `bitlearn meter`: sample an INA219/226/260 for a while without training: check the wiring, log
// a second device's power as CSV, see the rate the bus allows and each figure's uncertainty.
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Command } from 'commander';
import { createInaMeter, type InaMeter } from '../../device/ina-meter.js';
import { INA_CHIPS } from '../../device/ina.js';
import { i2cBusProvider } from '../../device/i2c.js';
import { checkOutputPath } from '../train/preflight.js';
import { formatTable } from '../report/table.js';
import { positiveNumber } from './options.js';
import { writeStdout } from './run-control.js';

const FLAGS = ['ok', 'overflow', 'bus-error'];

export function meterCommand(): Command {
  return new Command('meter')
    .description(
      'sample a current/voltage monitor (INA219, INA226, INA260 on I2C) for --seconds: the rate achieved, mean power, energy ' +
        'with its uncertainty, lost readings; --csv logs every reading (check the wiring, log a second device)',
    )
    .requiredOption(
      '--meter <spec>',
      `${INA_CHIPS.join('|')}:BUS:ADDRESS[:SHUNT_OHMS[:MAX_AMPS]] (e.g. ina226:1:0x40:0.1:0.8; ina260:1:0x40; BUS sim: a simulated chip)`,
    )
    .option('--seconds <n>', 'how long to sample', positiveNumber, 10)
    .option('--rate <hz>', 'readings per second asked for (the bus may allow fewer)', positiveNumber, 1000)
    .option('--csv <file>', 'every reading the summary counts, as CSV (time_s, unix_ms, volts, amps, watts, flag), to FILE, or - for standard output')
    .option('--json', 'print the summary as JSON')
    .action(async (o) => {
      if (!INA_CHIPS.some((c) => o.meter.startsWith(`${c}:`)))
        throw new Error(`--meter ${o.meter}: bitlearn meter samples ${INA_CHIPS.join(', ')} chips (e.g. ina226:1:0x40)`);
      if (o.csv && o.csv !== '-') checkOutputPath(o.csv, '--csv');
      const csv = o.csv ? csvSink(o.csv) : null;
      // the CSV holds exactly the readings the summary counts (the sampling region's)
      const rows = regionRows((text) => csv?.write(text));
      const t0 = Number(process.hrtime.bigint()) / 1e9;
      const unix0 = Date.now();
      const meter: InaMeter = createInaMeter(
        o.meter,
        () => i2cBusProvider(),
        { clock: () => process.hrtime.bigint(), wait: sleep },
        {
          rateHz: o.rate,
          ...(csv
            ? {
                onSamples: (d: Float64Array) => {
                  for (let k = 0; k < d.length; k += 5) {
                    const dt = d[k] - t0;
                    const num = (v: number, p: number) => (Number.isNaN(v) ? '' : v.toFixed(p));
                    rows.add(
                      `${dt.toFixed(6)},${(unix0 + dt * 1000).toFixed(1)},${num(d[k + 1], 5)},${num(d[k + 2], 6)},${num(d[k + 3], 5)},${FLAGS[d[k + 4]]}`,
                    );
                  }
                },
              }
            : {}),
        },
      );
      try {
        await meter.whenReady();
        meter.start('sampling');
        rows.begin(meter.regionFirstSample ?? 0);
        const end = Date.now() + o.seconds * 1000;
        // progress once a second on stderr (not on --json or a CSV to stdout)
        const quiet = o.json || o.csv === '-';
        while (Date.now() < end) {
          await sleep(Math.min(1000, end - Date.now()));
          if (!quiet) {
            const p = meter.trace.at(-1);
            process.stderr.write(`meter: ${((Date.now() - (end - o.seconds * 1000)) / 1000).toFixed(0)} s${p ? `, ${p[1].toFixed(3)} W` : ''}\n`);
          }
        }
        const firstSample = meter.regionFirstSample ?? 0;
        const r = meter.stop();
        rows.end(firstSample + (r.detail?.samples ?? 0));
        meter.close();
        await sleep(150); // the sampling thread's last batch
        rows.flush();
        csv?.finish();
        const d = r.detail!;
        const summary = {
          meter: o.meter,
          measured: meter.measured,
          seconds: r.seconds,
          samples: d.samples,
          sampleRateHz: d.sampleRateHz,
          meanVolts: d.meanVolts,
          meanAmps: d.meanAmps,
          meanWatts: r.watts,
          joules: r.joules,
          uncertaintyJoules: d.uncertaintyJoules,
          overflows: d.overflows,
          busErrors: d.errors,
          missingSeconds: d.missingSeconds,
          incomplete: d.incomplete,
          calibration: meter.calibration,
          timing: meter.timing,
          ...(meter.busErrors.length ? { errors: meter.busErrors } : {}),
        };
        if (o.json) return writeStdout(`${JSON.stringify(summary, null, 2)}\n`);
        const f = (v: number | null, p: number) => (v === null ? '-' : v.toFixed(p));
        const lines = [
          `${o.meter}: ${meter.measured ? 'MEASURED' : 'SIMULATED (a fake chip), not a measurement'}; ` +
            `current LSB ${(meter.calibration.currentLsb * 1e6).toPrecision(4)} µA` +
            `${meter.calibration.cal !== null ? `, calibration ${meter.calibration.cal}` : ''}, ` +
            `conversion ${meter.timing.conversionUs} µs x ${meter.timing.averages} averaged`,
          formatTable(
            ['seconds', 'readings', 'per second', 'volts', 'amps', 'watts', 'joules', '± J', 'overflows', 'bus errors', 'missing s'],
            [
              [
                r.seconds.toFixed(2),
                d.samples,
                d.sampleRateHz.toFixed(0),
                f(d.meanVolts, 3),
                f(d.meanAmps, 4),
                f(r.watts, 4),
                f(r.joules, 3),
                d.uncertaintyJoules.total.toFixed(3),
                d.overflows,
                d.errors,
                d.missingSeconds.toFixed(3),
              ],
            ],
          ),
          `uncertainty: quantization ${d.uncertaintyJoules.quantization.toFixed(4)} J, sampling ${d.uncertaintyJoules.sampling.toFixed(4)} J`,
          ...(d.incomplete ? [`INCOMPLETE: ${d.missingSeconds.toFixed(3)} s without a usable reading; the joules cover the rest`] : []),
          ...meter.busErrors.map((e) => `bus error: ${e}`),
          ...(o.csv && o.csv !== '-' ? [`readings: ${o.csv}`] : []),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } catch (e) {
        meter.close();
        csv?.abandon();
        throw e;
      }
    });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** CSV lines to a file (a temp file renamed at the end: never half-written) or to standard output. */
/**
 * Streamed CSV rows numbered from the sampling thread's first reading, written only for readings
 * [first, end) of the sampling region: rows before it are held until its start is known, rows
 * after its end dropped.
 */
function regionRows(write: (text: string) => void) {
  let index = 0;
  let first: number | null = null;
  let last = Number.POSITIVE_INFINITY;
  let pending: [number, string][] = [];
  const flush = () => {
    if (first === null) return;
    const lines = pending.filter(([i]) => i >= first! && i < last).map(([, line]) => `${line}\n`);
    pending = [];
    if (lines.length) write(lines.join(''));
  };
  return {
    add(line: string) {
      pending.push([index++, line]);
      // while the region is open, write as the rows come (a long log is not held in memory)
      if (first !== null && pending.length >= 1000) flush();
    },
    begin(i: number) {
      first = i;
      flush();
    },
    end(i: number) {
      last = i;
    },
    flush,
  };
}

function csvSink(path: string): { write(text: string): void; finish(): void; abandon(): void } {
  const header = 'time_s,unix_ms,volts,amps,watts,flag\n';
  if (path === '-') {
    process.stdout.write(header);
    return { write: (t) => void process.stdout.write(t), finish: () => {}, abandon: () => {} };
  }
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  writeSync(fd, header);
  let open = true;
  return {
    write: (t) => {
      if (open) writeSync(fd, t);
    },
    finish: () => {
      open = false;
      closeSync(fd);
      renameSync(tmp, path);
    },
    abandon: () => {
      if (open) closeSync(fd);
      open = false;
      rmSync(tmp, { force: true });
    },
  };
}
