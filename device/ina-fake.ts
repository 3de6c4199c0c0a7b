// A fake I2C bus with one INA219, INA226 or INA260 on it, modelling the chip's registers as its
// datasheet defines them: the shunt voltage quantized by the ADC (and clipped at full scale, with
// the overflow flag set), the current register computed from it and the calibration register
// (INA219: shunt·CAL/4096, INA226: shunt·CAL/2048; the INA260 measures its own 2 mΩ shunt), the
// bus voltage register with its LSB, the conversion-ready and overflow flags, the ID registers.
// The power drawn follows a waveform in time; bus errors can be injected over a time window.
// Tests (and the sampling thread in tests) use it where no real bus exists.
import { I2cError, type I2cBus } from './i2c.js';
import type { InaChipName } from './ina.js';

/** Supply voltage and current drawn, as functions of time (seconds on the fake's clock). */
export type Waveform =
  | { kind: 'constant'; volts: number; amps: number }
  /** amps alternate between low and high every half period. */
  | { kind: 'square'; volts: number; lowAmps: number; highAmps: number; periodS: number }
  /** amps = mean + amplitude · sin(2πt / period). */
  | { kind: 'sine'; volts: number; meanAmps: number; amplitudeAmps: number; periodS: number };

export interface FakeInaOptions {
  chip: InaChipName;
  address: number;
  /** The resistor actually fitted (Ω); the INA260's is its own 2 mΩ. */
  shuntOhms: number;
  waveform: Waveform;
  /** Reads between these times (seconds) fail with a bus error. */
  errorWindow?: { fromS: number; toS: number };
  /** Seconds on the fake's clock (default: the process's monotonic clock). */
  clock?: () => number;
}

export function waveformAt(w: Waveform, t: number): { volts: number; amps: number } {
  if (w.kind === 'constant') return { volts: w.volts, amps: w.amps };
  if (w.kind === 'square') return { volts: w.volts, amps: (t / w.periodS) % 1 < 0.5 ? w.lowAmps : w.highAmps };
  return { volts: w.volts, amps: w.meanAmps + w.amplitudeAmps * Math.sin((2 * Math.PI * t) / w.periodS) };
}

/** ∫ volts·amps dt over [a, b], exactly. */
export function waveformEnergy(w: Waveform, a: number, b: number): number {
  if (w.kind === 'constant') return w.volts * w.amps * (b - a);
  if (w.kind === 'sine') {
    const k = (2 * Math.PI) / w.periodS;
    return w.volts * (w.meanAmps * (b - a) + (w.amplitudeAmps / k) * (Math.cos(k * a) - Math.cos(k * b)));
  }
  // square: integrate piecewise over half periods
  const half = w.periodS / 2;
  let e = 0;
  for (let t = a; t < b; ) {
    const next = Math.min(b, (Math.floor(t / half + 1e-12) + 1) * half);
    e += waveformAt(w, (t + next) / 2).amps * (next - t);
    t = next;
  }
  return w.volts * e;
}

const clamp16 = (v: number) => Math.max(-32768, Math.min(32767, v));

export class FakeInaBus implements I2cBus {
  private config: number;
  private cal = 0;
  private maskEnable = 0;
  private readonly clock: () => number;
  /** Registers written, in order (for tests). */
  readonly writes: [number, number][] = [];

  constructor(private readonly o: FakeInaOptions) {
    this.config = o.chip === 'ina219' ? 0x399f : o.chip === 'ina226' ? 0x4127 : 0x6127;
    this.clock = o.clock ?? (() => Number(process.hrtime.bigint()) / 1e9);
  }

  private check(address: number, reg: number): void {
    const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
    if (address !== this.o.address) throw new I2cError(`fake I2C bus, address ${hex(address)}, register ${hex(reg)}: no device answers at that address`);
    const t = this.clock();
    const w = this.o.errorWindow;
    if (w && t >= w.fromS && t < w.toS) throw new I2cError(`fake I2C bus, address ${hex(address)}, register ${hex(reg)}: input/output error on the bus`);
  }

  /** The chip's view now: shunt register, overflow, current register, bus register value. */
  private convert(): { shunt: number; current: number; busCounts: number; overflow: boolean } {
    const { volts, amps } = waveformAt(this.o.waveform, this.clock());
    const chip = this.o.chip;
    if (chip === 'ina260') {
      const raw = Math.round(amps / 0.00125);
      return { shunt: 0, current: clamp16(raw), busCounts: Math.round(volts / 0.00125) & 0x7fff, overflow: raw !== clamp16(raw) };
    }
    const vShunt = amps * this.o.shuntOhms;
    const [lsb, full] = chip === 'ina219' ? [10e-6, 32000] : [2.5e-6, 32767];
    const raw = Math.round(vShunt / lsb);
    const shunt = Math.max(-full, Math.min(full, raw));
    const current = Math.trunc((shunt * this.cal) / (chip === 'ina219' ? 4096 : 2048));
    const busCounts = chip === 'ina219' ? Math.round(volts / 0.004) & 0x1fff : Math.round(volts / 0.00125) & 0x7fff;
    return { shunt, current: clamp16(current), busCounts, overflow: raw !== shunt || current !== clamp16(current) };
  }

  readRegister(address: number, reg: number): number {
    this.check(address, reg);
    const chip = this.o.chip;
    const u16 = (v: number) => v & 0xffff;
    if (reg === 0x00) return this.config;
    if (chip !== 'ina219' && reg === 0xfe) return 0x5449;
    if (chip !== 'ina219' && reg === 0xff) return chip === 'ina226' ? 0x2260 : 0x2270;
    const c = this.convert();
    if (reg === 0x01) return u16(chip === 'ina260' ? c.current : c.shunt);
    if (reg === 0x02) return chip === 'ina219' ? (c.busCounts << 3) | 0b10 | (c.overflow ? 1 : 0) : c.busCounts;
    if (reg === 0x04 && chip !== 'ina260') return u16(c.current);
    if (reg === 0x05 && chip !== 'ina260') return this.cal;
    if (reg === 0x06 && chip !== 'ina219') {
      const v = this.maskEnable | (1 << 3) | (c.overflow ? 1 << 2 : 0);
      return v; // reading clears the conversion-ready flag on the chip; the fake always has a fresh conversion
    }
    return 0;
  }

  writeRegister(address: number, reg: number, value: number): void {
    this.check(address, reg);
    this.writes.push([reg, value]);
    if (reg === 0x00) {
      if (value & 0x8000) {
        // reset: every register to its power-on value
        this.config = this.o.chip === 'ina219' ? 0x399f : this.o.chip === 'ina226' ? 0x4127 : 0x6127;
        this.cal = 0;
        this.maskEnable = 0;
      } else this.config = this.o.chip === 'ina219' ? value : value | 0x4000; // bit 14 reads as 1 on the INA226/260
    } else if (reg === 0x05 && this.o.chip !== 'ina260') this.cal = this.o.chip === 'ina219' ? value & 0xfffe : value;
    else if (reg === 0x06 && this.o.chip !== 'ina219') this.maskEnable = value & 0xfc00;
  }

  close(): void {
    // nothing to give back
  }
}
