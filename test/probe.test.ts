import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { probeDevice } from '../device/probe.js';
import { tempDir } from './helpers.js';

function fakeRoot(files: Record<string, string>): string {
  const root = tempDir('bitlearn-root-');
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

t.test('a Raspberry Pi 4 with a 6.6 kernel (GPIO base 512)', async (t) => {
  const root = fakeRoot({
    'proc/device-tree/model': 'Raspberry Pi 4 Model B Rev 1.4\0',
    'proc/cpuinfo': 'processor\t: 0\nBogoMIPS\t: 108.00\n\nHardware\t: BCM2835\nRevision\t: c03114\nModel\t: Raspberry Pi 4 Model B Rev 1.4\n',
    'proc/meminfo': 'MemTotal:        3884328 kB\nMemFree:         3000000 kB\nMemAvailable:    3500000 kB\n',
    'sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq': '1500000\n',
    'sys/class/thermal/thermal_zone0/temp': '48686\n',
    'sys/devices/platform/soc/soc:firmware/get_throttled': '50005\n',
    'sys/class/gpio/gpiochip512/base': '512\n',
    'sys/class/gpio/gpiochip512/label': 'pinctrl-bcm2711\n',
    'sys/class/gpio/gpiochip512/ngpio': '58\n',
    'sys/class/gpio/gpiochip570/base': '570\n',
    'sys/class/gpio/gpiochip570/label': 'raspberrypi-exp-gpio\n',
  });
  const p = probeDevice(root);
  t.equal(p.model, 'Raspberry Pi 4 Model B Rev 1.4');
  t.ok(p.isRaspberryPi);
  t.equal(p.cpu, 'BCM2835');
  t.equal(p.memTotalBytes, 3884328 * 1024);
  t.equal(p.memAvailableBytes, 3500000 * 1024);
  t.equal(p.cpuFreqMHz, 1500);
  t.equal(p.temperatureC, 48.686);
  t.same(p.throttled, { raw: 0x50005, underVoltage: true, frequencyCapped: false, throttled: true, softTempLimit: false, occurred: true });
  t.equal(p.gpioBase, 512, 'BCM GPIO 0 is sysfs 512');
  t.equal(p.gpioChips.length, 2);
  const cli = spawnSync(process.execPath, [join(process.cwd(), 'build/src/cli/main.js'), 'probe', '--root', root], { encoding: 'utf8' });
  t.match(cli.stdout, /board\s+Raspberry Pi 4 Model B Rev 1\.4/);
  t.match(cli.stdout, /throttling\s+0x50005 under-voltage throttled \(has occurred since boot\)/);
  t.match(cli.stdout, /GPIO base \(BCM 0\)\s+512/);
});

t.test('not a Raspberry Pi: clear output, nothing invented', async (t) => {
  const root = fakeRoot({ 'proc/cpuinfo': 'model name\t: Some CPU\n', 'proc/meminfo': 'MemTotal: 1000 kB\n' });
  const p = probeDevice(root);
  t.equal(p.model, null);
  t.notOk(p.isRaspberryPi);
  t.equal(p.cpu, 'Some CPU');
  t.equal(p.memAvailableBytes, null);
  t.equal(p.temperatureC, null);
  t.equal(p.throttled, null);
  t.equal(p.gpioBase, null);
  const cli = spawnSync(process.execPath, [join(process.cwd(), 'build/src/cli/main.js'), 'probe', '--root', root, '--json'], { encoding: 'utf8' });
  t.equal(JSON.parse(cli.stdout).isRaspberryPi, false);
  const human = spawnSync(process.execPath, [join(process.cwd(), 'build/src/cli/main.js'), 'probe', '--root', root], { encoding: 'utf8' });
  t.match(human.stdout, /not a Raspberry Pi/);
});
