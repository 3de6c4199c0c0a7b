// An energy meter on an INA219 / INA226 / INA260 over I2C (meter spec ina226:BUS:ADDR[:SHUNT[:MAX_A]]).
// The chip is checked and configured at once (a wrong address is an error before training
// starts), then a worker thread samples it (ina-worker.ts) into a shared running integral; a
// region's energy is the integral's difference between its bounds. Each reading comes with the
// sampling rate achieved, the readings lost (overflow, bus errors) and the time they miss, and
// its uncertainty: quantization (half an LSB of current and of voltage, held over the region),
// sampling (half the gap between the left and right Riemann sums) and, for net energy, the drift
// of the idle baseline (the difference between the idle stretch's halves, over the region).
import { Worker } from 'node:worker_threads';
import { bundled } from '../src/runtime/bundle.js';
import { workerExecArgv } from '../src/runtime/worker-flags.js';
import { I2cError, type I2cProvider } from './i2c.js';
import { InaChip, InaError, parseInaSpec, type InaCalibration, type InaSpec, type InaTiming } from './ina.js';
import { FakeInaBus, type FakeInaOptions } from './ina-fake.js';
import type { InaWorkerData } from './ina-worker.js';
import { MAX_GAP_SECONDS, IntegralReader, integratorBuffer, type IntegralSnapshot } from './power-integrator.js';
import { energyReading, type EnergyMeter, type EnergyReading, type MeterTiming, type SampledDetail } from './meter-types.js';

export interface InaMeterOptions {
  /** Readings per second asked of the sampling thread (default 1000). */
  rateHz?: number;
  /** Raw samples as they arrive (time s, volts, amps, watts, flag: 0 ok, 1 overflow, 2 bus error), 5 numbers each. */
  onSamples?: (data: Float64Array) => void;
  /** Tests: a fake bus with this chip and waveform. */
  fake?: Omit<FakeInaOptions, 'clock'>;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

/** The simulated chip's load (bus "sim"): 5.1 V, 0.6 A ± 0.2 A over a second. */
const SIMULATED_LOAD = { kind: 'sine', volts: 5.1, meanAmps: 0.6, amplitudeAmps: 0.2, periodS: 1 } as const;

export class InaMeter implements EnergyMeter {
  /** False for a simulated chip (bus "sim"): its figures are not measurements. */
  readonly measured: boolean;
  idleWatts: number | null = null;
  /** The idle baseline's drift: |mean power of its second half − first half| (W). */
  idleDriftWatts: number | null = null;
  readonly calibration: InaCalibration;
  readonly timing: InaTiming;
  readonly rateHz: number;
  private readonly worker: Worker;
  private readonly reader: IntegralReader;
  private readonly control: Int32Array;
  private readonly ready: Promise<void>;
  private region: { label: string; startNs: bigint; t0: number; s0: IntegralSnapshot } | null = null;

  /**
   * The open region's first reading, counted from the sampling thread's first (null when no
   * region is open): every reading, good or not, is one count and one streamed sample, so a
   * region holds streamed samples [this, this + its detail.samples).
   */
  get regionFirstSample(): number | null {
    return this.region ? this.region.s0.samples : null;
  }
  /** Bus errors reported by the sampling thread, distinct messages in order. */
  readonly busErrors: string[] = [];
  /** Mean power per half second, [ms since 1970, watts], as the sampling thread sends it. */
  readonly trace: [number, number][] = [];
  private failed: string | null = null;

