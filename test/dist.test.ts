// The single executables (make dist): each prints its version and probes the machine, and trains a
// tiny model with the data directory passed in; the ARM ones run under qemu-user. Training is
// deterministic, so every executable must give exactly the numbers the npm install gives.
// CI builds dist/ before the tests; elsewhere these tests run when dist/ exists.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultMnistDir } from '../src/data/mnist.js';
import { tempDir } from './helpers.js';

const ROOT = process.cwd();
const TARGETS = [
  { name: 'linux-x64', qemu: null, sysroot: null, arch: 'x64' },
  { name: 'linux-arm64', qemu: 'qemu-aarch64-static', sysroot: '/usr/aarch64-linux-gnu', arch: 'arm64' },
  { name: 'linux-armv7l', qemu: 'qemu-arm-static', sysroot: '/usr/arm-linux-gnueabihf', arch: 'arm' },
];
const TINY = [
  'train',
  '--data-dir',
  defaultMnistDir(),
  '--limit-train',
  '300',
  '--limit-test',
  '100',
  '--epochs',
  '1',
  '--batch',
  '50',
  '--no-checkpoint',
  '--quiet',
  '--json',
];
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
      t.ok(entry?.i2c, 'carries the i2c-bus addon for INA meters');
      t.comment(`${target.name}: ${(statSync(exe).size / 2 ** 20).toFixed(1)} MiB, node ${entry?.node}`);
      const run = (args: string[]) => {
        const [cmd, argv] = target.qemu ? [target.qemu, [exe, ...args]] : [exe, args];
        return spawnSync(cmd, argv, {
          encoding: 'utf8',
          timeout: 300_000,
          cwd: tmpdir(),
          env: { ...process.env, ...(target.sysroot ? { QEMU_LD_PREFIX: target.sysroot } : {}) },
        });
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
      t.same(
        r.history.map((h: { trainLoss: number; testAccuracy: number }) => [h.trainLoss, h.testAccuracy]),
        reference.history.map((h: { trainLoss: number; testAccuracy: number }) => [h.trainLoss, h.testAccuracy]),
        'same numbers as the npm install',
      );
      t.equal(r.memory.ledger.total, r.memory.modeled.total);
      // the shipped checkpoints travel inside: a fine-tuning run from one by name, part of it trained
      const ft = run([...TINY, '--init', 'mlp-mnist', '--train', 'head']);
      t.equal(ft.status, 0, ft.stderr);
      const f = JSON.parse(ft.stdout);
      t.equal(f.initializedFrom.checkpoint, 'mlp-mnist');
      t.ok(f.history[0].testAccuracy > 0.8, `fine-tuned from the shipped MLP: ${f.history[0].testAccuracy}`);
      // mathjs travels compressed and compiles on first use: a learning-rate schedule parses
      const sched = run([...TINY, '--lr-schedule', '1e-3 * 0.5^floor(epoch/2)']);
      t.equal(sched.status, 0, sched.stderr);
      t.equal(JSON.parse(sched.stdout).history.length, 1, 'trained with a schedule (mathjs from the executable)');
      // TF.js too (export; on x64 only: compiling it under qemu takes long)
      if (!target.qemu) {
        const out = join(tempDir('bitlearn-dist-'), 'tfjs');
        const exp = run(['export', join(ROOT, 'pretrained/mlp-mnist.ckpt'), '--format', 'tfjs', '--out', out]);
        t.equal(exp.status, 0, exp.stderr);
        t.ok(existsSync(join(out, 'model.json')) && existsSync(join(out, 'weights.bin')), 'TF.js export from the executable');
      }
      // the INA sampling thread travels inside, and so does i2c-bus's addon (it loads, then finds no bus 9)
      const sim = run(['meter', '--meter', 'ina226:sim:0x40', '--seconds', '1', '--json']);
      t.equal(sim.status, 0, sim.stderr);
      t.ok(JSON.parse(sim.stdout).samples > 100, 'the sampling thread runs');
      const noBus = run(['meter', '--meter', 'ina219:9:0x40', '--seconds', '1']);
      t.equal(noBus.status, 1);
      t.match(noBus.stderr, /^bitlearn: error: meter "ina219:9:0x40": I2C bus 9/, `the addon loads: ${noBus.stderr.trim()}`);
    });
  }
}

t.test('an executable away from any npm install says the data set must be passed in', { skip: !built && 'dist/ not built' }, async (t) => {
  const dir = tempDir('bitlearn-exe-');
  const exe = join(dir, 'bitlearn');
  copyFileSync(join(ROOT, 'dist/bitlearn-linux-x64'), exe);
  const r = spawnSync(exe, ['train', '--limit-train', '100', '--batch', '50', '--quiet', '--no-checkpoint'], { encoding: 'utf8', cwd: dir });
  t.equal(r.status, 1);
  t.match(r.stderr, /^bitlearn: error: MNIST: this executable does not carry the data set: give --data-dir DIR/);
  // its help says so too, rather than offering a bundled copy it does not have
  const help = spawnSync(exe, ['train', '--help'], { encoding: 'utf8', cwd: dir });
  t.equal(help.status, 0);
  t.match(help.stdout.replace(/\s+/g, ' '), /required: this executable carries no data set/);
  t.notMatch(help.stdout, /bundled copy|installed with the npm package/);
  rmSync(dir, { recursive: true });
});

