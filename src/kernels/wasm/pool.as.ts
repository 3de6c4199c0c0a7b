// Max-pool kernels (src/kernels/pool-reference.ts is their plain form): windows of size × size,
// stride = size, channels-last; 4 channels a vector, the rest one by one.

/** Input row (pixel) of window position q of the pooled pixel whose window starts at row `base`. */
// @ts-ignore: decorator
@inline
function windowRow(base: i32, w: i32, size: i32, q: i32): i32 {
  return base + (q / size) * w + (q % size);
}

/** The position (per lane) of the first largest of 4 channels over the window, and that value; NaN never wins over `start`. */
// @ts-ignore: decorator
@inline
function windowBest(x: usize, base: i32, w: i32, size: i32, C: i32, c: i32, q0: i32, start: v128, startQ: v128): v128 {
  let bestV = start;
  let bestQ = startQ;
  if (size == 2) {
    // the usual 2x2 window, straight-line
    const row = <usize>w * <usize>C << 2;
    const p = x + ((<usize>base * <usize>C + <usize>c) << 2);
    const v0 = v128.load(p);
    const v1 = v128.load(p + (<usize>C << 2));
    const v2 = v128.load(p + row);
    const v3 = v128.load(p + row + (<usize>C << 2));
    if (q0 == 0) {
      const g0 = f32x4.gt(v0, bestV);
      bestV = v128.bitselect(v0, bestV, g0);
      bestQ = v128.bitselect(i32x4.splat(0), bestQ, g0);
    }
    const g1 = f32x4.gt(v1, bestV);
    bestV = v128.bitselect(v1, bestV, g1);
    bestQ = v128.bitselect(i32x4.splat(1), bestQ, g1);
    const g2 = f32x4.gt(v2, bestV);
    bestV = v128.bitselect(v2, bestV, g2);
    bestQ = v128.bitselect(i32x4.splat(2), bestQ, g2);
    const g3 = f32x4.gt(v3, bestV);
    poolBestValue = v128.bitselect(v3, bestV, g3);
    return v128.bitselect(i32x4.splat(3), bestQ, g3);
  }
  // window rows and columns nested (no division per position); positions before q0 skipped
  let q = 0;
  for (let dy = 0; dy < size; dy++)
    for (let dx = 0; dx < size; dx++, q++) {
      if (q < q0) continue;
      const v = v128.load(x + ((<usize>(base + dy * w + dx) * <usize>C + <usize>c) << 2));
      const gt = f32x4.gt(v, bestV);
      bestV = v128.bitselect(v, bestV, gt);
      bestQ = v128.bitselect(i32x4.splat(q), bestQ, gt);
    }
  poolBestValue = bestV;
  return bestQ;
}

/** windowBest's second result (AssemblyScript returns one value). */
let poolBestValue: v128 = i32x4.splat(0);

/** The first largest value's position for one channel, and that value in poolBestScalar. */
function scalarBest(x: usize, base: i32, w: i32, size: i32, C: i32, c: i32, q0: i32, start: f32): i32 {
  let best = 0;
  let bestV = start;
  let q = 0;
  for (let dy = 0; dy < size; dy++)
    for (let dx = 0; dx < size; dx++, q++) {
      if (q < q0) continue;
      const v = load<f32>(x + ((<usize>(base + dy * w + dx) * <usize>C + <usize>c) << 2));
      if (v > bestV) {
        best = q;
        bestV = v;
      }
    }
  poolBestScalar = bestV;
  return best;
}

let poolBestScalar: f32 = 0;

/**
 * Channels [c0, c1) of maxPoolFloatReference over B examples (threads split the channels at
 * multiples of 32, so each writes its own argmax words): out may be x itself, since a pooled row
 * never overtakes the rows it reads and a pixel's channels are read before they are written.
 * argmax 0 for none.
 */
