// The INA219, INA226 and INA260 current/voltage monitors: their registers, the calibration that
// turns the shunt resistance and the largest expected current into a current LSB, the averaging
// and conversion times chosen for a sampling rate, and one reading of bus voltage and current
// with the chip's overflow flag. Datasheet arithmetic (TI SBOS448, SBOS547, SBOSA69):
//   INA219  CAL = trunc(0.04096 / (I_LSB · R)), P_LSB = 20 · I_LSB, bus LSB 4 mV (bits 15-3),
//           overflow = bit 0 of the bus register, shunt ±320 mV full scale (PGA /8)
//   INA226  CAL = trunc(0.00512 / (I_LSB · R)), P_LSB = 25 · I_LSB, bus LSB 1.25 mV, shunt LSB
//           2.5 µV (±81.92 mV), overflow = bit 2 of Mask/Enable
//   INA260  2 mΩ shunt inside: current LSB 1.25 mA, bus LSB 1.25 mV, power LSB 10 mW
import { I2cError, type I2cBus } from './i2c.js';

export type InaChipName = 'ina219' | 'ina226' | 'ina260';
export const INA_CHIPS: InaChipName[] = ['ina219', 'ina226', 'ina260'];

export class InaError extends Error {}

export interface InaSpec {
  chip: InaChipName;
  /** /dev/i2c-N, or 'sim': a simulated chip on a fake bus (labelled so; for trying the tools and timing the sampling thread). */
  bus: number | 'sim';
  address: number;
  /** The shunt resistor (Ω); the INA260's own 2 mΩ. */
  shuntOhms: number;
  /** The largest current expected (A): sets the current LSB (maxAmps / 2^15). */
  maxAmps: number;
}

export interface InaCalibration {
  /** Amperes per count of the current register (as the truncated calibration register makes it). */
  currentLsb: number;
  /** Watts per count of the power register. */
  powerLsb: number;
  /** Volts per count of the bus voltage. */
  busLsb: number;
  /** The calibration register (null: the INA260 has none). */
  cal: number | null;
  /** The largest current the shunt and the ADC can show (A). */
  fullScaleAmps: number;
}

const INA260_SHUNT = 0.002;
/** Shunt voltage full scale: INA219 at PGA /8, INA226 fixed. */
const SHUNT_FULL_SCALE: Record<'ina219' | 'ina226', number> = { ina219: 0.32, ina226: 0.08192 };
const TI = 0x5449;
const DIE: Record<'ina226' | 'ina260', number> = { ina226: 0x226, ina260: 0x227 };

const REG = { config: 0x00, shunt: 0x01, bus: 0x02, power: 0x03, current: 0x04, cal: 0x05, maskEnable: 0x06, manufacturer: 0xfe, die: 0xff };
/** Mask/Enable (INA226, INA260): the math overflow flag. */
const OVF = 1 << 2;

const signed16 = (v: number) => (v & 0x8000 ? v - 0x10000 : v);
const hex = (n: number, width = 2) => `0x${n.toString(16).padStart(width, '0')}`;

/**
 * "ina226:1:0x40:0.1:0.8" → chip, bus, address, shunt Ω, max A. Defaults: 0.1 Ω, the shunt's full
 * scale. The INA260 takes bus and address only.
 */
