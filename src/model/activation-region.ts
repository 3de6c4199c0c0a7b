// The activation region: the tensors layers keep from forward to backward, and the activation
// gradients of backward, in one block of memory planned before the network is built.
//
// Why: backward runs from the last layer down, and once a layer's backward is done nothing reads
// what it kept. The gradients then flowing (dY in, dX out) are largest near the first layers,
// where almost everything kept above is already dead. Laid out in forward order, the kept tensors
// of the layers above layer L form one free block at L's backward, and the two gradient stores fit
// there: one at the block's bottom (just above L's own kept tensors), one at the region's top.
// Each layer's dX goes to whichever of the two does not hold its dY. The region only adds what
// the gradients need beyond the dead tensors (often a few hundred KiB instead of two
// batch-sized stores); the training bits are the same (test/activation-region.test.ts).
import type { Recipe } from '../recipe.js';
import { gradStoreBytes } from '../storage/grad-store.js';
import { kindOf } from './kinds/registry.js';
import { layerBuffers } from './memory-context.js';
import type { ModelSpec, PlannedLayer } from './spec.js';

/** A gradient store's place in the region: byte offset from its start and capacity in elements. */
export interface GradSlot {
  offset: number;
  elements: number;
}

export interface RegionPlan {
  /** Bytes of the whole region. */
  bytes: number;
  /** Bytes of the kept tensors in it (exact, as the ledger counts them). */
  keptBytes: number;
  /** Each layer's kept tensors: [offset, end) in the region, by layer name. */
  slots: Map<string, { offset: number; end: number }>;
  /** Where the loss writes the last layer's dY. */
  loss: GradSlot;
  /** For each plan layer whose backward runs: where its dX may go (the one not holding its dY). */
  spares: ({ bottom: GradSlot; top: GradSlot } | null)[];
}

// arithmetic, not bitwise: a plan for a batch far too large to fit must still add up (past 2^31 bytes)
const align16 = (n: number) => Math.ceil(n / 16) * 16;

type GradState = { top: true; bytes: number } | { top: false; offset: number; bytes: number };

export function planActivationRegion(plan: PlannedLayer[], spec: ModelSpec, recipe: Recipe, batch: number): RegionPlan {
  const storeBytes = (elements: number) => align16(gradStoreBytes(recipe.dy, elements));
  const slots = new Map<string, { offset: number; end: number }>();
  /** keptEnd[i]: end of the kept tensors of layers 0..i (everything live at layer i's backward). */
  const keptEnd: number[] = [];
  let offset = 0;
  let keptBytes = 0;
  layerBuffers(plan, spec, recipe, batch, 'retained').forEach((sizes, i) => {
    const start = offset;
    for (const b of sizes) {
      offset += align16(b);
      keptBytes += b;
    }
    slots.set(plan[i].name, { offset: start, end: offset });
    keptEnd.push(offset);
  });
  const kept = offset;
  const last = plan[plan.length - 1];
  const loss = { elements: batch * kindOf(last).features(last).out, offset: 0 };
  const lossBytes = storeBytes(loss.elements);
  // the region's end: at least every reachable layout of backward fits (bottom offsets are
  // absolute, top ones hang from the end, so each gives a lower bound on it)
  let end = kept + lossBytes;
  let states: GradState[] = [{ top: true, bytes: lossBytes }];
  const spares: RegionPlan['spares'] = plan.map(() => null);
  const dx: number[] = plan.map(() => 0);
  for (let i = plan.length - 1; i >= 0; i--) {
    const l = plan[i];
    if (l.noBackward) break;
    const f = kindOf(l).features(l);
    const first = ('first' in l && l.first) || l.stop;
    dx[i] = first ? 0 : batch * f.in;
    const dxBytes = storeBytes(dx[i]);
    const next: GradState[] = [];
    end = Math.max(end, keptEnd[i] + dxBytes); // the bottom store lies inside the region even where unused
    for (const s of states) {
      if (s.top) end = Math.max(end, keptEnd[i] + dxBytes + s.bytes);
      else end = Math.max(end, s.offset + s.bytes + dxBytes);
      next.push(s.top ? { top: false, offset: keptEnd[i], bytes: dxBytes } : { top: true, bytes: dxBytes });
      // done in place (sign, batch norm, flatten): dY stays where it is
      if (dx[i] === batch * f.out) next.push(s);
    }
    states = dedupe(next);
    if (first) break;
  }
  end = align16(end);
  for (let i = 0; i < plan.length; i++)
    if (!plan[i].noBackward) spares[i] = { bottom: { offset: keptEnd[i], elements: dx[i] }, top: { offset: end - storeBytes(dx[i]), elements: dx[i] } };
  loss.offset = end - lossBytes;
  return { bytes: end, keptBytes, slots, loss, spares };
}

function dedupe(states: GradState[]): GradState[] {
  const seen = new Map<string, GradState>();
  for (const s of states) seen.set(s.top ? `t${s.bytes}` : `b${s.offset}/${s.bytes}`, s);
  return [...seen.values()];
}

/** Bytes the activation gradients add to the memory: the region beyond the kept tensors it holds. */
export function gradientStoreBytes(plan: PlannedLayer[], spec: ModelSpec, recipe: Recipe, batch: number): number {
  const r = planActivationRegion(plan, spec, recipe, batch);
  return r.bytes - r.keptBytes;
}
