// Reference convolution kernels (k×k, stride 1 or 2), one example at a time, channels-last. Binary operands are
// packed per pixel (input) or per (output channel, tap) (weights): wpc = ceil(channels/32) words,
// so xnor-popcount runs along channels. Taps that fall in the padding contribute nothing.
import { popcount32, wordsFor } from '../bits.js';
import type { Floats } from '../ledger.js';
import { FILTER_GROUPS_FROM, filterQuadsApply, patchGroupsApply, taps as tapCount, type ConvGeometry } from './conv-geometry.js';

/**
 * The in-bounds taps of output pixel (oy, ox): fills taps[] with tap indices and pixels[] with
 * input pixel indices; returns how many.
 */
function taps(g: ConvGeometry, oy: number, ox: number, tapOut: Int32Array, pixOut: Int32Array): number {
  let n = 0;
  for (let ky = 0; ky < g.k; ky++) {
    const iy = oy * g.stride + ky - g.pad;
    if (iy < 0 || iy >= g.hi) continue;
    for (let kx = 0; kx < g.k; kx++) {
      const ix = ox * g.stride + kx - g.pad;
      if (ix < 0 || ix >= g.wi) continue;
      tapOut[n] = ky * g.k + kx;
      pixOut[n++] = iy * g.wi + ix;
    }
  }
  return n;
}

// scratch for taps(): as many entries as the largest kernel has taps
const TAP = new Int32Array(25);
const PIX = new Int32Array(25);

/** y[ho·wo × co] = conv(X̂ bits, Ŵ bits). */
export function convFwdBin(x: Uint32Array, w: Uint32Array, g: ConvGeometry, y: Floats, examples = 1): void {
  const [xLen, yLen] = [g.hi * g.wi * wordsFor(g.ci), g.ho * g.wo * g.co];
  for (let e = 0; e < examples; e++) convFwdBinExample(x.subarray(e * xLen, (e + 1) * xLen), w, g, y.subarray(e * yLen, (e + 1) * yLen));
}

function convFwdBinExample(x: Uint32Array, w: Uint32Array, g: ConvGeometry, y: Floats): void {
  const wpc = wordsFor(g.ci);
  for (let oy = 0; oy < g.ho; oy++)
    for (let ox = 0; ox < g.wo; ox++) {
      const nt = taps(g, oy, ox, TAP, PIX);
      const yo = (oy * g.wo + ox) * g.co;
      for (let c = 0; c < g.co; c++) {
        let diff = 0;
        for (let t = 0; t < nt; t++) {
          const xo = PIX[t] * wpc;
          const wo = (c * tapCount(g) + TAP[t]) * wpc;
          for (let k = 0; k < wpc; k++) diff += popcount32(x[xo + k] ^ w[wo + k]);
        }
        y[yo + c] = nt * g.ci - 2 * diff;
      }
    }
}

/**
 * Output pixels along a row whose terms a weight gradient over sign inputs sums before adding
 * them to dw: 4 on outputs at least FILTER_GROUPS_FROM wide (the WebAssembly kernel's tables pay
 * there), else 1 (pixel by pixel, the masks kernel's order).
 */
export function filterGroup(g: ConvGeometry): number {
  return g.wo >= FILTER_GROUPS_FROM ? 4 : 1;
}

/**
 * dw[c × 9·ci] += Σ over output pixels of dY[·, c] · X[tap pixel] for `count` output channels;
 * dy holds those channels only (ho·wo × count). X is float (ci per pixel) or bits (wpc words).
 * With bits the order is part of the definition (the WebAssembly kernel looks the partials up in
 * tables, docs/speed.md): each output row's pixels go in groups of filterGroup(g), and with groups
 * of 4 each dw element takes one float32 partial a group, summed from +0 over the group's
 * in-bounds pixels in order (with groups of 1, each term as it comes). A call over enough examples
 * on a narrow map (filterQuadsApply) groups examples instead: quads of 4 consecutive examples (the
 * last may be short), each dw element taking one float32 partial per (quad, output pixel), summed
 * from +0 over the quad's examples in order; quads, then pixels row by row, in order.
 */
