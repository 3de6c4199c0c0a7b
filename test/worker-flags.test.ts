// The flags kernel and meter threads start with: a compiled worker drops its parent's module hooks
// (each hook costs the thread a loader of its own), a worker run from TypeScript source keeps them.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { workerExecArgv } from '../src/runtime/worker-flags.js';
import { tempDir } from './helpers.js';

const dir = tempDir('bitlearn-worker-flags-');
const script = join(dir, 'worker.mjs');
writeFileSync(script, "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage(process.execArgv);\n");
const compiled = pathToFileURL(script);

t.test('hook flags are dropped in every spelling; other flags stay', async (t) => {
  const parent = ['--import=file:///a.mjs', '--enable-source-maps', '--import', 'b.mjs', '-r', 'c.cjs', '--require=d.cjs', '--loader', 'e.mjs'];
  t.same(workerExecArgv(compiled, parent), ['--enable-source-maps']);
  t.same(workerExecArgv(compiled, ['--experimental-loader=f.mjs', '--stack-size=2000']), ['--stack-size=2000']);
  t.same(workerExecArgv(compiled, []), []);
});

t.test('a worker from source or from code carried in memory inherits everything', async (t) => {
  t.equal(workerExecArgv(new URL('./no-such-worker.js', compiled), ['--import=x.mjs']), undefined, 'no compiled file: the loader is needed');
  t.equal(workerExecArgv('parentPort.postMessage(1)', ['--import=x.mjs']), undefined, 'eval code (a single executable)');
});

t.test('a real worker started with the kept flags runs and sees them', async (t) => {
  const execArgv = workerExecArgv(compiled, ['--import=file:///does-not-exist.mjs', '--enable-source-maps']);
  const worker = new Worker(compiled, { execArgv });
  const seen = await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  t.same(seen, ['--enable-source-maps'], 'the missing hook was never loaded');
  await worker.terminate();
});