/** Fake ssh/scp that log each argument (between | marks) and never reach a host. */
function fakeClients(answer = 'aarch64') {
  const dir = tempDir('bitlearn-deploy-');
  const logFile = join(dir, 'calls.log');
  const fake = (name: string, body: string) => {
    writeFileSync(
      join(dir, name),
      `#!/bin/sh\nprintf '%s' "${name}" >> '${logFile}'\nfor a in "$@"; do printf ' |%s|' "$a" >> '${logFile}'; done\necho >> '${logFile}'\n${body}\n`,
    );
    chmodSync(join(dir, name), 0o755);
  };
  fake('ssh', `case "$3" in uname*) echo ${answer};; esac`);
  fake('scp', '');
  const calls = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n') : []);
  return { dir, calls, env: { ...process.env, SSH: join(dir, 'ssh'), SCP: join(dir, 'scp') } };
}

t.test('make deploy copies the executable matching the Pi and runs probe there (fake ssh/scp)', async (t) => {
  const f = fakeClients();
  const exe = join(ROOT, 'dist/bitlearn-linux-arm64');
  const r = spawnSync('make', ['-s', 'deploy', 'PI=pi@raspberrypi.local'], { encoding: 'utf8', env: f.env });
  if (!existsSync(exe)) {
    t.equal(r.status, 2);
    t.match(r.stderr, /dist\/bitlearn-linux-arm64 is missing: run make dist first/);
    return;
  }
  t.equal(r.status, 0, r.stderr);
  t.same(f.calls(), [
    'ssh |--| |pi@raspberrypi.local| |uname| |-m|',
    'scp |--| |dist/bitlearn-linux-arm64| |pi@raspberrypi.local:bitlearn|',
    "ssh |--| |pi@raspberrypi.local| |chmod +x -- 'bitlearn' && './bitlearn' probe|",
  ]);
  const abs = spawnSync('device/deploy.sh', ['pi@10.0.0.7', '/home/pi/bin/bitlearn'], { cwd: ROOT, encoding: 'utf8', env: f.env });
  if (abs.status === 0)
    t.match(f.calls().at(-1), "|chmod +x -- '/home/pi/bin/bitlearn' && '/home/pi/bin/bitlearn' probe|", 'an absolute remote path runs as itself');
});

t.test('deploy: no host or path from the command line reaches a shell or an option (fake ssh/scp)', async (t) => {
  const f = fakeClients();
  const cwd = tempDir('bitlearn-inject-');
  const pwned = () => existsSync(join(cwd, 'pwned')) || existsSync(join(ROOT, 'pwned'));
  const make = (...vars: string[]) => spawnSync('make', ['-s', '-C', ROOT, 'deploy', ...vars], { cwd, encoding: 'utf8', env: f.env });
  const script = (...args: string[]) => spawnSync(join(ROOT, 'device/deploy.sh'), args, { cwd, encoding: 'utf8', env: f.env });
  const cases: [string, ReturnType<typeof make>, RegExp][] = [
    ["make deploy PI='x;touch pwned'", make('PI=x;touch pwned'), /deploy: "x;touch pwned" is not a user@host/],
    ["make deploy PI='$$(touch pwned)x'", make('PI=$$(touch pwned)x'), /deploy: "\$\(touch pwned\)x" is not a user@host/],
    ['make deploy PI=`touch pwned`', make('PI=`touch pwned`'), /is not a user@host/],
    ["make deploy PI=pi@h REMOTE='x;touch pwned'", make('PI=pi@h', 'REMOTE=x;touch pwned'), /remote path "x;touch pwned" must be a file path/],
    ['make deploy (no PI)', make(), /deploy: no Pi given/],
    [`deploy.sh pi@h "x'; touch pwned; echo '"`, script('pi@h', "x'; touch pwned; echo '"), /remote path .* must be a file path/],
    ["deploy.sh '-oProxyCommand=touch pwned'", script('-oProxyCommand=touch pwned'), /is not a user@host/],
    ['deploy.sh pi@-oProxyCommand=x', script('pi@-oProxyCommand=x'), /is not a user@host/],
    ['deploy.sh pi@h -rf', script('pi@h', '-rf'), /remote path "-rf" must be a file path/],
  ];
  for (const [what, r, message] of cases) {
    t.equal(r.status === 0, false, `${what}: refused`);
    t.match(r.stderr, message, what);
    t.notOk(pwned(), `${what}: nothing ran`);
  }
  t.same(f.calls(), [], 'neither ssh nor scp was called');
  rmSync(cwd, { recursive: true, force: true });
});
