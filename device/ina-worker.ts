// The INA sampling thread: configures the chip, then reads it at the requested rate until told to
// stop, adding each reading to the shared energy integral (power-integrator.ts). A worker thread,
// so reading the bus never slows the training step's JavaScript; it sleeps between readings.
// With `stream`, batches of raw samples go to the main thread every 100 ms (bitlearn meter --csv);
// every half second the mean power of that half second goes too (the report's power chart).
import { parentPort, workerData } from 'node:worker_threads';
import { i2cBusProvider } from './i2c.js';
import { InaChip, type InaSpec } from './ina.js';
import { FakeInaBus, type FakeInaOptions } from './ina-fake.js';
import { MAX_GAP_SECONDS, PowerIntegrator } from './power-integrator.js';

export interface InaWorkerData {
  spec: InaSpec;
  rateHz: number;
  integral: SharedArrayBuffer;
  /** Int32 [0]: 1 = stop. */
  control: SharedArrayBuffer;
  stream: boolean;
  /** Tests: a fake bus with this chip and waveform instead of /dev/i2c-N. */
  fake?: Omit<FakeInaOptions, 'clock'>;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
/** The power trace's resolution (s). */
const TRACE_SECONDS = 0.5;

function run(d: InaWorkerData): void {
  const port = parentPort!;
  const bus = d.fake ? new FakeInaBus(d.fake) : i2cBusProvider().open(d.spec.bus as number);
  // the main thread configured the chip a moment ago: a bus error now is transient, so try again for a second
  let chip: InaChip | null = null;
  for (let attempt = 0; !chip; attempt++) {
    try {
      chip = new InaChip(bus, d.spec, d.rateHz);
    } catch (e) {
      if (attempt >= 20) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  const period = 1 / d.rateHz;
  const integral = new PowerIntegrator(d.integral, MAX_GAP_SECONDS);
  const control = new Int32Array(d.control);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  port.postMessage({ type: 'ready', timing: chip.timing, calibration: chip.calibration });
  let batch: number[] = [];
  let lastPost = now();
  let lastError = '';
  let next = now();
  /** The power trace: mean power per TRACE_SECONDS. */
  let traceT = now();
  let traceE = 0;
  let traceCovered = 0;
  while (Atomics.load(control, 0) === 0) {
    const t0 = now();
    try {
      const r = chip.read();
      const t = (t0 + now()) / 2; // the reading's time: the middle of its transfers
      if (r.overflow) integral.reject('overflow');
      else integral.add(t, r.watts, r.volts, r.amps);
      if (d.stream) batch.push(t, r.volts, r.amps, r.watts, r.overflow ? 1 : 0);
    } catch (e) {
      integral.reject('error');
      const message = (e as Error).message;
      if (message !== lastError) port.postMessage({ type: 'error', message });
      lastError = message;
      if (d.stream) batch.push(t0, Number.NaN, Number.NaN, Number.NaN, 2);
    }
    const t = now();
    if (t - traceT >= TRACE_SECONDS) {
      const { energy, covered } = integral.totals();
      if (covered > traceCovered) port.postMessage({ type: 'trace', t: (t + traceT) / 2, watts: (energy - traceE) / (covered - traceCovered) });
      [traceT, traceE, traceCovered] = [t, energy, covered];
    }
    if (d.stream && t - lastPost >= 0.1) {
      port.postMessage({ type: 'samples', data: Float64Array.from(batch) });
      batch = [];
      lastPost = t;
    }
    next += period;
    const wait = next - now();
    if (wait > 0) Atomics.wait(sleeper, 0, 0, wait * 1000);
    else if (wait < -10 * period) next = now(); // fell behind (a slow bus): do not try to catch up
  }
  if (d.stream && batch.length) port.postMessage({ type: 'samples', data: Float64Array.from(batch) });
  chip.close();
  port.postMessage({ type: 'stopped' });
}

if (parentPort && workerData && (workerData as { integral?: unknown }).integral) {
  try {
    run(workerData as InaWorkerData);
  } catch (e) {
    parentPort.postMessage({ type: 'failed', message: (e as Error).message });
  }
}