  constructor(
    readonly spec: string,
    readonly ina: InaSpec,
    i2c: () => I2cProvider,
    private readonly timing_: MeterTiming,
    opts: InaMeterOptions = {},
  ) {
    this.rateHz = opts.rateHz ?? 1000;
    this.measured = ina.bus !== 'sim';
    if (ina.bus === 'sim' && !opts.fake) opts = { ...opts, fake: { chip: ina.chip, address: ina.address, shuntOhms: ina.shuntOhms, waveform: SIMULATED_LOAD } };
    if (!(this.rateHz >= 1 && this.rateHz <= 20000)) throw new InaError(`meter "${spec}": sampling rate ${this.rateHz} Hz is outside 1 to 20000`);
    // check the chip now, in this thread: a wrong bus or address stops the run before it starts
    let chip: InaChip;
    try {
      const bus = opts.fake ? new FakeInaBus(opts.fake) : i2c().open(ina.bus as number);
      chip = new InaChip(bus, ina, this.rateHz);
    } catch (e) {
      if (e instanceof InaError || e instanceof I2cError) throw new InaError(`meter "${spec}": ${e.message}`);
      throw e;
    }
    this.calibration = chip.calibration;
    this.timing = chip.timing;
    chip.close();
    const integral = integratorBuffer();
    const control = new SharedArrayBuffer(4);
    this.control = new Int32Array(control);
    this.reader = new IntegralReader(integral, MAX_GAP_SECONDS);
    const data: InaWorkerData = {
      spec: ina,
      rateHz: this.rateHz,
      integral,
      control,
      stream: Boolean(opts.onSamples),
      ...(opts.fake ? { fake: opts.fake } : {}),
    };
    // a single executable has no worker file: it carries the worker's code
    const script = bundled?.inaWorker ?? new URL('./ina-worker.js', import.meta.url);
    this.worker = new Worker(script, { eval: Boolean(bundled?.inaWorker), execArgv: workerExecArgv(script), workerData: data });
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (m: { type: string; message?: string; data?: Float64Array }) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'trace') {
          const t = (m as unknown as { t: number; watts: number }).t;
          this.trace.push([Date.now() - (now() - t) * 1000, (m as unknown as { watts: number }).watts]);
        } else if (m.type === 'samples' && m.data) opts.onSamples?.(m.data);
        else if (m.type === 'error' && m.message) this.busErrors.push(m.message);
        else if (m.type === 'failed') {
          this.failed = m.message ?? 'the sampling thread failed';
          reject(new InaError(`meter "${spec}": ${this.failed}`));
        }
      });
      this.worker.on('error', (e) => {
        this.failed = e.message;
        reject(new InaError(`meter "${spec}": the sampling thread failed: ${e.message}`));
      });
    });
    this.ready.catch(() => {}); // surfaced by whoever awaits it
  }

  /** Resolves once the sampling thread has configured the chip and reads it. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  start(label: string): void {
    const t0 = now();
    this.region = { label, startNs: this.timing_.clock(), t0, s0: this.reader.at(t0) };
  }

  stop(): EnergyReading {
    if (!this.region) throw new InaError('meter stopped without start');
    const { label, startNs, t0, s0 } = this.region;
    this.region = null;
    const t1 = now();
    const endNs = this.timing_.clock();
    const s1 = this.reader.at(t1);
    const seconds = Number(endNs - startNs) / 1e9;
    // no sample yet when the region began: the time before the first one is missing
    const before = Number.isNaN(s0.lastT) ? Math.max(0, Math.min(t1, Number.isNaN(s1.firstT) ? t1 : s1.firstT) - t0) : 0;
    const covered = s1.covered - s0.covered;
    const missing = Math.min(seconds, s1.missing - s0.missing + before);
    const joules = covered > 0 ? s1.energy - s0.energy : null;
    const good = s1.good - s0.good;
    const meanVolts = good > 0 ? (s1.sumVolts - s0.sumVolts) / good : null;
    const meanAmps = good > 0 ? (s1.sumAmps - s0.sumAmps) / good : null;
    const { currentLsb, busLsb } = this.calibration;
    const quantization = meanVolts === null || meanAmps === null ? 0 : ((Math.abs(meanAmps) * busLsb) / 2 + (meanVolts * currentLsb) / 2) * covered;
    const sampling = s1.samplingError - s0.samplingError;
    const baseline = this.idleDriftWatts === null ? null : this.idleDriftWatts * seconds;
    const detail: SampledDetail = {
      samples: s1.samples - s0.samples,
      sampleRateHz: seconds > 0 ? (s1.samples - s0.samples) / seconds : 0,
      meanVolts,
      meanAmps,
      overflows: s1.overflows - s0.overflows,
      errors: s1.errors - s0.errors,
      missingSeconds: missing,
      incomplete: missing > 2 / this.rateHz + 1e-9,
      uncertaintyJoules: { quantization, sampling, baseline, total: quantization + sampling + (baseline ?? 0) },
    };
    return { ...energyReading(label, startNs, endNs, joules, this.idleWatts, this.measured, covered), detail };
  }

  joulesSoFar(): number {
    return this.reader.at(now()).energy;
  }

  async measureIdle(seconds: number): Promise<number | null> {
    await this.ready;
    const half = seconds / 2;
    this.start('idle');
    await this.timing_.wait(half * 1000);
    const a = this.stop();
    this.start('idle');
    await this.timing_.wait(half * 1000);
    const b = this.stop();
    const joules = (a.joules ?? 0) + (b.joules ?? 0);
    const covered = a.seconds - (a.detail?.missingSeconds ?? 0) + (b.seconds - (b.detail?.missingSeconds ?? 0));
    this.idleWatts = a.watts === null && b.watts === null ? null : joules / Math.max(covered, 1e-9);
    this.idleDriftWatts = a.watts !== null && b.watts !== null ? Math.abs(b.watts - a.watts) : null;
    return this.idleWatts;
  }

  /** Why the sampling thread stopped, if it did. */
  get failure(): string | null {
    return this.failed;
  }

  /** The sampling thread stops after its current reading and gives the bus back. */
  close(): void {
    Atomics.store(this.control, 0, 1);
  }
}

/** An INA meter from its spec (the meter module dispatches "ina219:..." etc. here). */
export function createInaMeter(spec: string, i2c: () => I2cProvider, timing: MeterTiming, opts: InaMeterOptions = {}): InaMeter {
  return new InaMeter(spec, parseInaSpec(spec), i2c, timing, opts);
}
