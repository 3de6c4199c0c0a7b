// Binary 3x3 convolution, stride 1, valid or same padding, no bias, channels-last.
// Weights are co × 9 × ci (output channel, tap, input channel); the packed binary copy has
// ceil(ci/32) words per (output channel, tap) so xnor-popcount runs along channels.
// Its scratch is one example's feature maps (a few of the small ones); the kernels take a whole
// batch in one call where the operands are float32 views (the standard recipe) or sign bits.
import { wordsFor } from '../bits.js';
import {
  convFilterLutFloats,
  convLutFloats,
  convFilterQuadFloats,
  filterLookupApplies,
  filterQuadsApply,
  QUADS_FROM_EXAMPLES,
  taps,
  type ConvGeometry,
} from '../kernels/conv-geometry.js';
import type { Floats, MemoryLedger } from '../ledger.js';
import type { Recipe } from '../recipe.js';
import type { Rng } from '../rng.js';
import { fillStore, type GradStore } from '../storage/grad-store.js';
import { addInto, centredTileNormSq, sumSquares } from './norms.js';
import { decodeCodes, packSigns, readExamplePixels, trainingInput, type Activation, type Layer, type ScopeFlags, type Workspace } from './layer.js';
import { BinaryWeightLayer, BinaryWeights, storeDwTile } from './binary-weights.js';

/** Floats of dY and dX a dX chunk in the idle pre-activation buffer holds at most (idleDxChunks). */
const IDLE_DX_FLOATS = 1 << 18;

/** Floats of dY a wide map's dW call over several examples decodes at most (examplesPerCall). */
const IDLE_DW_DY_FLOATS = 1 << 18;

/**
 * The same for a dW call over images (pixelExamplesPerCall): 4 MiB, 18 of CNV's first-layer
 * examples (the input chunk's limit) where 1 MiB took 4 (2 threads: 8.7 -> ~6 ms a step with dY's decode).
 */
const PIXEL_DW_DY_FLOATS = 1 << 20;

/** Whether dW tiles and dX chunks may use the idle pre-activation buffer (dwTiles, idleDxChunks); off only to compare against chunkDx. */
export const IDLE_ACTIVATIONS = { borrowed: true };

export class ConvLayer extends BinaryWeightLayer implements Layer {
  readonly kind = 'conv';
  readonly rowsPerExample: number;
  readonly weights: BinaryWeights;
  private input: Activation | null = null;

  constructor(
    readonly name: string,
    readonly g: ConvGeometry,
    readonly first: boolean,
    recipe: Recipe,
    private readonly ws: Workspace,
    ledger: MemoryLedger,
    rng: Rng,
    scope: ScopeFlags = {},
  ) {
    super();
    this.rowsPerExample = g.hi * g.wi;
    // one packed row per (output channel, tap), its bits along input channels
    this.weights = new BinaryWeights(name, g.co * taps(g), g.ci, taps(g) * g.ci, recipe, ledger, rng, ws.kernels, scope.frozen);
    this.stop = Boolean(scope.stop);
  }

  /** The lowest trainable layer of a partial update: its backward gives no input gradient. */
  private readonly stop: boolean;

  /** Example b of the input, as the kernels take it (a view, or pixels decoded to chunkX). */
  private example(x: Activation, b: number): Floats | Uint32Array {
    const { hi, wi, ci } = this.g;
    const pix = hi * wi;
    if (x.kind === 'float') return x.data.subarray(b * pix * ci, (b + 1) * pix * ci);
    if (x.kind === 'bits') return x.data.subarray(b * pix * wordsFor(ci), (b + 1) * pix * wordsFor(ci));
    if (x.kind === 'codes') {
      // a fixed-point layer's outputs kept as integer codes (a model mixing precisions)
      decodeCodes(x, b * pix * ci, pix * ci, this.ws.chunkX);
      return this.ws.chunkX;
    }
    readExamplePixels(x, b, this.ws.chunkX, 0);
    return this.ws.chunkX;
  }

