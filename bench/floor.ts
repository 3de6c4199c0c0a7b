// The hardware floor of a training step: the multiply-adds a step must do (forward, weight
// gradients, input gradients below the first layer), divided by what one core can do per second
// in WebAssembly SIMD (128 bits, no fused multiply-add in Node 20: 4 lanes × (1 add + 1 multiply
// or sign-select) per cycle on two vector pipes, about 8 float multiply-adds per cycle).
import { readFileSync } from 'node:fs';
import { kindOf } from '../src/model/kinds/registry.js';
import { planModel, type ModelSpec } from '../src/model/spec.js';

/** Float multiply-adds per cycle per core that wasm SIMD allows (see the file comment). */
export const WASM_MACS_PER_CYCLE = 8;
/** Clock assumed when the machine does not say (the figure the speed issue measured). */
export const DEFAULT_CLOCK_GHZ = 3.6;

export interface StepWork {
  forwardMacs: number;
  weightGradMacs: number;
  inputGradMacs: number;
  totalMacs: number;
}

/** Multiply-adds of one training step of a model at a batch (weight layers only: they dominate). */
export function stepWork(spec: ModelSpec, batch: number): StepWork {
  let forward = 0;
  let inputGrad = 0;
  for (const l of planModel(spec)) {
    const macs = batch * kindOf(l).forwardMacs(l);
    if (!macs) continue;
    forward += macs;
    if (!('first' in l && l.first)) inputGrad += macs;
  }
  return { forwardMacs: forward, weightGradMacs: forward, inputGradMacs: inputGrad, totalMacs: 2 * forward + inputGrad };
}

/** The CPU's maximum frequency in GHz where Linux reports it (cpufreq; virtual machines often have none), else null. */
export function reportedClockGhz(): number | null {
  try {
    const khz = Number(readFileSync('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq', 'utf8').trim());
    if (khz > 0) return khz / 1e6;
  } catch {
    // no cpufreq: the caller measures instead
  }
  return null;
}

/**
 * The core clock in GHz: the CPU's maximum frequency where Linux tells it, else the fastest of
 * `readings` (measureClockGhz, taken only where Linux does not tell: a core shared with other
 * tenants boosts less while they run, so a caller takes several over its run).
 */
export function clockGhz(readings?: number[]): { ghz: number; source: string } {
  const reported = reportedClockGhz();
  if (reported !== null) return { ghz: reported, source: 'cpuinfo_max_freq' };
  return clockFromReadings(readings?.length ? readings : [measureClockGhz()]);
}

/** The fastest of clock readings (GHz), or DEFAULT_CLOCK_GHZ where it is not plausible. */
export function clockFromReadings(readings: number[]): { ghz: number; source: string } {
  const measured = Math.max(...readings);
  const range = readings.length > 1 ? `, the fastest of ${readings.length} readings ${Math.min(...readings).toFixed(2)}-${measured.toFixed(2)}` : '';
  if (measured >= MIN_PLAUSIBLE_GHZ && measured <= MAX_PLAUSIBLE_GHZ)
    return { ghz: measured, source: `measured (${CHAIN_OPS}-op dependent integer chain${range}; Linux reports no maximum clock)` };
  return { ghz: DEFAULT_CLOCK_GHZ, source: `assumed ${DEFAULT_CLOCK_GHZ} GHz (measured ${measured.toFixed(2)} GHz is not plausible)` };
}

const CHAIN_OPS = 8;
const CLOCK_TRIALS = 8;
const MIN_PLAUSIBLE_GHZ = 0.2;
const MAX_PLAUSIBLE_GHZ = 8;

/**
 * The clock the core runs at now, in GHz: a chain of dependent 32-bit adds and xors takes one
 * cycle an operation on every core the toolkit targets (x64, Cortex-A53/A72/A76), and the loop's
 * own counter runs beside the chain. The best of several runs: a preempted run only reads slower.
 * Where the host hides its clock (a virtual machine), an assumed figure can be off by 1.5x either
 * way (this machine kind has read 2.45 and 4.3 GHz on different hosts). A run the scheduler
 * interrupts counts only its CPU time, so other processes on the core do not lower the reading.
 */
export function measureClockGhz(iterations = 5_000_000): number {
  dependentChain(100_000); // compiled before timing
  dependentChain(100_000);
  let best = 0;
  for (let trial = 0; trial < CLOCK_TRIALS; trial++) {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const sink = dependentChain(iterations);
    const wallNs = Number(process.hrtime.bigint() - t0);
    const cpu = process.cpuUsage(cpu0);
    if (sink === 0.5) return 0; // never: keeps the chain's result alive
    // the CPU time where the thread was preempted (other processes on the core: a CI running
    // tests beside it), the wall time where other threads of this process also ran
    const ns = Math.min(wallNs, (cpu.user + cpu.system) * 1000) || wallNs;
    best = Math.max(best, (CHAIN_OPS * iterations) / ns);
  }
  return best;
}

/** CHAIN_OPS dependent integer operations an iteration (adds and xors: nothing to fold). */
function dependentChain(n: number): number {
  let x = n | 0;
  for (let i = 0; i < n; i++) {
    x = (x + i) | 0;
    x ^= 0x5bd1e995;
    x = (x + i) | 0;
    x ^= 0x27d4eb2f;
    x = (x + i) | 0;
    x ^= 0x165667b1;
    x = (x + i) | 0;
    x ^= 0x61c88647;
  }
  return x;
}

/** Milliseconds a step cannot go below on `threads` cores: total multiply-adds / (cores × clock × MACs per cycle). */
export function floorMs(work: StepWork, threads: number, ghz: number): number {
  return (1000 * work.totalMacs) / (threads * ghz * 1e9 * WASM_MACS_PER_CYCLE);
}
