// INA219 / INA226 / INA260 energy meters over I2C, on a fake bus that models each chip's
// registers: calibration and LSBs against the datasheets' arithmetic, readings, the sampling
// thread integrating a known waveform within 1%, overflow and bus errors reported (not integrated),
// a wrong address or chip in one line, and the CLI (`bitlearn meter`, `train --meter`).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { InaChip, inaCalibration, inaTiming, parseInaSpec, type InaChipName } from '../device/ina.js';
import { FakeInaBus, waveformEnergy, type Waveform } from '../device/ina-fake.js';
import { createMeter, MeterError } from '../device/meters.js';
import type { InaMeter } from '../device/ina-meter.js';
import { integratorBuffer, IntegralReader, PowerIntegrator } from '../device/power-integrator.js';
import { energyHeader, energyNotes, energyRows } from '../src/report/energy-table.js';
import type { EpochRecord } from '../src/train/records.js';
import { tempDir } from './helpers.js';

const noGpio = () => {
  throw new Error('no GPIO here');
};
const now = () => Number(process.hrtime.bigint()) / 1e9;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const timing = { clock: () => process.hrtime.bigint(), wait: sleep };

t.test('calibration: the datasheets’ arithmetic', async (t) => {
  // INA219 datasheet programming example: 0.1 Ω, 2 A expected, current LSB rounded up to 100 µA
  const a = inaCalibration('ina219', 0.1, 2, 100e-6);
  t.equal(a.cal, 4096, 'INA219: CAL = trunc(0.04096 / (100 µA · 0.1 Ω)) = 4096');
  t.ok(Math.abs(a.powerLsb - 0.002) < 1e-12, 'INA219: power LSB = 20 · current LSB = 2 mW');
  t.ok(Math.abs(a.currentLsb - 100e-6) < 1e-15, 'the LSB asked for, when CAL is whole');
  const odd = inaCalibration('ina226', 0.05, 1.5);
  t.equal(odd.cal, 2236, 'INA226, 1.5 A over 50 mΩ: trunc(2236.96)');
  t.ok(Math.abs(odd.currentLsb - 0.00512 / (2236 * 0.05)) < 1e-15, 'one count of the current register at the truncated CAL');
  t.equal(inaCalibration('ina219', 0.1, 2).cal, 6710, 'INA219, LSB = 2 A / 2^15: trunc(6710.9), bit 0 void');
  t.equal(inaCalibration('ina219', 0.1, 3.2).cal! & 1, 0, 'INA219: the calibration register holds even values');
  // INA226: 2 mΩ, current LSB 1 mA
  const b = inaCalibration('ina226', 0.002, 15, 0.001);
  t.equal(b.cal, 2560, 'INA226: CAL = 0.00512 / (1 mA · 2 mΩ) = 2560');
  t.ok(Math.abs(b.powerLsb - 0.025) < 1e-12, 'INA226: power LSB = 25 · current LSB = 25 mW');
  const c = inaCalibration('ina260', 0.002, 15);
  t.same([c.currentLsb, c.busLsb, c.powerLsb, c.cal], [0.00125, 0.00125, 0.01, null], 'INA260: fixed LSBs, no calibration register');
  t.throws(() => inaCalibration('ina226', 0.0001, 100, 1e-7), /calibration 512000000, outside 1 to 65535/);
});

