/** The user space API of relay.rst: open, read, mmap, sendfile, poll, close on relay files. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { POLLERR, POLLIN, POLLRDNORM, RelayError, relayClose, relayFlush, relayWrite } from '../../src/index.js';
import { bytes, openChannel } from '../helpers.js';

const code = (c: string) => (err: unknown) => err instanceof RelayError && err.code === c;
const concat = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));

describe('open()', () => {
  test('opens an existing relay file only', async () => {
    const { chan, fs } = openChannel();
    fs.createDir('d');
    await assert.rejects(fs.open('/nope', { timeout: 20 }), code('ENOENT'));
    await assert.rejects(fs.open('/d', { timeout: 20 }), code('EISDIR'));
    assert.throws(() => fs.openSync('/../cpu0'), code('ENOENT'));
    assert.throws(() => fs.openSync('/d/../cpu0'), code('ENOENT'));
    const file = await fs.open('cpu0');
    assert.equal(file.path, '/cpu0');
    file.close();
    relayClose(chan);
  });
});

describe('read()', () => {
  test('drained(): false while anything is readable, including a partly filled sub-buffer or a part a readWhole left; true once all is read', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    assert.equal(file.drained(), true);
    relayWrite(chan, bytes(20, 1));
    assert.equal(file.drained(), false);
    relayWrite(chan, bytes(20, 2));
    assert.equal(file.read(10).length, 10);
    assert.equal(file.drained(), false);
    assert.equal(file.read().length, 30);
    assert.equal(file.drained(), true);
    file.close();
    assert.throws(() => file.drained(), code('ERELAY_CLOSED'));
    relayClose(chan);
  });

  test('copies out and consumes: bytes read are not available again; padding is never seen', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20, 1));
    relayWrite(chan, bytes(20, 2)); // 12 bytes of padding after the first
    relayWrite(chan, bytes(20, 3));
    assert.deepEqual(file.read(), concat(bytes(20, 1), bytes(20, 2), bytes(20, 3)));
    assert.equal(file.read().length, 0);
    file.close();
    relayClose(chan);
  });

  test('returns the current, partly filled sub-buffer too, and continues where it stopped', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 2 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(10, 1));
    assert.deepEqual(file.read(), bytes(10, 1));
    relayWrite(chan, bytes(10, 2));
    assert.deepEqual(file.read(), bytes(10, 2));
    file.close();
    relayClose(chan);
  });

  test('readInto a small buffer reads a byte stream, like read(2)', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20, 1));
    relayWrite(chan, bytes(20, 2));
    const dest = new Uint8Array(15);
    const out: number[] = [];
    for (let n = file.readInto(dest); n > 0; n = file.readInto(dest)) out.push(...dest.subarray(0, n));
    assert.deepEqual(new Uint8Array(out), concat(bytes(20, 1), bytes(20, 2)));
    assert.throws(() => file.read(0), code('ERELAY_INVALID_ARG'));
    file.close();
    relayClose(chan);
  });

  test('works while a writer writes, in no-overwrite mode', () => {
    const { chan, fs } = openChannel({ subbufSize: 256, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const got: number[] = [];
    for (let i = 0; i < 500; i++) {
      relayWrite(chan, new Uint8Array([i & 0xff, (i >> 8) & 0xff]));
      if (i % 7 === 0) got.push(...file.read());
    }
    got.push(...file.read());
    assert.equal(got.length, 1000);
    for (let i = 0; i < 500; i++) assert.equal(got[2 * i]! | (got[2 * i + 1]! << 8), i);
    file.close();
    relayClose(chan);
  });
});

describe('mmap()', () => {
  test('maps the whole buffer (NRBUF × SUBBUFSIZE), zero-copy', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 4 });
    const map = fs.openSync('/cpu0').mmap();
    assert.equal(map.data.length, 128);
    relayWrite(chan, bytes(8, 5));
    assert.deepEqual(map.data.subarray(0, 8), bytes(8, 5), 'writes appear in the mapping without a copy');
    assert.throws(() => map.padding(4), code('ERELAY_INVALID_ARG'));
    map.unmap();
    assert.throws(() => map.ready(), code('ERELAY_CLOSED'));
    relayClose(chan);
  });

  test('an mmap consumer reads ready sub-buffers less their padding and hands them back', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 2 });
    const file = fs.openSync('/cpu0');
    const map = file.mmap();
    const got: Uint8Array[] = [];
    const drain = () => {
      const { first, count } = map.ready();
      for (let i = 0; i < count; i++) {
        const slot = (first + i) % map.nSubbufs;
        got.push(map.subbuf(slot).slice(0, map.subbufSize - map.padding(slot)));
      }
      map.subbufsConsumed(count);
    };
    for (let i = 0; i < 10; i++) {
      relayWrite(chan, bytes(24, i));
      drain();
    }
    relayFlush(chan);
    drain();
    assert.deepEqual(
      got,
      Array.from({ length: 10 }, (_, i) => bytes(24, i)),
    );
    assert.equal(file.stats().droppedFull, 0);
    map.unmap();
    file.close();
    relayClose(chan);
  });
});

describe('sendfile()', () => {
  test('moves data to a file descriptor, padding removed', async () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 4 });
    const dir = mkdtempSync(join(tmpdir(), 'relayfs-'));
    const path = join(dir, 'out');
    const fd = openSync(path, 'w');
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20, 1));
    relayWrite(chan, bytes(20, 2));
    assert.equal(await file.sendfile(fd), 40);
    closeSync(fd);
    assert.deepEqual(new Uint8Array(readFileSync(path)), concat(bytes(20, 1), bytes(20, 2)));
    rmSync(dir, { recursive: true });
    file.close();
    relayClose(chan);
  });

  test('moves data to a writable stream, following until the channel is closed', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const chunks: Buffer[] = [];
    const sink = new Writable({
      highWaterMark: 16,
      write(chunk, _enc, done) {
        chunks.push(chunk as Buffer);
        setImmediate(done); // a slow consumer: backpressure is honoured
      },
    });
    const moved = file.sendfile(sink, { follow: true, latency: 5 });
    for (let i = 0; i < 20; i++) {
      relayWrite(chan, bytes(30, i));
      await new Promise((r) => setTimeout(r, 1));
    }
    relayClose(chan);
    assert.equal(await moved, 600);
    assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), concat(...Array.from({ length: 20 }, (_, i) => bytes(30, i))));
    file.close();
  });

  test('count limits what is moved', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(30, 1));
    const chunks: Buffer[] = [];
    const sink = new Writable({ write: (c, _e, done) => (chunks.push(c as Buffer), done()) });
    assert.equal(await file.sendfile(sink, { count: 10 }), 10);
    assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), bytes(30, 1).subarray(0, 10));
    file.close();
    relayClose(chan);
  });
});

describe('poll()', () => {
  test('POLLIN when a sub-buffer boundary is crossed, not per message', async () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const early = await file.poll(10);
    assert.equal(early.timedOut, true);
    assert.equal(early.mask, 0);
    const woken = file.poll(60_000);
    relayWrite(chan, bytes(20, 1)); // no boundary yet
    setTimeout(() => relayWrite(chan, bytes(20, 2)), 20); // crosses one
    const r = await woken;
    assert.equal(r.mask, POLLIN | POLLRDNORM);
    assert.equal(r.readable, true);
    assert.equal(r.timedOut, false);
    file.close();
    relayClose(chan);
  });

  test('wakes on flush, and reports POLLERR once the channel is closed', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(10));
    const flushed = file.poll(60_000);
    setTimeout(() => relayFlush(chan), 10);
    assert.equal((await flushed).readable, true);
    file.read();
    const closed = file.poll(60_000);
    setTimeout(() => relayClose(chan), 10);
    const r = await closed;
    assert.equal(r.hangup, true);
    assert.ok(r.mask & POLLERR);
    file.close();
    await assert.rejects(file.poll(1), code('ERELAY_CLOSED'));
  });
});

describe('poll() options and pollSync()', () => {
  test('minReady: a boundary wakes the poller only once that many sub-buffers are ready; flush always does', async () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(30, 1));
    relayWrite(chan, bytes(30, 2)); // one sub-buffer ready
    assert.equal((await file.poll(0)).readable, true);
    assert.equal((await file.poll(20, { minReady: 2 })).timedOut, true);
    const woken = file.poll(60_000, { minReady: 2 });
    setTimeout(() => relayWrite(chan, bytes(30, 3)), 10); // the second one
    assert.equal((await woken).readable, true);
    await assert.rejects(file.poll(1, { minReady: 0 }), code('ERELAY_INVALID_ARG'));
    file.read();
    relayWrite(chan, bytes(10, 4));
    const flushed = file.poll(60_000, { minReady: 3 });
    setTimeout(() => relayFlush(chan), 10);
    assert.equal((await flushed).timedOut, false, 'flush wakes whatever minReady says');
    file.close();
    relayClose(chan);
  });

  test('pollSync blocks the calling thread until a boundary, or times out', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const idle = file.pollSync(5);
    assert.equal(idle.timedOut, true);
    assert.equal(idle.mask, 0);
    relayWrite(chan, bytes(30, 1));
    relayWrite(chan, bytes(30, 2));
    assert.equal(file.pollSync(1000).mask, POLLIN | POLLRDNORM);
    assert.equal(file.pollSync(5, { minReady: 2, spinMicros: 100 }).timedOut, true);
    for (const spinMicros of [-1, Number.NaN, Infinity, '5' as unknown as number]) {
      assert.throws(() => file.pollSync(5, { spinMicros }), { code: 'ERELAY_INVALID_ARG' }, String(spinMicros));
    }
    file.close();
    relayClose(chan);
  });
});

describe('close() and the idiomatic layer', () => {
  test('the async iterator yields whole messages until the channel is closed and drained', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const reading = (async () => {
      const parts: Uint8Array[] = [];
      for await (const chunk of file) parts.push(chunk.data);
      return concat(...parts);
    })();
    for (let i = 0; i < 30; i++) {
      relayWrite(chan, bytes(10, i));
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    relayClose(chan);
    assert.deepEqual(await reading, concat(...Array.from({ length: 30 }, (_, i) => bytes(10, i))));
    file.close();
  });

  test('stream() is a Readable of the file', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(12, 3));
    relayClose(chan);
    const parts: Buffer[] = [];
    for await (const part of file.stream()) parts.push(part as Buffer);
    assert.deepEqual(new Uint8Array(Buffer.concat(parts)), bytes(12, 3));
    file.close();
  });
});
