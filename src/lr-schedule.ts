// Learning-rate schedules as expressions of the epoch (DESIGN: "--lr '1e-3 * 0.5^floor(epoch/50)'"),
// evaluated by mathjs, which only does mathematics: no access to JavaScript, files or the network.
import type { EvalFunction } from 'mathjs';
// mathjs is loaded only when a schedule is given: importing it costs ~80 MiB of RSS.

export class ScheduleError extends Error {}

export interface LrSchedule {
  readonly expression: string;
  /** Learning rate for an epoch (0-based). */
  at(epoch: number): number;
}

export async function parseLrSchedule(expression: string): Promise<LrSchedule> {
  const { compile } = await import('mathjs');
  let code: EvalFunction;
  try {
    code = compile(expression);
  } catch (e) {
    throw new ScheduleError(`learning-rate schedule "${expression}" does not parse: ${(e as Error).message}`);
  }
  const at = (epoch: number): number => {
    let v: unknown;
    try {
      v = code.evaluate({ epoch });
    } catch (e) {
      throw new ScheduleError(`learning-rate schedule "${expression}" fails at epoch ${epoch}: ${(e as Error).message}`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new ScheduleError(`learning-rate schedule "${expression}" gives ${String(v)} at epoch ${epoch}: it must be a positive number`);
    return v;
  };
  at(0); // fail before training starts
  return { expression, at };
}