t.test('meter specs: defaults, and one line naming what is wrong', async (t) => {
  t.same(parseInaSpec('ina219:1:0x40'), { chip: 'ina219', bus: 1, address: 0x40, shuntOhms: 0.1, maxAmps: 3.2 });
  t.same(parseInaSpec('ina226:0:65:0.01:5'), { chip: 'ina226', bus: 0, address: 0x41, shuntOhms: 0.01, maxAmps: 5 });
  t.same(parseInaSpec('ina260:1:0x44'), { chip: 'ina260', bus: 1, address: 0x44, shuntOhms: 0.002, maxAmps: 15 });
  t.throws(() => parseInaSpec('ina226:1:0x70'), /address "0x70" is not an INA2xx address \(0x40 to 0x4f/);
  t.throws(() => parseInaSpec('ina226:x:0x40'), /bus "x" is not an I2C bus number/);
  t.throws(() => parseInaSpec('ina226:1:0x40:0.1:2'), /2 A across 0\.1 Ω is beyond the shunt input's full scale \(0\.8192 A\)/);
  t.throws(() => parseInaSpec('ina260:1:0x40:0.1'), /the INA260 has its shunt inside/);
  t.throws(() => createMeter('ina999:1:0x40', noGpio), /unknown meter "ina999:1:0x40"/);
});

t.test('conversion time and averaging: the most averaging that fits the sampling period', async (t) => {
  const a = inaTiming('ina226', 1000);
  t.same([a.conversionUs, a.averages, a.readingUs], [332, 1, 664]);
  t.equal(a.config, 0x4097, 'INA226 config: AVG 1, 332 µs bus and shunt, continuous');
  const b = inaTiming('ina226', 100);
  t.ok(b.readingUs <= 10000 && b.readingUs >= 8000, `100 Hz: ${b.averages} x ${b.conversionUs} µs`);
  const c = inaTiming('ina219', 100);
  t.same([c.averages, c.readingUs], [8, 8520]);
  t.equal(inaTiming('ina219', 5000).averages, 1, 'no setting fits 200 µs: the fastest 12-bit one');
  t.equal(inaTiming('ina260', 1000).config & 0xf000, 0x6000);
});

const CHIPS: [InaChipName, number, number][] = [
  ['ina219', 0.1, 2],
  ['ina226', 0.05, 1.5],
  ['ina260', 0.002, 15],
];

t.test('readings through each chip’s registers: volts and amps within one LSB; a reset and the calibration written', async (t) => {
  for (const [chip, shunt, maxAmps] of CHIPS) {
    const waveform: Waveform = { kind: 'constant', volts: 5.08, amps: 0.731 };
    const bus = new FakeInaBus({ chip, address: 0x40, shuntOhms: shunt, waveform });
    const spec = { chip, bus: 1, address: 0x40, shuntOhms: shunt, maxAmps };
    const c = new InaChip(bus, spec, 1000);
    const r = c.read();
    const { currentLsb, busLsb } = c.calibration;
    const shuntLsb = chip === 'ina219' ? 10e-6 / shunt : chip === 'ina226' ? 2.5e-6 / shunt : 0;
    t.ok(Math.abs(r.amps - 0.731) <= currentLsb + shuntLsb, `${chip}: ${r.amps} A (LSB ${currentLsb})`);
    t.ok(Math.abs(r.volts - 5.08) <= busLsb, `${chip}: ${r.volts} V`);
    t.notOk(r.overflow);
    t.same(bus.writes[0], [0x00, 0x8000], `${chip}: reset first`);
    if (chip !== 'ina260') t.same(bus.writes[2], [0x05, c.calibration.cal], `${chip}: calibration register`);
  }
});

t.test('a wrong address, a wrong chip, or a current beyond full scale', async (t) => {
  const fake = { chip: 'ina226' as const, address: 0x40, shuntOhms: 0.1, waveform: { kind: 'constant', volts: 5, amps: 0.2 } as Waveform };
  t.throws(() => createMeter('ina226:1:0x41:0.1', noGpio, timing, { fake }), /^meter "ina226:1:0x41:0\.1": .*address 0x41.*no device answers at that address$/);
  const e = (() => {
    try {
      createMeter('ina226:1:0x41:0.1', noGpio, timing, { fake });
    } catch (x) {
      return x;
    }
  })();
  t.ok(e instanceof MeterError, 'a MeterError');
  t.throws(
    () => createMeter('ina226:1:0x40:0.1', noGpio, timing, { fake: { ...fake, chip: 'ina219' } }),
    /not an INA226 \(manufacturer 0x0000, die 0x0000\)/,
    'an INA219 where an INA226 is expected',
  );
  // 1 A through 0.1 Ω is 100 mV: beyond the INA226's 81.92 mV
  const bus = new FakeInaBus({ ...fake, waveform: { kind: 'constant', volts: 5, amps: 1 } });
  const c = new InaChip(bus, { chip: 'ina226', bus: 1, address: 0x40, shuntOhms: 0.1, maxAmps: 0.8 }, 1000);
  t.ok(c.read().overflow, 'the overflow flag is read');
});

t.test('the running integral: trapezoids, missing time after rejected readings and long gaps, seqlock snapshots', async (t) => {
  const buf = integratorBuffer();
  const w = new PowerIntegrator(buf, 0.25);
  const r = new IntegralReader(buf, 0.25);
  w.add(0, 2, 5, 0.4);
  w.add(0.1, 4, 5, 0.8);
  t.ok(Math.abs(r.snapshot().energy - 0.3) < 1e-12, '(2 + 4)/2 · 0.1');
  w.reject('error');
  w.add(0.2, 4, 5, 0.8);
  t.ok(Math.abs(r.snapshot().missing - 0.1) < 1e-12, 'the stretch with a lost reading is missing');
  t.ok(Math.abs(r.snapshot().energy - 0.3) < 1e-12, 'and not integrated');
  w.add(0.3, 4, 5, 0.8);
  w.add(1.0, 4, 5, 0.8);
  const s = r.snapshot();
  t.ok(Math.abs(s.missing - 0.8) < 1e-12, 'a 0.7 s gap is missing too');
  t.same([s.samples, s.errors, s.good], [6, 1, 5]);
  const at = r.at(1.1);
  t.ok(Math.abs(at.energy - s.energy - 0.4) < 1e-12, 'the last power held to the bound');
});

t.test('the sampling thread integrates a known waveform within 1%, for each chip', async (t) => {
  const waveform: Waveform = { kind: 'sine', volts: 5.1, meanAmps: 0.6, amplitudeAmps: 0.3, periodS: 0.37 };
  for (const [chip, shunt, maxAmps] of CHIPS) {
    const spec = chip === 'ina260' ? `${chip}:1:0x40` : `${chip}:1:0x40:${shunt}:${maxAmps}`;
    const m = createMeter(spec, noGpio, timing, { fake: { chip, address: 0x40, shuntOhms: shunt, waveform } }) as InaMeter;
    await m.whenReady();
    const t0 = now();
    m.start('region');
    await sleep(1500);
    const r = m.stop();
    const t1 = now();
    m.close();
    const want = waveformEnergy(waveform, t0, t1);
    const d = r.detail!;
    t.ok(Math.abs(r.joules! - want) / want < 0.01, `${chip}: ${r.joules!.toFixed(4)} J, the waveform's ${want.toFixed(4)} J`);
    t.ok(
      Math.abs(r.joules! - want) <= d.uncertaintyJoules.total + 0.002,
      `${chip}: within its stated uncertainty (± ${d.uncertaintyJoules.total.toFixed(4)} J)`,
    );
    t.ok(d.sampleRateHz > 500, `${chip}: ${d.sampleRateHz.toFixed(0)} readings per second`);
    t.notOk(d.incomplete);
    t.equal(r.measured, true);
  }
});

t.test('a bus error mid-run: the run goes on, the energy is marked incomplete with the time it misses', async (t) => {
  const waveform: Waveform = { kind: 'constant', volts: 5, amps: 0.5 };
  // the window opens once the sampling thread surely runs
  const from = now() + 2.5;
  const m = createMeter('ina226:1:0x40:0.1', noGpio, timing, {
    fake: { chip: 'ina226', address: 0x40, shuntOhms: 0.1, waveform, errorWindow: { fromS: from, toS: from + 0.3 } },
  }) as InaMeter;
  await m.whenReady();
  await sleep((from - 0.4 - now()) * 1000);
  m.start('epoch');
  await sleep(1100);
  const r = m.stop();
  m.close();
  const d = r.detail!;
  t.ok(d.incomplete, 'incomplete');
  t.ok(d.errors > 100, `${d.errors} readings lost`);
  t.ok(Math.abs(d.missingSeconds - 0.3) < 0.05, `misses ${d.missingSeconds.toFixed(3)} s of the 0.3 s window`);
  t.ok(Math.abs(r.watts! - 2.5) < 0.01, `the measured time's power is right: ${r.watts} W`);
  t.match(m.busErrors[0], /input\/output error on the bus/);
  // an overflowing load: counted, never integrated as a plausible number
  const o = createMeter('ina226:1:0x40:0.1:0.8', noGpio, timing, {
    fake: { chip: 'ina226', address: 0x40, shuntOhms: 0.1, waveform: { kind: 'square', volts: 5, lowAmps: 0.5, highAmps: 1.2, periodS: 0.2 } },
  }) as InaMeter;
  await o.whenReady();
  o.start('x');
  await sleep(600);
  const ro = o.stop();
  o.close();
  t.ok(ro.detail!.overflows > 100, `${ro.detail!.overflows} overflowed readings`);
  t.ok(ro.detail!.incomplete && ro.detail!.missingSeconds > 0.2, `about half the time missing: ${ro.detail!.missingSeconds.toFixed(3)} s`);
  t.ok(Math.abs(ro.watts! - 2.5) < 0.05, `only the in-range half integrated: ${ro.watts} W`);
});

t.test('idle baseline and its drift', async (t) => {
  const m = createMeter('ina219:1:0x40:0.1', noGpio, timing, {
    fake: { chip: 'ina219', address: 0x40, shuntOhms: 0.1, waveform: { kind: 'constant', volts: 5.2, amps: 0.52 } },
  }) as InaMeter;
  const idle = await m.measureIdle(0.6);
  m.close();
  t.ok(Math.abs(idle! - 5.2 * 0.52) < 0.02, `idle ${idle} W`);
  t.ok(m.idleDriftWatts !== null && m.idleDriftWatts < 0.01, `drift ${m.idleDriftWatts} W`);
});

t.test('CLI: bitlearn meter (a simulated chip), train --meter, the report', async (t) => {
  const CLI = join(process.cwd(), 'build/src/cli/main.js');
  const dir = tempDir('bitlearn-ina-');
  const cli = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8', cwd: dir });
  t.match(cli('meter', '--help').stdout, /--meter <spec>/);
  const m = cli('meter', '--meter', 'ina226:sim:0x40', '--seconds', '1', '--csv', 'p.csv', '--json');
  t.equal(m.status, 0, m.stderr);
  const s = JSON.parse(m.stdout);
  t.equal(s.measured, false, 'a simulated chip is not a measurement');
  t.ok(s.sampleRateHz > 500 && Math.abs(s.meanVolts - 5.1) < 0.01, `${s.sampleRateHz} readings/s at ${s.meanVolts} V`);
  const lines = readFileSync(join(dir, 'p.csv'), 'utf8').trim().split('\n');
  t.equal(lines[0], 'time_s,unix_ms,volts,amps,watts,flag');
  t.equal(lines.length - 1, s.samples, 'one CSV row for each reading the summary counts');
  const bad = cli('meter', '--meter', 'gpio-pulse:17:1');
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^bitlearn: error: --meter gpio-pulse:17:1: bitlearn meter samples ina219, ina226, ina260 chips/);
  const noBus = cli('meter', '--meter', 'ina226:9:0x40', '--csv', 'q.csv');
  t.equal(noBus.status, 1);
  t.equal(noBus.stderr.trim().split('\n').length, 1, `one line: ${noBus.stderr.trim()}`);
  t.match(noBus.stderr, /meter "ina226:9:0x40": I2C (bus 9|is not available)/);
  t.notOk(existsSync(join(dir, 'q.csv')), 'no CSV left behind');
  const r = cli('train', '--meter', 'ina226:sim:0x40', '--idle-seconds', '1', '--epochs', '1', '--limit-train', '2000', '--no-checkpoint', '--out', 'run.json');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /Energy per epoch \(ina226:sim:0x40\): SIMULATED \(a fake chip\), not measured/);
  t.match(r.stdout, /± J\s+samples\/s/);
  const rep = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  t.ok(rep.history[0].energy.sampling.sampleRateHz > 500);
  const bj = rep.history[0].energy.batchJoules;
  t.ok(bj.batches === 20 && bj.min > 0 && bj.min <= bj.median && bj.median <= bj.max, `each batch measured: median ${bj.median} J`);
  t.ok(bj.median * bj.batches <= rep.history[0].energy.joules * 1.2, 'batches within the epoch');
  t.ok(rep.powerTrace.points.length >= 1, 'a power trace');
  const html = cli('report', 'run.json', '--html', 'r.html', '--md', 'r.md');
  t.equal(html.status, 0, html.stderr);
  t.match(readFileSync(join(dir, 'r.md'), 'utf8'), /SIMULATED/);
});