  forward(x: Activation, rows: number, training: boolean): Activation {
    const { g, ws } = this;
    if (x.cols !== g.ci) throw new Error(`${this.name}: input has ${x.cols} channels, expected ${g.ci}`);
    const B = rows / this.rowsPerExample;
    // the batch in one call where the kernels take it (threads then split whole examples)
    const k = ws.kernels;
    const xPix = g.hi * g.wi;
    if (x.kind === 'bits') k.convFwdBin(x.data.subarray(0, B * xPix * wordsFor(g.ci)), this.wbits, g, ws.act, B);
    else if (!(x.kind === 'float' && x.signs && k.convFwdSignFloats?.(x.data.subarray(0, B * xPix * g.ci), this.wbits, g, ws.act, B)))
      this.forwardExamples(x, B);
    this.input = training ? x : null;
    return { kind: 'float', data: ws.act, cols: g.co };
  }

  /**
   * The forward of inputs the kernels do not batch themselves: float inputs in one call, images
   * as many as the input chunk holds decoded, else one example a call.
   */
  private forwardExamples(x: Activation, B: number): void {
    const { g, ws } = this;
    const out = g.ho * g.wo * g.co;
    const inPix = g.hi * g.wi * g.ci;
    const fit = Math.floor(ws.chunkX.length / inPix);
    if (x.kind === 'float' && !x.signs) {
      // float input (features, or a float layer's output): the batch in one call
      ws.kernels.convFwdFloat(x.data.subarray(0, B * inPix), this.wbits, g, ws.act, B);
      return;
    }
    if (x.kind === 'pixels' && fit > 1) {
      // images: as many examples as the input chunk holds decoded, then one call for them
      for (let b0 = 0; b0 < B; b0 += fit) {
        const n = Math.min(fit, B - b0);
        for (let b = b0; b < b0 + n; b++) readExamplePixels(x, b, ws.chunkX, (b - b0) * inPix);
        ws.kernels.convFwdFloat(ws.chunkX, this.wbits, g, ws.act.subarray(b0 * out, (b0 + n) * out), n);
      }
      return;
    }
    for (let b = 0; b < B; b++) {
      const y = ws.act.subarray(b * out, (b + 1) * out);
      const xb = this.example(x, b);
      if (x.kind === 'float' && x.signs) {
        // ±1 kept as floats: packed per pixel and run by xnor-popcount (exact integers either way)
        packSigns(ws.kernels, xb as Floats, g.hi * g.wi, g.ci, ws.chunkXBits);
        ws.kernels.convFwdBin(ws.chunkXBits, this.wbits, g, y);
      } else ws.kernels.convFwdFloat(xb as Floats, this.wbits, g, y);
    }
  }

  /** dY of example b (all channels): a view of a float32 store, else decoded into chunkDy. */
  private exampleDy(grad: GradStore, b: number): Floats {
    const outPix = this.g.ho * this.g.wo;
    const co = this.g.co;
    const view = grad.floatView?.();
    if (view) return view.subarray(b * outPix * co, (b + 1) * outPix * co);
    grad.read(b * outPix, (b + 1) * outPix, 0, co, this.ws.chunkDy);
    return this.ws.chunkDy;
  }