export function maxPoolFloat(x: usize, out: usize, B: i32, h: i32, w: i32, C: i32, size: i32, argmax: usize, c0: i32, c1: i32): void {
  const hp = h / size;
  const wp = w / size;
  const wpc = (C + 31) >>> 5;
  const minusInf = f32x4.splat(-Infinity);
  const zero = i32x4.splat(0);
  for (let b = 0; b < B; b++)
    for (let py = 0; py < hp; py++)
      for (let px = 0; px < wp; px++) {
        const o = out + ((<usize>((b * hp + py) * wp + px) * <usize>C) << 2);
        const base = (b * h + size * py) * w + size * px;
        let c = c0;
        if (size == 2 && argmax != 0) {
          // the 2x2 window's argmax bits gathered a word (32 channels) at a time per window
          // position and ORed in once: a test and a store per position and 4 channels cost
          // mispredicted branches (the positions are random), 4x the pooling without argmax
          let m0: u32 = 0, m1: u32 = 0, m2: u32 = 0, m3: u32 = 0;
          for (; c + 4 <= c1; c += 4) {
            const bestQ = windowBest(x, base, w, size, C, c, 0, minusInf, zero);
            v128.store(o + (<usize>c << 2), poolBestValue);
            const shift = <u32>c & 31;
            m0 |= <u32>i32x4.bitmask(i32x4.eq(bestQ, i32x4.splat(0))) << shift;
            m1 |= <u32>i32x4.bitmask(i32x4.eq(bestQ, i32x4.splat(1))) << shift;
            m2 |= <u32>i32x4.bitmask(i32x4.eq(bestQ, i32x4.splat(2))) << shift;
            m3 |= <u32>i32x4.bitmask(i32x4.eq(bestQ, i32x4.splat(3))) << shift;
            if (shift == 28 || c + 8 > c1) {
              const word = <usize>(c >>> 5) << 2;
              const at0 = argmax + ((<usize>base * <usize>wpc) << 2) + word;
              const at2 = at0 + ((<usize>w * <usize>wpc) << 2);
              const next = <usize>wpc << 2;
              store<u32>(at0, load<u32>(at0) | m0);
              store<u32>(at0 + next, load<u32>(at0 + next) | m1);
              store<u32>(at2, load<u32>(at2) | m2);
              store<u32>(at2 + next, load<u32>(at2 + next) | m3);
              m0 = 0;
              m1 = 0;
              m2 = 0;
              m3 = 0;
            }
          }
        }
        for (; c + 4 <= c1; c += 4) {
          const bestQ = windowBest(x, base, w, size, C, c, 0, minusInf, zero);
          v128.store(o + (<usize>c << 2), poolBestValue);
          if (argmax == 0) continue;
          let q = 0;
          for (let dy = 0; dy < size; dy++)
            for (let dx = 0; dx < size; dx++, q++) {
              const lanes = i32x4.bitmask(i32x4.eq(bestQ, i32x4.splat(q)));
              if (lanes == 0) continue;
              const at = argmax + ((<usize>(base + dy * w + dx) * <usize>wpc + <usize>(c >>> 5)) << 2);
              store<u32>(at, load<u32>(at) | (lanes << (<u32>c & 31)));
            }
        }
        for (; c < c1; c++) {
          const q = scalarBest(x, base, w, size, C, c, 0, -Infinity);
          store<f32>(o + (<usize>c << 2), poolBestScalar);
          if (argmax == 0) continue;
          const at = argmax + ((<usize>windowRow(base, w, size, q) * <usize>wpc + <usize>(c >>> 5)) << 2);
          store<u32>(at, load<u32>(at) | (1 << (<u32>c & 31)));
        }
      }
}

/**
 * maxPoolGradRowReference for input row y of example b: out (w × C, cleared by the caller) gets
 * dy at each window's argmax; source 0: float input, 1: sign bits, 2: argmax mask.
 */
