// The library's entry point loads TF.js only when a program exports to it: importing
// @tensorflow/tfjs adds about 35 MiB to a process's RSS (89 vs 55 MiB for `import 'bitlearn'`,
// measured), which a program that only trains should not carry.
import { execFileSync } from 'node:child_process';
import t from 'tap';

const entry = new URL('../src/index.js', import.meta.url).href;

/** TF.js's CommonJS files loaded in a fresh process after `code` runs there (tfjs resolves to its CommonJS build under Node). */
function tfjsFilesAfter(code: string): number {
  const script = `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
${code}
console.log(Object.keys(require.cache).filter((k) => k.includes('@tensorflow')).length);`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
}

t.test('importing the entry point loads no TF.js; exporting a model does', async (t) => {
  t.equal(tfjsFilesAfter(`await import(${JSON.stringify(entry)});`), 0, 'import bitlearn: no TF.js module loaded');
  const exported = tfjsFilesAfter(`const b = await import(${JSON.stringify(entry)});
const spec = b.modelSpec('mlp');
const net = new b.Network({ spec, recipe: b.PRESETS.standard, batch: 2, seed: 1, kernels: b.selectKernels('auto') });
const model = await b.toTfjsModel(net, spec);
if (model.layers.length < 2) throw new Error('no layers');
net.dispose();`);
  t.ok(exported > 0, `toTfjsModel loads TF.js on its first call (${exported} files)`);
});
