import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Worker } from 'node:worker_threads';
import { hostfs, hostfsCallbacks, relayClose, relayFlush, relayOpen, type RelayChannel } from '../../src/index.js';
import {
  KLOG_NO_BUFFER,
  decodeRecords,
  klog,
  klogEnabled,
  klogRaw,
  klogStats,
  klogv,
  recordText,
  registerKlogHandler,
  unregisterKlogHandler,
  type KlogRecord,
} from '../../src/klog/index.js';

afterEach(() => unregisterKlogHandler());

let dirs = 0;
function open(subbufSize: number, nSubbufs: number, buffers = 1): { chan: RelayChannel; path: string } {
  const name = `klog-trace-${process.pid}-${dirs++}`;
  const dir = hostfs.createDir(name);
  return { chan: relayOpen('cpu', dir, subbufSize, nSubbufs, hostfsCallbacks(), undefined, { buffers }), path: `/${name}` };
}

function capture(): KlogRecord[] {
  const got: KlogRecord[] = [];
  registerKlogHandler((bytes, length) => got.push(...decodeRecords(bytes.slice(0, length))));
  return got;
}

test('with no handler a trace call does nothing: no formatting, no record', () => {
  assert.equal(klogEnabled, false);
  const explosive = { [inspect.custom]: () => assert.fail('formatted without a handler') };
  klog('value %o', explosive);
  klogRaw(new Uint8Array(8));
  assert.deepEqual(klogStats(), { records: 0, written: 0, dropped: 0, truncated: 0, errors: 0 });
});

test('a function handler gets one record per call, numbered from 0', () => {
  const got = capture();
  assert.equal(klogEnabled, true);
  klog('hello %s %d', 'world', 42);
  klog('x=%s', undefined); // a directive takes the undefined argument
  klog('plain', 1, 2); // extra arguments are appended, as util.format does
  klogv('%d-%d-%d-%d-%d-%d-%d-%d-%d-%d', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  klogRaw(new Uint8Array([9, 8, 7, 6]), 2);
  assert.deepEqual(
    got.map((r) => (r.type === 'text' ? recordText(r) : [...r.payload])),
    ['hello world 42', 'x=undefined', 'plain 1 2', '1-2-3-4-5-6-7-8-9-10', [9, 8]],
  );
  assert.deepEqual(
    got.map((r) => r.seq),
    [0, 1, 2, 3, 4],
  );
  assert.ok(got.every((r) => r.thread === 0 && r.buffer === KLOG_NO_BUFFER));
  assert.ok(got.every((r, i) => i === 0 || r.timestamp >= got[i - 1]!.timestamp));
  unregisterKlogHandler();
  klog('not recorded');
  assert.equal(got.length, 5);
});

test('a nested trace call (here from a custom inspect) gets its own record bytes', () => {
  const got = capture();
  const sneaky = { [inspect.custom]: () => (klog('inner'), 'obj') };
  klog('outer %o', sneaky);
  assert.deepEqual(got.map(recordText), ['inner', 'outer obj']);
});

test('text longer than the largest record is cut on a character boundary and flagged', () => {
  const got: KlogRecord[] = [];
  registerKlogHandler((bytes, length) => got.push(...decodeRecords(bytes.slice(0, length))), { maxRecordBytes: 64 });
  klog('%s', 'é'.repeat(100));
  assert.equal(got.length, 1);
  assert.equal(got[0]!.truncated, true);
  assert.equal(recordText(got[0]!), 'é'.repeat(16)); // 32 payload bytes = 16 two-byte characters
  assert.equal(klogStats().truncated, 1);
});

test('with a channel, each call is one message in the calling thread’s buffer; drops keep their sequence number', () => {
  const { chan, path } = open(256, 4);
  registerKlogHandler(chan);
  klog('first %d', 1);
  klogRaw(new Uint8Array(300)); // larger than a sub-buffer: dropped and counted
  klog('third');
  const file = hostfs.openSync(`${path}/cpu0`);
  const recs = [...decodeRecords(file.read())];
  assert.deepEqual(
    recs.map((r) => r.seq),
    [0, 2],
  );
  assert.equal(recs[0]!.buffer, 0);
  const stats = file.stats();
  assert.equal(stats.messagesWritten, 2);
  assert.equal(stats.droppedTooBig, 1);
  assert.deepEqual(klogStats(), { records: 3, written: 2, dropped: 1, truncated: 0, errors: 0 });
  file.close();
  relayClose(chan);
});

test('records never straddle sub-buffers: every finished sub-buffer holds whole records', () => {
  const { chan, path } = open(256, 512);
  registerKlogHandler(chan);
  const n = 600;
  for (let i = 0; i < n; i++) klog('record %d %s', i, 'x'.repeat(i % 97));
  relayFlush(chan);
  const file = hostfs.openSync(`${path}/cpu0`);
  const map = file.mmap();
  const { first, count } = map.ready();
  let seen = 0;
  for (let k = 0; k < count; k++) {
    const slot = (first + k) % map.nSubbufs;
    const valid = map.subbuf(slot).subarray(0, map.subbufSize - map.padding(slot));
    for (const rec of decodeRecords(valid)) assert.equal(rec.seq, seen++); // throws if a record were cut
  }
  assert.equal(seen, n);
  map.unmap();
  file.close();
  relayClose(chan);
});

test('after the channel is closed, a trace call unregisters quietly instead of throwing', () => {
  const { chan } = open(1024, 2);
  registerKlogHandler(chan);
  klog('before');
  relayClose(chan);
  klog('after');
  assert.equal(klogEnabled, false);
  assert.deepEqual(klogStats(), { records: 1, written: 1, dropped: 0, truncated: 0, errors: 1 });
  assert.throws(() => registerKlogHandler(chan), /closed/);
});

test('timestamps compare across threads: a record made after another thread’s record has a later stamp', async () => {
  const { chan, path } = open(4096, 4, 2);
  registerKlogHandler(chan);
  const src = `
    import { parentPort, workerData } from 'node:worker_threads';
    const { klogAttach, klog } = await import(workerData.klog);
    await klogAttach(workerData.handle);
    parentPort.on('message', (i) => { klog('worker %d', i); parentPort.postMessage(i); });
    parentPort.postMessage('ready');
  `;
  const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(src)}`), {
    workerData: { handle: chan.handle(), klog: new URL('../../src/klog/index.js', import.meta.url).href },
  });
  const next = () => new Promise((resolve) => w.once('message', resolve));
  await next();
  for (let i = 0; i < 5; i++) {
    klog('main %d', i);
    w.postMessage(i);
    await next();
  }
  klog('main end');
  await w.terminate();
  const all: KlogRecord[] = [];
  for (const cpu of [0, 1]) {
    const f = hostfs.openSync(`${path}/cpu${cpu}`);
    all.push(...decodeRecords(f.read()));
    f.close();
  }
  const byTime = all.sort((a, b) => a.timestamp - b.timestamp).map(recordText);
  assert.deepEqual(byTime, ['main 0', 'worker 0', 'main 1', 'worker 1', 'main 2', 'worker 2', 'main 3', 'worker 3', 'main 4', 'worker 4', 'main end']);
  assert.equal(new Set(all.map((r) => r.thread)).size, 2);
  relayClose(chan);
});