  /**
   * How a dW tile of `count` channels over sign inputs takes several examples a call: their dY
   * tile decoded into the front of the pre-activation buffer (idle in backward), the kernels'
   * scratch after it. Narrow maps take quads of examples (summed per quad from the batch's first
   * example, conv-geometry.ts), as many as both fit; wide maps with lookups take runs of examples
   * (summed one by one, as one-example calls would), with at most IDLE_DW_DY_FLOATS of dY a call.
   * Either way the calls change no number, and a batch's calls hand off to the threads a few
   * times instead of once or twice an example. `grouped`: the examples the calls cover (the rest
   * go one at a time); scratch(n): the scratch of an n-example call, cut so that its per-channel
   * regions (after the examples' sign rows) sit where the first call's did, since a run keeps its
   * sums there between calls. null: one example at a time.
   */
  private examplesPerCall(count: number, B: number, actEnd: number): { n: number; grouped: number; dy: Floats; scratch: (n: number) => Floats } | null {
    const { g, ws } = this;
    const quads = filterQuadsApply(g, QUADS_FROM_EXAMPLES);
    if (!IDLE_ACTIVATIONS.borrowed || !(quads || filterLookupApplies(g))) return null;
    const scratchFloats = (n: number) => (quads ? convFilterQuadFloats(g, count, n) : convFilterLutFloats(g, count, n));
    const step = quads ? QUADS_FROM_EXAMPLES : 1;
    let n = quads ? B - (B % step) : Math.min(B, Math.floor(IDLE_DW_DY_FLOATS / dyTileFloats(g, 1, count)));
    while (n > 0 && dyTileFloats(g, n, count) + scratchFloats(n) > actEnd) n -= step;
    if (n < (quads ? step : 2)) return null;
    const dy = dyTileFloats(g, n, count);
    const full = scratchFloats(n);
    return {
      n,
      grouped: B - (B % step),
      dy: ws.act.subarray(0, dy),
      scratch: (m) => ws.act.subarray(dy + full - scratchFloats(m), actEnd),
    };
  }

  /**
   * Examples a dW call over images takes (0: one at a time): as many as the input chunk holds
   * decoded, with at most PIXEL_DW_DY_FLOATS of their dY tile in the pre-activation buffer. The
   * kernels add the examples one after another as one-example calls would (no number changes).
   */
  private pixelExamplesPerCall(count: number, B: number): number {
    const { g, ws } = this;
    if (!IDLE_ACTIVATIONS.borrowed) return 0;
    const n = Math.min(B, Math.floor(ws.chunkX.length / (g.hi * g.wi * g.ci)), Math.floor(PIXEL_DW_DY_FLOATS / dyTileFloats(g, 1, count)));
    return n >= 2 && dyTileFloats(g, n, count) <= ws.act.length ? n : 0;
  }

  /**
   * dX chunks of many examples in the idle pre-activation buffer (after the lookup scratch at its
   * front: the sign index and two thread slots of tables), where it holds more examples than
   * chunkDx and chunkDy (one example of CNV's wide layers): one batch call per chunk, threads
   * taking whole examples, and gradient codec calls large enough to split, instead of a call and
   * two thread hand-offs per example. null: chunkDx. The examples are independent, so the chunk
   * changes no number.
   */
  private idleDxChunks(B: number, dyLen: number, dxLen: number, fit: number): { n: number; dy: Floats; dx: Floats; lookup: Floats } | null {
    if (!IDLE_ACTIVATIONS.borrowed) return null;
    const { g, ws } = this;
    const lookup = (2 * convLutFloats(g) + 3) & ~3;
    // at most 1 MiB of dY and dX a chunk: it stays in cache (BinaryNet's 32x32 layers, 20
    // examples a chunk without the bound, measured level or slower)
    const n = Math.min(B, Math.floor(Math.min(ws.act.length - lookup, IDLE_DX_FLOATS) / (dyLen + dxLen + 4)));
    if (n <= fit) return null;
    const dyEnd = lookup + ((n * dyLen + 3) & ~3);
    return { n, lookup: ws.act.subarray(0, lookup), dy: ws.act.subarray(lookup, dyEnd), dx: ws.act.subarray(dyEnd, dyEnd + n * dxLen) };
  }