export function convBwdFilter(
  dy: Floats,
  x: Floats | Uint32Array,
  xBits: boolean,
  g: ConvGeometry,
  count: number,
  dw: Floats,
  _scratch?: Floats,
  examples = 1,
): void {
  const dyLen = g.ho * g.wo * count;
  const xLen = g.hi * g.wi * (xBits ? wordsFor(g.ci) : g.ci);
  if (xBits && filterQuadsApply(g, examples)) {
    for (let e0 = 0; e0 < examples; e0 += 4) filterOfQuad(dy, x as Uint32Array, g, count, dw, e0, Math.min(examples, e0 + 4));
    return;
  }
  for (let e = 0; e < examples; e++) filterOfExample(dy.subarray(e * dyLen, (e + 1) * dyLen), x.subarray(e * xLen, (e + 1) * xLen), xBits, g, count, dw);
}

function filterOfExample(dy: Floats, x: Floats | Uint32Array, xBits: boolean, g: ConvGeometry, count: number, dw: Floats): void {
  const wpc = wordsFor(g.ci);
  if (xBits && filterGroup(g) > 1) {
    convBwdFilterBits(dy, x as Uint32Array, g, count, dw);
    return;
  }
  for (let oy = 0; oy < g.ho; oy++)
    for (let ox = 0; ox < g.wo; ox++) {
      const nt = taps(g, oy, ox, TAP, PIX);
      const yo = (oy * g.wo + ox) * count;
      for (let c = 0; c < count; c++) {
        const d = dy[yo + c];
        if (d === 0) continue;
        for (let t = 0; t < nt; t++) {
          const wo = (c * tapCount(g) + TAP[t]) * g.ci;
          if (xBits) {
            const xo = PIX[t] * wpc;
            for (let ci = 0; ci < g.ci; ci++) dw[wo + ci] += (x[xo + (ci >>> 5)] >>> (ci & 31)) & 1 ? d : -d;
          } else {
            const xo = PIX[t] * g.ci;
            for (let ci = 0; ci < g.ci; ci++) dw[wo + ci] += d * x[xo + ci];
          }
        }
      }
    }
}

/** Examples [e0, e1) (one quad) of the grouped-examples order (convBwdFilter). */
function filterOfQuad(dy: Floats, x: Uint32Array, g: ConvGeometry, count: number, dw: Floats, e0: number, e1: number): void {
  const wpc = wordsFor(g.ci);
  const [dyLen, xLen] = [g.ho * g.wo * count, g.hi * g.wi * wpc];
  for (let oy = 0; oy < g.ho; oy++)
    for (let ox = 0; ox < g.wo; ox++) {
      const nt = taps(g, oy, ox, TAP, PIX);
      for (let c = 0; c < count; c++)
        for (let t = 0; t < nt; t++) {
          const wo = (c * tapCount(g) + TAP[t]) * g.ci;
          for (let ci = 0; ci < g.ci; ci++) {
            let partial = 0;
            for (let e = e0; e < e1; e++) {
              const d = dy[e * dyLen + (oy * g.wo + ox) * count + c];
              partial = Math.fround(partial + ((x[e * xLen + PIX[t] * wpc + (ci >>> 5)] >>> (ci & 31)) & 1 ? d : -d));
            }
            dw[wo + ci] += partial;
          }
        }
    }
}

