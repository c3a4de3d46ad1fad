/**
 * The module graph of src/ shows the architecture: no import cycle at run
 * time (read from the compiled modules), none across layers even through
 * type-only imports (a class and the interface of its callbacks may name
 * each other within a layer), nothing inside the package imports its entry,
 * and the buffer and channel layers use no Node.js API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
/** The compiled modules: what actually runs. */
const DIST = fileURLToPath(new URL('../src', import.meta.url));

function sources(dir: string, ext = '.ts'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name), ext) : e.name.endsWith(ext) && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

/** Static imports and re-exports of a module, as written ('./x.js', 'node:fs', ...). */
export function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  return out;
}

/** Module → the modules it imports, as paths relative to src/; from the sources (types included) or the compiled code. */
function graph(kind: 'source' | 'runtime'): Map<string, string[]> {
  const [root, ext] = kind === 'source' ? [SRC, '.ts'] : [DIST, '.js'];
  const name = (f: string) => relative(root, f).replace(/\.(ts|js)$/, '');
  const g = new Map<string, string[]>();
  for (const file of sources(root, ext)) {
    const deps = specifiers(readFileSync(file, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) => name(resolve(dirname(file), s)));
    g.set(name(file), deps);
  }
  return g;
}

/** Every cycle found by a depth-first walk, as module paths relative to src/. */
export function cycles(g: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const dep of g.get(node) ?? []) {
      if (state.get(dep) === 'open') found.push([...stack.slice(stack.indexOf(dep)), dep]);
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...g.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

test('the cycle finder finds a cycle (so an empty answer below means something)', () => {
  const g = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
  ]);
  assert.deepEqual(cycles(g), [['a', 'b', 'c', 'a']]);
  assert.deepEqual(specifiers("import type { A } from './a.js';\nexport { b } from './b.js';\nimport './c.js';\n// import x from './no.js'"), ['./a.js', './b.js', './c.js']);
});

test('no import cycle when the package runs', () => {
  assert.ok(graph('runtime').size > 50, 'the compiled modules are there');
  assert.deepEqual(cycles(graph('runtime')), []);
});

test('no import cycle across layers, type-only imports included', () => {
  const layer = (m: string) => dirname(m);
  const crossing = cycles(graph('source')).filter((c) => new Set(c.map(layer)).size > 1);
  assert.deepEqual(crossing, []);
});

test('no module of the package imports the package entry', () => {
  const importers = [...graph('source')].filter(([, deps]) => deps.includes('index')).map(([f]) => f);
  assert.deepEqual(importers, []);
});

test('the buffer and channel layers use no Node.js API', () => {
  const offenders = sources(SRC)
    .filter((f) => /[\\/](buffer|channel)[\\/]/.test(f))
    .flatMap((f) =>
      specifiers(readFileSync(f, 'utf8'))
        .filter((s) => !s.startsWith('.'))
        .map((s) => `${relative(SRC, f)}: ${s}`),
    );
  assert.deepEqual(offenders, []);
});