  /**
   * Output channels a dW pass over sign inputs takes, and where their sums gather: chunkDx, or
   * the end of the pre-activation buffer (idle in backward) where the kernels' scratch at its
   * front leaves room for more channels than chunkDx holds (actEnd: where that scratch must
   * stop). Fewer passes decode dY and build sign rows fewer times, and a pass of 32 channels or
   * more splits across threads (BinaryNet's 8x8x512 layer: 32 passes of 16 channels -> 2 of 256).
   * Channels are summed independently, so the tile changes no number.
   */
  private dwTiles(signBits: boolean, B: number, coh: boolean): { tile: number; acc: Floats; actEnd: number } {
    const { g, ws } = this;
    const perChannel = taps(g) * g.ci;
    const fits = Math.max(1, Math.floor(ws.chunkDx.length / perChannel));
    const small = { tile: fits >= 16 ? fits & ~15 : fits, acc: ws.chunkDx, actEnd: ws.act.length };
    const quads = filterQuadsApply(g, QUADS_FROM_EXAMPLES);
    // the examples past the last quad would take the whole buffer as one-example scratch
    if (!IDLE_ACTIVATIONS.borrowed || !signBits || coh || (quads ? B % QUADS_FROM_EXAMPLES !== 0 : !filterLookupApplies(g))) return small;
    const scratch = (t: number) => (quads ? dyTileFloats(g, B, t) + convFilterQuadFloats(g, t, B) : convFilterLutFloats(g, t, 1));
    for (let t = g.co; t > small.tile; t = (t - 1) & ~15) {
      const actEnd = ws.act.length - t * perChannel;
      if (scratch(t) <= actEnd) return { tile: t, acc: ws.act.subarray(actEnd), actEnd };
    }
    return small;
  }

  /** p̄ = the mean input patch (9·ci) over the batch and output pixels; padded taps count as 0. */
  private meanPatch(x: Activation, B: number, mean: Floats): void {
    const { g, ws } = this;
    const outPix = g.ho * g.wo;
    const perChannel = taps(g) * g.ci;
    // Σ_p patch_p is the weight gradient of one output channel whose dY is 1 everywhere
    ws.chunkDy.fill(1, 0, outPix);
    mean.fill(0, 0, perChannel);
    for (let b = 0; b < B; b++) ws.kernels.convBwdFilter(ws.chunkDy, this.example(x, b), x.kind === 'bits', g, 1, mean, ws.act);
    for (let k = 0; k < perChannel; k++) mean[k] /= B * outPix;
  }

  /**
   * dW over sign inputs for the whole batch in one kernel call (dY one float32 view): the lookup
   * kernel keeps its accumulators across the examples instead of turning dW around for each.
   * ±1 floats are packed to bits at the start of the pre-activation buffer (idle in backward),
   * the kernel's scratch after them (conv-sizes.ts sizes the buffer for both).
   */
  private batchSignDw(x: Extract<Activation, { kind: 'bits' | 'float' }>, dy: Floats, B: number, dw: Floats): void {
    const { g, ws } = this;
    let xb: Uint32Array;
    let scratch = ws.act;
    if (x.kind === 'bits') xb = x.data.subarray(0, B * g.hi * g.wi * wordsFor(g.ci));
    else {
      const words = B * g.hi * g.wi * wordsFor(g.ci);
      xb = new Uint32Array(ws.act.buffer, ws.act.byteOffset, words);
      packSigns(ws.kernels, x.data.subarray(0, B * g.hi * g.wi * g.ci), B * g.hi * g.wi, g.ci, xb);
      scratch = ws.act.subarray((words + 3) & ~3);
    }
    ws.kernels.convBwdFilter(dy.subarray(0, B * g.ho * g.wo * g.co), xb, true, g, g.co, dw, scratch, B);
  }

