// Packages a single executable compiles on first use (src/runtime/bundled-packages.ts): a gzipped
// CommonJS bundle in the executable's assets becomes the package's exports, its require serves
// Node's modules, it compiles once; a package the executable lacks is a clear error. The real
// executables run it in test/dist.test.ts (mathjs on every target, TF.js on x64).
import { gzipSync } from 'node:zlib';
import t from 'tap';

const pack = (code: string) => gzipSync(Buffer.from(code)).toString('base64');
// as device/dist.ts sets it before any module runs (this test file is its own process)
(globalThis as Record<string, unknown>).__BITLEARN_BUNDLE__ = {
  version: '0.0.0',
  target: 'linux-test',
  kernelsWasm: '',
  worker: '',
  packages: {
    counted: pack("globalThis.__compiled = (globalThis.__compiled ?? 0) + 1; module.exports = { sep: require('node:path').sep, answer: 42 };"),
    broken: pack('module.exports = ;'),
  },
};
const { bundledPackage } = await import('../src/runtime/bundled-packages.js');

t.test('a bundled package: its exports, Node modules through its require, compiled once', async (t) => {
  t.same(bundledPackage('counted'), { sep: '/', answer: 42 });
  t.equal(bundledPackage('counted'), bundledPackage('counted'), 'the same exports object');
  t.equal((globalThis as Record<string, unknown>).__compiled, 1, 'compiled once');
});

t.test('a package the executable lacks, or one that does not compile, is an error naming it', async (t) => {
  t.throws(() => bundledPackage('mathjs'), /this executable \(linux-test\) carries no mathjs package/);
  t.throws(() => bundledPackage('broken'), SyntaxError);
});
