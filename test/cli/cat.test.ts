import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encodeRecord } from '../../src/klog/index.js';
import { CLI, PRODUCER, hasNoStack, runCli } from './run-cli.js';

test('cat decodes a recorded file as text or JSON, and --raw gives its bytes unchanged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-cat-'));
  try {
    const file = join(dir, 'cpu0');
    const bytes = Buffer.concat([
      encodeRecord({ type: 'text', buffer: 0, thread: 4, seq: 0, timestamp: 5e9 }, 'hello'),
      encodeRecord({ type: 'raw', buffer: 0, thread: 4, seq: 2, timestamp: 6e9 }, new Uint8Array([0xde, 0xad])),
    ]);
    writeFileSync(file, bytes);
    const [text, json] = await Promise.all([runCli(['cat', file]), runCli(['cat', '--json', file])]);
    assert.equal(text.code, 0);
    assert.equal(text.stdout, '+0.000000000 b0/t4 #0 hello\n+1.000000000 b0/t4 -- lost 1 record (#1..#1)\n+1.000000000 b0/t4 #2 raw 2 B dead\n');
    assert.deepEqual(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
      [
        { kind: 'record', ts: 5e9, buffer: 0, thread: 4, seq: 0, type: 'text', text: 'hello' },
        { kind: 'loss', ts: 6e9, buffer: 0, thread: 4, from: 1, count: 1 },
        { kind: 'record', ts: 6e9, buffer: 0, thread: 4, seq: 2, type: 'raw', data: '3q0=' },
      ],
    );
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'cat', '--raw', file], { encoding: 'buffer' });
    assert.deepEqual(stdout, readFileSync(file));

    const truncated = join(dir, 'cut1');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 1));
    const cut = await runCli(['cat', truncated]);
    assert.equal(cut.code, 0);
    assert.match(cut.stderr, /^relayfs cat: warning: .*cut1: last record cut short at byte 37 \(33 bytes there\), left out\n$/);

    const junk = join(dir, 'junk2');
    writeFileSync(junk, 'plain text, not klog\n');
    const bad = await runCli(['cat', junk]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^relayfs cat: .*junk2: no klog record at byte 0 .*not klog data, or corrupt\n$/);
    assert.ok(hasNoStack(bad.stderr));

    const isDir = await runCli(['cat', dir]);
    assert.equal(isDir.code, 2);
    assert.match(isDir.stderr, /is a directory: cat prints one file \(relayfs merge .* prints all of them in order\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cat --follow reads a live relay file of a --run producer until the channel closes', async () => {
  const r = await runCli(['cat', '--run', PRODUCER, '--follow', 'hostfs:/test-producer/cpu0'], { RELAYFS_TEST_WRITERS: '1', RELAYFS_TEST_COUNT: '500' });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 500);
  lines.forEach((l, i) => assert.match(l, new RegExp(` #${i} `)));
  assert.match(lines[0]!, /writer 0 record 0$/);
});
