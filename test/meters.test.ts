// Energy meters with a fake GPIO that emits timestamped edges (up to 20k pulses/s).
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { onoffProvider, type GpioPin, type GpioProvider } from '../device/gpio.js';
import { createMeter, type MeterTiming } from '../device/meters.js';
import { tempDir } from './helpers.js';

class FakePin implements GpioPin {
  listeners: ((level: number) => void)[] = [];
  writes: number[] = [];
  released = false;
  watch(cb: (level: number) => void) {
    this.listeners.push(cb);
  }
  write(level: 0 | 1) {
    this.writes.push(level);
  }
  release() {
    this.released = true;
    this.listeners = [];
  }
  edge(level: number) {
    for (const l of this.listeners) l(level);
  }
}

function fake() {
  let now = 0n;
  const pins: { pin: number; direction: string; edge: string; fake: FakePin }[] = [];
  const provider: GpioProvider = {
    open(pin, direction, edge) {
      const f = new FakePin();
      pins.push({ pin, direction, edge, fake: f });
      return f;
    },
  };
  let onWait: (ms: number) => void = (ms) => (now += BigInt(Math.round(ms * 1e6)));
  const timing: MeterTiming = { clock: () => now, wait: async (ms) => onWait(ms) };
  return {
    provider,
    timing,
    pins,
    advance: (ns: bigint) => (now += ns),
    setWait: (f: (ms: number) => void) => (onWait = f),
  };
}

/** Emit `count` rising edges `intervalNs` apart (each followed by its falling edge). */
function pulses(f: ReturnType<typeof fake>, pin: FakePin, count: number, intervalNs: bigint) {
  for (let i = 0; i < count; i++) {
    f.advance(intervalNs);
    pin.edge(1);
    pin.edge(0);
  }
}

t.test('gpio-pulse counts 20k pulses/s; energy, power from intervals, idle subtraction', async (t) => {
  const f = fake();
  const meter = createMeter('gpio-pulse:17:0.001', () => f.provider, f.timing);
  const pin = f.pins[0];
  t.same([pin.pin, pin.direction, pin.edge], [17, 'in', 'rising']);
  // idle: 2 W = 2000 pulses/s of 1 mJ, for 0.5 s
  f.setWait((ms) => pulses(f, pin.fake, (2000 * ms) / 1000, 500_000n));
  t.equal(await meter.measureIdle(0.5), 2, 'idle baseline 2 W');
  meter.start('epoch 1');
  pulses(f, pin.fake, 20000, 50_000n); // 20k pulses per second for 1 s: 20 W
  const r = meter.stop();
  t.equal(r.pulses, 20000);
  t.equal(r.joules, 20);
  t.equal(r.seconds, 1);
  t.equal(r.watts, 20);
  t.equal(r.netJoules, 18, 'idle energy subtracted');
  t.ok(r.measured);
  t.equal(r.wattsFromIntervals, 20, 'power from the mean interval between pulses');
  meter.close();
  t.ok(pin.fake.released, 'pin released on close');
});

t.test('gpio-trigger drives the pin high exactly while a region runs', async (t) => {
  const f = fake();
  const meter = createMeter('gpio-trigger:27', () => f.provider, f.timing) as ReturnType<typeof createMeter> & {
    regions: { label: string; seconds: number }[];
  };
  const pin = f.pins[0];
  t.same([pin.pin, pin.direction], [27, 'out']);
  meter.start('epoch 1');
  t.same(pin.fake.writes, [0, 1]);
  f.advance(2_000_000_000n);
  const r = meter.stop();
  t.same(pin.fake.writes, [0, 1, 0]);
  t.equal(r.seconds, 2);
  t.equal(r.joules, null, 'energy comes from the external logger');
  t.same(
    meter.regions.map((x) => [x.label, x.seconds]),
    [['epoch 1', 2]],
  );
  meter.close();
  t.ok(pin.fake.released);
});

t.test('estimate: labelled as an estimate, between idle and load power', async (t) => {
  const meter = createMeter('estimate', () => {
    throw new Error('no GPIO needed');
  });
  t.notOk(meter.measured);
  meter.start('busy');
  const t0 = Date.now();
  let x = 0;
  while (Date.now() - t0 < 200) x += Math.sqrt(x + 1);
  const r = meter.stop();
  t.ok(r.joules! >= 2.7 * r.seconds - 1e-9 && r.joules! <= 6.4 * r.seconds + 1e-9, `${r.watts?.toFixed(2)} W`);
  t.equal(r.measured, false);
  t.throws(() => createMeter('estimate:pi9', () => f0()), /no power model for board "pi9"/);
});
const f0 = () => fake().provider;

t.test('bad meter specs and missing GPIO are clear errors naming the pin and the cause', async (t) => {
  t.throws(() => createMeter('wattmeter', f0), /unknown meter "wattmeter"/);
  t.throws(() => createMeter('gpio-pulse:99:1', f0), /"99" is not a BCM GPIO number/);
  t.throws(() => createMeter('gpio-pulse:17:-1', f0), /joules per pulse must be a positive number/);
  if (!existsSync('/sys/class/gpio'))
    t.throws(
      () => createMeter('gpio-pulse:17:0.5', () => onoffProvider()),
      /meter "gpio-pulse:17:0.5": GPIO 17 \(sysfs 17\) cannot be used: \/sys\/class\/gpio does not exist/,
    );
});

t.test('pins are released when the process is interrupted (SIGINT)', async (t) => {
  const dir = tempDir('bitlearn-sigint-');
  const marker = join(dir, 'released');
  const script = join(dir, 'child.mjs');
  writeFileSync(
    script,
    `import { createMeter } from ${JSON.stringify(join(process.cwd(), 'build/device/meters.js'))};
     import { writeFileSync } from 'node:fs';
     const provider = { open: () => ({ watch() {}, write() {}, release() { writeFileSync(${JSON.stringify(marker)}, 'yes'); } }) };
     createMeter('gpio-pulse:5:1', () => provider);
     setTimeout(() => process.kill(process.pid, 'SIGINT'), 50);
     setTimeout(() => {}, 5000);`,
  );
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 10000 });
  t.equal(r.signal, 'SIGINT', 'the process still ends by SIGINT');
  t.ok(existsSync(marker), 'the pin was released first');
});