function convBwdFilterBits(dy: Floats, x: Uint32Array, g: ConvGeometry, count: number, dw: Floats): void {
  const wpc = wordsFor(g.ci);
  for (let oy = 0; oy < g.ho; oy++)
    for (let ox0 = 0; ox0 < g.wo; ox0 += 4) {
      const ox1 = Math.min(g.wo, ox0 + 4);
      for (let c = 0; c < count; c++)
        for (let ky = 0; ky < g.k; ky++) {
          const iy = oy * g.stride + ky - g.pad;
          if (iy < 0 || iy >= g.hi) continue;
          for (let kx = 0; kx < g.k; kx++) {
            const wo = (c * tapCount(g) + ky * g.k + kx) * g.ci;
            for (let ci = 0; ci < g.ci; ci++) {
              let partial = 0;
              for (let ox = ox0; ox < ox1; ox++) {
                const ix = ox * g.stride + kx - g.pad;
                if (ix < 0 || ix >= g.wi) continue;
                const d = dy[(oy * g.wo + ox) * count + c];
                partial = Math.fround(partial + ((x[(iy * g.wi + ix) * wpc + (ci >>> 5)] >>> (ci & 31)) & 1 ? d : -d));
              }
              dw[wo + ci] += partial;
            }
          }
        }
    }
}

/** The weight of (output channel c, tap, input channel ci): ±1 from packed bits, or a float. */
type WeightAt = (c: number, tap: number, ci: number) => number;
const bitWeights = (w: Uint32Array, g: ConvGeometry): WeightAt => {
  const wpc = wordsFor(g.ci);
  return (c, tap, ci) => ((w[(c * tapCount(g) + tap) * wpc + (ci >>> 5)] >>> (ci & 31)) & 1 ? 1 : -1);
};
const floatWeights =
  (w: Floats, g: ConvGeometry): WeightAt =>
  (c, tap, ci) =>
    w[(c * tapCount(g) + tap) * g.ci + ci];

function convFwdWith(x: Floats, wAt: WeightAt, g: ConvGeometry, y: Floats): void {
  for (let oy = 0; oy < g.ho; oy++)
    for (let ox = 0; ox < g.wo; ox++) {
      const nt = taps(g, oy, ox, TAP, PIX);
      const yo = (oy * g.wo + ox) * g.co;
      for (let c = 0; c < g.co; c++) {
        let s = 0;
        for (let t = 0; t < nt; t++) {
          const xo = PIX[t] * g.ci;
          for (let ci = 0; ci < g.ci; ci++) s += wAt(c, TAP[t], ci) * x[xo + ci];
        }
        y[yo + c] = s;
      }
    }
}

/**
 * dx = full convolution of dY with the rotated kernel, scattered over output pixels in order; each
 * group of `group` output channels adds one partial, summed in float32 in channel order (groups
 * whose dY is all zero add nothing: their partial is ±0, and dx is never −0).
 */
function convBwdDataWith(dy: Floats, wAt: WeightAt, g: ConvGeometry, dx: Floats, group: number): void {
  dx.fill(0, 0, g.hi * g.wi * g.ci);
  for (let oy = 0; oy < g.ho; oy++)
    for (let ox = 0; ox < g.wo; ox++) {
      const nt = taps(g, oy, ox, TAP, PIX);
      const yo = (oy * g.wo + ox) * g.co;
      for (let c0 = 0; c0 < g.co; c0 += group) {
        const c1 = Math.min(g.co, c0 + group);
        let zero = true;
        for (let c = c0; c < c1; c++) zero &&= dy[yo + c] === 0;
        if (zero) continue;
        for (let t = 0; t < nt; t++) {
          const xo = PIX[t] * g.ci;
          for (let ci = 0; ci < g.ci; ci++) {
            let partial = dy[yo + c0] * wAt(c0, TAP[t], ci);
            for (let c = c0 + 1; c < c1; c++) partial = Math.fround(partial + dy[yo + c] * wAt(c, TAP[t], ci));
            dx[xo + ci] += partial;
          }
        }
      }
    }
}

