// The single executables (make dist): each prints its version and probes the machine, and trains a
// tiny model with the data directory passed in; the ARM ones run under qemu-user. Training is
// deterministic, so every executable must give exactly the numbers the npm install gives.
// CI builds dist/ before the tests; elsewhere these tests run when dist/ exists.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultMnistDir } from '../src/data/mnist.js';

const ROOT = process.cwd();
const TARGETS = [
  { name: 'linux-x64', qemu: null, sysroot: null, arch: 'x64' },
  { name: 'linux-arm64', qemu: 'qemu-aarch64-static', sysroot: '/usr/aarch64-linux-gnu', arch: 'arm64' },
  { name: 'linux-armv7l', qemu: 'qemu-arm-static', sysroot: '/usr/arm-linux-gnueabihf', arch: 'arm' },
];
const TINY = ['train', '--data-dir', defaultMnistDir(), '--limit-train', '300', '--limit-test', '100', '--epochs', '1', '--batch', '50', '--no-checkpoint', '--quiet', '--json'];
const built = existsSync(join(ROOT, 'dist/manifest.json'));

if (!built) {
  t.equal(process.env.CI, undefined, 'CI builds the executables (make dist) before the tests');
  t.comment('dist/ not built (make dist): single-executable tests skipped');
} else {
  const reference = JSON.parse(spawnSync(process.execPath, ['build/src/cli/main.js', ...TINY], { encoding: 'utf8' }).stdout);
  const manifest = JSON.parse(readFileSync(join(ROOT, 'dist/manifest.json'), 'utf8'));

  for (const target of TARGETS) {
    t.test(`${target.name} executable`, async (t) => {
      const exe = join(ROOT, `dist/bitlearn-${target.name}`);
      t.ok(existsSync(exe), `${exe} built`);
      const entry = manifest.built.find((b: { target: string }) => b.target === target.name);
      t.ok(entry?.epoll, 'carries the epoll addon for GPIO meters');
      t.comment(`${target.name}: ${(statSync(exe).size / 2 ** 20).toFixed(1)} MiB, node ${entry?.node}`);
      const run = (args: string[]) => {
        const [cmd, argv] = target.qemu ? [target.qemu, [exe, ...args]] : [exe, args];
        return spawnSync(cmd, argv, { encoding: 'utf8', timeout: 300_000, cwd: tmpdir(), env: { ...process.env, ...(target.sysroot ? { QEMU_LD_PREFIX: target.sysroot } : {}) } });
      };
      const version = run(['--version']);
      t.equal(version.status, 0, version.stderr);
      t.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
      const probe = run(['probe', '--json']);
      t.equal(probe.status, 0, probe.stderr);
      t.ok(JSON.parse(probe.stdout).cores >= 1);
      const tiny = run(TINY);
      t.equal(tiny.status, 0, tiny.stderr);
      const r = JSON.parse(tiny.stdout);
      t.equal(r.machine.arch, target.arch, `runs as ${target.arch}`);
      t.equal(r.kernels, 'wasm-simd', 'the WebAssembly kernels travel inside');
      t.same(r.history.map((h: { trainLoss: number; testAccuracy: number }) => [h.trainLoss, h.testAccuracy]), reference.history.map((h: { trainLoss: number; testAccuracy: number }) => [h.trainLoss, h.testAccuracy]), 'same numbers as the npm install');
      t.equal(r.memory.ledger.total, r.memory.modeled.total);
    });
  }
}

t.test('an executable away from any npm install says the data set must be passed in', { skip: !built && 'dist/ not built' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bitlearn-exe-'));
  const exe = join(dir, 'bitlearn');
  copyFileSync(join(ROOT, 'dist/bitlearn-linux-x64'), exe);
  const r = spawnSync(exe, ['train', '--limit-train', '100', '--batch', '50', '--quiet', '--no-checkpoint'], { encoding: 'utf8', cwd: dir });
  t.equal(r.status, 1);
  t.match(r.stderr, /^bitlearn: error: MNIST: this executable does not carry the data set: give --data-dir DIR/);
  rmSync(dir, { recursive: true });
});

t.test('make deploy copies the executable matching the Pi and runs probe there (fake ssh/scp)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bitlearn-deploy-'));
  const logFile = join(dir, 'calls.log');
  const fake = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\necho "${name} $*" >> ${logFile}\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  fake('ssh', 'case "$2" in uname*) echo aarch64;; esac');
  fake('scp', '');
  const exe = join(ROOT, 'dist/bitlearn-linux-arm64');
  const r = spawnSync('make', ['-s', 'deploy', 'PI=pi@raspberrypi.local'], { encoding: 'utf8', env: { ...process.env, SSH: join(dir, 'ssh'), SCP: join(dir, 'scp') } });
  if (!existsSync(exe)) {
    t.equal(r.status, 2);
    t.match(r.stderr, /dist\/bitlearn-linux-arm64 is missing: run make dist first/);
    return;
  }
  t.equal(r.status, 0, r.stderr);
  const calls = readFileSync(logFile, 'utf8').trim().split('\n');
  t.same(calls, [
    'ssh pi@raspberrypi.local uname -m',
    `scp dist/bitlearn-linux-arm64 pi@raspberrypi.local:bitlearn`,
    "ssh pi@raspberrypi.local chmod +x 'bitlearn' && './bitlearn' probe",
  ]);
});
