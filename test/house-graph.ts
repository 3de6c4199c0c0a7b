// The import graph of the house (source files, not tests) and the floors every import must run
// down; used by test/house.test.ts and to print the floors block of docs/architecture.md:
//   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs -e "import('./test/house-graph.js').then((h) => console.log(h.floorsPicture()))"
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

export const ROOT = process.cwd();

/** Floors, lowest first: a unit (a folder of src/, a file directly in src/, or a top-level folder) imports only lower floors. */
export const FLOORS: string[][] = [
  [
    'quant',
    'src/own.ts',
    'src/units.ts',
    'src/stats.ts',
    'src/rng.ts',
    'src/bits.ts',
    'src/runtime',
    'src/atomic-write.ts',
    'src/file-lock.ts',
    'src/lr-schedule.ts',
  ],
  // device: the meters' sampling thread carries its code in a single executable (src/runtime)
  ['src/version.ts', 'src/ledger.ts', 'src/data', 'src/coherence', 'device'],
  ['src/storage', 'src/checkpoint.ts'],
  ['src/kernels', 'src/recipe.ts'],
  ['src/layers'],
  ['src/optim', 'src/formats'],
  ['src/model'],
  ['src/planner.ts', 'src/export'],
  ['src/train'],
  ['src/report'],
  ['bench'],
  ['src/index.ts'],
  ['src/cli'],
];

export const sources = execFileSync('git', ['ls-files', '*.ts'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && !f.startsWith('test/') && !f.startsWith('examples/') && !f.endsWith('.d.ts') && !f.startsWith('src/kernels/wasm/'));

export function unitOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'src') return parts.length > 2 ? `src/${parts[1]}` : file;
  return parts[0];
}

/** file -> the repository files it imports (static, re-exports and dynamic imports with a literal path). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g))
    out.push(normalize(join(dirname(file), m[1])).replace(/\.js$/, '.ts'));
  return out;
}

export const graph = new Map(sources.map((f) => [f, importsOf(f)]));
export const floorOf = new Map(FLOORS.flatMap((units, i) => units.map((u) => [u, i] as const)));

/** The floors as docs/architecture.md draws them: each unit with the units it imports. */
export function floorsPicture(): string {
  const deps = new Map<string, Set<string>>();
  for (const [file, targets] of graph)
    for (const target of targets) {
      const a = unitOf(file);
      const b = unitOf(target);
      if (a === b) continue;
      if (!deps.has(a)) deps.set(a, new Set());
      deps.get(a)!.add(b);
    }
  const lines: string[] = [];
  for (let i = FLOORS.length - 1; i >= 0; i--) {
    lines.push(`floor ${String(i).padStart(2)}`);
    for (const u of FLOORS[i]) {
      const d = [...(deps.get(u) ?? [])].sort();
      lines.push(`  ${u.padEnd(20)}${d.length ? `-> ${d.join(', ')}` : ''}`.trimEnd());
    }
  }
  return lines.join('\n');
}