t.test('bench --suite sampler: the sampling thread on and off, interleaved, with its cost', async (t) => {
  const CLI = join(process.cwd(), 'build/src/cli/main.js');
  const dir = tempDir('bitlearn-sampler-');
  const r = spawnSync(
    process.execPath,
    [CLI, 'bench', '--suite', 'sampler', '--rounds', '1', '--repeats', '5', '--threads', '1', '--out', join(dir, 's.json')],
    {
      encoding: 'utf8',
    },
  );
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /a simulated chip: no bus transfers/);
  const row = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8')).results[0];
  t.ok(row.msPerStepOff > 0 && row.msPerStepOn > 0 && Number.isFinite(row.overhead), `off ${row.msPerStepOff} ms, on ${row.msPerStepOn} ms`);
  t.ok(row.sampleRateHz > 300, `${row.sampleRateHz} readings/s while training`);
});

t.test('the report says which epochs miss time, how much, and why', async (t) => {
  const base = { meter: 'ina226:1:0x40', measured: true, seconds: 12, joules: 30, netJoules: 10, joulesPerBatch: 0.1, joulesPerSample: 0.001, watts: 2.5 };
  const detail = { samples: 11000, sampleRateHz: 917, meanVolts: 5, meanAmps: 0.5, overflows: 0, errors: 250, missingSeconds: 0.8, incomplete: true };
  const history = [
    { epoch: 1, energy: { ...base, startNs: '0', endNs: '1', startUnixMs: 0, endUnixMs: 1 } },
    {
      epoch: 2,
      energy: {
        ...base,
        startNs: '0',
        endNs: '1',
        startUnixMs: 0,
        endUnixMs: 1,
        sampling: { ...detail, uncertaintyJoules: { quantization: 0.01, sampling: 0.02, baseline: 0.1, total: 0.13 } },
      },
    },
  ] as unknown as EpochRecord[];
  t.same(energyNotes(history), [
    'epoch 2: INCOMPLETE, 0.800 s of 12.0 s not measured (250 readings lost to bus errors): its joules cover the measured time only',
  ]);
  t.same(energyHeader(history).slice(-3), ['± J', 'samples/s', 'batch J (median, min-max)']);
  t.same(energyRows(history)[1].slice(-3), ['0.130', '917', '-']);
});
