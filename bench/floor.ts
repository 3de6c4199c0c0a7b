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

/** The core clock in GHz: the CPU's maximum frequency where Linux tells it, else DEFAULT_CLOCK_GHZ. */
export function clockGhz(): { ghz: number; source: string } {
  try {
    const khz = Number(readFileSync('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq', 'utf8').trim());
    if (khz > 0) return { ghz: khz / 1e6, source: 'cpuinfo_max_freq' };
  } catch {
    // virtual machines often have no cpufreq: fall through
  }
  return { ghz: DEFAULT_CLOCK_GHZ, source: `assumed ${DEFAULT_CLOCK_GHZ} GHz (the machine does not report its maximum clock)` };
}

/** Milliseconds a step cannot go below on `threads` cores: total multiply-adds / (cores × clock × MACs per cycle). */
export function floorMs(work: StepWork, threads: number, ghz: number): number {
  return (1000 * work.totalMacs) / (threads * ghz * 1e9 * WASM_MACS_PER_CYCLE);
}
