import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sidecar } from '../../src/tools/index.js';
import { hasNoStack, runCli } from './run-cli.js';

const APP = fileURLToPath(new URL('./fixtures/launched-app.js', import.meta.url));

test('record -o DIR -- node app.js: the program runs with klog registered, every record is recorded, its exit status is returned', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-launch-'));
  try {
    const out = join(dir, 'out');
    const r = await runCli(['record', '-o', out, '--', process.execPath, APP, '4000']);
    assert.equal(r.code, 3, `the program's status: ${r.stderr}`);
    assert.match(r.stdout, /^recorded .* \(hangup, files complete\)/m);
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
