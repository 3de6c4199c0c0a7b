// I2C behind a small interface: the real one is the i2c-bus package (Linux /dev/i2c-N); tests
// inject a fake that models a chip's registers. Registers are 16 bits, most significant byte
// first on the wire (the INA219/226/260 order); SMBus word transfers are little-endian, so the
// real bus swaps the bytes.
import { loadI2cBus } from './i2c-loader.js';

export interface I2cBus {
  /** The 16-bit register `reg` of the device at `address`, as an unsigned number. */
  readRegister(address: number, reg: number): number;
  writeRegister(address: number, reg: number, value: number): void;
  close(): void;
}

export interface I2cProvider {
  open(bus: number): I2cBus;
}

export class I2cError extends Error {}

interface I2cBusModule {
  openSync(bus: number): {
    readWordSync(address: number, reg: number): number;
    writeWordSync(address: number, reg: number, word: number): void;
    closeSync(): void;
  };
}

const swap = (w: number) => ((w & 0xff) << 8) | ((w >>> 8) & 0xff);
const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

/** Why a transfer failed, in words (the kernel's errno names). */
function cause(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ENXIO: 'no device answers at that address',
    EREMOTEIO: 'no device answers at that address',
    EIO: 'input/output error on the bus',
    ETIMEDOUT: 'the bus timed out',
    ENOENT: 'no such bus',
    EACCES: 'permission denied (add the user to the i2c group)',
  };
  return (code && known[code]) ?? (e as Error).message;
}

/** The real I2C buses, through i2c-bus. Fails with the bus, the address and the cause. */
export function i2cBusProvider(): I2cProvider {
  let mod: I2cBusModule;
  try {
    mod = loadI2cBus() as I2cBusModule;
  } catch (e) {
    throw new I2cError(`I2C is not available: the i2c-bus module (and its native addon) cannot be loaded: ${(e as Error).message}`);
  }
  return {
    open(bus) {
      let b: ReturnType<I2cBusModule['openSync']>;
      try {
        b = mod.openSync(bus);
      } catch (e) {
        throw new I2cError(`I2C bus ${bus} (/dev/i2c-${bus}) cannot be opened: ${cause(e)}`);
      }
      return {
        readRegister(address, reg) {
          try {
            return swap(b.readWordSync(address, reg));
          } catch (e) {
            throw new I2cError(`I2C bus ${bus}, address ${hex(address)}, register ${hex(reg)}: ${cause(e)}`);
          }
        },
        writeRegister(address, reg, value) {
          try {
            b.writeWordSync(address, reg, swap(value & 0xffff));
          } catch (e) {
            throw new I2cError(`I2C bus ${bus}, address ${hex(address)}, register ${hex(reg)}: ${cause(e)}`);
          }
        },
        close: () => b.closeSync(),
      };
    },
  };
}