export function parseInaSpec(spec: string): InaSpec {
  const [chip, busText, addrText, shuntText, ampsText, ...rest] = spec.split(':');
  const bad = (why: string) => new InaError(`meter "${spec}": ${why}`);
  if (!INA_CHIPS.includes(chip as InaChipName)) throw bad(`unknown chip "${chip}" (${INA_CHIPS.join(', ')})`);
  if (rest.length) throw bad('too many fields (CHIP:BUS:ADDRESS[:SHUNT_OHMS[:MAX_AMPS]])');
  const bus = busText === 'sim' ? 'sim' : Number(busText);
  if (bus !== 'sim' && (!busText || !Number.isInteger(bus) || bus < 0 || bus > 255))
    throw bad(`bus "${busText ?? ''}" is not an I2C bus number (/dev/i2c-N) or sim`);
  const address = addrText && /^(0x[0-9a-f]+|\d+)$/i.test(addrText) ? Number(addrText) : NaN;
  if (!(address >= 0x40 && address <= 0x4f)) throw bad(`address "${addrText ?? ''}" is not an INA2xx address (0x40 to 0x4f, set by its A0/A1 pins)`);
  if (chip === 'ina260') {
    if (shuntText !== undefined) throw bad('the INA260 has its shunt inside: give CHIP:BUS:ADDRESS only');
    return { chip, bus, address, shuntOhms: INA260_SHUNT, maxAmps: 15 };
  }
  const shuntOhms = shuntText === undefined ? 0.1 : Number(shuntText);
  if (!(shuntOhms > 0 && shuntOhms < 100)) throw bad(`shunt "${shuntText}" is not a resistance in ohms (e.g. 0.1)`);
  const fullScale = Number((SHUNT_FULL_SCALE[chip as 'ina219' | 'ina226'] / shuntOhms).toPrecision(12));
  const maxAmps = ampsText === undefined ? fullScale : Number(ampsText);
  if (!(maxAmps > 0)) throw bad(`max current "${ampsText}" is not a positive number of amperes`);
  if (maxAmps > fullScale * 1.0001)
    throw bad(`${maxAmps} A across ${shuntOhms} Ω is beyond the shunt input's full scale (${fullScale.toPrecision(4)} A): use a smaller shunt`);
  return { chip: chip as InaChipName, bus, address, shuntOhms, maxAmps };
}

/**
 * The calibration for a shunt and a largest current: I_LSB = maxAmps / 2^15 (or the LSB given, as
 * the datasheets' examples round it up), the calibration register and the power LSB.
 */
export function inaCalibration(chip: InaChipName, shuntOhms: number, maxAmps: number, currentLsb = maxAmps / 32768): InaCalibration {
  if (chip === 'ina260') return { currentLsb: 0.00125, powerLsb: 0.01, busLsb: 0.00125, cal: null, fullScaleAmps: 40.96 };
  const k = chip === 'ina219' ? 0.04096 : 0.00512;
  // the INA219's bit 0 is void: the register holds even values only
  const raw = Math.trunc(k / (currentLsb * shuntOhms));
  const cal = chip === 'ina219' ? raw & 0xfffe : raw;
  if (cal < 1 || cal > 0xffff)
    throw new InaError(
      `${chip}: a ${shuntOhms} Ω shunt with a ${currentLsb} A current LSB needs calibration ${raw}, outside 1 to 65535 (choose another max current)`,
    );
  // the current register counts shunt · CAL / 2^n, so one count is k / (CAL · R): the LSB of the
  // truncated calibration (the LSB asked for, exactly, when CAL came out whole)
  const effective = k / (cal * shuntOhms);
  return {
    currentLsb: effective,
    powerLsb: (chip === 'ina219' ? 20 : 25) * effective,
    busLsb: chip === 'ina219' ? 0.004 : 0.00125,
    cal,
    fullScaleAmps: SHUNT_FULL_SCALE[chip] / shuntOhms,
  };
}

/** Conversion time and averaging chosen so that one bus + shunt conversion pair fits a sampling period. */
export interface InaTiming {
  config: number;
  /** Time of one conversion, µs. */
  conversionUs: number;
  averages: number;
  /** Time of one complete reading (both conversions, averaged), µs. */
  readingUs: number;
}

/** INA226 / INA260 conversion times (µs) and averaging counts, in register order. */
const CT_226 = [140, 204, 332, 588, 1100, 2116, 4156, 8244];
const AVG_226 = [1, 4, 16, 64, 128, 256, 512, 1024];
/** INA219 ADC settings: 12-bit with 1 to 128 samples averaged (register code, µs). */
const ADC_219: [number, number, number][] = [
  [0b0011, 1, 532],
  [0b1001, 2, 1060],
  [0b1010, 4, 2130],
  [0b1011, 8, 4260],
  [0b1100, 16, 8510],
  [0b1101, 32, 17020],
  [0b1110, 64, 34050],
  [0b1111, 128, 68100],
];