export function maxPoolGradRow(src: usize, source: i32, h: i32, w: i32, C: i32, size: i32, b: i32, y: i32, dy: usize, out: usize): void {
  const py = y / size;
  if (py >= h / size) return;
  const wp = w / size;
  const area = size * size;
  const wpc = (C + 31) >>> 5;
  const first = (y - py * size) * size;
  const pixBytes = <usize>C << 2;
  const bitLanes = i32x4(1, 2, 4, 8);
  for (let px = 0; px < wp; px++) {
    const base = (b * h + size * py) * w + size * px;
    const dyPix = dy + <usize>px * pixBytes;
    const outPix = out + <usize>(size * px) * pixBytes;
    if (source == 0) {
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const start = v128.load(src + ((<usize>base * <usize>C + <usize>c) << 2));
        const bestQ = windowBest(src, base, w, size, C, c, 1, start, i32x4.splat(0));
        const d = v128.load(dyPix + (<usize>c << 2));
        for (let dx = 0; dx < size; dx++) v128.store(outPix + <usize>dx * pixBytes + (<usize>c << 2), v128.and(d, i32x4.eq(bestQ, i32x4.splat(first + dx))));
      }
      for (; c < C; c++) {
        const q = scalarBest(src, base, w, size, C, c, 1, load<f32>(src + ((<usize>base * <usize>C + <usize>c) << 2)));
        if (q >= first && q < first + size) store<f32>(outPix + <usize>(q - first) * pixBytes + (<usize>c << 2), load<f32>(dyPix + (<usize>c << 2)));
      }
      continue;
    }
    for (let k = 0; k < wpc; k++) {
      // chosen(q): the words' channels whose argmax is q; `prior` the channels marked before q
      let prior: u32 = 0;
      let any: u32 = 0;
      if (source == 1)
        for (let ry = 0; ry < size; ry++)
          for (let rx = 0; rx < size; rx++) any |= load<u32>(src + ((<usize>(base + ry * w + rx) * <usize>wpc + <usize>k) << 2));
      // position q at window row qy, column qx (stepped, no division)
      for (let q = 0, qy = 0, qx = 0; q < first + size; q++) {
        const m = load<u32>(src + ((<usize>(base + qy * w + qx) * <usize>wpc + <usize>k) << 2));
        if (++qx == size) {
          qx = 0;
          qy++;
        }
        let chosen = m & ~prior;
        if (source == 1 && q == 0) chosen |= ~any;
        if (source == 2 && q == area - 1) chosen = ~prior;
        prior |= m;
        if (q < first) continue;
        const c0 = k << 5;
        const c1 = min(C, c0 + 32);
        const o = outPix + <usize>(q - first) * pixBytes;
        let c = c0;
        for (; c + 4 <= c1; c += 4) {
          // all-ones lanes where bits 0..3 of the shifted word are set
          const lanes = i32x4.eq(v128.and(i32x4.splat(chosen >>> <u32>(c - c0)), bitLanes), bitLanes);
          v128.store(o + (<usize>c << 2), v128.and(v128.load(dyPix + (<usize>c << 2)), lanes));
        }
        for (; c < c1; c++) if ((chosen >>> <u32>(c - c0)) & 1) store<f32>(o + (<usize>c << 2), load<f32>(dyPix + (<usize>c << 2)));
      }
    }
  }
}

/**
 * Examples [b0, b1) of a batch's max-pool gradient (maxPoolGradReference): every input row of
 * out cleared, then filled by maxPoolGradRow from the pooled rows of dy (hp·wp × C an example).
 */
export function maxPoolGradExamples(src: usize, source: i32, h: i32, w: i32, C: i32, size: i32, dy: usize, out: usize, b0: i32, b1: i32): void {
  const hp = h / size;
  const wp = w / size;
  const rowBytes = <usize>(w * C) << 2;
  for (let b = b0; b < b1; b++)
    for (let y = 0; y < h; y++) {
      const o = out + <usize>(b * h + y) * rowBytes;
      memory.fill(o, 0, rowBytes);
      const py = y / size;
      if (py < hp) maxPoolGradRow(src, source, h, w, C, size, b, y, dy + (<usize>((b * hp + py) * wp * C) << 2), o);
    }
}
