import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRecord } from '../../src/klog/index.js';
import { FLIGHT_CHILD } from '../tools/fixtures/flight-child.js';
import { CLI as CLI_PATH, hasNoStack, runCli } from './run-cli.js';

const rec = (buffer: number, seq: number, ts: number, text: string) => encodeRecord({ type: 'text', buffer, thread: buffer + 1, seq, timestamp: ts }, text);

test('merge prints one ordered stream, to stdout or a file, with losses and a summary', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-merge-'));
  try {
    writeFileSync(join(dir, 'cpu0'), Buffer.concat([rec(0, 0, 1000, 'a'), rec(0, 3, 3000, 'c')]));
    writeFileSync(join(dir, 'cpu1'), Buffer.concat([rec(1, 0, 2000, 'b'), rec(1, 1, 4000, 'line\nbreak')]));
    const text = await runCli(['merge', dir]);
    assert.equal(text.code, 0);
    assert.deepEqual(text.stdout.trim().split('\n'), [
      '+0.000000000 b0/t1 #0 a',
      '+0.000001000 b1/t2 #0 b',
      '+0.000002000 b0/t1 -- lost 2 records (#1..#2)',
      '+0.000002000 b0/t1 #3 c',
      '+0.000003000 b1/t2 #1 line\\nbreak',
    ]);
    assert.match(text.stderr, /^relayfs merge: 4 records from 2 files, 2 writers; lost 2 \(sequence gaps\)/);

    const out = join(dir, 'merged.jsonl');
    const json = await runCli(['merge', '--json', '-o', out, join(dir, 'cpu0'), join(dir, 'cpu1')]);
    assert.equal(json.code, 0);
    assert.equal(json.stdout, '');
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; text?: string; lost?: number });
    assert.deepEqual(
      lines.map((l) => l.text ?? l.kind),
      ['a', 'b', 'loss', 'c', 'line\nbreak', 'summary'],
    );
    assert.equal(lines.at(-1)!.lost, 2);

    const strict = await runCli(['merge', '--strict', '-q', dir]);
    assert.equal(strict.code, 3);
    assert.equal(strict.stderr, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cut-short last record is reported and left out; a corrupt file is one error line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-merge-bad-'));
  try {
    const whole = rec(0, 0, 1, 'kept');
    writeFileSync(join(dir, 'cut0'), Buffer.concat([whole, rec(0, 1, 2, 'cut short').subarray(0, 20)]));
    writeFileSync(join(dir, 'junk0'), Buffer.concat([whole, Buffer.from('#!/bin/sh\necho not a trace\n')]));
    writeFileSync(join(dir, 'future0'), Buffer.from(rec(0, 0, 1, 'v9')).fill(9, 2, 3));

    const cut = await runCli(['merge', join(dir, 'cut0')]);
    assert.equal(cut.code, 0);
    assert.match(cut.stdout, /#0 kept\n-- .*cut0: last record cut short at byte 36 \(20 bytes there\), left out\n$/);
    assert.match(cut.stderr, /^relayfs merge: warning: .*cut0: last record cut short at byte 36 \(20 bytes there\), left out$/m);
    assert.equal((await runCli(['merge', '--strict', join(dir, 'cut0')])).code, 3);

    const junk = await runCli(['merge', join(dir, 'junk0')]);
    assert.equal(junk.code, 1);
    assert.equal(junk.stderr, `relayfs merge: EKLOG_BAD_MAGIC: ${join(dir, 'junk0')}: no klog record at byte 36 (found 0x2123, expected "KL"): not klog data, or corrupt\n`);
    assert.ok(hasNoStack(junk.stderr));

    const future = await runCli(['merge', join(dir, 'future0')]);
    assert.equal(future.code, 1);
    assert.match(future.stderr, /^relayfs merge: .*future0: klog record version 9 at byte 0; this relayfs reads versions 1 to 2\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a flight-recorder dump of a crashed process merges', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-merge-dump-'));
  try {
    await new Promise<void>((resolve) => execFile(process.execPath, [fileURLToPath(FLIGHT_CHILD), '--flight-child', 'throw', dir], () => resolve()));
    const [dump] = readdirSync(dir);
    const r = await runCli(['merge', join(dir, dump!)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /b\d+\/t0 #5000 last words: throw\n/);
    assert.match(r.stdout, /earlier records not here \(#0\.\.#\d+\): overwritten or not recorded/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('- reads standard input in merge and cat; a reader that goes away ends the command quietly with status 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-stdin-'));
  try {
    const many = Buffer.concat(Array.from({ length: 20_000 }, (_, i) => rec(0, i, 1000 + i, `record ${i} ${'x'.repeat(40)}`)));
    writeFileSync(join(dir, 'cpu0'), many);
    const sh = (script: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile('bash', ['-o', 'pipefail', '-c', script], { cwd: dir, env: { ...process.env, CLI: CLI_PATH } }, (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      });
    const merged = await sh('node "$CLI" merge --quiet - < cpu0 | tail -n 1');
    assert.equal(merged.code, 0, merged.stderr);
    assert.match(merged.stdout, /#19999 record 19999 /);
    const cat = await sh('cat cpu0 | node "$CLI" cat - | tail -n 1');
    assert.equal(cat.code, 0, cat.stderr);
    assert.match(cat.stdout, /#19999 record 19999 /);
    for (const cmd of ['merge cpu0', 'cat cpu0', 'cat --json cpu0']) {
      const head = await sh(`node "$CLI" ${cmd} | head -n 2`);
      assert.equal(head.code, 0, `${cmd} | head: ${head.stderr}`);
      assert.equal(head.stdout.trim().split('\n').length, 2);
      assert.doesNotMatch(head.stderr, /EPIPE/, `${cmd} | head`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
