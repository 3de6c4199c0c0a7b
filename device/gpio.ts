// GPIO behind a small interface: the real one is onoff (sysfs GPIO on a Raspberry Pi); tests
// inject a fake. Pins are given as BCM numbers and mapped to sysfs numbers with the GPIO base
// the kernel uses (512 on Raspberry Pi OS kernels 6.6+), read by the device probe.
import { loadOnoff } from './onoff-loader.js';
import { existsSync } from 'node:fs';
import { probeDevice } from './probe.js';

export type Edge = 'rising' | 'falling' | 'both' | 'none';

export interface GpioPin {
  /** Called for each edge with the level after it. */
  watch(callback: (level: number) => void): void;
  write(level: 0 | 1): void;
  /** Stop watching and give the pin back to the kernel. */
  release(): void;
}

export interface GpioProvider {
  open(bcmPin: number, direction: 'in' | 'out', edge: Edge): GpioPin;
}

export class GpioError extends Error {}

interface OnoffGpio {
  watch(cb: (err: Error | null | undefined, value: number) => void): void;
  unwatchAll(): void;
  writeSync(value: 0 | 1): void;
  unexport(): void;
}
interface OnoffModule {
  Gpio: { new (gpio: number, direction: string, edge?: string, options?: object): OnoffGpio; accessible: boolean };
}

/** The real GPIO, through onoff. Fails with the pin and the cause when GPIO cannot be used. */
export function onoffProvider(sysRoot = '/'): GpioProvider {
  let onoff: OnoffModule;
  try {
    onoff = loadOnoff() as OnoffModule;
  } catch (e) {
    throw new GpioError(`GPIO is not available: the onoff module (and its epoll addon) cannot be loaded: ${(e as Error).message}`);
  }
  const base = probeDevice(sysRoot).gpioBase ?? 0;
  return {
    open(bcmPin, direction, edge) {
      const sysfs = base + bcmPin;
      if (!existsSync('/sys/class/gpio'))
        throw new GpioError(
          `GPIO ${bcmPin} (sysfs ${sysfs}) cannot be used: /sys/class/gpio does not exist (not a Raspberry Pi, or a kernel without sysfs GPIO)`,
        );
      if (!onoff.Gpio.accessible)
        throw new GpioError(`GPIO ${bcmPin} (sysfs ${sysfs}) is not accessible: permission denied on /sys/class/gpio (add the user to the gpio group)`);
      let gpio: OnoffGpio;
      try {
        // debounce stays off: a debounce window as long as the pulse would drop every pulse
        gpio = new onoff.Gpio(sysfs, direction, edge === 'none' ? undefined : edge);
      } catch (e) {
        throw new GpioError(`GPIO ${bcmPin} (sysfs ${sysfs}) cannot be opened: ${(e as Error).message}`);
      }
      return {
        watch: (cb) =>
          gpio.watch((err, value) => {
            if (!err) cb(value);
          }),
        write: (level) => gpio.writeSync(level),
        release: () => {
          gpio.unwatchAll();
          gpio.unexport();
        },
      };
    },
  };
}
