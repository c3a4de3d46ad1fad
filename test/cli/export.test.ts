import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord } from '../../src/klog/index.js';
import { hasNoStack, runCli } from './run-cli.js';

/** A span record's payload (docs/klog-format.md): id, name length, name, JSON arguments. */
function structured(head: number, name: string, json = ''): Buffer {
  const n = Buffer.from(name);
  const j = Buffer.from(json);
  const p = Buffer.alloc(10 + n.length + j.length);
  p.writeUInt32LE(head, 0);
  p.writeUInt16LE(n.length, 8);
  n.copy(p, 10);
  j.copy(p, 10 + n.length);
  return p;
}

const at = (seq: number, ts: number) => ({ buffer: 0, thread: 3, seq, timestamp: ts });

test('export writes a Chrome trace of a recording; merge shows span records as lines; a missing input is one error line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-cli-export-'));
  try {
    writeFileSync(
      join(dir, 'cpu0'),
      Buffer.concat([
        encodeRecord({ type: 'span-begin', ...at(0, 1_000_000) }, structured(1, 'outer', '{"k":1}')),
        encodeRecord({ type: 'text', ...at(1, 1_500_000) }, 'inside'),
        encodeRecord({ type: 'span-end', ...at(2, 3_000_000) }, structured(1, 'outer')),
        encodeRecord(
          { type: 'counter', ...at(5, 4_000_000) },
          (() => {
            const p = structured(0, 'depth');
            p.writeDoubleLE(2.5, 0);
            return p;
          })(),
        ),
      ]),
    );
    const out = join(dir, 'trace.json');
    const r = await runCli(['export', dir, '-o', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { records: number; spans: number; lost: number; threads: number };
    assert.deepEqual([summary.records, summary.spans, summary.lost, summary.threads], [4, 1, 2, 1]);
    const trace = JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: { ph: string; name: string; ts: number; dur?: number; args?: Record<string, unknown> }[] };
    const span = trace.traceEvents.find((e) => e.ph === 'X')!;
    assert.deepEqual([span.name, span.ts, span.dur, span.args?.k], ['outer', 1000, 2000, 1]);
    assert.ok(trace.traceEvents.some((e) => e.ph === 'M' && e.args?.name === 'cpu0 · thread 3'));
    assert.ok(trace.traceEvents.some((e) => e.ph === 'I' && e.name === 'lost 2 records'));
    assert.ok(trace.traceEvents.some((e) => e.ph === 'C' && e.name === 'depth' && e.args?.value === 2.5));

    const text = await runCli(['merge', dir, '--no-losses']);
    assert.deepEqual(text.stdout.trim().split('\n'), [
      '+0.000000000 b0/t3 #0 span outer #1 begins {"k":1}',
      '+0.000500000 b0/t3 #1 inside',
      '+0.002000000 b0/t3 #2 span outer #1 ends',
      '+0.003000000 b0/t3 #5 counter depth = 2.5',
    ]);

    const missing = await runCli(['export', join(dir, 'nope'), '-o', join(dir, 'x.json')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^relayfs export: .*nope: no such file or directory\n$/);
    assert.ok(hasNoStack(missing.stderr));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
