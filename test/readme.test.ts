/**
 * Every code block of README.md runs here, so a snippet cannot go stale. A
 * block added to the README is picked up by itself; write it so it runs.
 *
 * The blocks run in README order, in one scratch directory inside the package
 * (dist/readme-*), so `import 'relayfs'` resolves to this build and the dev
 * dependencies (pino, ...) resolve too. By the fence's info string:
 *
 * - ```js / ```ts: a module run with node. It must end by itself with status
 *   0: close its channels, servers and workers (no Ctrl-C). A ts block is
 *   compiled (types stripped) before it runs.
 * - ```js file=NAME (or ts): written as NAME for other blocks to import or
 *   start (a worker script, a program a sh block runs); not run by itself.
 * - ```sh: run with bash -euo pipefail, `relayfs` on PATH; status 0. Start a
 *   program in the background with `&` and end it with `kill %1; wait`.
 *   NATS's default port 4222 in a sh block is replaced by a free port, so two
 *   suites on one machine never share (and kill) one server.
 * - a block with no language (a directory tree, some output) is text.
 * - ```sh no-run: REASON (any language): not run. Only for a block that
 *   cannot run here, such as one that installs from the npm registry or runs
 *   this test suite; the reason after "no-run:" is required.
 *
 * Any other language fails the test, so that nothing in the README goes untested.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
/** Long enough for the slowest block on a loaded machine; a block that hangs still fails. */
const BLOCK_TIMEOUT_MS = 120_000;

export interface Block {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  /** file=NAME, if given. */
  file: string | null;
  /** The reason after no-run:, or null for a block that runs. */
  noRun: string | null;
  code: string;
}

/** The fenced blocks of a Markdown text. */
export function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const info = open[1]!.trim();
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
    assert.ok(end > i, `README.md:${i + 1}: a code block that never ends`);
    const lang = info.split(/\s+/)[0] ?? '';
    const noRun = /(?:^|\s)no-run(?::\s*(.*))?$/.exec(info);
    out.push({
      line: i + 1,
      lang,
      file: /(?:^|\s)file=(\S+)/.exec(info)?.[1] ?? null,
      noRun: noRun ? (noRun[1] ?? '') : null,
      code: lines.slice(i + 1, end).join('\n') + '\n',
    });
    i = end;
  }
  return out;
}

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve, reject) => {
    // A group of its own, so that what a block left running (a server started with &) is ended with it.
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), BLOCK_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* nothing left running */
      }
      resolve({ code, signal, output });
    });
  });
}

function javascript(block: Block): string {
  if (block.lang !== 'ts') return block.code;
  return ts.transpileModule(block.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
}

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const ALL = blocks(README);
const RUNNABLE = new Set(['js', 'ts', 'sh']);

test('the README block reader sees fences, languages, file names and no-run reasons', () => {
  const md = ['text', '```js file=a.js', 'x', '```', '```sh no-run: needs the registry', 'npm i', '```', '```', 'tree', '```', ''].join('\n');
  assert.deepEqual(blocks(md), [
    { line: 2, lang: 'js', file: 'a.js', noRun: null, code: 'x\n' },
    { line: 5, lang: 'sh', file: null, noRun: 'needs the registry', code: 'npm i\n' },
    { line: 8, lang: '', file: null, noRun: null, code: 'tree\n' },
  ]);
});

test('every README block is runnable or says why not', () => {
  assert.ok(ALL.filter((b) => RUNNABLE.has(b.lang) && b.noRun === null).length >= 10, 'the README has its runnable blocks');
  for (const b of ALL) {
    if (b.lang === '') continue;
    assert.ok(RUNNABLE.has(b.lang), `README.md:${b.line}: \`\`\`${b.lang} blocks cannot be run here: use js, ts or sh`);
    if (b.noRun !== null) assert.ok(b.noRun.length > 5, `README.md:${b.line}: no-run needs a reason: \`\`\`${b.lang} no-run: WHY`);
    if (b.file !== null) assert.notEqual(b.lang, 'sh', `README.md:${b.line}: file= is for js and ts blocks`);
  }
});

/** A loopback TCP port nobody listens on now. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

test('every README code block runs and ends with status 0', { timeout: 30 * 60_000 }, async (t) => {
  const dist = join(ROOT, 'dist');
  mkdirSync(dist, { recursive: true });
  const dir = mkdtempSync(join(dist, 'readme-'));
  const bin = join(dir, '.bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'relayfs'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'relayfs'), 0o755);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, FORCE_COLOR: '0' };
  try {
    // Files first: a block may start a program that a later block defines.
    for (const b of ALL) if (b.file !== null && b.noRun === null) writeFileSync(join(dir, b.file), javascript(b));
    for (const b of ALL) {
      if (!RUNNABLE.has(b.lang) || b.noRun !== null || b.file !== null) continue;
      await t.test(`README.md:${b.line} (${b.lang})`, async () => {
        let r: Result;
        if (b.lang === 'sh') {
          r = await run('bash', ['-euo', 'pipefail', '-c', b.code.replaceAll('4222', String(await freePort()))], dir, env);
        } else {
          const file = join(dir, `block-${b.line}.mjs`);
          writeFileSync(file, javascript(b));
          r = await run(process.execPath, [file], dir, env);
        }
        assert.equal(r.code, 0, `README.md:${b.line} ended with ${r.signal ?? `status ${r.code}`}:\n${r.output.slice(-4000)}`);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
