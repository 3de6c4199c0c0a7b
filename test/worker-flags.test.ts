// The flags kernel and meter threads start with: a compiled worker starts with none (no module
// hooks of its parent, no V8 flags a Worker would refuse), a worker run from TypeScript source
// inherits its parent's.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { workerExecArgv } from '../src/runtime/worker-flags.js';
import { tempDir } from './helpers.js';

const dir = tempDir('bitlearn-worker-flags-');
const script = join(dir, 'worker.mjs');
writeFileSync(script, "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage(process.execArgv);\n");
const compiled = pathToFileURL(script);

t.test('a compiled worker starts with no flags; one from source or from code in memory inherits them', async (t) => {
  t.same(workerExecArgv(compiled), []);
  t.equal(workerExecArgv(new URL('./no-such-worker.js', compiled)), undefined, 'no compiled file: the loader is needed');
  t.equal(workerExecArgv('parentPort.postMessage(1)'), undefined, 'eval code (a single executable)');
});

t.test('a real worker started with them runs under this test runner (whose hooks it never loads)', async (t) => {
  const worker = new Worker(compiled, { execArgv: workerExecArgv(compiled) });
  const seen = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  t.same(seen, []);
  await worker.terminate();
});

t.test('a 2-thread training run under V8 and per-process flags (a Worker refuses them in its execArgv)', async (t) => {
  const flags = ['--expose-gc', '--max-old-space-size=512', '--stack-size=2000', '--no-wasm-dynamic-tiering'];
  const cli = resolve('build/src/cli/main.js');
  const run = spawnSync(
    process.execPath,
    [...flags, cli, 'train', '--threads', '2', '--epochs', '1', '--limit-train', '200', '--limit-test', '100', '--no-checkpoint', '--json'],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  t.equal(run.status, 0, run.stderr.trim().split('\n').pop() ?? '');
  t.equal(JSON.parse(run.stdout).threads, 2);
});
