/** The host filesystem: directories, files, and opening by path from any thread. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { RelayError, relayClose, relayWrite } from '../../src/index.js';
import { bytes, freshFs, openChannel } from '../helpers.js';

const code = (c: string) => (err: unknown) => err instanceof RelayError && err.code === c;
const fixture = new URL('../fixtures/hostfs-worker.js', import.meta.url);

test('directories: create, list, refuse bad names, remove only when empty', () => {
  const fs = freshFs();
  const a = fs.createDir('a');
  const b = fs.createDir('b', a);
  assert.deepEqual(fs.readdir('/'), [{ name: 'a', path: '/a', kind: 'dir' }]);
  assert.deepEqual(fs.readdir('/a').map((e) => e.path), ['/a/b']);
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
  const worker = new Worker(fixture, { workerData: { fsName: fs.name, open: '/cpu0' } });
  const [reply] = (await once(worker, 'message')) as [{ data: Uint8Array }];
  assert.deepEqual(reply.data, bytes(9, 4));
  await once(worker, 'exit');
  relayClose(chan);
});

test('a path that does not exist is ENOENT in every thread', async () => {
  const fs = freshFs();
  const worker = new Worker(fixture, { workerData: { fsName: fs.name, open: '/missing' } });
  const [reply] = (await once(worker, 'message')) as [{ error: string }];
  assert.equal(reply.error, 'ENOENT');
  await once(worker, 'exit');
});

test('files a worker creates can be opened from the main thread', async () => {
  const fs = freshFs();
  const worker = new Worker(fixture, { workerData: { fsName: fs.name, create: 'w' } });
  const [reply] = (await once(worker, 'message')) as [{ created: string[] }];
  assert.deepEqual(reply.created, ['/w0']);
  const file = await fs.open('/w0', { timeout: 2000 });
  assert.deepEqual(file.read(), new Uint8Array([1, 2, 3]));
  file.close();
  worker.postMessage('done');
  await once(worker, 'exit');
});

test('buf_mapped and buf_unmapped run in the opening thread when another thread maps the buffer', async () => {
  const events: string[] = [];
  const { chan, fs } = openChannel({
    callbacks: {
      bufMapped: (buf, filp) => events.push(`mapped ${buf.cpu} ${(filp as { path: string }).path}`),
      bufUnmapped: (buf) => events.push(`unmapped ${buf.cpu}`),
    },
  });
  const worker = new Worker(fixture, { workerData: { fsName: fs.name, map: '/cpu0' } });
  await once(worker, 'message');
  for (let i = 0; i < 200 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(events, ['mapped 0 /cpu0', 'unmapped 0']);
  await once(worker, 'exit');
  relayClose(chan);
});
