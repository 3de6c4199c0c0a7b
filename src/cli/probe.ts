// `bitlearn probe`: what device this is, as far as training and energy metering care.
import { Command } from 'commander';
import { probeDevice } from '../../device/probe.js';
import { mib } from '../report/table.js';

export function probeCommand(): Command {
  return new Command('probe')
    .description('show the device: board model, cores, memory, CPU frequency and temperature, throttling, GPIO numbering')
    .option('--root <dir>', 'read /proc and /sys under this directory (for testing)', '/')
    .option('--json', 'print the probe as JSON')
    .action((o) => {
      const p = probeDevice(o.root);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(p, null, 2)}\n`);
        return;
      }
      const t = p.throttled;
      const rows: [string, string][] = [
        ['board', p.model ?? 'unknown'],
        ['Raspberry Pi', p.isRaspberryPi ? 'yes' : 'no: not a Raspberry Pi (GPIO meters will not be available)'],
        ['cpu', p.cpu ?? 'unknown'],
        ['cores', String(p.cores)],
        ['memory total', p.memTotalBytes === null ? 'unknown' : mib(p.memTotalBytes)],
        ['memory available', p.memAvailableBytes === null ? 'unknown' : mib(p.memAvailableBytes)],
        ['cpu frequency', p.cpuFreqMHz === null ? 'not readable' : `${p.cpuFreqMHz.toFixed(0)} MHz`],
        ['temperature', p.temperatureC === null ? 'not readable' : `${p.temperatureC.toFixed(1)} °C`],
        [
          'throttling',
          t === null
            ? 'not readable'
            : [
                `0x${t.raw.toString(16)}`,
                t.underVoltage ? ' under-voltage' : '',
                t.frequencyCapped ? ' frequency-capped' : '',
                t.throttled ? ' throttled' : '',
                t.softTempLimit ? ' soft-temperature-limit' : '',
                t.occurred ? ' (has occurred since boot)' : '',
                t.raw === 0 ? ' none' : '',
              ].join(''),
        ],
        ['GPIO base (BCM 0)', p.gpioBase === null ? 'no Raspberry Pi GPIO chip in /sys/class/gpio' : String(p.gpioBase)],
      ];
      const w = Math.max(...rows.map(([k]) => k.length));
      process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}\n`);
    });
}
