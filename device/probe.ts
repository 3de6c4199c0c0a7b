// What device this is: board model, cores, memory, CPU frequency and temperature, throttling,
// and the sysfs GPIO numbering base. Everything is read from /proc and /sys under a root
// directory (tests point it at a fake tree); what cannot be read is reported as null.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

export interface GpioChip {
  chip: string;
  label: string | null;
  base: number;
  ngpio: number | null;
}

export interface DeviceProbe {
  model: string | null;
  isRaspberryPi: boolean;
  cpu: string | null;
  cores: number;
  memTotalBytes: number | null;
  memAvailableBytes: number | null;
  cpuFreqMHz: number | null;
  temperatureC: number | null;
  /** Raspberry Pi firmware throttling flags (get_throttled), decoded; null where not readable. */
  throttled: { raw: number; underVoltage: boolean; frequencyCapped: boolean; throttled: boolean; softTempLimit: boolean; occurred: boolean } | null;
  gpioChips: GpioChip[];
  /** sysfs number of BCM GPIO 0 (kernels 6.6+ number from a base such as 512), when a Pi GPIO chip is found. */
  gpioBase: number | null;
}

function read(root: string, path: string): string | null {
  try {
    return readFileSync(join(root, path), 'utf8');
  } catch {
    return null;
  }
}

function num(text: string | null): number | null {
  if (text === null) return null;
  const v = Number(text.trim());
  return Number.isFinite(v) ? v : null;
}

function meminfo(text: string | null, key: string): number | null {
  const m = text?.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) * 1024 : null;
}

export function decodeThrottled(raw: number) {
  return {
    raw,
    underVoltage: (raw & 0x1) !== 0,
    frequencyCapped: (raw & 0x2) !== 0,
    throttled: (raw & 0x4) !== 0,
    softTempLimit: (raw & 0x8) !== 0,
    occurred: (raw & 0xf0000) !== 0,
  };
}

export function probeDevice(root = '/'): DeviceProbe {
  const model = read(root, 'proc/device-tree/model')?.replace(/\0/g, '').trim() || null;
  const cpuinfo = read(root, 'proc/cpuinfo');
  const cpuField = (k: string) => cpuinfo?.match(new RegExp(`^${k}\\s*:\\s*(.+)$`, 'mi'))?.[1].trim() ?? null;
  const cpu = cpuField('model name') ?? cpuField('Hardware') ?? cpuField('Processor');
  const mem = read(root, 'proc/meminfo');
  const freqKHz = num(read(root, 'sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq'));
  const milliC = num(read(root, 'sys/class/thermal/thermal_zone0/temp'));
  const throttledHex = read(root, 'sys/devices/platform/soc/soc:firmware/get_throttled');
  const throttledRaw = throttledHex === null ? null : parseInt(throttledHex.trim(), 16);
  const gpioDir = join(root, 'sys/class/gpio');
  const gpioChips: GpioChip[] = existsSync(gpioDir)
    ? readdirSync(gpioDir)
        .filter((d) => d.startsWith('gpiochip'))
        .map((chip) => ({
          chip,
          label: read(root, `sys/class/gpio/${chip}/label`)?.trim() ?? null,
          base: num(read(root, `sys/class/gpio/${chip}/base`)) ?? -1,
          ngpio: num(read(root, `sys/class/gpio/${chip}/ngpio`)),
        }))
        .filter((c) => c.base >= 0)
        .sort((a, b) => a.base - b.base)
    : [];
  // the SoC's own GPIO controller (pinctrl-bcm2835 / -bcm2711 / rp1 on a Pi 5)
  const piChip = gpioChips.find((c) => /pinctrl|bcm2835|bcm2711|rp1/i.test(c.label ?? ''));
  const cores = cpus().length || num(cpuinfo?.match(/^processor/gm)?.length?.toString() ?? null) || 1;
  return {
    model,
    isRaspberryPi: /raspberry pi/i.test(model ?? ''),
    cpu,
    cores,
    memTotalBytes: meminfo(mem, 'MemTotal'),
    memAvailableBytes: meminfo(mem, 'MemAvailable'),
    cpuFreqMHz: freqKHz === null ? null : freqKHz / 1000,
    temperatureC: milliC === null ? null : milliC / 1000,
    throttled: throttledRaw === null || Number.isNaN(throttledRaw) ? null : decodeThrottled(throttledRaw),
    gpioChips,
    gpioBase: piChip ? piChip.base : null,
  };
}
