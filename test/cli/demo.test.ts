import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { runCli } from './run-cli.js';

test('demo: workers trace, the channel is recorded and every buffer adds up (JSON); the Chrome trace has every record', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-demo-test-'));
  try {
    const file = join(dir, 'demo.json.gz');
    const r = await runCli(['demo', '--duration', '0.5', '--workers', '2', '--subbuf-size', '16k', '--json', '--trace', file]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: { ok: boolean; calls: number; recorded: number; lost: number; missing: number }[];
      kept: boolean;
      totals: { records: number };
      trace: { file: string; records: number; spans: number };
    };
    assert.equal(result.ok, true, r.stdout);
    assert.equal(result.checks.length, 2);
    for (const c of result.checks) {
      assert.equal(c.ok, true);
      assert.equal(c.calls, c.recorded + c.lost);
      assert.equal(c.missing, c.lost);
      assert.ok(c.recorded > 0);
    }
    assert.equal(result.kept, false);

    // Requests are spans with a nested span: the trace holds them all, and every recorded record.
    assert.equal(result.trace.file, file);
    assert.equal(result.trace.records, result.totals.records);
    assert.ok(result.trace.spans > 0);
    const trace = JSON.parse(gunzipSync(readFileSync(file)).toString()) as { traceEvents: { ph: string; name: string }[] };
    const names = new Set(trace.traceEvents.filter((e) => e.ph === 'X').map((e) => e.name));
    assert.ok(names.has('request') && names.has('store'), [...names].join(', '));
    assert.ok(trace.traceEvents.some((e) => e.ph === 'C' && e.name === 'requests handled'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('demo without a terminal: no live view, a plain verified summary that says how to open the trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-demo-test-'));
  try {
    const r = await runCli(['demo', '--duration', '0.3', '--workers', '2', '--trace', join(dir, 'demo.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.doesNotMatch(r.stdout, /\x1b\[/); // no terminal control sequences
    assert.match(r.stdout, /^verified: for every buffer, klog calls = recorded \+ lost/m);
    assert.match(r.stdout, /^klog0 /m);
    assert.match(r.stdout, /^klog1 /m);
    assert.match(r.stdout, new RegExp(`^trace: ${join(dir, 'demo.json')} \\(`, 'm'));
    assert.match(r.stdout, /ui\.perfetto\.dev/);
    assert.ok(JSON.parse(readFileSync(join(dir, 'demo.json'), 'utf8')).traceEvents.length > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
