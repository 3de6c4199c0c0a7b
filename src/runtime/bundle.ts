// What a single executable carries inside its one JavaScript file: the WebAssembly kernels, the
// kernel worker's code, the version, the onoff epoll addon built for its architecture and the
// shipped checkpoints. The
// bundler (device/dist.ts) puts them on globalThis before any module runs; from an npm
// install this is null and everything comes from files as usual.
export interface BundleAssets {
  version: string;
  /** linux-arm64, linux-armv7l or linux-x64. */
  target: string;
  /** build/kernels.wasm, base64. */
  kernelsWasm: string;
  /** The kernel worker (src/kernels/wasm-worker.ts) bundled as one CommonJS script. */
  worker: string;
  /** epoll.node for `target`, base64; absent when it could not be built. */
  epoll?: string;
  /** i2c-bus's i2c.node for `target`, base64; absent when it could not be built. */
  i2c?: string;
  /** The INA sampling thread (device/ina-worker.ts) bundled as one CommonJS script. */
  inaWorker?: string;
  /** The shipped checkpoints (pretrained/), by file name, base64. */
  pretrained?: Record<string, string>;
  /** Packages compiled on first use (src/runtime/bundled-packages.ts), by name: CommonJS bundles, gzip, base64. */
  packages?: Record<string, string>;
}

export const bundled: BundleAssets | null = ((globalThis as Record<string, unknown>).__BITLEARN_BUNDLE__ as BundleAssets | undefined) ?? null;

/**
 * How to start this program again as a child process: node + the CLI script from an install,
 * or the executable alone when it is a single executable (its argv[1] is the executable itself).
 */
export function selfCommand(cliScript: string): { command: string; args: string[] } {
  if (bundled) {
    const script = process.argv[1];
    const isSea = !script || script === process.execPath;
    return { command: process.execPath, args: isSea ? [] : [script] };
  }
  return { command: process.execPath, args: [cliScript] };
}
