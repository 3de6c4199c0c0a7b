// Running energy integral of a sampled power signal, kept in shared memory so the sampling thread
// writes it and the training thread reads it at region bounds without messages: the cumulative
// trapezoid energy up to the last good sample, the time covered and the time missed (bus errors,
// overflowed readings, stalls), sample and flag counts, and the running sampling-error estimate
// ½·Σ|P_i+1 − P_i|·Δt (half the gap between the left and right Riemann sums). A region's energy is
// the difference of the integral at its two bounds, so memory stays constant however long a run is.
// A seqlock (an even/odd counter) gives the reader a consistent snapshot.

/**
 * A gap between good samples longer than this (seconds) is missing time, not interpolated: the
 * sampling thread was held up that long (the process suspended, the machine swapping). Shorter
 * gaps (a late wake-up, a garbage collection) are interpolated, their error counted in the
 * sampling uncertainty. Rejected readings (bus errors, overflow) always leave their time missing.
 */
export const MAX_GAP_SECONDS = 0.25;

const FIELDS = [
  'lastT',
  'energy',
  'covered',
  'missing',
  'samples',
  'overflows',
  'errors',
  'samplingError',
  'lastWatts',
  'firstT',
  'sumVolts',
  'sumAmps',
  'good',
] as const;
type Field = (typeof FIELDS)[number];
const AT = Object.fromEntries(FIELDS.map((f, i) => [f, i])) as Record<Field, number>;

export type IntegralSnapshot = Record<Field, number>;

/** The shared buffer: a seqlock counter, then the fields as float64. */
export function integratorBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(8 + 8 * FIELDS.length);
}

/** The two views of the shared buffer both sides use: the seqlock counter and the fields. */
abstract class SharedIntegral {
  protected readonly seq: Int32Array;
  protected readonly f: Float64Array;

  constructor(
    buffer: SharedArrayBuffer,
    /** Seconds beyond which a gap between good samples is missing time. */
    protected readonly maxGap: number,
  ) {
    this.seq = new Int32Array(buffer, 0, 2);
    this.f = new Float64Array(buffer, 8, FIELDS.length);
  }
}

export class PowerIntegrator extends SharedIntegral {
  constructor(buffer: SharedArrayBuffer, maxGap: number) {
    super(buffer, maxGap);
    this.f[AT.lastT] = Number.NaN;
    this.f[AT.firstT] = Number.NaN;
  }

  /** A good sample at t seconds (monotonic clock). */
  add(t: number, watts: number, volts: number, amps: number): void {
    this.write(() => {
      const f = this.f;
      const last = f[AT.lastT];
      if (!Number.isNaN(last)) {
        const dt = t - last;
        // a long gap, or rejected readings since the last good one: not interpolated, missing
        if (dt > this.maxGap || Number.isNaN(f[AT.lastWatts])) f[AT.missing] += Math.max(0, dt);
        else if (dt > 0) {
          f[AT.energy] += ((watts + f[AT.lastWatts]) / 2) * dt;
          f[AT.covered] += dt;
          f[AT.samplingError] += (Math.abs(watts - f[AT.lastWatts]) / 2) * dt;
        }
      } else f[AT.firstT] = t;
      f[AT.lastT] = t;
      f[AT.lastWatts] = watts;
      f[AT.samples]++;
      f[AT.good]++;
      f[AT.sumVolts] += volts;
      f[AT.sumAmps] += amps;
    });
  }

  /** A reading that could not be used: the chip's overflow flag, or a bus error. The time up to the next good sample is missing. */
  reject(kind: 'overflow' | 'error'): void {
    this.write(() => {
      this.f[AT.samples]++;
      this.f[kind === 'overflow' ? AT.overflows : AT.errors]++;
      // the next good sample must not bridge the gap: the time since the last good one is missing
      if (!Number.isNaN(this.f[AT.lastT])) this.f[AT.lastWatts] = Number.NaN;
    });
  }

  /** Energy and covered time so far (the writer's own view). */
  totals(): { energy: number; covered: number } {
    return { energy: this.f[AT.energy], covered: this.f[AT.covered] };
  }

  private write(fn: () => void): void {
    Atomics.add(this.seq, 0, 1); // odd: writing
    fn();
    Atomics.add(this.seq, 0, 1);
  }
}

/** The reader's side: consistent snapshots, and the integral at any time. */
export class IntegralReader extends SharedIntegral {
  snapshot(): IntegralSnapshot {
    for (;;) {
      const s0 = Atomics.load(this.seq, 0);
      if (s0 & 1) continue;
      const copy = Array.from(this.f);
      if (Atomics.load(this.seq, 0) === s0) return Object.fromEntries(FIELDS.map((k, i) => [k, copy[i]])) as IntegralSnapshot;
    }
  }

  /**
   * The integral at time t (≥ the last sample): the energy so far plus the last power held until
   * t, or, when the last sample is older than the largest gap, that time counted as missing.
   */
  at(t: number): IntegralSnapshot {
    const s = this.snapshot();
    if (Number.isNaN(s.lastT)) return s;
    const dt = t - s.lastT;
    if (dt <= 0) return s;
    if (dt > this.maxGap || Number.isNaN(s.lastWatts)) return { ...s, missing: s.missing + dt };
    return { ...s, energy: s.energy + s.lastWatts * dt, covered: s.covered + dt };
  }
}
