// What the command line does when a run meets the world: a second run onto the default
// checkpoint, a full disk behind --out or `> file`, Ctrl-C in the middle of an epoch, progress in a
// log, more threads than cores.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from './helpers.js';

const CLI = join(process.cwd(), 'build/src/cli/main.js');
const QUICK = ['--limit-train', '300', '--limit-test', '100', '--batch', '50', '--epochs', '1'];
const run = (args: string[], cwd: string, stdout: 'pipe' | number = 'pipe') =>
  spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', stdout, 'pipe'], timeout: 300_000 });

t.test('the default checkpoint of one run is not replaced by the next run', async (t) => {
  const cwd = tempDir('bitlearn-default-ck-');
  const first = run(['train', ...QUICK, '--quiet'], cwd);
  t.equal(first.status, 0, first.stderr);
  const ck = join(cwd, 'checkpoints/mlp-low-memory.ckpt');
  const before = readFileSync(ck);
  const again = run(['train', ...QUICK, '--quiet'], cwd);
  t.equal(again.status, 1);
  t.equal(
    again.stderr,
    'bitlearn: error: checkpoint checkpoints/mlp-low-memory.ckpt already holds this run at epoch 1: ' +
      '--resume continues it, --overwrite replaces it, --checkpoint FILE (or --no-checkpoint) keeps it\n',
  );
  const other = run(['train', '--limit-train', '100', '--limit-test', '100', '--batch', '50', '--epochs', '1', '--quiet'], cwd);
  t.equal(other.status, 1);
  t.match(other.stderr, /already holds another run \(data mnist-train, 300 training and 100 test examples \(this run: mnist-train, 100 training/);
  t.ok(readFileSync(ck).equals(before), "the first run's checkpoint is untouched");
  const replaced = run(['train', ...QUICK, '--quiet', '--overwrite', '--seed', '2'], cwd);
  t.equal(replaced.status, 0, replaced.stderr);
  t.notOk(readFileSync(ck).equals(before), '--overwrite replaces it');
  t.same(readdirSync(join(cwd, 'checkpoints')), ['mlp-low-memory.ckpt'], 'no lock or temp file left');
});

t.test('a full disk: --json > file is one line; --out still prints the report on stdout', async (t) => {
  const cwd = tempDir('bitlearn-full-');
  const full = openSync('/dev/full', 'w');
  const json = run(['train', ...QUICK, '--quiet', '--no-checkpoint', '--json'], cwd, full);
  t.equal(json.status, 1);
  t.equal(json.stderr, 'bitlearn: error: cannot write to standard output: no space left on the disk (ENOSPC)\n');
  const text = run(['train', ...QUICK, '--quiet', '--no-checkpoint'], cwd, full);
  t.equal(text.status, 1);
  t.equal(text.stderr, 'bitlearn: error: cannot write to standard output: no space left on the disk (ENOSPC)\n');

  // a real small file system, filled: needs root (mount); skipped with the reason otherwise
  const mnt = join(cwd, 'small');
  mkdirSync(mnt);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=12k', 'tmpfs', mnt]).status === 0;
  if (!mounted) {
    t.comment('skipped: cannot mount a small tmpfs here (not root): the full-disk --out case is not run');
    return;
  }
  t.teardown(() => {
    spawnSync('umount', [mnt]);
  });
  spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=1k', 'count=8']); // leaves 4 KiB: the pre-check's probe fits, the report does not
  const out = join(mnt, 'run.json');
  const r = run(['train', ...QUICK, '--quiet', '--no-checkpoint', '--out', out], cwd);
  t.equal(r.status, 1);
  t.equal(r.stderr, `bitlearn: error: cannot write run report ${out}: no space left on the disk (ENOSPC)\n`);
  t.match(r.stdout, /test accuracy \d+\.\d+%/, 'the report still reaches stdout');
  t.notMatch(r.stdout, /run report:/, 'and does not claim the file');
  t.same(readdirSync(mnt), ['filler'], 'no temp file left on the full disk');
  // a checkpoint that cannot fit is refused before the first step
  const ck = run(['train', ...QUICK, '--quiet', '--checkpoint', join(mnt, 'a.ckpt')], cwd);
  t.equal(ck.status, 1);
  t.match(ck.stderr, /^bitlearn: error: checkpoint .*a\.ckpt: needs \d+\.\d MiB but the disk has 0\.0 MiB free\n$/);
  t.same(readdirSync(mnt), ['filler'], 'nothing written');
});

t.test('Ctrl-C: stops after the batch, writes the report of the epochs done, says how to resume', async (t) => {
  const cwd = tempDir('bitlearn-sigint-');
  const args = ['train', '--limit-train', '3000', '--limit-test', '100', '--batch', '20', '--epochs', '4', '--checkpoint', 'a.ckpt', '--out', 'run.json'];
  const child = spawn(process.execPath, [CLI, ...args], { cwd });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const interrupted = new Promise<void>((resolve) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      // not a terminal: a line when epoch 2 starts
      if (/epoch 2\/4: 150 batches/.test(stderr) && !child.killed) {
        child.kill('SIGINT');
        resolve();
      }
    });
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  await interrupted;
  t.equal(status, 130);
  t.match(stderr, /Ctrl-C: stopping after this batch \(press Ctrl-C again to quit at once\)/);
  t.match(
    stderr,
    /interrupted in epoch 2 after batch \d+ of 150; the last checkpoint is a\.ckpt \(epoch 1\): run the same command with --resume to continue from there\n$/,
  );
  t.notMatch(stderr, /^\s+at /m, 'no stack trace');
  t.match(stdout, /test accuracy/, 'the report of the epochs done is printed');
  const report = JSON.parse(readFileSync(join(cwd, 'run.json'), 'utf8'));
  t.equal(report.history.length, 1);
  t.equal(report.interrupted.epoch, 2);
  t.notOk(existsSync(join(cwd, 'a.ckpt.lock')), 'lock released');
  const resumed = run([...args, '--resume', '--quiet', '--epochs', '2'], cwd);
  t.equal(resumed.status, 0, resumed.stderr);
  t.match(resumed.stdout, /test accuracy/);
});

t.test('progress shows within seconds in a log (not a terminal), and --threads is capped at the cores', async (t) => {
  const cwd = tempDir('bitlearn-progress-');
  const r = run(['train', ...QUICK, '--no-checkpoint', '--threads', '64'], cwd);
  t.equal(r.status, 0, r.stderr);
  const lines = r.stderr.split('\n');
  t.match(lines[0], /^bitlearn: warning: --threads 64: this machine has \d+ cores, using \d+ threads$/);
  t.equal(lines[1], 'epoch 1/1: 6 batches', 'a line as soon as the epoch starts');
  t.match(lines[2], /^epoch 1\/1: train loss/);
  t.match(r.stdout, /kernels wasm-simd \(\d+ threads?\)/);
});

t.test('progress hooks: periodic lines, none when quiet', async (t) => {
  const { progressHooks } = await import('../src/cli/progress.js');
  const out: string[] = [];
  const h = progressHooks({ quiet: false, totalEpochs: 2, tty: false, periodMs: 0, write: (s) => out.push(s) });
  h.onEpochStart!(1, 3);
  h.onBatch!(1, 1, 0.5);
  h.onBatch!(1, 2, 0.4);
  h.onBatch!(1, 3, 0.3);
  t.equal(out[0], 'epoch 1/2: 3 batches\n');
  t.match(out[1], /^epoch 1\/2: batch 1\/3, loss 0\.5000, about \d+ s left in this epoch\n$/);
  t.match(out[2], /^epoch 1\/2: batch 2\/3, loss 0\.4000, about \d+ s left in this epoch\n$/);
  t.equal(out.length, 3, 'no line for the last batch: the epoch summary follows');
  t.same(progressHooks({ quiet: true, totalEpochs: 1 }), {});
});
