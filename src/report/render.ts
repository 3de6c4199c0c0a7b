// The run report for people: one self-contained HTML page with SVG charts (no scripts, no
// network), or a Markdown summary with the same figures as tables.
import { CATEGORIES } from '../ledger.js';
import { describeQuant } from '../../quant/quant-config.js';
import type { LayerSeries, RunReport } from './run-report.js';
import { barChart, lineChart, type Series } from './svg.js';
import { formatMargin, quantizerRows } from './quantizer-table.js';
import { MIN_REGION_SAMPLES, type RegionEnergy } from './power-csv.js';
import { energyHeader, energyKind, energyNotes, energyRows } from './energy-table.js';

const QUANT_HEADER = ['quantizer', 'kind', 'bits', 'final exponent', 'flips', 'flips per epoch', 'MSQE margin'];
function quantRows(r: RunReport): (string | number)[][] {
  return quantizerRows(r.history).map((q) => [q.layer, q.kind, q.bits, q.exponent ?? '-', q.flips, q.flipsPerEpoch.join(' '), formatMargin(q.margin)]);
}

const KiB = 1024;
const pct = (v: number) => (100 * v).toFixed(2);
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const sumBytes = (b: Record<string, number> | undefined) => (b ? CATEGORIES.reduce((s, c) => s + (b[c] ?? 0), 0) : 0);

function summaryRows(r: RunReport): [string, string][] {
  const m = r.memory;
  return [
    ['model / data', `${r.config.model}${r.config.quant ? ` (${describeQuant(r.config.quant)})` : ''} on ${r.config.data}`],
    ['recipe', r.config.recipeName],
    ['batch / epochs / seed', `${r.config.batch} / ${r.history.length} of ${r.config.epochs} / ${r.config.seed}`],
    ['kernels', `${r.kernels} (${r.threads} thread${r.threads > 1 ? 's' : ''})`],
    ['test accuracy', r.final ? `${pct(r.final.testAccuracy)}%` : '-'],
    ['time per batch (median)', `${r.timing.msPerBatchMedian.toFixed(1)} ms over ${r.timing.batchesTimed} batches`],
    ['engine memory (ledger = modeled)', `${(m.ledger.total / KiB).toFixed(1)} KiB (modeled ${(m.modeled.total / KiB).toFixed(1)} KiB)`],
    ['process peak RSS', `${(m.peakRssBytes / 2 ** 20).toFixed(1)} MiB`],
    ['standard / this run (ledger)', m.presets ? `${m.presets.ratioStandardToThis.toFixed(2)}x` : '-'],
    ['machine', `${r.machine.platform}-${r.machine.arch}, Node ${r.machine.node}, bitlearn ${r.version}, ${r.date}`],
  ];
}

function layerSeries(s: LayerSeries): Series[] {
  return Object.entries(s.layers).map(([name, values]) => ({ name, points: values.map((v, i) => [s.steps[i], v] as [number, number]) }));
}

