// Self-contained SVG charts (no scripts, no network): line charts over a shared x axis and
// grouped horizontal bar charts. Enough for the run report; every chart carries a title.
const W = 640;
const PAD = { left: 64, right: 150, top: 32, bottom: 40 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

export interface Series {
  name: string;
  points: [number, number][];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round numbers for axis ticks: about `n` steps of 1, 2 or 5 × 10^k covering [lo, hi]. */
export function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4))));

function legend(names: string[], x: number, y: number): string {
  return names
    .map(
      (n, i) =>
        `<g transform="translate(${x},${y + i * 18})"><rect width="12" height="12" ` +
        `fill="${COLORS[i % COLORS.length]}"/><text x="18" y="11">${esc(n)}</text></g>`,
    )
    .join('');
}

const MARKED_POINTS = 100;

/**
 * A long series (a value per training step) drawn point by point makes pages of megabytes that
 * look the same: keep, per pixel column, its first, lowest, highest and last point (in x order),
 * so every peak is still drawn. Points are in pixels; short series come back unchanged.
 */
export function perPixelColumn(points: [number, number][]): [number, number][] {
  if (points.length <= MARKED_POINTS) return points;
  const out: [number, number][] = [];
  let i = 0;
  while (i < points.length) {
    const col = Math.round(points[i][0]);
    let j = i;
    let lo = i;
    let hi = i;
    while (j + 1 < points.length && Math.round(points[j + 1][0]) === col) {
      j++;
      if (points[j][1] < points[lo][1]) lo = j;
      if (points[j][1] > points[hi][1]) hi = j;
    }
    for (const k of [...new Set([i, Math.min(lo, hi), Math.max(lo, hi), j])]) out.push(points[k]);
    i = j + 1;
  }
  return out;
}

export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[], height = 300): string {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const h = height;
  const svgOpen =
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="${esc(title)}" ` +
    `width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif" font-size="12">`;
  const head = `${svgOpen}<text x="${W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(title)}</text>`;
  if (!pts.length) return `${head}<text x="${W / 2}" y="${h / 2}" text-anchor="middle">no data</text></svg>`;
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
  const pw = W - PAD.left - PAD.right;
  const ph = h - PAD.top - PAD.bottom;
  const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => PAD.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const parts = [head];
  for (const t of ticks(y0, y1))
    parts.push(
      `<line x1="${PAD.left}" x2="${PAD.left + pw}" y1="${sy(t)}" y2="${sy(t)}" ` +
        `stroke="#ddd"/><text x="${PAD.left - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
    );
  // whole-number x values (epochs, steps) get whole-number ticks
  const wholeX = pts.every(([x]) => Number.isInteger(x));
  for (const t of ticks(x0, x1).filter((v) => !wholeX || Number.isInteger(v)))
    parts.push(
      `<line x1="${sx(t)}" x2="${sx(t)}" y1="${PAD.top + ph}" y2="${PAD.top + ph + 4}" ` +
        `stroke="#333"/><text x="${sx(t)}" y="${PAD.top + ph + 16}" text-anchor="middle">${fmt(t)}</text>`,
    );
  parts.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${PAD.left + pw / 2}" y="${h - 6}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(14,${PAD.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const drawn = perPixelColumn(good.map(([x, y]) => [sx(x), sy(y)] as [number, number]));
    if (drawn.length > 1)
      parts.push(
        `<polyline class="series" fill="none" stroke="${c}" stroke-width="${good.length > MARKED_POINTS ? 1 : 2}" ` +
          `points="${drawn.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`,
      );
    // markers only where they can be told apart (per-epoch series, not per-step ones)
    if (good.length <= MARKED_POINTS) for (const [x, y] of drawn) parts.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${c}"/>`);
  });
  parts.push(
    legend(
      series.map((s) => s.name),
      PAD.left + pw + 12,
      PAD.top,
    ),
  );
  return `${parts.join('')}</svg>`;
}

/** Horizontal bars: one group per category, one bar per series (e.g. modeled vs measured). */
export function barChart(title: string, unit: string, categories: string[], series: { name: string; values: number[] }[]): string {
  const bar = 12;
  const group = bar * series.length + 8;
  const h = PAD.top + PAD.bottom + group * Math.max(1, categories.length);
  const left = 150;
  const pw = W - left - PAD.right;
  const max = Math.max(1e-12, ...series.flatMap((s) => s.values));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="${esc(title)}" ` +
      `width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif" font-size="12">`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const t of ticks(0, max)) {
    const x = left + (t / max) * pw;
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${PAD.top}" y2="${h - PAD.bottom}" stroke="#ddd"/><text ` +
        `x="${x}" y="${h - PAD.bottom + 14}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  parts.push(`<text x="${left + pw / 2}" y="${h - 6}" text-anchor="middle">${esc(unit)}</text>`);
  categories.forEach((cat, ci) => {
    const y = PAD.top + ci * group;
    parts.push(`<text x="${left - 6}" y="${y + (bar * series.length) / 2 + 4}" text-anchor="end">${esc(cat)}</text>`);
    series.forEach((s, si) => {
      const v = s.values[ci] ?? 0;
      parts.push(
        `<rect class="bar" x="${left}" y="${y + si * bar}" width="${Math.max(0, (v / max) * pw).toFixed(1)}" height="${bar - 2}" ` +
          `fill="${COLORS[si % COLORS.length]}"><title>${esc(`${cat} ${s.name}: ${fmt(v)} ${unit}`)}</title></rect>`,
      );
    });
  });
  parts.push(
    legend(
      series.map((s) => s.name),
      left + pw + 12,
      PAD.top,
    ),
  );
  return `${parts.join('')}</svg>`;
}
