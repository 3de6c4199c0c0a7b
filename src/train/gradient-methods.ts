// Gradients that suppress weak directions (Chatterjee & Zielinski; docs/method.md §5): what the
// optimizer receives instead of the plain batch gradient.
//   plain  the batch gradient.
//   rm3    coordinate-wise median of this step's and the two previous steps' batch gradients
//          (2 extra gradient buffers per parameter, in the ledger; kept in checkpoints).
//   winsorized  per coordinate, the c largest and smallest per-example terms clipped (dense layers;
//          done inside their backward, see src/optim/winsorize.ts).
//   m3     coordinate-wise median of three group means: the batch in three parts, each with its
//          own forward/backward (batch-norm statistics per part, like ghost batch norm), at the
//          cost of one backward over the whole batch (2 extra buffers per parameter).
// For 1-bit weight gradients every entry is ±scale, and the median of three is their majority:
// (a & b) | (a & c) | (b & c) on the packed bits.
import type { Dataset } from '../data/dataset.js';
import type { Param, ParamGrad } from '../layers/layer.js';
import type { MemoryLedger } from '../ledger.js';
import type { Network, StepResult } from '../model/network.js';

export const GRADIENT_METHODS = ['plain', 'rm3', 'm3', 'winsorized'] as const;
export type GradientMethodName = (typeof GRADIENT_METHODS)[number];

/** Bytes of one copy of a parameter's gradient (what each extra buffer costs). */
export function gradBytes(g: ParamGrad, size: number): number {
  return g.kind === 'float' ? size * 4 : g.kind === 'sign' ? g.bits.length * 4 : 0;
}

type GradCopy = Float32Array | Float64Array | Uint32Array;

function gradData(g: ParamGrad): GradCopy {
  if (g.kind === 'fused') throw new Error('fused gradients are not stored');
  return g.kind === 'float' ? g.data : g.bits;
}

function allocCopy(p: Param, ledger: MemoryLedger, what: string): GradCopy {
  const g = p.grad;
  if (g.kind === 'fused') throw new Error('fused gradients are not stored');
  return g.kind === 'float'
    ? ledger.floats(p.size, 'weight-grads', p.owner, `${what} (${p.name})`)
    : ledger.u32(g.bits.length, 'weight-grads', p.owner, `${what} (${p.name}, 1 bit)`);
}

/** out = median(a, b, c) coordinate-wise (majority for packed signs). */
export function median3(a: GradCopy, b: GradCopy, c: GradCopy, out: GradCopy, bits: boolean): void {
  if (bits) {
    for (let i = 0; i < out.length; i++) out[i] = ((a[i] & b[i]) | (a[i] & c[i]) | (b[i] & c[i])) >>> 0;
    return;
  }
  for (let i = 0; i < out.length; i++) {
    const x = a[i];
    const y = b[i];
    const z = c[i];
    out[i] = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
  }
}

export interface GradientMethod {
  readonly name: GradientMethodName;
  /** Gradients for examples order[offset .. offset+rows) land in the parameters. */
  compute(data: Dataset, order: Int32Array, offset: number, rows: number): StepResult;
  /** State to keep in checkpoints. */
  stateTensors(): Record<string, GradCopy>;
  stateMeta(): object;
  restoreMeta(meta: object | undefined): void;
}

class Plain implements GradientMethod {
  constructor(
    private readonly net: Network,
    readonly name: GradientMethodName = 'plain',
  ) {}
  compute(data: Dataset, order: Int32Array, offset: number, rows: number): StepResult {
    return this.net.computeGradients(data, order, offset, rows);
  }
  stateTensors() {
    return {};
  }
  stateMeta() {
    return {};
  }
  restoreMeta() {}
}

class RM3 implements GradientMethod {
  readonly name = 'rm3';
  private readonly prev: { p: Param; a: GradCopy; b: GradCopy }[];
  /** Previous gradients held: the median starts at the third step. */
  private held = 0;
  constructor(private readonly net: Network) {
    this.prev = net.params().map((p) => ({ p, a: allocCopy(p, net.ledger, 'RM3 gradient t-1'), b: allocCopy(p, net.ledger, 'RM3 gradient t-2') }));
  }
  compute(data: Dataset, order: Int32Array, offset: number, rows: number): StepResult {
    const r = this.net.computeGradients(data, order, offset, rows);
    for (const s of this.prev) {
      // s.a = gradient t-1, s.b = gradient t-2; after the step: a = this step's raw gradient,
      // b = the old t-1, and the parameter's gradient = median(raw, t-1, t-2)
      const g = gradData(s.p.grad);
      if (this.held >= 2) {
        median3(g, s.a, s.b, s.b, s.p.grad.kind === 'sign'); // in place: element i reads before it writes
        for (let i = 0; i < g.length; i++) {
          const raw = g[i];
          g[i] = s.b[i];
          s.b[i] = raw;
        }
      } else s.b.set(g);
      [s.a, s.b] = [s.b, s.a];
    }
    this.held = Math.min(2, this.held + 1);
    return r;
  }
  stateTensors() {
    return Object.fromEntries(
      this.prev.flatMap((s) => [
        [`rm3.${s.p.owner}.${s.p.name}.t1`, s.a],
        [`rm3.${s.p.owner}.${s.p.name}.t2`, s.b],
      ]),
    );
  }
  stateMeta() {
    return { held: this.held };
  }
  restoreMeta(meta: { held?: number } | undefined) {
    this.held = meta?.held ?? 0;
  }
}

class M3 implements GradientMethod {
  readonly name = 'm3';
  private readonly groups: { p: Param; g1: GradCopy; g2: GradCopy }[];
  constructor(private readonly net: Network) {
    this.groups = net.params().map((p) => ({ p, g1: allocCopy(p, net.ledger, 'M3 group 1 gradient'), g2: allocCopy(p, net.ledger, 'M3 group 2 gradient') }));
  }
  compute(data: Dataset, order: Int32Array, offset: number, rows: number): StepResult {
    if (rows < 6) return this.net.computeGradients(data, order, offset, rows); // groups of at least 2
    const cut = [0, Math.round(rows / 3), Math.round((2 * rows) / 3), rows];
    let loss = 0;
    let correct = 0;
    for (let k = 0; k < 3; k++) {
      const n = cut[k + 1] - cut[k];
      const r = this.net.computeGradients(data, order, offset + cut[k], n);
      loss += r.loss * n;
      correct += r.correct;
      if (k < 2) for (const s of this.groups) (k === 0 ? s.g1 : s.g2).set(gradData(s.p.grad));
    }
    for (const s of this.groups) {
      const g = gradData(s.p.grad);
      median3(s.g1, s.g2, g, g, s.p.grad.kind === 'sign');
    }
    return { loss: loss / rows, correct };
  }
  stateTensors() {
    return {};
  }
  stateMeta() {
    return {};
  }
  restoreMeta() {}
}

export function createGradientMethod(name: string, net: Network): GradientMethod {
  if ((name === 'rm3' || name === 'm3') && net.params().some((p) => p.grad.kind === 'fused'))
    throw new Error(`${name} needs stored weight gradients; dw=fused keeps none (use dw=sign)`);
  // winsorized: the network's dense layers do it in backward (NetworkOptions.winsorize)
  if (name === 'plain' || name === 'winsorized') return new Plain(net, name);
  if (name === 'rm3') return new RM3(net);
  if (name === 'm3') return new M3(net);
  throw new Error(`unknown gradient method "${name}" (available: ${GRADIENT_METHODS.join(', ')})`);
}
