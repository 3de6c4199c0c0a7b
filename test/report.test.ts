// Run reports for people: SVG charts, the HTML page rendered by headless Chromium (screenshot
// checked for content), Markdown, and an external power log integrated over metered regions.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import t from 'tap';
import { energyOfRegions, integrate, parsePowerCsv, PowerCsvError } from '../src/report/power-csv.js';
import { renderHtml, renderMarkdown } from '../src/report/render.js';
import { readRunReport } from '../src/report/run-report.js';
import { lineChart, perPixelColumn, ticks } from '../src/report/svg.js';
import { tempDir } from './helpers.js';

const CLI = join(process.cwd(), 'build/src/cli/main.js');
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

const dir = tempDir('bitlearn-report-');
const runJson = join(dir, 'run.json');
// a real run with an estimate meter, so energy records and region bounds are present
const trained = run([
  'train',
  '--epochs',
  '2',
  '--limit-train',
  '600',
  '--limit-test',
  '200',
  '--batch',
  '50',
  '--quiet',
  '--no-checkpoint',
  '--meter',
  'estimate',
  '--idle-seconds',
  '1',
  '--out',
  runJson,
]);

t.test('ticks are round numbers covering the range', async (t) => {
  t.same(ticks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  t.same(ticks(3, 47), [10, 20, 30, 40]);
  t.equal(lineChart('x', 'a', 'b', []).includes('no data'), true);
});

t.test('long series are drawn per pixel column, keeping every peak', async (t) => {
  const pts: [number, number][] = Array.from({ length: 5000 }, (_, i) => [60 + i * 0.1, Math.sin(i) * 10 + (i === 2345 ? 99 : 0) - (i === 4000 ? 50 : 0)]);
  const drawn = perPixelColumn(pts);
  t.ok(drawn.length <= 4 * 501, `${drawn.length} points for 501 pixel columns`);
  t.same(drawn[0], pts[0], 'first point kept');
  t.same(drawn.at(-1), pts.at(-1), 'last point kept');
  t.ok(drawn.some((p) => p === pts[2345]) && drawn.some((p) => p === pts[4000]), 'the highest and the lowest points kept');
  for (let c = 60; c <= 560; c += 97) {
    const column = (q: [number, number]) => Math.round(q[0]) === c;
    t.equal(Math.max(...drawn.filter(column).map((q) => q[1])), Math.max(...pts.filter(column).map((q) => q[1])), `column ${c}: same top`);
    t.equal(Math.min(...drawn.filter(column).map((q) => q[1])), Math.min(...pts.filter(column).map((q) => q[1])), `column ${c}: same bottom`);
  }
  const short = pts.slice(0, 50);
  t.equal(perPixelColumn(short), short, 'short series unchanged');
  const svg = lineChart('per step', 'step', 'm', [{ name: 'a', points: pts.map(([_x, y], i) => [i, y]) }]);
  t.ok(svg.length < 60_000, `chart of 5000 points: ${svg.length} characters`);
  t.notOk(svg.includes('<circle'), 'no per-point markers on a per-step series');
});

t.test('HTML report: self-contained, one SVG chart per figure, renders in headless Chromium', async (t) => {
  t.equal(trained.status, 0, trained.stderr);
  const html = join(dir, 'r.html');
  const r = run(['report', runJson, '--html', html, '--md', join(dir, 'r.md')]);
  t.equal(r.status, 0, r.stderr);
  const page = readFileSync(html, 'utf8');
  for (const id of ['loss', 'accuracy', 'memory-category', 'memory-layer', 'energy']) t.match(page, `<figure id="${id}"><svg`, `chart ${id}`);
  t.notMatch(page, /<script|https?:\/\/(?!www\.w3\.org)/, 'no scripts, no network references');
  t.match(page, /ESTIMATED/, 'estimated energy is labelled');
  const md = readFileSync(join(dir, 'r.md'), 'utf8');
  t.match(md, /\| fc1 \| [\d.]+ \| [\d.]+ \|/);
  if (!CHROMIUM) {
    t.equal(process.env.CI, undefined, 'CI installs chromium: it must be there');
    t.comment('chromium not installed (apt-get install chromium): screenshot skipped');
    return;
  }
  const png = join(dir, 'r.png');
  const shot = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${tempDir('chromium-')}`,
      '--hide-scrollbars',
      '--window-size=1000,2600',
      `--screenshot=${png}`,
      `file://${html}`,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  t.ok(existsSync(png), `screenshot written (${shot.stderr.slice(-300)})`);
  const img = PNG.sync.read(readFileSync(png));
  t.equal(img.width, 1000);
  // the chart series colours (blue #1f77b4, red #d62728) must be on the page, in quantity
  let blue = 0;
  let red = 0;
  for (let i = 0; i < img.data.length; i += 4) {
    const [r, g, b] = [img.data[i], img.data[i + 1], img.data[i + 2]];
    if (Math.abs(r - 0x1f) < 12 && Math.abs(g - 0x77) < 12 && Math.abs(b - 0xb4) < 12) blue++;
    if (Math.abs(r - 0xd6) < 12 && Math.abs(g - 0x27) < 12 && Math.abs(b - 0x28) < 12) red++;
  }
  t.ok(blue > 2000 && red > 2000, `plots drawn: ${blue} blue and ${red} red pixels`);
  // and Chromium's DOM has every chart as an SVG element
  const dom = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
      `--user-data-dir=${tempDir('chromium-')}`,
      '--dump-dom',
      `file://${html}`,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  t.equal((dom.stdout.match(/<svg/g) ?? []).length, 5, 'five charts in the rendered DOM');
});

t.test('power CSV: parsing, interpolation, trapezoid integral, idle baseline', async (t) => {
  const s = parsePowerCsv('time,watts\n100,2\n101,4\n102,4\n103,2\n');
  t.same(
    s.map((x) => x.watts),
    [2, 4, 4, 2],
  );
  t.equal(integrate(s, 100, 103).joules, 3 + 4 + 3);
  t.equal(integrate(s, 100.5, 101).joules, ((3 + 4) / 2) * 0.5, 'a region starting between samples is interpolated');
  const va = parsePowerCsv('timestamp,volts,amps\n1700000000000,5,0.5\n1700000001000,5,1\n1700000002000,5,1\n');
  t.equal(va[0].t, 1700000000, 'milliseconds since 1970 recognised');
  t.equal(va[1].watts, 5);
  const e = energyOfRegions(parsePowerCsv('time,watts\n0,2\n10,2\n11,6\n20,6\n21,2\n30,2\n'), [{ label: 'epoch 1', startUnixMs: 11000, endUnixMs: 20000 }], 5);
  // idle window [6, 11): 4 s at 2 W, then 1 s ramping 2 -> 6 W: 12 J / 5 s
  t.ok(Math.abs(e.idleWatts! - 2.4) < 1e-12, `idle ${e.idleWatts}`);
  t.equal(e.regions[0].joules, 54);
  t.ok(Math.abs(e.regions[0].netJoules! - (54 - 2.4 * 9)) < 1e-9);
  // an epoch between two samples (a logger slower than the epoch) is not measured: no interpolated figure
  const sparse = energyOfRegions(
    parsePowerCsv('time,watts\n0,2\n10,2\n20,6\n30,6\n'),
    [
      { label: 'epoch 1', startUnixMs: 12000, endUnixMs: 15000 },
      { label: 'epoch 2', startUnixMs: 15000, endUnixMs: 29000 },
    ],
    5,
  );
  t.same(
    sparse.regions.map((g) => [g.samples, g.joules, g.meanWatts, g.netJoules]),
    [
      [0, null, null, null],
      [1, null, null, null],
    ],
  );
  t.equal(sparse.idleWatts, null, 'idle window [7, 12) holds one sample: no baseline');
  const md = renderMarkdown({ ...readRunReport(runJson), externalEnergy: { file: 'p.csv', ...sparse } });
  t.match(md, /\| epoch 1 \| 3\.0 \| 0 \| not measured \| not measured \| not measured \|/);
  t.match(md, /Not measured: epoch 1, epoch 2: fewer than 2 samples of the power log fall inside/);
  t.notMatch(
    renderHtml({ ...readRunReport(runJson), externalEnergy: { file: 'p.csv', ...sparse } }),
    /id="external-energy"/,
    'no bars for regions not measured',
  );
  t.throws(() => parsePowerCsv('time,watts\n1,2\n1,3\n5,4\n'), /line 3: time does not increase/);
  t.ok(new PowerCsvError('x') instanceof Error);
  t.throws(() => parsePowerCsv('when,watts\n1,2\n2,3\n'), /no time column/);
  t.throws(() => parsePowerCsv('time,watts\n1,2\n2,x\n3,3\n'), /line 3: "x" in column watts is not a number/);
  t.throws(() => integrate(s, 99, 101), /does not cover/);
});

t.test('report --power-csv integrates a logger CSV over the run regions', async (t) => {
  const rep = readRunReport(runJson);
  const first = rep.history[0].energy!;
  const last = rep.history[rep.history.length - 1].energy!;
  const t0 = first.startUnixMs / 1000 - 5;
  // A coarse grid plus 11 samples inside every region: an epoch of a few milliseconds (a fast CI machine) still holds samples.
  const times = new Set<number>();
  for (let x = t0; x <= last.endUnixMs / 1000 + 5; x += 0.05) times.add(Math.round(x * 1e6) / 1e6);
  for (const h of rep.history) {
    const { startUnixMs, endUnixMs } = h.energy!;
    for (let i = 0; i <= 10; i++) times.add(Math.round((startUnixMs + ((endUnixMs - startUnixMs) * i) / 10) * 1e3) / 1e6);
  }
  const rows = ['time,watts'];
  for (const x of [...times].sort((a, b) => a - b)) rows.push(`${x.toFixed(6)},${x < first.startUnixMs / 1000 ? 3 : 5}`);
  const csv = join(dir, 'power.csv');
  writeFileSync(csv, `${rows.join('\n')}\n`);
  const r = run(['report', runJson, '--power-csv', csv, '--json']);
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.equal(out.externalEnergy.regions.length, 2);
  t.ok(Math.abs(out.externalEnergy.idleWatts - 3) < 0.05, `idle ${out.externalEnergy.idleWatts}`);
  const g = out.externalEnergy.regions[1];
  t.ok(Math.abs(g.meanWatts - 5) < 1e-6, `mean W ${g.meanWatts}`);
  t.ok(Math.abs(g.netJoules - 2 * g.seconds) < 0.01);
  t.match(renderMarkdown(out), /Energy from the power log/);
  t.match(renderHtml(out), /<figure id="external-energy">/);
  const bad = run(['report', runJson, '--power-csv', join(dir, 'missing.csv')]);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^bitlearn: error: cannot read .*missing\.csv: ENOENT/);
  const notRun = run(['report', csv, '--html', join(dir, 'x.html')]);
  t.match(notRun.stderr, /is not JSON|not a bitlearn train report/);
  t.notOk(existsSync(join(dir, 'x.html')), 'nothing written on bad input');
});

t.test('Markdown report: text from run.json is escaped, never markup (like the HTML one)', async (t) => {
  const rep = readRunReport(runJson);
  const evil = '<img src=x onerror=alert(1)>|**bold**_[link](http://x)`code`\n# heading';
  const md = renderMarkdown({ ...rep, config: { ...rep.config, model: evil, recipeName: '<script>alert(2)</script>' } });
  t.notMatch(md, /<img|<script/, 'no raw HTML');
  t.match(
    md,
    /^# bitlearn run: &lt;img src=x onerror=alert\(1\)&gt;\\\|\\\*\\\*bold\\\*\\\*\\_\\\[link\\\]\(http:\/\/x\)\\`code\\` \\# heading, &lt;script&gt;/,
  );
  t.notMatch(md, /\n# heading/, 'a line break in a value cannot start a block');
  // every table row keeps its column count: a | inside a value is escaped
  for (const line of md.split('\n').filter((l) => l.startsWith('| model / data'))) t.equal(line.split(/(?<!\\)\|/).length, 4, line);
});