/** The charts of a report, by id. */
export function charts(r: RunReport): { id: string; svg: string }[] {
  const h = r.history;
  const out = [
    {
      id: 'loss',
      svg: lineChart('Loss per epoch', 'epoch', 'loss', [
        { name: 'train', points: h.map((e) => [e.epoch, e.trainLoss]) },
        { name: 'test', points: h.map((e) => [e.epoch, e.testLoss]) },
      ]),
    },
    {
      id: 'accuracy',
      svg: lineChart('Accuracy per epoch', 'epoch', 'accuracy %', [
        { name: 'train', points: h.map((e) => [e.epoch, 100 * e.trainAccuracy]) },
        { name: 'test', points: h.map((e) => [e.epoch, 100 * e.testAccuracy]) },
      ]),
    },
  ];
  const m = r.memory;
  out.push({
    id: 'memory-category',
    svg: barChart(
      'Memory by category: modeled vs measured (ledger)',
      'KiB',
      [...CATEGORIES],
      [
        { name: 'modeled', values: CATEGORIES.map((c) => m.modeled.byCategory[c] / KiB) },
        { name: 'ledger', values: CATEGORIES.map((c) => m.ledger.byCategory[c] / KiB) },
      ],
    ),
  });
  const layers = Object.keys(m.ledger.byLayer);
  out.push({
    id: 'memory-layer',
    svg: barChart('Memory by layer: modeled vs measured (ledger)', 'KiB', layers, [
      { name: 'modeled', values: layers.map((l) => sumBytes(m.modeled.byLayer[l]) / KiB) },
      { name: 'ledger', values: layers.map((l) => sumBytes(m.ledger.byLayer[l]) / KiB) },
    ]),
  });
  const energy = h.filter((e) => e.energy && e.energy.joules !== null);
  if (energy.length) {
    const kind = energyKind(energy[0].energy!.meter, energy[0].energy!.measured);
    out.push({
      id: 'energy',
      svg: lineChart(`Energy per epoch (${energy[0].energy!.meter}, ${kind})`, 'epoch', 'joules', [
        { name: 'total', points: energy.map((e) => [e.epoch, e.energy!.joules!]) },
        { name: 'net of idle', points: energy.map((e) => [e.epoch, e.energy!.netJoules ?? NaN]) },
      ]),
    });
  }
  const trace = r.powerTrace?.points ?? [];
  if (trace.length > 1) {
    const t0 = trace[0][0];
    out.push({
      id: 'power',
      svg: lineChart(
        `Power during the run (${r.powerTrace!.meter}, ${energyKind(r.powerTrace!.meter, energy[0]?.energy?.measured ?? true)}, mean per half second)`,
        'seconds',
        'watts',
        [{ name: 'power', points: trace.map(([t, w]) => [(t - t0) / 1000, w]) }],
      ),
    });
  }
  // regions without samples inside were not measured: no bar rather than an interpolated one
  const regions = r.externalEnergy?.regions.filter((g) => g.joules !== null) ?? [];
  if (regions.length) {
    out.push({
      id: 'external-energy',
      svg: barChart(
        `Energy per region from the power log (measured)`,
        'joules',
        regions.map((g) => g.label),
        [
          { name: 'total', values: regions.map((g) => g.joules!) },
          { name: 'net of idle', values: regions.map((g) => g.netJoules ?? 0) },
        ],
      ),
    });
  }
  if (r.coherence) out.push({ id: 'coherence', svg: lineChart('m-coherence per layer', 'step', 'm-coherence', layerSeries(r.coherence)) });
  if (r.quantizerExponents)
    out.push({ id: 'exponents', svg: lineChart('Quantizer scale exponent per layer', 'step', 'exponent', layerSeries(r.quantizerExponents)) });
  return out;
}

