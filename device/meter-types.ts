// The energy meters' shared types and readings (meters.ts builds the meters; ina-meter.ts is one of them).

export interface EnergyReading {
  label: string;
  startNs: bigint;
  endNs: bigint;
  seconds: number;
  /** Energy over the region; null where the meter only marks regions (gpio-trigger). */
  joules: number | null;
  /** Mean power, joules / seconds. */
  watts: number | null;
  /** Energy above the idle baseline (joules − idle watts × seconds). */
  netJoules: number | null;
  measured: boolean;
  pulses?: number;
  /** gpio-pulse: power from the mean interval between the region's pulses (W). */
  wattsFromIntervals?: number | null;
  /** Sampling meters (INA2xx): rate, lost readings, missed time, uncertainty. */
  detail?: SampledDetail;
}

/** What a sampling meter adds to a region's reading. */
export interface SampledDetail {
  samples: number;
  sampleRateHz: number;
  meanVolts: number | null;
  meanAmps: number | null;
  /** Readings the chip flagged as overflowed (not integrated). */
  overflows: number;
  /** Readings lost to bus errors. */
  errors: number;
  /** Region time with no usable reading (not integrated, not interpolated). */
  missingSeconds: number;
  /** True when missingSeconds is more than two sampling periods: the joules cover less than the region. */
  incomplete: boolean;
  /** Bounds (J): quantization, sampling, idle-baseline drift (net energy only), and their sum. */
  uncertaintyJoules: { quantization: number; sampling: number; baseline: number | null; total: number };
}

export interface EnergyMeter {
  readonly spec: string;
  /** True for measurements, false for the estimate. */
  readonly measured: boolean;
  idleWatts: number | null;
  start(label: string): void;
  stop(): EnergyReading;
  /** Sampling meters: the energy integrated so far (J), cheap enough to read at every batch's bounds. */
  joulesSoFar?(): number;
  /** Measure the idle baseline for `seconds` (nothing else should run). */
  measureIdle(seconds: number): Promise<number | null>;
  close(): void;
}

/**
 * A region's reading from its energy: mean power and the energy above the idle baseline over the
 * seconds the energy covers (`covered`: the region's own, unless a sampling meter missed some).
 */
export function energyReading(
  label: string,
  startNs: bigint,
  endNs: bigint,
  joules: number | null,
  idleWatts: number | null,
  measured: boolean,
  covered = Number(endNs - startNs) / 1e9,
): EnergyReading {
  return {
    label,
    startNs,
    endNs,
    seconds: Number(endNs - startNs) / 1e9,
    joules,
    watts: joules === null || covered <= 0 ? null : joules / covered,
    netJoules: joules === null || idleWatts === null ? null : joules - idleWatts * covered,
    measured,
  };
}

export type Clock = () => bigint;
/** Time source and waiting, injectable so tests can drive a fake meter at any pulse rate. */
export interface MeterTiming {
  clock: Clock;
  wait(ms: number): Promise<void>;
}
