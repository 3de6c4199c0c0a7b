// A recipe decides every precision and storage choice of training (docs/method.md §2).
// Two presets plus free ablation of each knob: `--recipe low-memory --set dy=float32`.
import { readFileSync } from 'node:fs';
import { GRAD_FORMATS, type GradFormat } from './storage/grad-store.js';
import { MOMENT_FORMATS, WEIGHT_FORMATS, type MomentFormat, type WeightFormat } from './storage/param-store.js';
import { own } from './own.js';

export interface Recipe {
  /** First layer's input: kept as a float32 batch, or re-read from the data set (uint8) in backward. */
  firstInput: 'float32' | 'reread';
  /** Inputs of the binary layers kept for dW: float32 (±1 values) or 1 bit per element. */
  actInput: 'float32' | 'bit';
  /** STE mask 1{|z| <= 1}: keep the float32 pre-activation, or the mask as 1 bit. */
  steMask: 'float32' | 'bit';
  /** Batch norm: l2 (standard deviation) or l1 (mean absolute deviation). */
  bn: 'l2' | 'l1';
  /** Exact backward (keeps float32 x-hat) or the sign-approximate one (keeps sign(x-hat) bits + sigma; l1 only). */
  bnBackward: 'exact' | 'sign-approx';
  /** Max-pool before batch norm: keep the float32 input for the argmax, or a 1-bit argmax mask. */
  poolMask: 'float32' | 'bit';
  /** Weight gradient: float32, sign(X^T dY)/sqrt(N) at 1 bit, or fused: no buffer, each float tile goes into Bop's momentum at once. */
  dw: 'float32' | 'sign' | 'fused';
  /** Activation gradients between layers. */
  dy: GradFormat;
  /** Latent (real-valued) weights; `bit`: none, the packed signs are the weights (needs optimizer=bop). */
  weights: WeightFormat;
  /** Optimizer state: Adam m and v, or Bop's momentum (int8: 8-bit block-quantized). */
  moments: MomentFormat;
  /** Binary weights: Adam on latent weights, or Bop (flips signs, no latent weights). BN shifts always use Adam. */
  optimizer: 'adam' | 'bop';
  /** Statistics of batch norm over ghost batches of this many examples (0: the whole batch). */
  ghostBatch: number;
  /** Sign's straight-through estimator: clipped (1{|z| <= 1}) or ReSTE (rectified power law; needs steMask=float32). */
  ste: 'clipped' | 'reste';
  /**
   * Rows of the batch streamed at a time through the chunk buffers (re-read pixels, gradient
   * tiles): their size is this times the widest layer. More rows: fewer, larger kernel calls
   * (faster), more memory; the numbers trained are the same.
   */
  chunkRows: number;
}

export type RecipeKnob = keyof Recipe;

/** Rows per chunk of every preset (and of recipes saved before the knob existed). */
export const DEFAULT_CHUNK_ROWS = 8;

export const KNOB_VALUES: { [K in RecipeKnob]: readonly Recipe[K][] } = {
  firstInput: ['float32', 'reread'],
  actInput: ['float32', 'bit'],
  steMask: ['float32', 'bit'],
  bn: ['l2', 'l1'],
  bnBackward: ['exact', 'sign-approx'],
  poolMask: ['float32', 'bit'],
  dw: ['float32', 'sign', 'fused'],
  dy: GRAD_FORMATS,
  weights: WEIGHT_FORMATS,
  moments: MOMENT_FORMATS,
  optimizer: ['adam', 'bop'],
  ghostBatch: [0, 32, 64, 128, 256],
  ste: ['clipped', 'reste'],
  chunkRows: [8, 16, 32],
};

// Wang et al. 2021/2023
const LOW_MEMORY: Recipe = {
  firstInput: 'reread',
  actInput: 'bit',
  steMask: 'bit',
  bn: 'l1',
  bnBackward: 'sign-approx',
  poolMask: 'bit',
  dw: 'sign',
  dy: 'float16',
  weights: 'float16',
  moments: 'float16',
  optimizer: 'adam',
  ghostBatch: 0,
  ste: 'clipped',
  chunkRows: DEFAULT_CHUNK_ROWS,
};

export const PRESETS: Record<string, Recipe> = {
  // Courbariaux & Bengio 2016
  standard: {
    firstInput: 'float32',
    actInput: 'float32',
    steMask: 'float32',
    bn: 'l2',
    bnBackward: 'exact',
    poolMask: 'float32',
    dw: 'float32',
    dy: 'float32',
    weights: 'float32',
    moments: 'float32',
    optimizer: 'adam',
    ghostBatch: 0,
    ste: 'clipped',
    chunkRows: DEFAULT_CHUNK_ROWS,
  },
  'low-memory': LOW_MEMORY,
  // beyond the published recipe (docs/method.md §6): no latent weights (Bop), no weight-gradient
  // buffer (each float dW tile folds into Bop's momentum as it is computed), 8-bit momentum,
  // 5-bit power-of-two activation gradients, everything else as low-memory
  tiny: {
    ...LOW_MEMORY,
    dw: 'fused',
    dy: 'po2',
    weights: 'bit',
    moments: 'int8',
    optimizer: 'bop',
  },
};

