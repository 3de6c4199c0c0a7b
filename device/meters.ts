// Energy meters behind one interface (docs/method.md §7):
//   gpio-pulse:PIN:JOULES  counts rising edges of a meter's pulse output, one per JOULES joules;
//   gpio-trigger:PIN       holds PIN high while a measured region runs, for an external logger;
//   ina219|ina226|ina260:BUS:ADDRESS[:SHUNT_OHMS[:MAX_AMPS]]  a current/voltage monitor on I2C,
//                          sampled by a worker thread (ina-meter.ts);
//   estimate[:BOARD]       P = P_idle + (P_load − P_idle)·utilisation, always labelled an estimate.
// Regions are measured between start() and stop(); energy per region comes with the idle
// baseline measured in the same session, so recipes can be compared by their net energy.
import { cpus } from 'node:os';
import { GpioError, type GpioPin, type GpioProvider } from './gpio.js';
import { I2cError, i2cBusProvider, type I2cProvider } from './i2c.js';
import { INA_CHIPS, InaError, type InaChipName } from './ina.js';
import { createInaMeter, type InaMeterOptions } from './ina-meter.js';

export type { Clock, EnergyMeter, EnergyReading, MeterTiming, SampledDetail } from './meter-types.js';
import { energyReading, type Clock, type EnergyMeter, type EnergyReading, type MeterTiming } from './meter-types.js';

const realTiming: MeterTiming = { clock: () => process.hrtime.bigint(), wait: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** Power model per board, watts (docs/method.md §7: Pi 4 B 2.7 W idle, 6.4 W with four cores busy). */
export const BOARD_POWER: Record<string, { idle: number; load: number }> = {
  pi4: { idle: 2.7, load: 6.4 },
};

export class MeterError extends Error {}

/** Releases every open pin on exit and on SIGINT/SIGTERM, once. */
const openPins = new Set<GpioPin>();
let handlersInstalled = false;
function trackPin(pin: GpioPin): void {
  openPins.add(pin);
  if (handlersInstalled) return;
  handlersInstalled = true;
  const releaseAll = () => {
    for (const p of openPins) {
      try {
        p.release();
      } catch {
        // already gone
      }
    }
    openPins.clear();
  };
  process.once('exit', releaseAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      releaseAll();
      process.kill(process.pid, sig);
    });
}
function untrackPin(pin: GpioPin): void {
  openPins.delete(pin);
  pin.release();
}

function parsePin(text: string | undefined, spec: string): number {
  const pin = Number(text);
  if (!Number.isInteger(pin) || pin < 0 || pin > 53) throw new MeterError(`meter "${spec}": "${text}" is not a BCM GPIO number (0-53)`);
  return pin;
}

class PulseMeter implements EnergyMeter {
  readonly measured = true;
  idleWatts: number | null = null;
  private pulses = 0;
  private region: { label: string; startNs: bigint; pulses0: number; intervalsNs0: bigint; intervals0: number } | null = null;
  private lastPulseNs: bigint | null = null;
  /** Sum and count of inter-pulse intervals (for power from intervals). */
  intervalsNs = 0n;
  intervals = 0;
  private readonly clock: Clock;

  constructor(
    readonly spec: string,
    private readonly pin: GpioPin,
    readonly joulesPerPulse: number,
    private readonly timing: MeterTiming,
  ) {
    this.clock = timing.clock;
    pin.watch((level) => {
      if (level !== 1) return;
      const now = this.clock();
      if (this.lastPulseNs !== null) {
        this.intervalsNs += now - this.lastPulseNs;
        this.intervals++;
      }
      this.lastPulseNs = now;
      this.pulses++;
    });
  }

  start(label: string): void {
    this.region = { label, startNs: this.clock(), pulses0: this.pulses, intervalsNs0: this.intervalsNs, intervals0: this.intervals };
  }

  stop(): EnergyReading {
    if (!this.region) throw new MeterError('meter stopped without start');
    const { label, startNs, pulses0, intervalsNs0, intervals0 } = this.region;
    this.region = null;
    const n = this.pulses - pulses0;
    const k = this.intervals - intervals0;
    const meanIntervalS = k > 0 ? Number(this.intervalsNs - intervalsNs0) / k / 1e9 : 0;
    return {
      ...energyReading(label, startNs, this.clock(), n * this.joulesPerPulse, this.idleWatts, true),
      pulses: n,
      wattsFromIntervals: meanIntervalS > 0 ? this.joulesPerPulse / meanIntervalS : null,
    };
  }

  async measureIdle(seconds: number): Promise<number | null> {
    this.start('idle');
    await this.timing.wait(seconds * 1000);
    const r = this.stop();
    this.idleWatts = r.watts;
    return this.idleWatts;
  }

  close(): void {
    untrackPin(this.pin);
  }
}

