// Partial updates (`train --train SCOPE`): which layers train, and what that lets the rest skip.
// A frozen layer keeps no gradient, no optimizer state and (binary weights) only its sign bits;
// backward stops at the lowest trainable layer, and every layer below it keeps nothing for
// backward. The choice is marked on the plan (ScopeFlags), which the network builder, the memory
// model and the workspace sizing all read, so modeled == ledger for every scope.
import { isWeightLayer, type PlannedLayer } from './spec.js';

/**
 * all | head (the classifier) | last:K (the last K weight layers) | bn (batch-norm shifts only) |
 * named layers; `withHead`: the classifier trains as well (a new head, --new-head, must learn).
 */
export type TrainScope = ({ kind: 'all' } | { kind: 'head' } | { kind: 'bn' } | { kind: 'last'; k: number } | { kind: 'layers'; names: string[] }) & {
  withHead?: boolean;
};

export const SCOPE_HELP = 'all, head, last:K, bn, or layer names (e.g. fc4,bn4); +head adds the classifier (bn+head)';

export class TrainScopeError extends Error {}

export function parseTrainScope(text: string, where = '--train'): TrainScope {
  // "bn+head": the scope and the classifier
  const plus = /^(.*)\+head$/.exec(text.trim());
  if (plus) return { ...parseTrainScope(plus[1], where), withHead: true };
  const t = text.trim();
  if (t === 'all' || t === 'head' || t === 'bn') return { kind: t };
  const last = /^last:(\d+)$/.exec(t);
  if (last) {
    const k = Number(last[1]);
    if (!(k >= 1)) throw new TrainScopeError(`${where} ${text}: K must be 1 or more`);
    return { kind: 'last', k };
  }
  const names = t.split(',').map((s) => s.trim());
  if (!t || names.some((n) => !/^[A-Za-z][\w.-]*$/.test(n))) throw new TrainScopeError(`${where} ${JSON.stringify(text)}: expected ${SCOPE_HELP}`);
  return { kind: 'layers', names };
}

export function describeScope(s: TrainScope): string {
  const base = s.kind === 'last' ? `last:${s.k}` : s.kind === 'layers' ? s.names.join(',') : s.kind;
  return s.withHead && s.kind !== 'all' && s.kind !== 'head' ? `${base}+head` : base;
}

/** A run's scope: --train's, with the classifier added when --new-head gives it a fresh start. */
export function runTrainScope(text: string | undefined, newHead: boolean): TrainScope {
  const scope = parseTrainScope(text ?? 'all');
  return newHead ? { ...scope, withHead: true } : scope;
}

/** Layers with trained parameters. */
const hasParams = (l: PlannedLayer) => isWeightLayer(l) || l.type === 'bn' || l.type === 'qact';

/** The names of the layers whose parameters train under `scope`. */
function trainableNames(plan: PlannedLayer[], scope: TrainScope, where: string): Set<string> {
  const weightAt = plan.flatMap((l, i) => (isWeightLayer(l) ? [i] : []));
  /** The weight layers from index `from` of weightAt on, with the parameter layers after each. */
  const fromWeight = (from: number) =>
    new Set(
      plan
        .slice(weightAt[from])
        .filter(hasParams)
        .map((l) => l.name),
    );
  if (scope.kind === 'all') return new Set(plan.filter(hasParams).map((l) => l.name));
  if (scope.kind === 'head') return fromWeight(weightAt.length - 1);
  if (scope.kind === 'last') {
    if (scope.k > weightAt.length) throw new TrainScopeError(`${where} last:${scope.k}: the model has ${weightAt.length} weight layers`);
    return fromWeight(weightAt.length - scope.k);
  }
  if (scope.kind === 'bn') {
    const bns = plan.filter((l) => l.type === 'bn' && !l.folding);
    if (!bns.length) throw new TrainScopeError(`${where} bn: the model has no batch norm`);
    return new Set(bns.map((l) => l.name));
  }
  const available = plan.filter(hasParams).map((l) => l.name);
  for (const n of scope.names)
    if (!available.includes(n)) throw new TrainScopeError(`${where}: no layer "${n}" with trained parameters (layers: ${available.join(', ')})`);
  return new Set(scope.names);
}

/**
 * The plan with what `scope` means marked on its layers (unchanged for `all`). Partial updates of
 * models with fixed-point layers are refused (their frozen form is not built yet).
 */
export function scopePlan(plan: PlannedLayer[], scope: TrainScope, where = '--train'): PlannedLayer[] {
  if (scope.kind === 'all') return plan;
  if (plan.some((l) => l.type === 'qdense' || l.type === 'qconv' || l.type === 'qact'))
    throw new TrainScopeError(`${where} ${describeScope(scope)}: partial updates of fixed-point or float layers are not supported yet (binary models only)`);
  const trainable = trainableNames(plan, scope, where);
  if (scope.withHead) for (const n of trainableNames(plan, { kind: 'head' }, where)) trainable.add(n);
  const lowest = plan.findIndex((l) => trainable.has(l.name));
  return plan.map((l, i) => ({
    ...l,
    ...(hasParams(l) && !trainable.has(l.name) ? { frozen: true } : {}),
    ...(i < lowest ? { noBackward: true } : {}),
    ...(i === lowest ? { stop: true } : {}),
  }));
}
