import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { hostfs, hostfsCallbacks, relayClose, relayFlush, relayOpen, relayWrite } from '../../src/index.js';
import { decodeRecords, klog, registerKlogHandler, unregisterKlogHandler } from '../../src/klog/index.js';
import { HostfsSource, SIDECAR_NAME, merge, openSource, record, type Sidecar } from '../../src/tools/index.js';
import { startWriters } from './fixtures/workers.js';

let n = 0;
function setup(buffers: number, subbufSize = 8 * 1024, nSubbufs = 8) {
  const name = `record-test-${process.pid}-${n++}`;
  const dir = hostfs.createDir(name);
  const chan = relayOpen('cpu', dir, subbufSize, nSubbufs, hostfsCallbacks(), undefined, { buffers });
  const out = mkdtempSync(join(tmpdir(), 'relayfs-record-test-'));
  return { chan, dir, source: new HostfsSource(`/${name}`), out, cleanup: () => rmSync(out, { recursive: true, force: true }) };
}

function collect(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

test('record then merge: three writer threads, every record accounted for by sequence number', async () => {
  const { chan, dir, source, out, cleanup } = setup(3);
  try {
    const writers = startWriters(chan.handle(), 3, { count: 20_000 });
    const recording = record({ source, outDir: out, latency: 20 });
    const results = await writers.results;
    relayClose(chan); // the recorder sees the hangup, drains and stops
    const sidecar = await recording;
    hostfs.remove(dir);

    assert.equal(sidecar.complete, true);
    assert.equal(sidecar.reason, 'hangup');
    assert.deepEqual(JSON.parse(readFileSync(join(out, SIDECAR_NAME), 'utf8')), sidecar);
    for (const r of results) {
      const b = sidecar.buffers.find((x) => x.cpu === r.cpu)!;
      assert.equal(b.records! + b.lost!, r.stats.records, `buffer ${b.name}: recorded + lost = written`);
      assert.equal(b.lost, r.stats.dropped);
      assert.equal(b.unread, 0);
      assert.equal(statSync(join(out, b.file)).size, b.bytes);
    }

    const { stream, text } = collect();
    const summary = await merge({ inputs: [out], format: 'json', out: stream });
    const lines = text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; ts: number; thread: number; seq: number; count?: number });
    const recs = lines.filter((l) => l.kind === 'record');
    assert.equal(recs.length, sidecar.totals.records);
    assert.equal(summary.records, recs.length);
    for (let i = 1; i < recs.length; i++) assert.ok(recs[i]!.ts >= recs[i - 1]!.ts, 'merged in timestamp order');
    const last = new Map<number, number>();
    for (const r of recs) {
      assert.ok(r.seq > (last.get(r.thread) ?? -1), 'sequence numbers increase per writer');
      last.set(r.thread, r.seq);
    }
    const lossLines = lines.filter((l) => l.kind === 'loss').reduce((s, l) => s + l.count!, 0);
    const trailing = results.reduce((s, r) => s + (r.stats.records - 1 - (last.get(r.threadId) ?? -1)), 0);
    assert.equal(lossLines + trailing, sidecar.totals.lost, 'gaps (and drops after the last record kept) are the drops counted');
    assert.equal(summary.lost, lossLines);
  } finally {
    cleanup();
  }
});

test('stopping mid-stream leaves complete files that end on a record boundary', async () => {
  const { chan, dir, source, out, cleanup } = setup(2);
  try {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const writers = startWriters(chan.handle(), 2, { count: 0, stop, pauseMs: 1 });
    await writers.ready;
    const ac = new AbortController();
    const recording = record({ source, outDir: out, signal: ac.signal });
    await waitFor(() => (statSync(join(out, 'cpu0'), { throwIfNoEntry: false })?.size ?? 0) > 0 && statSync(join(out, 'cpu1')).size > 0);
    ac.abort('stopped');
    const sidecar = await recording;
    Atomics.store(stop, 0, 1);
    await writers.results;
    relayClose(chan);
    hostfs.remove(dir);
    assert.equal(sidecar.complete, true);
    assert.equal(sidecar.reason, 'stopped');
    for (const b of sidecar.buffers) {
      const recs = [...decodeRecords(readFileSync(join(out, b.file)))]; // throws if a record were cut
      assert.equal(recs.length, b.records);
      assert.ok(recs.length > 0);
    }
  } finally {
    cleanup();
  }
});

test('a slowly filling sub-buffer still reaches the file before it fills (bounded latency)', async () => {
  const { chan, dir, source, out, cleanup } = setup(1, 64 * 1024, 4);
  try {
    registerKlogHandler(chan);
    const ac = new AbortController();
    const recording = record({ source, outDir: out, signal: ac.signal, latency: 10 });
    klog('one small record in a 64 KiB sub-buffer');
    await waitFor(() => (statSync(join(out, 'cpu0'), { throwIfNoEntry: false })?.size ?? 0) > 0);
    klog('and another');
    await waitFor(() => statSync(join(out, 'cpu0')).size > 80);
    ac.abort();
    const sidecar = await recording;
    assert.equal(sidecar.buffers[0]!.records, 2);
    assert.equal(sidecar.latencyMs, 10);
  } finally {
    unregisterKlogHandler();
    relayClose(chan);
    hostfs.remove(dir);
    cleanup();
  }
});

test('records from a directory on disk too (the disk source), counters carried over from its sidecar', async () => {
  const { chan, dir, source, out, cleanup } = setup(1);
  const copy = mkdtempSync(join(tmpdir(), 'relayfs-record-copy-'));
  try {
    registerKlogHandler(chan);
    for (let i = 0; i < 100; i++) klog('rec %d', i);
    unregisterKlogHandler();
    const recording = record({ source, outDir: out });
    await waitFor(() => existsSync(join(out, SIDECAR_NAME))); // written once the files are open
    relayClose(chan);
    const first: Sidecar = await recording;
    const second = await record({ source: openSource(out), outDir: copy });
    assert.equal(second.reason, 'end');
    assert.equal(second.buffers[0]!.records, 100);
    assert.deepEqual(readFileSync(join(copy, 'cpu0')), readFileSync(join(out, 'cpu0')));
    assert.equal(second.buffers[0]!.written, first.buffers[0]!.written);
  } finally {
    hostfs.remove(dir);
    rmSync(copy, { recursive: true, force: true });
    cleanup();
  }
});

test('a sub-buffer read whole while current, then finished, is consumed; the recorder neither spins nor hangs', { timeout: 120_000 }, async () => {
  const { chan, dir, source, out, cleanup } = setup(1, 64, 4);
  try {
    const ac = new AbortController();
    const recording = record({ source, outDir: out, signal: ac.signal, latency: 5, klog: false });
    await waitFor(() => existsSync(join(out, SIDECAR_NAME)));
    relayWrite(chan, new Uint8Array(40).fill(7));
    await waitFor(() => statSync(join(out, 'cpu0')).size === 40); // read from the current sub-buffer
    const probe = hostfs.openSync(`${dir.path}/cpu0`);
    relayFlush(chan); // now it is finished, with nothing left in it to read
    // waitFor's timers run only if the recorder yields; it must consume the finished sub-buffer.
    await waitFor(() => probe.stats().subbufsReady === 0);
    probe.close();
    ac.abort();
    const sidecar = await recording;
    assert.equal(sidecar.buffers[0]!.bytes, 40);
    assert.equal(sidecar.buffers[0]!.records, null);
  } finally {
    relayClose(chan);
    hostfs.remove(dir);
    cleanup();
  }
});

async function waitFor(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