/** y = conv(X float, Ŵ bits). */
export function convFwdFloat(x: Floats, w: Uint32Array, g: ConvGeometry, y: Floats, examples = 1): void {
  const [xLen, yLen] = [g.hi * g.wi * g.ci, g.ho * g.wo * g.co];
  for (let e = 0; e < examples; e++) {
    const [xe, ye] = [x.subarray(e * xLen, (e + 1) * xLen), y.subarray(e * yLen, (e + 1) * yLen)];
    if (patchGroupsApply(g)) convFwdPatches(xe, bitWeights(w, g), g, ye);
    else convFwdWith(xe, bitWeights(w, g), g, ye);
  }
}

/**
 * y = conv(X float, Ŵ bits) on small patches (patchGroupsApply): each output sums its patch (the
 * k²·ci values in (ky, kx, channel) order, 0 where a tap falls in the padding) in groups of 4
 * from +0, one float32 partial ((s0·x0 + s1·x1) + s2·x2) + s3·x3 a group, as the dense float ×
 * binary forward sums a row (the WebAssembly kernel looks the partials up in tables).
 */
function convFwdPatches(x: Floats, wAt: WeightAt, g: ConvGeometry, y: Floats): void {
  const n = g.k * g.k * g.ci;
  const patch = new Float32Array(n);
  for (let oy = 0; oy < g.ho; oy++)
    for (let ox = 0; ox < g.wo; ox++) {
      for (let e = 0; e < n; e++) {
        const tap = Math.floor(e / g.ci);
        const iy = oy * g.stride + Math.floor(tap / g.k) - g.pad;
        const ix = ox * g.stride + (tap % g.k) - g.pad;
        patch[e] = iy < 0 || iy >= g.hi || ix < 0 || ix >= g.wi ? 0 : x[(iy * g.wi + ix) * g.ci + (e % g.ci)];
      }
      for (let c = 0; c < g.co; c++) {
        let acc = 0;
        for (let e0 = 0; e0 < n; e0 += 4) {
          let partial = patch[e0] * wAt(c, Math.floor(e0 / g.ci), e0 % g.ci);
          for (let e = e0 + 1; e < Math.min(n, e0 + 4); e++) partial = Math.fround(partial + patch[e] * wAt(c, Math.floor(e / g.ci), e % g.ci));
          acc = Math.fround(acc + partial);
        }
        y[(oy * g.wo + ox) * g.co + c] = acc;
      }
    }
}

/** Output channels a binary input gradient sums together before adding them to dx. */
export const DX_GROUP = 4;

/**
 * dx[hi·wi × ci] = full convolution of dY with the rotated binary kernel. The order is part of
 * the definition (the WebAssembly kernel looks the partials up in tables, docs/speed.md): each
 * dx element takes, for every output pixel its taps reach (in order) and every group of
 * DX_GROUP output channels (in order), one float32 partial ((s0·d0 + s1·d1) + s2·d2) + s3·d3.
 */
export function convBwdData(dy: Floats, w: Uint32Array, g: ConvGeometry, dx: Floats, _scratch?: Floats, examples = 1): void {
  const [dyLen, dxLen] = [g.ho * g.wo * g.co, g.hi * g.wi * g.ci];
  for (let e = 0; e < examples; e++)
    convBwdDataWith(dy.subarray(e * dyLen, (e + 1) * dyLen), bitWeights(w, g), g, dx.subarray(e * dxLen, (e + 1) * dxLen), DX_GROUP);
}

/** convBwdData's preparation: the reference reads the weights' bits in place. */
export function convBwdDataIndex(_w: Uint32Array, _g: ConvGeometry, _scratch: Floats): void {}

/** y = conv(X float, W float), W laid out co × 9 × ci (fixed-point layers). */
export function convFwdFloatFloat(x: Floats, w: Floats, g: ConvGeometry, y: Floats): void {
  convFwdWith(x, floatWeights(w, g), g, y);
}

/** dx = full convolution of dY with the rotated float kernel. */
export function convBwdDataFloat(dy: Floats, w: Floats, g: ConvGeometry, dx: Floats): void {
  convBwdDataWith(dy, floatWeights(w, g), g, dx, 1);
}