class TriggerMeter implements EnergyMeter {
  readonly measured = true;
  idleWatts: number | null = null;
  private region: { label: string; startNs: bigint } | null = null;
  /** Every region marked, for the run report (an external logger's CSV is integrated over them). */
  readonly regions: EnergyReading[] = [];

  private readonly clock: Clock;

  constructor(
    readonly spec: string,
    private readonly pin: GpioPin,
    private readonly timing: MeterTiming,
  ) {
    this.clock = timing.clock;
    pin.write(0);
  }

  start(label: string): void {
    this.pin.write(1);
    this.region = { label, startNs: this.clock() };
  }

  stop(): EnergyReading {
    if (!this.region) throw new MeterError('meter stopped without start');
    const end = this.clock();
    this.pin.write(0);
    const r = energyReading(this.region.label, this.region.startNs, end, null, null, true);
    this.region = null;
    this.regions.push(r);
    return r;
  }

  async measureIdle(seconds: number): Promise<null> {
    // the logger sees the idle region as a marked region like any other
    this.start('idle');
    await this.timing.wait(seconds * 1000);
    this.stop();
    return null;
  }

  close(): void {
    untrackPin(this.pin);
  }
}

class EstimateMeter implements EnergyMeter {
  readonly measured = false;
  idleWatts: number | null;
  private region: { label: string; startNs: bigint; cpu: NodeJS.CpuUsage } | null = null;

  constructor(
    readonly spec: string,
    private readonly power: { idle: number; load: number },
    private readonly clock: Clock,
    private readonly cores = cpus().length,
  ) {
    this.idleWatts = power.idle;
  }

  start(label: string): void {
    this.region = { label, startNs: this.clock(), cpu: process.cpuUsage() };
  }

  stop(): EnergyReading {
    if (!this.region) throw new MeterError('meter stopped without start');
    const { label, startNs, cpu } = this.region;
    this.region = null;
    const endNs = this.clock();
    const seconds = Number(endNs - startNs) / 1e9;
    const used = process.cpuUsage(cpu);
    const utilisation = seconds > 0 ? Math.min(1, (used.user + used.system) / 1e6 / seconds / this.cores) : 0;
    const watts = this.power.idle + (this.power.load - this.power.idle) * utilisation;
    return energyReading(label, startNs, endNs, watts * seconds, this.idleWatts, false);
  }

  async measureIdle(): Promise<number> {
    return this.power.idle;
  }

  close(): void {}
}

/** How an INA meter reaches its bus, and its sampling options (tests: a fake chip). */
export interface I2cMeterOptions extends InaMeterOptions {
  i2c?: () => I2cProvider;
}

/** Build a meter from its spec ("gpio-pulse:17:0.25", "gpio-trigger:27", "ina226:1:0x40:0.1", "estimate", "estimate:pi4"). */
export function createMeter(spec: string, gpio: () => GpioProvider, timing: MeterTiming = realTiming, i2cOptions: I2cMeterOptions = {}): EnergyMeter {
  const clock = timing.clock;
  const [kind, ...args] = spec.split(':');
  try {
    if (INA_CHIPS.includes(kind as InaChipName)) {
      const { i2c = () => i2cBusProvider(), ...opts } = i2cOptions;
      return createInaMeter(spec, i2c, timing, opts);
    }
    if (kind === 'estimate') {
      const board = args[0] ?? 'pi4';
      const power = Object.hasOwn(BOARD_POWER, board) ? BOARD_POWER[board] : undefined;
      if (!power) throw new MeterError(`meter "${spec}": no power model for board "${board}" (known: ${Object.keys(BOARD_POWER).join(', ')})`);
      return new EstimateMeter(spec, power, clock);
    }
    if (kind === 'gpio-pulse') {
      const pin = parsePin(args[0], spec);
      const joules = Number(args[1]);
      if (!(joules > 0)) throw new MeterError(`meter "${spec}": joules per pulse must be a positive number, got "${args[1]}"`);
      const p = gpio().open(pin, 'in', 'rising');
      trackPin(p);
      return new PulseMeter(spec, p, joules, timing);
    }
    if (kind === 'gpio-trigger') {
      const pin = parsePin(args[0], spec);
      const p = gpio().open(pin, 'out', 'none');
      trackPin(p);
      return new TriggerMeter(spec, p, timing);
    }
  } catch (e) {
    if (e instanceof GpioError || e instanceof I2cError) throw new MeterError(`meter "${spec}": ${e.message}`);
    if (e instanceof InaError) throw new MeterError(e.message);
    throw e;
  }
  throw new MeterError(
    `unknown meter "${spec}" (gpio-pulse:PIN:JOULES, gpio-trigger:PIN, ina219|ina226:BUS:ADDRESS[:SHUNT_OHMS[:MAX_AMPS]], ` +
      'ina260:BUS:ADDRESS, estimate[:BOARD])',
  );
}
