import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRecords } from '../../src/klog/index.js';
import type { Sidecar } from '../../src/tools/index.js';
import type { KlogWorkerResult } from '../tools/fixtures/klog-worker.js';
import { PRODUCER, runCli, startCli } from './run-cli.js';

test('record until the producer closes the channel, then merge: sequence numbers account for every record', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-record-'));
  const out = join(dir, 'out');
  const report = join(dir, 'writers.json');
  try {
    const r = await runCli(['record', '--run', PRODUCER, 'hostfs:/test-producer', '-o', out, '--json'], {
      RELAYFS_TEST_WRITERS: '3',
      RELAYFS_TEST_COUNT: '5000',
      RELAYFS_TEST_REPORT: report,
    });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as Sidecar;
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'relayfs.json'), 'utf8')), summary);
    assert.equal(summary.reason, 'hangup');
    assert.equal(summary.complete, true);
    assert.deepEqual(
      summary.buffers.map((b) => b.name),
      ['cpu0', 'cpu1', 'cpu2'],
    );
    const writers = JSON.parse(readFileSync(report, 'utf8')) as KlogWorkerResult[];
    for (const w of writers) {
      const b = summary.buffers.find((x) => x.cpu === w.cpu)!;
      assert.equal(b.records! + b.lost!, w.stats.records, `${b.name}: recorded + lost = records written`);
      assert.equal(statSync(join(out, b.name)).size, b.bytes);
    }

    const m = await runCli(['merge', '--json', out]);
    assert.equal(m.code, 0, m.stderr);
    const lines = m.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; thread: number; seq: number; ts: number; count?: number; records?: number });
    const recs = lines.filter((l) => l.kind === 'record');
    assert.equal(recs.length, summary.totals.records);
    assert.equal(lines.at(-1)!.kind, 'summary');
    const last = new Map<number, number>();
    let prevTs = 0;
    for (const rec of recs) {
      assert.ok(rec.seq > (last.get(rec.thread) ?? -1));
      assert.ok(rec.ts >= prevTs);
      last.set(rec.thread, rec.seq);
      prevTs = rec.ts;
    }
    const gaps = lines.filter((l) => l.kind === 'loss').reduce((n, l) => n + l.count!, 0);
    const after = writers.reduce((n, w) => n + (w.stats.records - 1 - (last.get(w.threadId) ?? -1)), 0);
    assert.equal(gaps + after, summary.totals.lost);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGINT during record leaves complete, flushed files and a sidecar that says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-sigint-'));
  try {
    const run = startCli(['record', '--run', PRODUCER, 'hostfs:/test-producer', '-o', dir], { RELAYFS_TEST_WRITERS: '2', RELAYFS_TEST_COUNT: '0' });
    const deadline = Date.now() + 20_000;
    const size = (f: string) => (existsSync(join(dir, f)) ? statSync(join(dir, f)).size : 0);
    while (!(existsSync(join(dir, 'relayfs.json')) && size('cpu0') > 0 && size('cpu1') > 0)) {
      assert.ok(Date.now() < deadline, 'recording did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(SIGINT, files complete\)/);
    const sidecar = JSON.parse(readFileSync(join(dir, 'relayfs.json'), 'utf8')) as Sidecar;
    assert.equal(sidecar.reason, 'SIGINT');
    assert.equal(sidecar.complete, true);
    for (const b of sidecar.buffers) {
      const bytes = readFileSync(join(dir, b.file));
      assert.equal(bytes.length, b.bytes);
      const recs = [...decodeRecords(bytes)]; // throws on a cut record
      assert.equal(recs.length, b.records);
      recs.forEach((rec, i) => i > 0 && assert.ok(rec.seq > recs[i - 1]!.seq));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
