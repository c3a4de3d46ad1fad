import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './run-cli.js';

test('demo: workers trace, the channel is recorded and every buffer adds up (JSON)', async () => {
  const r = await runCli(['demo', '--duration', '0.5', '--workers', '2', '--subbuf-size', '16k', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { ok: boolean; checks: { ok: boolean; calls: number; recorded: number; dropped: number; missing: number }[]; kept: boolean };
  assert.equal(result.ok, true, r.stdout);
  assert.equal(result.checks.length, 2);
  for (const c of result.checks) {
    assert.equal(c.ok, true);
    assert.equal(c.calls, c.recorded + c.dropped);
    assert.equal(c.missing, c.dropped);
    assert.ok(c.recorded > 0);
  }
  assert.equal(result.kept, false);
});

test('demo without a terminal: no live view, a plain verified summary', async () => {
  const r = await runCli(['demo', '--duration', '0.3', '--workers', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.doesNotMatch(r.stdout, /\x1b\[/); // no terminal control sequences
  assert.match(r.stdout, /^verified: for every buffer, klog calls = recorded \+ dropped/m);
  assert.match(r.stdout, /^klog0 /m);
  assert.match(r.stdout, /^klog1 /m);
});
