import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { encodeRecord, type KlogHeaderFields } from '../../src/klog/index.js';
import { SourceError, merge } from '../../src/tools/index.js';

type Rec = Omit<KlogHeaderFields, 'length'> & { text: string };

function file(dir: string, name: string, recs: Rec[], tail: Uint8Array = new Uint8Array(0)): void {
  const parts = recs.map((r) => encodeRecord(r, r.text));
  writeFileSync(join(dir, name), Buffer.concat([...parts, Buffer.from(tail)]));
}

const r = (buffer: number, thread: number, seq: number, timestamp: number, text = `b${buffer} s${seq}`): Rec => ({ type: 'text', buffer, thread, seq, timestamp, text });

async function run(inputs: string[], format: 'text' | 'json') {
  let out = '';
  const stream = new Writable({
    write(chunk, _e, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const summary = await merge({ inputs, format, out: stream });
  return { summary, lines: out.trim().split('\n') };
}

test('merges by timestamp, reports gaps, a missing start and a cut-short last record', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-merge-'));
  try {
    file(dir, 'cpu0', [r(0, 1, 0, 100), r(0, 1, 1, 300), r(0, 1, 4, 500)]); // #2, #3 lost
    const cut = encodeRecord(r(1, 2, 13, 700), 'never finished').subarray(0, 40);
    file(dir, 'cpu1', [r(1, 2, 10, 200), r(1, 2, 11, 400), r(1, 2, 12, 400)], cut); // starts at #10
    writeFileSync(join(dir, 'relayfs.json'), '{}'); // sidecars are not inputs

    const { summary, lines } = await run([dir], 'json');
    const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      objs.map((o) => (o.kind === 'record' ? `${o.buffer}:${o.seq}` : o.kind)),
      ['0:0', 'missing-start', '1:10', '0:1', '1:11', '1:12', 'loss', '0:4', 'truncated'],
    );
    assert.deepEqual(objs[6], { kind: 'loss', ts: 500, buffer: 0, thread: 1, from: 2, count: 2 });
    assert.equal(objs[8]!.offset, 3 * (32 + 'b1 s10'.length));
    assert.equal(objs[8]!.bytes, 40);
    assert.equal(summary.records, 6);
    assert.equal(summary.lost, 2);
    assert.equal(summary.missingStart, 10);
    assert.equal(summary.truncated, 1);
    assert.deepEqual(
      summary.writers.map((w) => [w.buffer, w.thread, w.records, w.firstSeq, w.lastSeq]),
      [
        [0, 1, 3, 0, 4],
        [1, 2, 3, 10, 12],
      ],
    );

    const text = await run([join(dir, 'cpu0'), join(dir, 'cpu1')], 'text');
    assert.equal(text.lines[0], '+0.000000000 b0/t1 #0 b0 s0');
    assert.ok(text.lines.includes('+0.000000400 b0/t1 -- lost 2 records (#2..#3)'));
    assert.ok(text.lines.includes(`-- ${join(dir, 'cpu1')}: last record cut short at byte 114 (40 bytes there), left out`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt file is an error naming the file and the byte', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-merge-bad-'));
  try {
    file(dir, 'cpu0', [r(0, 1, 0, 1)], Buffer.from('garbage that is not a klog record'));
    await assert.rejects(
      run([dir], 'text'),
      (e: unknown) => e instanceof SourceError && e.code === 'EKLOG_BAD_MAGIC' && e.message.includes(`${join(dir, 'cpu0')}: no klog record at byte ${32 + 'b0 s0'.length}`),
    );
    await assert.rejects(run([join(dir, 'nope')], 'text'), (e: unknown) => e instanceof SourceError && /no such file/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
