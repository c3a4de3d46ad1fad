/** The host filesystem: directories, files, and opening by path from any thread. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { RelayError, relayClose, relayWrite } from '../../src/index.js';
import { DEADLINE_MS, bytes, freshFs, openChannel, waitUntil, watchWorker } from '../helpers.js';

const code = (c: string) => (err: unknown) => err instanceof RelayError && err.code === c;
const fixture = new URL('../fixtures/hostfs-worker.js', import.meta.url);

test('directories: create, list, refuse bad names, remove only when empty', () => {
  const fs = freshFs();
  const a = fs.createDir('a');
  const b = fs.createDir('b', a);
  assert.deepEqual(fs.readdir('/'), [{ name: 'a', path: '/a', kind: 'dir' }]);
  assert.deepEqual(
    fs.readdir('/a').map((e) => e.path),
    ['/a/b'],
  );
  assert.throws(() => fs.createDir('a'), code('EEXIST'));
  for (const bad of ['', '..', 'x/y', '.']) assert.throws(() => fs.createDir(bad), code('ERELAY_INVALID_ARG'));
  assert.throws(() => fs.remove(a), code('ENOTEMPTY'));
  assert.throws(() => fs.readdir('/zzz'), code('ENOENT'));
  fs.remove(b);
  fs.remove(a);
  assert.deepEqual(fs.readdir('/'), []);
  const c = fs.createDir('c');
  fs.createDir('d', c);
  fs.removeRecursive(c);
  assert.deepEqual(fs.readdir('/'), []);
});

test('a thread started later opens a relay file made in another thread, by path', async () => {
  const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 2 });
  relayWrite(chan, bytes(9, 4));
  const worker = watchWorker<{ data: Uint8Array }>(new Worker(fixture, { workerData: { fsName: fs.name, open: '/cpu0' } }));
  assert.deepEqual((await worker.message).data, bytes(9, 4));
  assert.equal(await worker.exit, 0);
  relayClose(chan);
});

test('a path that does not exist is ENOENT in every thread', async () => {
  const fs = freshFs();
  // The worker's open waits this long for news of the file before ENOENT: nothing will ever make it.
  const worker = watchWorker<{ error: string }>(new Worker(fixture, { workerData: { fsName: fs.name, open: '/missing', timeout: 200 } }));
  assert.equal((await worker.message).error, 'ENOENT');
  assert.equal(await worker.exit, 0);
});

test('files a worker creates can be opened from the main thread', async () => {
  const fs = freshFs();
  const w = new Worker(fixture, { workerData: { fsName: fs.name, create: 'w' } });
  const worker = watchWorker<{ created: string[] }>(w);
  try {
    assert.deepEqual((await worker.message).created, ['/w0']);
    const file = await fs.open('/w0', { timeout: DEADLINE_MS });
    assert.deepEqual(file.read(), new Uint8Array([1, 2, 3]));
    file.close();
  } finally {
    w.postMessage('done'); // the worker stays until told, even when the test fails
  }
  assert.equal(await worker.exit, 0);
});

test('buf_mapped and buf_unmapped run in the opening thread when another thread maps the buffer', async () => {
  const events: string[] = [];
  const { chan, fs } = openChannel({
    callbacks: {
      bufMapped: (buf, filp) => events.push(`mapped ${buf.cpu} ${(filp as { path: string }).path}`),
      bufUnmapped: (buf) => events.push(`unmapped ${buf.cpu}`),
    },
  });
  const worker = watchWorker(new Worker(fixture, { workerData: { fsName: fs.name, map: '/cpu0' } }));
  await worker.message;
  // The callbacks arrive in this thread over a broadcast channel, after the worker's reply or before it.
  await waitUntil(() => events.length >= 2, 'both mapping callbacks ran');
  assert.deepEqual(events, ['mapped 0 /cpu0', 'unmapped 0']);
  assert.equal(await worker.exit, 0);
  relayClose(chan);
});
