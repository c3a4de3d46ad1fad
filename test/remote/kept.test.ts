/**
 * Kept reads (docs/remote-protocol.md, "Kept reads"): the producer keeps
 * what a kept read sent until the reader releases it, so a reader that dies
 * loses nothing; the window is bounded, and a full one shows as relay drops.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HostFs, hostfsCallbacks, relayClose, relayOpen, relayWrite, type RelayChannel } from '../../src/index.js';
import { RelayRemote, exposeRelayFiles, type RelayFileServer } from '../../src/remote/index.js';
import { waitUntil } from '../helpers.js';
import { MAX_MESSAGE, MessageParser, encode } from './fixtures/messages.js';
import { get } from './helpers.js';

const fs = HostFs.get('kepttest');
let server: RelayFileServer;
let remote: RelayRemote;
let dirCount = 0;

before(async () => {
  server = await exposeRelayFiles({ fs });
  remote = new RelayRemote({ socketPath: server.socketPath });
});
after(async () => {
  await server.close({ graceMs: 200 });
});

function channel(subbufSize: number, nSubbufs: number): { chan: RelayChannel; path: string } {
  const dir = fs.createDir(`k${dirCount++}`);
  const chan = relayOpen('cpu', dir, subbufSize, nSubbufs, hostfsCallbacks(fs), undefined, { buffers: 1 });
  return { chan, path: `${dir.path}/cpu0` };
}

const scratch = new Uint8Array(MAX_MESSAGE);
const view = new DataView(scratch.buffer);

/** Writes message seq; returns its bytes, or null when the buffer was full. */
function writeOne(chan: RelayChannel, seq: number): Buffer | null {
  const len = encode(scratch, view, 1, seq);
  return relayWrite(chan, scratch, len) ? Buffer.from(scratch.subarray(0, len)) : null;
}

function write(chan: RelayChannel, from: number, to: number): Buffer {
  const out: Buffer[] = [];
  for (let seq = from; seq < to; seq++) {
    const b = writeOne(chan, seq);
    if (b) out.push(b);
  }
  return Buffer.concat(out);
}

test('a kept read is sent again until released: a reader that dies loses nothing', async () => {
  const { chan, path } = channel(1024, 8);
  const a = write(chan, 0, 40);
  const window = await remote.kept(path);
  assert.deepEqual([window.start, window.end, window.capacity], [0, 0, 8192], 'a new window starts at the bytes read so far');

  const first = await remote.read(path, { keep: 0 });
  assert.equal(first.offset, 0);
  assert.ok(Buffer.from(first.data).equals(a));
  // The reader "died" before storing it: the same bytes again, then what came since.
  const b = write(chan, 40, 60);
  const again = await remote.read(path, { keep: 0 });
  assert.equal(again.offset, 0);
  assert.ok(Buffer.from(again.data).equals(Buffer.concat([a, b])));
  assert.deepEqual(await remote.kept(path), { path, start: 0, end: a.length + b.length, capacity: 8192 });

  // Released below a.length: a read from 0 starts at the first byte not released.
  assert.equal((await remote.kept(path, a.length)).start, a.length);
  const rest = await remote.read(path, { keep: 0 });
  assert.equal(rest.offset, a.length);
  assert.ok(Buffer.from(rest.data).equals(b));
  // A plain read still consumes as before, beside the window.
  const c = write(chan, 60, 70);
  const plain = await remote.read(path);
  assert.equal(plain.offset, null);
  assert.ok(Buffer.from(plain.data).equals(c));
  relayClose(chan);
});

