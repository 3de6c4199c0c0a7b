// Learning-rate (and Bop gamma) schedules as expressions of the epoch, e.g.
// "1e-3 * 0.5^floor(epoch/50)", parsed by mathjs. Only scalar arithmetic is allowed (the parsed
// tree is checked node by node), so a schedule cannot build matrices, define functions or run
// anything slow; it is evaluated at every epoch of the run before training starts.
import type { MathNode } from 'mathjs';
// mathjs is loaded only when a schedule is given: importing it costs ~80 MiB of RSS.

export class ScheduleError extends Error {}

export interface LrSchedule {
  readonly expression: string;
  /** Learning rate for an epoch (0-based). */
  at(epoch: number): number;
}

/** Longest expression accepted: a schedule is a formula, not a program. */
export const MAX_SCHEDULE_LENGTH = 500;

const FUNCTIONS = ['floor', 'ceil', 'round', 'abs', 'min', 'max', 'exp', 'log', 'log2', 'log10', 'sqrt', 'cbrt', 'sin', 'cos', 'tan', 'sign'];
const OPERATORS = [
  'add',
  'subtract',
  'multiply',
  'divide',
  'pow',
  'mod',
  'unaryMinus',
  'unaryPlus',
  'smaller',
  'larger',
  'smallerEq',
  'largerEq',
  'equal',
  'unequal',
  'and',
  'or',
  'not',
];
const SYMBOLS = ['epoch', 'e', 'pi', 'E', 'PI'];
const ALLOWED = `numbers, epoch, pi, e, + - * / ^ %, comparisons, and/or/not, a ? b : c, ${FUNCTIONS.join(' ')}`;

/** The expression as errors show it: cut when long. */
function shown(expression: string): string {
  return expression.length > 60 ? `"${expression.slice(0, 57)}..." (${expression.length} characters)` : `"${expression}"`;
}

/** Every node of the parsed tree is scalar arithmetic on `epoch`, or the reason it is not. */
function checkNode(node: MathNode): string | null {
  const n = node as MathNode & { fn?: MathNode | string; name?: string; value?: unknown; op?: string };
  switch (node.type) {
    case 'ConstantNode':
      return typeof n.value === 'number' ? null : `the constant ${JSON.stringify(n.value)}`;
    case 'SymbolNode':
      return SYMBOLS.includes(n.name!) ? null : `the name "${n.name}"`;
    case 'OperatorNode':
      return OPERATORS.includes(n.fn as string) ? null : `the operator ${n.op}`;
    case 'FunctionNode': {
      const fn = n.fn as MathNode & { name?: string };
      return fn.type === 'SymbolNode' && FUNCTIONS.includes(fn.name!) ? null : `the function ${fn.type === 'SymbolNode' ? fn.name : fn.toString()}`;
    }
    case 'ParenthesisNode':
    case 'ConditionalNode':
      return null;
    default:
      return `${node.type.replace(/Node$/, '').toLowerCase()} ${node.toString().slice(0, 30)}`;
  }
}

/**
 * Parse a schedule; with `epochs`, evaluate it at every epoch 0 .. epochs-1 now, so a value that
 * turns bad at a later epoch fails before the first step (otherwise epoch 0 only).
 */
export async function parseLrSchedule(expression: string, opts: { epochs?: number; what?: string } = {}): Promise<LrSchedule> {
  const what = opts.what ?? 'learning-rate schedule';
  const name = `${what} ${shown(expression)}`;
  if (expression.length > MAX_SCHEDULE_LENGTH) throw new ScheduleError(`${name} is longer than ${MAX_SCHEDULE_LENGTH} characters`);
  const { parse } = await import('mathjs');
  let tree: MathNode;
  try {
    tree = parse(expression);
  } catch (e) {
    throw new ScheduleError(`${name} does not parse: ${(e as Error).message}`);
  }
  let refused: string | null = null;
  tree.traverse((node, path) => {
    // a function's name is checked with its FunctionNode, not as a free symbol
    if (path !== 'fn') refused ??= checkNode(node);
  });
  if (refused) throw new ScheduleError(`${name} uses ${refused}; a schedule may use ${ALLOWED}`);
  const code = tree.compile();
  const at = (epoch: number): number => {
    let v: unknown;
    try {
      v = code.evaluate({ epoch });
    } catch (e) {
      throw new ScheduleError(`${name} fails at epoch ${epoch}: ${(e as Error).message}`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new ScheduleError(
        `${name} gives ${typeof v === 'number' || typeof v === 'boolean' ? String(v) : 'a non-number'} at epoch ${epoch}: it must be a positive number`,
      );
    return v;
  };
  for (let e = 0; e < Math.max(1, opts.epochs ?? 1); e++) at(e); // fail before training starts
  return { expression, at };
}
