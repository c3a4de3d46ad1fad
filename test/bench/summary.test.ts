// The report model: failed cells carry no figures, and the ratios pick their subject and
// baselines by family, so relayfs cases are compared as soon as they are registered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newMessage, stamp, stampOk, textMessage, textOk, textFiller } from '../../bench/message.js';
import type { Settings } from '../../bench/options.js';
import type { Samples } from '../../bench/schedule.js';
import { summarize } from '../../bench/summary.js';
import type { BenchCase, Family, RunResult } from '../../bench/types.js';

const fake = (name: string, family: Family): BenchCase => ({
  name,
  family,
  description: name,
  sizes: [16],
  run: () => Promise.reject(new Error('not run')),
});
const ok = (messages: number): RunResult => ({ messages, bytes: messages * 16, seconds: 1, verified: true });

function report(rows: [BenchCase, RunResult[]][]) {
  const samples: Samples = new Map(rows.map(([c, runs]) => [c, new Map([[16, runs]])]));
  const settings = { mode: 'quick', runs: 3, durationMs: 1, maxMessages: Infinity, sizes: [16], cases: rows.map(([c]) => c) };
  return summarize(settings as Settings, samples);
}

test('a cell with any failed run is FAILED and has no figures', () => {
  const r = report([[fake('a', 'peer'), [ok(10), { ...ok(20), verified: false, note: 'seq 3' }, ok(30)]]]);
  const cell = r.cases[0]!.results[0]!;
  assert.equal(cell.verified, false);
  assert.equal(cell.messagesPerSecond, null);
  assert.equal(cell.gigabytesPerSecond, null);
  assert.equal(cell.failure, 'seq 3');
  assert.equal(r.ok, false);
});

test('median, min and max of messages/s and GB/s', () => {
  const cell = report([[fake('a', 'peer'), [ok(30), ok(10), ok(20)]]]).cases[0]!.results[0]!;
  assert.deepEqual(cell.messagesPerSecond, { median: 20, min: 10, max: 30 });
  assert.equal(cell.gigabytesPerSecond?.median, (20 * 16) / 1e9);
});

test('without relayfs cases the reference ring is the subject', () => {
  const r = report([
    [fake('copy-a', 'copy-limit'), [ok(100)]],
    [fake('copy-b', 'copy-limit'), [ok(200)]],
    [fake('ref', 'reference'), [ok(50)]],
    [fake('peer', 'peer'), [ok(25)]],
  ]);
  assert.equal(r.ratios.subject, 'reference');
  assert.ok(r.ratios.note);
  const row = r.ratios.rows[0]!;
  assert.equal(row.subjectCase, 'ref');
  assert.deepEqual(row.baselines, [
    { label: 'copy limit', caseName: 'copy-b', ratio: 0.25 },
    { label: 'peer', caseName: 'peer', ratio: 2 },
  ]);
});

test('relayfs cases become the subject; best case per size; failed baselines give no ratio', () => {
  const r = report([
    [fake('copy', 'copy-limit'), [ok(100)]],
    [fake('ref', 'reference'), [ok(50)]],
    [fake('peer', 'peer'), [{ ...ok(1), verified: false }]],
    [fake('relay-slow', 'relayfs'), [ok(40)]],
    [fake('relay-fast', 'relayfs'), [ok(80)]],
    [fake('klog', 'klog'), [ok(1000)]],
  ]);
  assert.equal(r.ratios.subject, 'relayfs');
  assert.equal(r.ratios.note, undefined);
  const row = r.ratios.rows[0]!;
  assert.equal(row.subjectCase, 'relay-fast');
  assert.deepEqual(row.baselines, [
    { label: 'copy limit', caseName: 'copy', ratio: 0.8 },
    { label: 'reference', caseName: 'ref', ratio: 1.6 },
    { label: 'peer', caseName: 'peer', ratio: null },
  ]);
});

test('a case with `versus` gets its ratio to that case, null when either failed', () => {
  const klogOff = { ...fake('klog-off', 'klog'), versus: { name: 'empty-call', atLeast: 0.5 } };
  const rawOff = { ...fake('raw-off', 'klog'), versus: { name: 'empty-raw', atLeast: 0.5 } };
  const r = report([
    [fake('empty-call', 'klog'), [ok(100)]],
    [klogOff, [ok(40)]],
    [fake('empty-raw', 'klog'), [{ ...ok(100), verified: false }]],
    [rawOff, [ok(90)]],
  ]);
  assert.deepEqual(r.versus, [
    { caseName: 'klog-off', versus: 'empty-call', size: 16, ratio: 0.4, atLeast: 0.5 },
    { caseName: 'raw-off', versus: 'empty-raw', size: 16, ratio: null, atLeast: 0.5 },
  ]);
  assert.deepEqual(report([[klogOff, [ok(40)]]]).versus, [], 'no row without the other case');
});

test('stamps catch a wrong sequence number at either end', () => {
  const m = newMessage(64);
  stamp(m, 0, 64, 0xdeadbeef);
  assert.ok(stampOk(m, 0, 64, 0xdeadbeef));
  m[56]! ^= 1; // first byte of the tail stamp
  assert.ok(!stampOk(m, 0, 64, 0xdeadbeef));
  const s = textMessage(42, textFiller(32));
  assert.equal(s.length, 32);
  assert.ok(textOk(s, 0, 32, 42));
  assert.ok(!textOk(s, 0, 32, 43));
});