test('a full window stops consuming: writers drop and count, never wait; a release lets the follow go on', async () => {
  const { chan, path } = channel(1024, 4);
  const capacity = (await remote.kept(path)).capacity;
  const follow = remote.follow(path, { keep: 0, latency: 5 });
  await follow.ready();
  assert.equal(follow.offset, 0);
  const parser = new MessageParser();
  const reading = (async () => {
    for await (const chunk of follow) parser.push(chunk);
  })();

  // Write until the window is full and the relay buffer behind it too: then a write drops.
  const accepted: Buffer[] = [];
  let seq = 0;
  for (let windowFull = false; ;) {
    const b = writeOne(chan, seq++);
    if (b) {
      accepted.push(b);
      continue;
    }
    // Refused after the window was seen full: nothing consumes any more, so the buffer stays full.
    if (windowFull) break;
    const w = await remote.kept(path);
    windowFull = w.end - w.start === capacity;
    if (!windowFull) await new Promise((r) => setImmediate(r)); // the server thread is still taking data in
  }
  const full = await remote.kept(path);
  assert.equal(full.end - full.start, capacity, 'the window holds at most its capacity');
  const dropped = write(chan, seq, seq + 20);
  seq += 20;
  assert.equal(dropped.length, 0, 'nothing is consumed while the window is full: the buffer stays full');
  assert.equal((await remote.kept(path)).end, full.end);

  // Released: the follow takes the buffer's data in; new writes go through again.
  await remote.kept(path, full.end);
  await waitUntil(async () => (await remote.kept(path)).end > full.end, 'the follow consumes again');
  await waitUntil(() => {
    const b = writeOne(chan, seq);
    if (b) accepted.push(b);
    seq++;
    return b !== null;
  }, 'a write goes through again');
  relayClose(chan);
  await remote.kept(path, Number.MAX_SAFE_INTEGER).catch(() => {});
  await reading;
  assert.equal(follow.end?.reason, 'hangup');
  const stats = follow.end!.stats!;
  assert.deepEqual(parser.errors, []);
  assert.equal(parser.bytes, Buffer.concat(accepted).length, 'every accepted byte, once');
  assert.ok(stats.droppedFull > 0, 'the drops are counted');
  assert.equal(stats.messagesWritten + stats.droppedFull, seq, 'delivered + dropped = written');
});

test('a newer kept read takes the window over; the older one ends with "replaced"', async () => {
  const { chan, path } = channel(1024, 8);
  const old = remote.follow(path, { keep: 0, latency: 5 });
  await old.ready();
  const chunks: Uint8Array[] = [];
  const reading = (async () => {
    for await (const chunk of old) chunks.push(chunk);
  })();
  const a = write(chan, 0, 10);
  await waitUntil(async () => (await remote.kept(path)).end === a.length, 'the old reader took the data in');
  const newer = await remote.read(path, { keep: 0 });
  assert.ok(Buffer.from(newer.data).equals(a), 'the newer reader gets what the old one was sent');
  await reading;
  assert.equal(old.end?.reason, 'replaced');
  relayClose(chan);
});

test('what is kept outlives relayClose: the file stays until it is released', async () => {
  const { chan, path } = channel(1024, 8);
  await remote.kept(path);
  const a = write(chan, 0, 30);
  relayClose(chan);
  const first = await remote.read(path, { keep: 0 });
  assert.ok(Buffer.from(first.data).equals(a));
  assert.equal(first.reason, 'hangup');
  // The reader died before storing it: the closed file is still served, with the same bytes.
  assert.ok((await remote.list()).files.some((f) => f.path === path));
  const again = await remote.read(path, { keep: 0 });
  assert.ok(Buffer.from(again.data).equals(a));
  await remote.kept(path, a.length);
  await waitUntil(async () => !(await remote.list()).files.some((f) => f.path === path), 'the released, drained file goes away');
});

test('kept requests with bad values are JSON 4xx errors', async () => {
  const { chan, path } = channel(1024, 8);
  const where = { socketPath: server.socketPath };
  const cases: [string, number, string][] = [
    [`/v1/files${path}/kept?release=-1`, 400, 'EBADREQUEST'],
    [`/v1/files${path}/kept?release=1.5`, 400, 'EBADREQUEST'],
    [`/v1/files${path}/kept?release=99999999999999999`, 400, 'EBADREQUEST'],
    [`/v1/files${path}/kept?keep=1`, 400, 'EBADREQUEST'],
    [`/v1/files${path}?keep=abc`, 400, 'EBADREQUEST'],
    [`/v1/files${path.slice(0, path.lastIndexOf('/'))}/kept`, 400, 'EISDIR'],
    [`/v1/files${path}9/kept`, 404, 'ENOENT'],
  ];
  for (const [target, status, code] of cases) {
    const r = await get(where, target);
    assert.equal(r.status, status, target);
    assert.equal(JSON.parse(r.body.toString()).error.code, code, target);
  }
  assert.throws(() => remote.follow(path, { keep: -1 }), { code: 'ERELAY_INVALID_ARG' });
  await assert.rejects(remote.kept(path, Number.NaN), { code: 'ERELAY_INVALID_ARG' });
  relayClose(chan);
});
