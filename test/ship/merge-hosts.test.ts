/**
 * merge of recordings rebuilt from several hosts (record-back's layout: one
 * directory per producer, relayfs.json with its origin): writers told apart
 * per producer, losses per producer, hosts' monotonic clocks put on one
 * scale; cat and top read the rebuilt directories as they read any.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord } from '../../src/klog/index.js';
import { runCli } from '../cli/run-cli.js';

const root = mkdtempSync(join(tmpdir(), 'relayfs-merge-hosts-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A rebuilt producer directory: cpu0 with records (ts, seq) of thread 1, buffer 0, and its origin. */
function producerDir(name: string, host: string, clock: string, recs: [number, number][]): void {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cpu0'), Buffer.concat(recs.map(([ts, seq]) => encodeRecord({ type: 'text', timestamp: ts, seq, thread: 1, buffer: 0 }, `${host} #${seq}`))));
  const sidecar = {
    kind: 'record',
    version: 1,
    source: `nats://x/S ${name}`,
    startedAt: '',
    endedAt: '',
    latencyMs: null,
    reason: 'hangup',
    complete: true,
    warnings: [],
    buffers: [],
    totals: {},
    origin: { host, producer: '1', channel: 'cpu', monotonicToWallNs: clock },
  };
  writeFileSync(join(dir, 'relayfs.json'), JSON.stringify(sidecar));
}

// alpha's monotonic clock is 5 s behind wall time compared with beta's: its records come 5 s later on the common scale.
producerDir('alpha-1-cpu', 'alpha', '5000000000', [
  [1000, 0],
  [2000, 1],
  [3000, 3],
]);
producerDir('beta-1-cpu', 'beta', '0', [
  [5_000_001_500, 0],
  [5_000_002_500, 1],
]);

test('merge of several hosts: one time scale, writers per producer, losses per producer', async () => {
  const r = await runCli(['merge', '--json', root]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const order = lines.filter((l) => l.kind === 'record').map((l) => l.text);
  assert.deepEqual(order, ['alpha #0', 'beta #0', 'alpha #1', 'beta #1', 'alpha #3']);
  const losses = lines.filter((l) => l.kind === 'loss');
  assert.deepEqual(
    losses.map((l) => [l.origin, l.count]),
    [['alpha/1', 1]],
  );
  const summary = lines.find((l) => l.kind === 'summary');
  assert.deepEqual(summary.origins, [
    { origin: 'alpha/1', records: 3, lost: 1, missingStart: 0 },
    { origin: 'beta/1', records: 2, lost: 0, missingStart: 0 },
  ]);

  const text = await runCli(['merge', root]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /alpha\/1:b0\/t1 -- lost 1 record/);
  assert.match(text.stderr, /alpha\/1: 3 records, lost 1/);
  assert.match(text.stderr, /beta\/1: 2 records, lost 0/);
});

test('cat and top read a rebuilt producer directory', async () => {
  const cat = await runCli(['cat', join(root, 'beta-1-cpu', 'cpu0')]);
  assert.equal(cat.code, 0, cat.stderr);
  assert.match(cat.stdout, /beta #0\n.*beta #1\n$/);
  const top = await runCli(['top', join(root, 'alpha-1-cpu'), '--json', '-n', '1']);
  assert.equal(top.code, 0, top.stderr);
  assert.deepEqual(
    JSON.parse(top.stdout.trim().split('\n')[0]!).buffers.map((b: { name: string }) => b.name),
    ['cpu0'],
  );
});
