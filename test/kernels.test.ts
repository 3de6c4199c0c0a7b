import t from 'tap';
import { referenceKernels as K } from '../src/kernels/reference.js';
import { Rng } from '../src/rng.js';
import { matmulT, maxAbsDiff, randomFloats, randomSigns } from './helpers.js';

// Shapes include sizes that are not multiples of 32 (padding) and single rows/columns.
const SHAPES = [
  [1, 1, 1],
  [3, 5, 31],
  [4, 7, 32],
  [5, 3, 33],
  [9, 17, 70],
  [2, 10, 100],
  [7, 16, 257],
];

for (const [B, m, n] of SHAPES) {
  t.test(`B=${B} m=${m} n=${n}`, async (t) => {
    const rng = new Rng(B * 1000 + m * 10 + n);
    const X = randomSigns(rng, B, n);
    const W = randomSigns(rng, m, n);
    const Xf = randomFloats(rng, B * n);
    const dY = randomFloats(rng, B * m);
    dY[0] = 0; // the kernels skip zeros: make sure that is still right

    const y = new Float64Array(B * m);
    K.gemmBinBin(X.bits, W.bits, B, m, n, y);
    t.same(Array.from(y), Array.from(matmulT(X.values, W.values, B, m, n)), 'gemmBinBin = ±1 product (exact)');

    K.gemmFloatBin(Xf, W.bits, B, m, n, y);
    t.ok(maxAbsDiff(y, matmulT(Xf, W.values, B, m, n)) < 1e-9, 'gemmFloatBin = float product');

    // dX = dY · W  ==  dY · (Wᵀ)ᵀ
    const Wt = new Float64Array(n * m);
    for (let j = 0; j < m; j++) for (let k = 0; k < n; k++) Wt[k * m + j] = W.values[j * n + k];
    const dx = new Float64Array(B * n);
    K.gemmFloatBinT(dY, W.bits, B, m, n, dx, new Float32Array(0));
    t.ok(maxAbsDiff(dx, matmulT(dY, Wt, B, n, m)) < 1e-9, 'gemmFloatBinT = dY · W');

    // float weights (fixed-point layers): y = X·Wᵀ and dX = dY·W with W's real values
    const Wf = randomFloats(rng, m * n);
    K.gemmFloatFloat(Xf, Wf, B, m, n, y);
    t.ok(maxAbsDiff(y, matmulT(Xf, Wf, B, m, n)) < 1e-9, 'gemmFloatFloat = X · Wᵀ');
    const Wft = new Float64Array(n * m);
    for (let j = 0; j < m; j++) for (let k = 0; k < n; k++) Wft[k * m + j] = Wf[j * n + k];
    dx.fill(7);
    K.gemmFloatFloatT(dY, Wf, B, m, n, dx);
    t.ok(maxAbsDiff(dx, matmulT(dY, Wft, B, n, m)) < 1e-9, 'gemmFloatFloatT = dY · W (overwrites)');

    // dW = dYᵀ · X, accumulated onto what is there
    const naiveDw = (Xv: ArrayLike<number>) => {
      const out = new Float64Array(m * n).fill(0.5);
      for (let i = 0; i < B; i++) for (let j = 0; j < m; j++) for (let k = 0; k < n; k++) out[j * n + k] += dY[i * m + j] * Xv[i * n + k];
      return out;
    };
    const dw = new Float64Array(m * n).fill(0.5);
    K.gemmTnFloat(dY, Xf, B, m, n, dw);
    t.ok(maxAbsDiff(dw, naiveDw(Xf)) < 1e-9, 'gemmTnFloat accumulates dYᵀ · X');
    dw.fill(0.5);
    K.gemmTnBin(dY, X.bits, B, m, n, dw);
    t.ok(maxAbsDiff(dw, naiveDw(X.values)) < 1e-9, 'gemmTnBin accumulates dYᵀ · X̂');
  });
}