/** The most averaging whose complete reading still fits 1/rateHz (the fastest setting when none fits). */
export function inaTiming(chip: InaChipName, rateHz: number): InaTiming {
  const periodUs = 1e6 / rateHz;
  if (chip === 'ina219') {
    const fit = ADC_219.filter(([, , us]) => 2 * us <= periodUs);
    const [code, averages, us] = fit.length ? fit[fit.length - 1] : ADC_219[0];
    // BRNG 32 V, PGA /8 (±320 mV), bus and shunt ADC alike, continuous shunt and bus
    return { config: (1 << 13) | (0b11 << 11) | (code << 7) | (code << 3) | 0b111, conversionUs: us / averages, averages, readingUs: 2 * us };
  }
  let best = { a: 0, c: 0, total: -1 };
  for (const [c, ct] of CT_226.entries())
    for (const [a, n] of AVG_226.entries()) {
      const total = 2 * ct * n;
      if (total <= periodUs && total > best.total) best = { a, c, total };
    }
  if (best.total < 0) best = { a: 0, c: 0, total: 2 * CT_226[0] };
  // bit 14 reads as 1 on the INA226 (reserved) and selects nothing on the INA260: written as the reset value has it
  const config = (chip === 'ina226' ? 0x4000 : 0x6000) | (best.a << 9) | (best.c << 6) | (best.c << 3) | 0b111;
  return { config, conversionUs: CT_226[best.c], averages: AVG_226[best.a], readingUs: best.total };
}

/** One reading: bus voltage, current and their product; overflow: the chip's math overflow flag (the numbers are not usable). */
export interface InaReading {
  volts: number;
  amps: number;
  watts: number;
  overflow: boolean;
}

/** A configured chip on a bus: read() gives one reading. */
export class InaChip {
  readonly calibration: InaCalibration;
  readonly timing: InaTiming;

  constructor(
    private readonly bus: I2cBus,
    readonly spec: InaSpec,
    rateHz: number,
  ) {
    const { chip, address } = spec;
    this.calibration = inaCalibration(chip, spec.shuntOhms, spec.maxAmps);
    this.timing = inaTiming(chip, rateHz);
    const where = `${chip} on I2C bus ${spec.bus} at ${hex(address)}`;
    try {
      if (chip !== 'ina219') {
        const maker = bus.readRegister(address, REG.manufacturer);
        const die = bus.readRegister(address, REG.die);
        if (maker !== TI || die >>> 4 !== DIE[chip])
          throw new InaError(`${where}: the device there is not an ${chip.toUpperCase()} (manufacturer ${hex(maker, 4)}, die ${hex(die, 4)})`);
      }
      bus.writeRegister(address, REG.config, 0x8000); // reset
      bus.writeRegister(address, REG.config, this.timing.config);
      if (this.calibration.cal !== null) bus.writeRegister(address, REG.cal, this.calibration.cal);
      const back = bus.readRegister(address, REG.config);
      if (back !== this.timing.config)
        throw new InaError(
          `${where}: the configuration did not hold (wrote ${hex(this.timing.config, 4)}, read ${hex(back, 4)}): is it an ${chip.toUpperCase()}?`,
        );
    } catch (e) {
      // the bus error names the bus, the address and the register already
      if (e instanceof I2cError) throw new InaError(e.message);
      throw e;
    }
  }

  read(): InaReading {
    const { chip, address } = this.spec;
    const { currentLsb, busLsb } = this.calibration;
    const b = this.bus;
    let volts: number;
    let overflow: boolean;
    if (chip === 'ina219') {
      const raw = b.readRegister(address, REG.bus);
      volts = (raw >>> 3) * busLsb;
      overflow = (raw & 1) === 1;
    } else {
      volts = (b.readRegister(address, REG.bus) & 0x7fff) * busLsb;
      overflow = (b.readRegister(address, REG.maskEnable) & OVF) !== 0;
    }
    const amps = signed16(b.readRegister(address, chip === 'ina260' ? REG.shunt : REG.current)) * currentLsb;
    return { volts, amps, watts: volts * amps, overflow };
  }

  close(): void {
    this.bus.close();
  }
}