function htmlTable(header: string[] | null, rows: (string | number)[][]): string {
  const head = header ? `<thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` : '';
  return `<table>${head}<tbody>${rows.map((row) => `<tr>${row.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function epochRows(r: RunReport): (string | number)[][] {
  return r.history.map((e) => [
    e.epoch,
    e.lr.toExponential(2),
    e.trainLoss.toFixed(4),
    pct(e.trainAccuracy),
    e.testLoss.toFixed(4),
    pct(e.testAccuracy),
    e.msPerBatchMedian.toFixed(1),
  ]);
}
const EPOCH_HEADER = ['epoch', 'lr', 'train loss', 'train acc %', 'test loss', 'test acc %', 'ms/batch'];

export function renderHtml(r: RunReport): string {
  const title = `bitlearn run: ${r.config.model}, ${r.config.recipeName}, batch ${r.config.batch}`;
  const body = [
    `<h1>${esc(title)}</h1>`,
    htmlTable(null, summaryRows(r)),
    '<h2>Training</h2>',
    htmlTable(EPOCH_HEADER, epochRows(r)),
    ...charts(r).map((c) => `<figure id="${c.id}">${c.svg}</figure>`),
  ];
  const q = quantRows(r);
  if (q.length) body.push('<h2>Quantizers: exponents and flips (instability)</h2>', htmlTable(QUANT_HEADER, q));
  if (!r.coherence) body.push('<p class="note">No m-coherence series in this run.</p>');
  const style =
    'body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px ' +
    'solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}figure{margin:1.5em 0}.note{color:#666}';
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta ` +
    `charset="utf-8"><title>${esc(title)}</title><style>${style}</style></head><body>${body.join('\n')}</body></html>\n`
  );
}

/**
 * Text from the run report as Markdown shows it, never as markup: HTML (which Markdown passes
 * through) and the characters that start emphasis, links, code or a table cell are escaped, and a
 * line break cannot start a new block. Run reports are files anyone can hand over.
 */
export function mdText(v: string | number): string {
  return String(v)
    .replace(/[\r\n]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_[\]|#!~]/g, (c) => `\\${c}`);
}

function mdTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(mdText).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

export function renderMarkdown(r: RunReport): string {
  const m = r.memory;
  const parts = [
    `# bitlearn run: ${mdText(r.config.model)}, ${mdText(r.config.recipeName)}, batch ${mdText(r.config.batch)}`,
    '',
    mdTable(['', ''], summaryRows(r)),
    '',
    '## Training',
    '',
    mdTable(EPOCH_HEADER, epochRows(r)),
    '',
    '## Memory (KiB): modeled vs measured',
    '',
    mdTable(
      ['category', 'modeled', 'ledger'],
      CATEGORIES.map((c) => [c, (m.modeled.byCategory[c] / KiB).toFixed(1), (m.ledger.byCategory[c] / KiB).toFixed(1)]),
    ),
    '',
    mdTable(
      ['layer', 'modeled', 'ledger'],
      Object.keys(m.ledger.byLayer).map((l) => [l, (sumBytes(m.modeled.byLayer[l]) / KiB).toFixed(1), (sumBytes(m.ledger.byLayer[l]) / KiB).toFixed(1)]),
    ),
  ];
  const energy = r.history.filter((e) => e.energy);
  if (energy.length) {
    const e0 = energy[0].energy!;
    parts.push('', `## Energy (${mdText(e0.meter)}, ${energyKind(e0.meter, e0.measured)})`, '');
    parts.push(mdTable(energyHeader(r.history), energyRows(r.history)));
    const notes = energyNotes(r.history);
    if (notes.length) parts.push('', ...notes.map((n) => `- ${mdText(n)}`));
  }
  if (r.externalEnergy) parts.push('', externalEnergyMarkdown(r));
  const q = quantRows(r);
  if (q.length) parts.push('', '## Quantizers: exponents and flips (instability)', '', mdTable(QUANT_HEADER, q));
  return `${parts.join('\n')}\n`;
}

/** The power-log section: energy per region integrated from an external logger's CSV. */
export function externalEnergyMarkdown(r: RunReport): string {
  const x = r.externalEnergy;
  if (!x) return '';
  return [
    `## Energy from the power log ${mdText(x.file)} (measured; idle baseline ` +
      `${x.idleWatts === null ? 'not covered by the log' : `${x.idleWatts.toFixed(2)} W`})`,
    '',
    mdTable(
      ['region', 'seconds', 'samples', 'joules', 'mean W', 'net J'],
      x.regions.map((g) => [g.label, g.seconds.toFixed(1), g.samples, fixed(g.joules), fixed(g.meanWatts), fixed(g.netJoules)]),
    ),
    ...unmeasuredNote(x.regions),
  ].join('\n');
}

const fixed = (v: number | null) => (v === null ? 'not measured' : v.toFixed(2));

function unmeasuredNote(regions: RegionEnergy[]): string[] {
  const missed = regions.filter((g) => g.joules === null);
  if (!missed.length) return [];
  return [
    '',
    `Not measured: ${missed.map((g) => mdText(g.label)).join(', ')}: fewer than ${MIN_REGION_SAMPLES} ` +
      `samples of the power log fall inside (log faster, or measure longer regions).`,
  ];
}