  backward(grad: GradStore, spare: GradStore, rows: number): GradStore | null {
    const x = trainingInput(this, this.input);
    const { g, ws } = this;
    const B = rows / this.rowsPerExample;
    const outPix = g.ho * g.wo;
    const bits = x.kind === 'bits';
    const coh = ws.coherence?.active ? ws.coherence : null;
    if (this.weights.frozen) {
      // a frozen layer (--train) accumulates no dW: its backward is dX alone
    } else if (this.grad.kind === 'float' && !coh) {
      const dw = this.grad.data;
      dw.fill(0);
      // ±1 kept as floats go to the kernel as their sign bits, as in forward (d·(±1) and d with
      // its sign set from the bit are the same float), where its sign masks stay in cache
      const signs = x.kind === 'float' && x.signs === true;
      const whole = grad.floatView?.();
      if (whole && (x.kind === 'bits' || signs) && (filterLookupApplies(g) || filterQuadsApply(g, B))) this.batchSignDw(x, whole, B, dw);
      // float input (the standard recipe's first layer): the batch in one call, the kernels
      // adding the examples one after another as one-example calls would
      else if (whole && x.kind === 'float' && !signs)
        ws.kernels.convBwdFilter(whole.subarray(0, B * outPix * g.co), x.data.subarray(0, B * g.hi * g.wi * g.ci), false, g, g.co, dw, undefined, B);
      else
        for (let b = 0; b < B; b++) {
          const dy = this.exampleDy(grad, b);
          if (signs) packSigns(ws.kernels, this.example(x, b) as Floats, g.hi * g.wi, g.ci, ws.chunkXBits);
          ws.kernels.convBwdFilter(dy, signs ? ws.chunkXBits : this.example(x, b), bits || signs, g, g.co, dw, ws.act);
        }
    } else {
      // a tile of output channels at a time, accumulated in float: kept as its sign (1-bit dW)
      // or copied (float dW); with coherence, each example's term goes through a scratch tile
      // first, so ||g_i||² adds up over tiles without per-example gradients ever being whole.
      // As for dense layers the terms are centred: g_i = Σ_p (patch_ip − p̄)ᵀ dY_ip, which is
      // example i's raw term minus s_i ⊗ p̄ (s_i: its dY summed over pixels, p̄: the mean patch)
      const perChannel = taps(g) * g.ci;
      if (coh) this.meanPatch(x, B, coh.mean);
      // whole 16-channel blocks a tile where it holds one (the lookup kernels work in blocks of
      // 16 channels: a tile of 50 did the work of 64)
      const { tile, acc, actEnd } = this.dwTiles(x.kind === 'bits', B, coh !== null);
      let sumSq = 0;
      let exampleSq = 0;
      for (let c0 = 0; c0 < g.co; c0 += tile) {
        const c1 = Math.min(g.co, c0 + tile);
        const len = (c1 - c0) * perChannel;
        acc.fill(0, 0, len);
        // over sign inputs: several examples a call (examplesPerCall); the rest one at a time, as a run
        const xBits = x.kind === 'bits' ? x.data : null;
        const per = xBits && !coh ? this.examplesPerCall(c1 - c0, B, actEnd) : null;
        const grouped = per ? per.grouped : 0;
        for (let b = 0; b < grouped; b += per!.n) {
          const n = Math.min(per!.n, grouped - b);
          grad.read(b * outPix, (b + n) * outPix, c0, c1, per!.dy);
          const wpe = g.hi * g.wi * wordsFor(g.ci);
          const run = { first: b === 0, last: b + n === grouped };
          ws.kernels.convBwdFilter(per!.dy, xBits!.subarray(b * wpe, (b + n) * wpe), true, g, c1 - c0, acc, per!.scratch(n), n, run);
        }
        // images (the first layer's re-read pixels): as many examples a call as the input chunk
        // holds decoded, their dY tile in the pre-activation buffer (idle in backward)
        const pixels = x.kind === 'pixels' && !coh ? this.pixelExamplesPerCall(c1 - c0, B) : 0;
        for (let b = 0; b < (pixels ? B : 0); b += pixels) {
          const n = Math.min(pixels, B - b);
          const inPix = g.hi * g.wi * g.ci;
          for (let e = b; e < b + n; e++) readExamplePixels(x as Extract<Activation, { kind: 'pixels' }>, e, ws.chunkX, (e - b) * inPix);
          const dy = ws.act.subarray(0, dyTileFloats(g, n, c1 - c0));
          grad.read(b * outPix, (b + n) * outPix, c0, c1, dy);
          ws.kernels.convBwdFilter(dy, ws.chunkX.subarray(0, n * inPix), false, g, c1 - c0, acc, undefined, n);
        }
        for (let b = pixels ? B : grouped; b < B; b++) {
          grad.read(b * outPix, (b + 1) * outPix, c0, c1, ws.chunkDy);
          if (coh) {
            coh.scratch.fill(0, 0, len);
            ws.kernels.convBwdFilter(ws.chunkDy, this.example(x, b), bits, g, c1 - c0, coh.scratch, ws.act);
            exampleSq += centredTileNormSq(coh.scratch, ws.chunkDy, outPix, c1 - c0, coh.mean, perChannel);
            addInto(acc, coh.scratch, len);
          } else
            ws.kernels.convBwdFilter(ws.chunkDy, this.example(x, b), bits, g, c1 - c0, acc, ws.act.subarray(0, actEnd), 1, {
              first: b === grouped,
              last: b === B - 1,
            });
        }
        if (coh) sumSq += sumSquares(acc, len);
        storeDwTile(this.grad, acc, c0 * perChannel, len, (c1 - c0) * taps(g), g.ci, this.ws.kernels);
      }
      if (coh) this.lastCoherence = { layer: this.name, sumSq, exampleSq };
    }
    this.input = null;
    if (this.first || this.stop) return null;
    spare.setShape(rows, g.ci);
    // the lookup tables borrow the pre-activations, idle in backward (sized for them, conv-sizes.ts)
    ws.kernels.convBwdDataIndex(this.wbits, g, ws.act);
    const whole = grad.floatView?.();
    const into = spare.floatView?.();
    if (whole && into) {
      // float32 in and out (the standard recipe): the batch in one call, written in place
      ws.kernels.convBwdData(whole.subarray(0, B * outPix * g.co), this.wbits, g, into, ws.act, B);
      return spare;
    }
    // float16 in and out (low-memory): the batch in one call, each thread decoding and encoding its own examples
    const dyCodes = grad.halfView?.();
    const dxCodes = spare.halfView?.();
    if (IDLE_ACTIVATIONS.borrowed && dyCodes && dxCodes && ws.kernels.convBwdDataHalf?.(dyCodes, this.wbits, g, dxCodes, ws.act, B)) return spare;
    // po2 in and out (tiny): the same, each thread's codes re-coded to the common bias after
    const dyPo2 = grad.po2View?.();
    const k = ws.kernels;
    if (
      IDLE_ACTIVATIONS.borrowed &&
      dyPo2 &&
      k.convBwdDataPo2 &&
      spare.po2Fill?.((words) => k.convBwdDataPo2!(dyPo2.words, dyPo2.bias, this.wbits, g, words, ws.act, B))
    )
      return spare;
    // as many examples per chunk as the chunks hold (their dY decoded together, one kernel call)
    const [dyLen, dxLen] = [outPix * g.co, g.hi * g.wi * g.ci];
    const fit = Math.max(1, Math.min(Math.floor(ws.chunkDx.length / dxLen), Math.floor(ws.chunkDy.length / dyLen)));
    const idle = this.idleDxChunks(B, dyLen, dxLen, fit);
    if (idle) {
      fillStore(
        spare,
        idle.n * this.rowsPerExample,
        idle.dx,
        (i0, i1, out) => {
          const [b0, n] = [i0 / this.rowsPerExample, (i1 - i0) / this.rowsPerExample];
          grad.read(b0 * outPix, (b0 + n) * outPix, 0, g.co, idle.dy);
          ws.kernels.convBwdData(idle.dy, this.wbits, g, out, idle.lookup, n);
        },
        true,
      );
      return spare;
    }
    fillStore(
      spare,
      fit * this.rowsPerExample,
      ws.chunkDx,
      (i0, i1, out) => {
        const [b0, n] = [i0 / this.rowsPerExample, (i1 - i0) / this.rowsPerExample];
        if (n === 1) ws.kernels.convBwdData(this.exampleDy(grad, b0), this.wbits, g, out, ws.act);
        else {
          grad.read(b0 * outPix, (b0 + n) * outPix, 0, g.co, ws.chunkDy);
          ws.kernels.convBwdData(ws.chunkDy, this.wbits, g, out, ws.act, n);
        }
      },
      true, // dX from dY and the weights alone: one pass
    );
    return spare;
  }
}

/** Floats of a dY tile of `count` channels over n examples (rounded up to whole vectors). */
function dyTileFloats(g: ConvGeometry, n: number, count: number): number {
  return (n * g.ho * g.wo * count + 3) & ~3;
}