export class RecipeError extends Error {}

function knobList(): string {
  return Object.entries(KNOB_VALUES)
    .map(([k, v]) => `${k}=${v.join('|')}`)
    .join(', ');
}

/** Apply `knob=value` settings to a recipe, rejecting unknown knobs and values. */
export function applySettings(base: Recipe, settings: string[]): Recipe {
  const out: Recipe = { ...base };
  for (const s of settings) {
    const eq = s.indexOf('=');
    if (eq < 0) throw new RecipeError(`recipe setting "${s}" is not knob=value (knobs: ${knobList()})`);
    setKnob(out, s.slice(0, eq).trim(), s.slice(eq + 1).trim());
  }
  return validateRecipe(out);
}

function setKnob(r: Recipe, knob: string, value: unknown): void {
  if (!Object.hasOwn(KNOB_VALUES, knob)) throw new RecipeError(`unknown recipe knob "${knob}" (knobs: ${knobList()})`);
  const allowed = KNOB_VALUES[knob as RecipeKnob] as readonly unknown[];
  // numeric knobs (ghostBatch, chunkRows) arrive as text from --set
  if (typeof allowed[0] === 'number' && typeof value === 'string' && value.trim() !== '') value = Number(value);
  if (!allowed.includes(value)) throw new RecipeError(`recipe knob ${knob} cannot be "${String(value)}" (allowed: ${allowed.join(', ')})`);
  (r as unknown as Record<string, unknown>)[knob] = value;
}

/** Knobs added after the first release, for recipes saved before them (checkpoints, files). */
export function withDefaults(r: Partial<Recipe>): Recipe {
  return { optimizer: 'adam', ghostBatch: 0, ste: 'clipped', chunkRows: DEFAULT_CHUNK_ROWS, ...r } as Recipe;
}

/** Same knob values (key order aside). */
export function sameRecipe(a: Recipe, b: Recipe): boolean {
  return (Object.keys(KNOB_VALUES) as RecipeKnob[]).every((k) => a[k] === b[k]);
}

export function validateRecipe(r: Recipe): Recipe {
  if (r.bnBackward === 'sign-approx' && r.bn !== 'l1')
    throw new RecipeError('bnBackward=sign-approx relies on mean|x-hat| = 1, which only l1 batch norm gives: set bn=l1');
  if ((r.weights === 'bit') !== (r.optimizer === 'bop'))
    throw new RecipeError('weights=bit (no latent weights) and optimizer=bop go together: Adam needs latent weights, Bop has none');
  if (r.dw === 'fused' && (r.optimizer !== 'bop' || r.moments === 'float16'))
    throw new RecipeError("dw=fused folds weight gradients into Bop's momentum as they are computed: it needs optimizer=bop and moments=float32 or int8");
  if (r.ste === 'reste' && r.steMask !== 'float32') throw new RecipeError('ste=reste needs the pre-activation value in backward: set steMask=float32');
  return r;
}

/**
 * Resolve `--recipe` (a preset name or a JSON file) plus `--set` overrides. A JSON file may name a
 * base preset ("preset": "low-memory") and override knobs; every key must be a known knob.
 */
export function resolveRecipe(nameOrFile: string, settings: string[] = []): { name: string; recipe: Recipe } {
  let recipe: Recipe;
  let name = nameOrFile;
  const preset = own(PRESETS, nameOrFile);
  if (preset) recipe = { ...preset };
  else if (nameOrFile.endsWith('.json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(nameOrFile, 'utf8'));
    } catch (e) {
      throw new RecipeError(`cannot read recipe file ${nameOrFile}: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RecipeError(`recipe file ${nameOrFile} must hold a JSON object`);
    const { preset = 'standard', ...knobs } = parsed as Record<string, unknown>;
    const base = typeof preset === 'string' ? own(PRESETS, preset) : undefined;
    if (!base) throw new RecipeError(`recipe file ${nameOrFile}: unknown preset "${String(preset)}" (presets: ${Object.keys(PRESETS).join(', ')})`);
    recipe = { ...base };
    for (const [k, v] of Object.entries(knobs)) setKnob(recipe, k, v);
  } else throw new RecipeError(`unknown recipe "${nameOrFile}" (presets: ${Object.keys(PRESETS).join(', ')}, or a .json file)`);
  if (settings.length) name += ` (${settings.join(', ')})`;
  return { name, recipe: applySettings(validateRecipe(recipe), settings) };
}
