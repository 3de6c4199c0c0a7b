// What a benchmark ran on, recorded with every result.
import { cpus, totalmem, arch, platform, release } from 'node:os';
import { VERSION } from '../src/version.js';

export function machineInfo() {
  const c = cpus();
  return {
    bitlearn: VERSION,
    node: process.version,
    platform: `${platform()} ${release()}`,
    arch: arch(),
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memoryBytes: totalmem(),
  };
}
