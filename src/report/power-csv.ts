// An external power logger's CSV (e.g. a USB power meter or a bench supply's log) integrated
// over the regions a gpio-trigger meter marked: joules per region, from samples on the logger's
// clock lined up with the run's wall-clock region bounds.
import { readFileSync } from 'node:fs';

export class PowerCsvError extends Error {}

export interface PowerSample {
  /** Seconds since 1970 (the logger's clock, after the offset). */
  t: number;
  watts: number;
}

export interface Region {
  label: string;
  startUnixMs: number;
  endUnixMs: number;
}

export interface RegionEnergy {
  label: string;
  seconds: number;
  samples: number;
  /** null: fewer than MIN_REGION_SAMPLES samples fall inside the region, so it was not measured. */
  joules: number | null;
  meanWatts: number | null;
  /** joules − idle watts × seconds, when the CSV covers an idle stretch before the first region. */
  netJoules: number | null;
}

/**
 * Samples a region (or the idle stretch) needs inside it to count as measured: with fewer, its
 * energy would only be interpolated from samples taken outside it.
 */
export const MIN_REGION_SAMPLES = 2;

const TIME_COLUMNS = ['time', 'timestamp', 't', 'unix', 'seconds'];
const POWER_COLUMNS = ['watts', 'power', 'w', 'power_w', 'p'];

function parseTime(text: string, line: number): number {
  const v = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(v)) {
    const n = Number(v);
    // milliseconds since 1970 look like 1.7e12; seconds like 1.7e9
    return n > 1e11 ? n / 1000 : n;
  }
  const d = Date.parse(v);
  if (Number.isNaN(d)) throw new PowerCsvError(`line ${line}: "${v}" is neither seconds since 1970 nor a date`);
  return d / 1000;
}

/**
 * Parse a CSV with a header naming a time column (time/timestamp: seconds or ms since 1970, or
 * an ISO date) and either a power column (watts/power) or volts and amps columns.
 */
export function parsePowerCsv(text: string, clockOffsetSeconds = 0): PowerSample[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith('#'));
  if (lines.length < 3) throw new PowerCsvError('the power CSV needs a header and at least two samples');
  const header = lines[0].split(',').map((h) => h.trim().toLowerCase());
  const ti = header.findIndex((h) => TIME_COLUMNS.includes(h));
  const pi = header.findIndex((h) => POWER_COLUMNS.includes(h));
  const vi = header.findIndex((h) => h === 'volts' || h === 'voltage' || h === 'v');
  const ai = header.findIndex((h) => h === 'amps' || h === 'current' || h === 'a');
  if (ti < 0) throw new PowerCsvError(`no time column in the header "${lines[0]}" (expected one of ${TIME_COLUMNS.join(', ')})`);
  if (pi < 0 && (vi < 0 || ai < 0))
    throw new PowerCsvError(`no power column in the header "${lines[0]}" (expected one of ${POWER_COLUMNS.join(', ')}, or volts and amps)`);
  const out: PowerSample[] = [];
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].split(',');
    const num = (j: number) => {
      const n = Number(f[j]);
      if (f[j] === undefined || f[j].trim() === '' || !Number.isFinite(n))
        throw new PowerCsvError(`line ${i + 1}: "${f[j] ?? ''}" in column ${header[j]} is not a number`);
      return n;
    };
    const t = parseTime(f[ti] ?? '', i + 1) + clockOffsetSeconds;
    if (out.length && t <= out[out.length - 1].t) throw new PowerCsvError(`line ${i + 1}: time does not increase`);
    out.push({ t, watts: pi >= 0 ? num(pi) : num(vi) * num(ai) });
  }
  return out;
}

export function readPowerCsv(path: string, clockOffsetSeconds = 0): PowerSample[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PowerCsvError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return parsePowerCsv(text, clockOffsetSeconds);
  } catch (e) {
    throw new PowerCsvError(`${path}: ${(e as Error).message}`);
  }
}

/** Power at time t by linear interpolation between samples (t inside the log). */
function powerAt(s: PowerSample[], t: number, from: number): { watts: number; index: number } {
  let i = from;
  while (i + 1 < s.length && s[i + 1].t <= t) i++;
  if (i + 1 >= s.length) return { watts: s[i].watts, index: i };
  const f = (t - s[i].t) / (s[i + 1].t - s[i].t);
  return { watts: s[i].watts + f * (s[i + 1].watts - s[i].watts), index: i };
}

/** Trapezoid integral of power over [a, b] seconds. */
export function integrate(s: PowerSample[], a: number, b: number): { joules: number; samples: number } {
  if (a < s[0].t || b > s[s.length - 1].t)
    throw new PowerCsvError(
      `the power log (${new Date(s[0].t * 1000).toISOString()} .. ${new Date(s[s.length - 1].t * 1000).toISOString()}) does not ` +
        `cover ${new Date(a * 1000).toISOString()} .. ${new Date(b * 1000).toISOString()}: check the logger's clock (--clock-offset)`,
    );
  const start = powerAt(s, a, 0);
  let joules = 0;
  let t = a;
  let w = start.watts;
  for (let i = start.index + 1; i < s.length && s[i].t < b; i++) {
    joules += ((w + s[i].watts) / 2) * (s[i].t - t);
    t = s[i].t;
    w = s[i].watts;
  }
  const end = powerAt(s, b, start.index);
  joules += ((w + end.watts) / 2) * (b - t);
  // samples taken within [a, b], its ends included
  let samples = 0;
  for (let i = start.index; i < s.length && s[i].t <= b; i++) if (s[i].t >= a) samples++;
  return { joules, samples };
}

/** Energy of each region; the idle baseline is the mean power over `idleSeconds` before the first region. */
export function energyOfRegions(s: PowerSample[], regions: Region[], idleSeconds: number): { idleWatts: number | null; regions: RegionEnergy[] } {
  let idleWatts: number | null = null;
  if (regions.length && idleSeconds > 0) {
    const end = regions[0].startUnixMs / 1000;
    const begin = end - idleSeconds;
    if (begin >= s[0].t) {
      const idle = integrate(s, begin, end);
      if (idle.samples >= MIN_REGION_SAMPLES) idleWatts = idle.joules / idleSeconds;
    }
  }
  return {
    idleWatts,
    regions: regions.map((r) => {
      const a = r.startUnixMs / 1000;
      const b = r.endUnixMs / 1000;
      const { joules, samples } = integrate(s, a, b);
      const seconds = b - a;
      if (samples < MIN_REGION_SAMPLES) return { label: r.label, seconds, samples, joules: null, meanWatts: null, netJoules: null };
      return {
        label: r.label,
        seconds,
        samples,
        joules,
        meanWatts: seconds > 0 ? joules / seconds : 0,
        netJoules: idleWatts === null ? null : joules - idleWatts * seconds,
      };
    }),
  };
}
