// A layer kind: everything the engine needs to know about one type of planned layer, in one
// place. The network builder, the memory model, the workspace sizing, the hardware floor and the
// exports ask the kind (registry.ts) instead of switching on the type, so a new kind is one file
// and one registration.
import type { IntWriter } from '../../formats/int-model.js';
import type { PackedWriter } from '../../formats/packed-ops.js';
import type { TfjsWriter } from '../../formats/tfjs-stage.js';
import type { Layer, Workspace } from '../../layers/layer.js';
import type { Category, MemoryLedger } from '../../ledger.js';
import type { Recipe } from '../../recipe.js';
import type { Rng } from '../../rng.js';
import type { ModelSpec, PlannedLayer } from '../spec.js';

export interface BuildContext {
  spec: ModelSpec;
  recipe: Recipe;
  batch: number;
  ws: Workspace;
  ledger: MemoryLedger;
  rng: Rng;
  /** Sign layers keep z even where they could rebuild it from the batch norm's x̂ (Network's keepZ). */
  keepZ?: boolean;
  /** The layer built just before this one (a sign layer reads its batch norm's kept x̂). */
  previous?: Layer;
  /** Layers whose dW goes to the optimizer tile by tile during backward (src/model/shared-weight-grads.ts). */
  dwTilesToOptimizer?: ReadonlySet<string>;
}

export interface MemoryContext {
  spec: ModelSpec;
  recipe: Recipe;
  batch: number;
  /** 3 where the gradient method keeps two more copies of every gradient (rm3, m3), else 1. */
  gradCopies: number;
  add(owner: string, category: Category, bytes: number): void;
  /** A tensor kept for backward as float32 or as packed bits (rows × cols). */
  kept(owner: string, format: 'float32' | 'bit', rows: number, cols: number): void;
  /** A binary weight tensor: latent and packed copies, its gradient and its optimizer state (frozen: the packed copy alone). */
  binaryWeights(owner: string, packedRows: number, cols: number, frozen?: boolean): void;
}

/** Sizes (in elements) of the buffers all layers share; each kind raises what it needs. */
export interface WorkspaceNeeds {
  /** Rows streamed at a time through gradient stores. */
  readonly chunkRows: number;
  readonly batch: number;
  act: number;
  chunk: number;
  chan: number;
  grad: number;
}

/** Where an export stands: this plan entry's engine layer, and the entries after it. */
export interface ExportCursor {
  readonly layer: Layer;
  /** The plan entry and engine layer `k` places after this one (undefined past the end). */
  ahead(k: number): { plan: PlannedLayer; layer: Layer } | undefined;
}

/**
 * Writes a kind's part of one export format. It may write the layers after it too when the
 * format fuses them (a binary layer, its batch norm and its sign become one thresholded layer):
 * it returns how many of those it wrote (0: itself only), and the walk skips them.
 */
export type ExportWriter<L, W> = (l: L, at: ExportCursor, out: W) => number;

/** The export formats and what each one's writers write into. */
export interface ExportWriters {
  tfjs: TfjsWriter;
  int: IntWriter;
  packed: PackedWriter;
}
export type ExportFormat = keyof ExportWriters;

export interface LayerKind<L extends PlannedLayer = PlannedLayer> {
  /** What it is, for messages ("max pooling"). */
  readonly title: string;
  /** The engine layer for this plan entry. */
  build(l: L, ctx: BuildContext): Layer;
  /** Its bytes per category, exactly as the ledger will count them when it is built. */
  memory(l: L, ctx: MemoryContext): void;
  /** Raise the shared buffer sizes to what it needs. */
  workspace(l: L, need: WorkspaceNeeds): void;
  /** Elements of one example's input and of its output (its dX and dY in backward). */
  features(l: L): { in: number; out: number };
  /** Multiply-adds of its forward pass for one example (0 where it has no weights). */
  forwardMacs(l: L): number;
  /** Its weights (trained parameters of its weight tensor; 0 where it has none). */
  weights(l: L): number;
  /** How each export format writes it; a format missing here has no form for it (the exporter says so). */
  readonly exports: { [F in ExportFormat]?: ExportWriter<L, ExportWriters[F]> };
}
