import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRODUCER, runCli } from './run-cli.js';

interface Frame {
  source: string;
  closed: boolean;
  buffers: { name: string; fill: number | null; written: number | null; lost: number | null; messagesPerSec: number | null }[];
}

test('top of a live channel: one JSON line per update with fill level, rates and drops per buffer', async () => {
  // Nothing consumes while top watches, so the writers must not be able to fill a buffer: each writes
  // 1000 records (about 50 KiB; a buffer holds 256 KiB), and the channel stays open until top is done.
  const r = await runCli(['top', '--run', PRODUCER, 'hostfs:/test-producer', '--count', '3', '--interval', '100'], {
    RELAYFS_TEST_WRITERS: '2',
    RELAYFS_TEST_COUNT: '1000',
    RELAYFS_TEST_HOLD: '1',
  });
  assert.equal(r.code, 0, r.stderr);
  const frames = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Frame);
  assert.equal(frames.length, 3);
  for (const f of frames) {
    assert.equal(f.source, 'hostfs:/test-producer');
    assert.equal(f.closed, false);
    assert.deepEqual(
      f.buffers.map((b) => b.name),
      ['cpu0', 'cpu1'],
    );
    for (const b of f.buffers) {
      assert.ok(b.fill! >= 0 && b.fill! < 1, `fill ${b.fill}`);
      assert.ok(b.written! >= 0 && b.written! <= 1000, `written ${b.written}`);
      assert.equal(b.lost, 0);
    }
  }
  assert.equal(frames[0]!.buffers[0]!.messagesPerSec, null); // a rate needs two looks
  assert.equal(typeof frames[2]!.buffers[0]!.messagesPerSec, 'number');
  assert.ok(frames[2]!.buffers.every((b, i) => b.written! >= frames[0]!.buffers[i]!.written!));
});

test('top of a recorded directory shows its final counters once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-top-'));
  try {
    const rec = await runCli(['record', '--run', PRODUCER, 'hostfs:/test-producer', '-o', dir, '--json'], { RELAYFS_TEST_WRITERS: '2', RELAYFS_TEST_COUNT: '300' });
    assert.equal(rec.code, 0, rec.stderr);
    const r = await runCli(['top', dir]);
    assert.equal(r.code, 0, r.stderr);
    const frames = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Frame);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.closed, true);
    assert.deepEqual(
      frames[0]!.buffers.map((b) => b.written! + b.lost!),
      [300, 300],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
