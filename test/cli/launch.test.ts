import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sidecar } from '../../src/tools/index.js';
import { waitUntil } from '../helpers.js';
import { hasNoStack, runCli, startCli, type CliResult } from './run-cli.js';

const APP = fileURLToPath(new URL('./fixtures/launched-app.js', import.meta.url));

/** Runs `record -o DIR -- node launched-app.js 4000 END`; checks every record is in DIR; returns record's result. */
async function recordApp(end: string, signal?: NodeJS.Signals): Promise<CliResult> {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-launch-'));
  try {
    const out = join(dir, 'out');
    const run = startCli(['record', '-o', out, '--', process.execPath, APP, '4000', end]);
    if (signal) {
      let pid = 0;
      await waitUntil(() => ((pid = Number(/launched pid (\d+)/.exec(run.stderr())?.[1] ?? 0)), pid > 0), 'the program has traced its records');
      process.kill(pid, signal);
    }
    const r = await run.done;
    assert.match(r.stdout, /^recorded .* \(hangup, files complete\)/m, r.stderr);
    const sidecar = JSON.parse(readFileSync(join(out, 'relayfs.json'), 'utf8')) as Sidecar;
    assert.equal(sidecar.totals.records, 4000);
    assert.equal(sidecar.totals.lost, 0);
    assert.equal(sidecar.totals.unread, 0);
    const merged = await runCli(['merge', '--json', out]);
    const records = merged.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; seq?: number });
    assert.deepEqual(
      records.filter((l) => l.kind === 'record').map((l) => l.seq),
      Array.from({ length: 4000 }, (_, i) => i),
    );
    return r;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('record -o DIR -- node app.js: the program runs with klog registered, every record is recorded, its exit status is returned', async () => {
  const r = await recordApp('return');
  assert.equal(r.code, 3, `the program's status: ${r.stderr}`);
});

test('record -- node app.js: a program that calls process.exit, throws, or is ended by SIGTERM or SIGINT is recorded to its last record', async () => {
  const exit = await recordApp('exit');
  assert.equal(exit.code, 3, exit.stderr);
  const thrown = await recordApp('throw');
  assert.equal(thrown.code, 1, thrown.stderr);
  assert.match(thrown.stderr, /the launched app fails/);
  const term = await recordApp('wait', 'SIGTERM');
  assert.equal(term.code, 128 + 15, term.stderr);
  const int = await recordApp('wait', 'SIGINT');
  assert.equal(int.code, 128 + 2, int.stderr);
});

test('record -- misuse is a usage error: nothing after --, or a source with it', async () => {
  const [empty, both] = await Promise.all([runCli(['record', '-o', 'x', '--']), runCli(['record', 'hostfs:/x', '-o', 'x', '--', 'node', APP])]);
  for (const r of [empty, both]) {
    assert.equal(r.code, 2, r.stderr);
    assert.ok(hasNoStack(r.stderr));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.match(empty.stderr, /^relayfs: record: nothing to run after --/);
  assert.match(both.stderr, /^relayfs record: record -- CMD records the program it starts/);
});
