/** The kernel API of relay.rst, item by item, in one thread. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  POLLERR,
  POLLHUP,
  POLLIN,
  POLLRDNORM,
  RelayError,
  __relayWrite,
  hostfsCallbacks,
  relayBufFull,
  relayClose,
  relayFlush,
  relayLateSetupFiles,
  relayOpen,
  relayReserve,
  relayReset,
  relaySubbufsConsumed,
  relayWrite,
  subbufStartReserve,
  type RelayBuffer,
  type RelayChannel,
} from '../../src/index.js';
import { bytes, freshFs, openChannel, writePaddingHeader } from '../helpers.js';

const code = (c: string) => (err: unknown) => err instanceof RelayError && err.code === c;

function readAll(chan: RelayChannel, cpu = 0): Uint8Array {
  return chan.buffer(cpu).reader.read() ?? new Uint8Array(0);
}

describe('Creating a channel', () => {
  test('relay_open creates files base0..baseN-1 through create_buf_file, in the root when parent is null', () => {
    const fs = freshFs();
    const calls: { filename: string; parent: unknown; mode: number; cpu: number }[] = [];
    const base = hostfsCallbacks(fs);
    const chan = relayOpen(
      'cpu',
      null,
      64,
      4,
      {
        createBufFile(filename, parent, mode, buf, isGlobal) {
          calls.push({ filename, parent, mode, cpu: buf.cpu });
          return base.createBufFile(filename, parent, mode, buf, isGlobal);
        },
        removeBufFile: base.removeBufFile,
      },
      undefined,
      { buffers: 3 },
    );
    assert.deepEqual(
      calls.map((c) => c.filename),
      ['cpu0', 'cpu1', 'cpu2'],
    );
    assert.deepEqual(
      calls.map((c) => c.cpu),
      [0, 1, 2],
    );
    assert.ok(calls.every((c) => c.parent === null && c.mode === 0o400));
    assert.deepEqual(
      fs.readdir('/').map((e) => e.path),
      ['/cpu0', '/cpu1', '/cpu2'],
    );
    assert.equal(chan.buffers.length, 3);
    relayClose(chan);
  });

  test('files go in the parent directory made with the host filesystem directory function', () => {
    const fs = freshFs();
    const dir = fs.createDir('trace');
    const chan = relayOpen('cpu', dir, 64, 2, hostfsCallbacks(fs), undefined, { buffers: 2 });
    assert.deepEqual(
      fs.readdir('/trace').map((e) => e.name),
      ['cpu0', 'cpu1'],
    );
    relayClose(chan);
    assert.deepEqual(fs.readdir('/trace'), []);
    fs.remove(dir); // the client cleans up its own directories
    assert.equal(fs.lookup('/trace'), null);
  });

  test('relay_open fails when create_buf_file or remove_buf_file is not defined', () => {
    const fs = freshFs();
    const { createBufFile, removeBufFile } = hostfsCallbacks(fs);
    assert.throws(() => relayOpen('cpu', null, 64, 4, { removeBufFile }), code('ERELAY_NO_CALLBACK'));
    assert.throws(() => relayOpen('cpu', null, 64, 4, { createBufFile }), code('ERELAY_NO_CALLBACK'));
    assert.throws(() => relayOpen('cpu', null, 64, 4, undefined as never), code('ERELAY_NO_CALLBACK'));
    assert.deepEqual(fs.readdir('/'), []);
  });

  test('relay_open fails when create_buf_file fails, and removes the files it had made', () => {
    const fs = freshFs();
    const base = hostfsCallbacks(fs);
    const failOn = (n: number, how: 'throw' | 'null') => ({
      createBufFile: (name: string, parent: unknown, mode: number, buf: RelayBuffer, g: { value: boolean }) => {
        if (buf.cpu === n) {
          if (how === 'throw') throw new Error('disk on fire');
          return null;
        }
        return base.createBufFile(name, parent, mode, buf, g);
      },
      removeBufFile: base.removeBufFile,
    });
    assert.throws(
      () => relayOpen('cpu', null, 64, 4, failOn(2, 'throw'), undefined, { buffers: 3 }),
      (e: unknown) => code('ERELAY_CREATE_FAILED')(e) && /disk on fire/.test((e as Error).message),
    );
    assert.deepEqual(fs.readdir('/'), []);
    assert.throws(() => relayOpen('cpu', null, 64, 4, failOn(0, 'null'), undefined, { buffers: 3 }), code('ERELAY_CREATE_FAILED'));
    assert.deepEqual(fs.readdir('/'), []);
  });

  test('private_data is reachable from the channel and every buffer, including inside create_buf_file', () => {
    const fs = freshFs();
    const data = { name: 'mine' };
    const seen: unknown[] = [];
    const base = hostfsCallbacks(fs);
    const chan = relayOpen(
      'cpu',
      null,
      64,
      2,
      {
        createBufFile(filename, parent, mode, buf, g) {
          seen.push(buf.chan.privateData, buf.privateData);
          return base.createBufFile(filename, parent, mode, buf, g);
        },
        removeBufFile: base.removeBufFile,
      },
      data,
      { buffers: 2 },
    );
    assert.equal(chan.privateData, data);
    assert.deepEqual(seen, [data, data, data, data]);
    assert.ok(seen.every((d) => d === data));
    relayClose(chan);
  });

  test('is_global set by create_buf_file gives one buffer; create and remove are called once', () => {
    const fs = freshFs();
    let created = 0;
    let removed = 0;
    const base = hostfsCallbacks(fs, { global: true });
    const chan = relayOpen(
      'glob',
      null,
      64,
      4,
      {
        createBufFile: (...args) => (created++, base.createBufFile(...args)),
        removeBufFile: (d) => (removed++, base.removeBufFile(d)),
      },
      undefined,
      { buffers: 4 },
    );
    assert.equal(chan.isGlobal, true);
    assert.equal(chan.buffers.length, 1);
    assert.equal(created, 1);
    assert.ok(relayWrite(chan, bytes(10, 1)));
    assert.equal(chan.own, chan.buffers[0]);
    relayClose(chan);
    assert.equal(removed, 1);
  });

  test('sub-buffer size and count are validated with typed errors', () => {
    const cbs = hostfsCallbacks(freshFs());
    for (const bad of [0, -1, 1.5, NaN, Infinity, '64', null]) {
      assert.throws(() => relayOpen('x', null, bad as number, 4, cbs), code('ERELAY_INVALID_ARG'), `subbufSize ${String(bad)}`);
      assert.throws(() => relayOpen('x', null, 64, bad as number, cbs), code('ERELAY_INVALID_ARG'), `nSubbufs ${String(bad)}`);
    }
    assert.throws(() => relayOpen('x', null, 2 ** 30, 4, cbs), code('ERELAY_NOMEM'));
    assert.throws(() => relayOpen('x', null, 2 ** 31, 1, cbs), code('ERELAY_INVALID_ARG'));
    assert.throws(() => relayOpen('x', null, 64, 4, cbs, undefined, { buffers: 0 }), code('ERELAY_INVALID_ARG'));
  });

  test('base filenames that are empty or contain / or .. are refused', () => {
    const cbs = hostfsCallbacks(freshFs());
    for (const bad of ['', 'a/b', '..', 'a..b', '../x', '.', 'a\\b', 'a\0b']) {
      assert.throws(() => relayOpen(bad, null, 64, 4, cbs), code('ERELAY_INVALID_ARG'), JSON.stringify(bad));
    }
  });
});

describe('Buffer-only channels', () => {
  test('relay_open(NULL, NULL, ...) makes buffers without files; relay_late_setup_files exposes what was written', () => {
    const fs = freshFs();
    const chan = relayOpen(null, null, 64, 4, hostfsCallbacks(fs), undefined, { buffers: 2 });
    assert.deepEqual(fs.readdir('/'), []);
    assert.ok(relayWrite(chan, bytes(20, 5)));
    const dir = fs.createDir('late');
    relayLateSetupFiles(chan, 'early', dir);
    assert.deepEqual(
      fs.readdir('/late').map((e) => e.name),
      ['early0', 'early1'],
    );
    const file = fs.openSync('/late/early0');
    assert.deepEqual(file.read(), bytes(20, 5));
    file.close();
    assert.throws(() => relayLateSetupFiles(chan, 'again', null), code('EEXIST'));
    relayClose(chan);
    assert.deepEqual(fs.readdir('/late'), []);
  });

  test('a global buffer-only channel is opened with { global: true }', () => {
    const fs = freshFs();
    const chan = relayOpen(null, null, 64, 4, hostfsCallbacks(fs), undefined, { global: true });
    assert.equal(chan.buffers.length, 1);
    relayLateSetupFiles(chan, 'g', null);
    assert.deepEqual(
      fs.readdir('/').map((e) => e.name),
      ['g0'],
    );
    relayClose(chan);
    const perThread = relayOpen(null, null, 64, 4, hostfsCallbacks(fs, { global: true }), undefined, { buffers: 2 });
    assert.throws(() => relayLateSetupFiles(perThread, 'g', null), /isGlobal/);
    assert.deepEqual(fs.readdir('/'), []);
    relayClose(perThread);
  });
});

describe('Writing to a channel', () => {
  test('messages are never split across sub-buffers; padding is recorded per sub-buffer', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    for (let i = 0; i < 5; i++) assert.ok(relayWrite(chan, bytes(25, i)));
    // 2 messages per sub-buffer (50 bytes), 14 bytes of padding each.
    const map = fs.openSync('/cpu0').mmap();
    assert.deepEqual(map.ready(), { first: 0, count: 2 });
    assert.equal(map.padding(0), 14);
    assert.equal(map.padding(1), 14);
    assert.deepEqual(map.data.subarray(0, 25), bytes(25, 0));
    assert.deepEqual(map.data.subarray(25, 50), bytes(25, 1));
    assert.deepEqual(map.data.subarray(64, 89), bytes(25, 2));
    map.unmap();
    relayClose(chan);
  });

  test('subbuf_start is called for the first sub-buffer with prev NULL, then at each switch with the previous padding', () => {
    const calls: { slot: number; prev: number | null; padding: number }[] = [];
    const { chan } = openChannel({
      subbufSize: 32,
      nSubbufs: 3,
      callbacks: {
        subbufStart(buf, subbuf, prev, padding) {
          const slot = subbuf.byteOffset - buf.mem.data.byteOffset;
          calls.push({ slot: slot / 32, prev: prev ? (prev.byteOffset - buf.mem.data.byteOffset) / 32 : null, padding });
          return !relayBufFull(buf);
        },
      },
    });
    assert.deepEqual(calls, [{ slot: 0, prev: null, padding: 0 }]);
    relayWrite(chan, bytes(20));
    relayWrite(chan, bytes(20)); // switch: 12 bytes of padding in sub-buffer 0
    relayWrite(chan, bytes(30)); // switch: 12 bytes of padding in sub-buffer 1
    assert.deepEqual(calls.slice(1), [
      { slot: 1, prev: 0, padding: 12 },
      { slot: 2, prev: 1, padding: 12 },
    ]);
    relayClose(chan);
  });

  test('the default subbuf_start switches unless the buffer is full (no-overwrite); a full buffer stalls and drops', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 2 });
    assert.ok(relayWrite(chan, bytes(32, 1)));
    assert.ok(relayWrite(chan, bytes(32, 2)));
    assert.equal(relayWrite(chan, bytes(32, 3)), false); // both sub-buffers unconsumed
    assert.equal(relayWrite(chan, bytes(8, 4)), false); // stalled: every write retries the switch
    const file = fs.openSync('/cpu0');
    let s = file.stats();
    assert.equal(s.stalled, true);
    assert.equal(s.droppedFull, 2);
    assert.equal(s.subbufsProduced, 2);
    assert.deepEqual(file.read(), new Uint8Array([...bytes(32, 1), ...bytes(32, 2)]));
    assert.ok(relayWrite(chan, bytes(8, 5))); // a consumer freed space: the retried switch succeeds
    assert.deepEqual(file.read(), bytes(8, 5));
    s = file.stats();
    assert.equal(s.stalled, false);
    assert.equal(s.messagesWritten, 3);
    assert.equal(s.bytesWritten, 72);
    file.close();
    relayClose(chan);
  });

  test("the spec's no-overwrite callback with a padding header, using relay_buf_full and subbuf_start_reserve", () => {
    const { chan, fs } = openChannel({
      subbufSize: 32,
      nSubbufs: 2,
      callbacks: {
        subbufStart(buf, _subbuf, prev, prevPadding) {
          writePaddingHeader(prev, prevPadding);
          if (relayBufFull(buf)) return 0;
          subbufStartReserve(buf, 4);
          return 1;
        },
      },
    });
    assert.ok(relayWrite(chan, bytes(20, 1))); // sub-buffer 0: header + 20, 8 bytes padding
    assert.ok(relayWrite(chan, bytes(20, 2))); // sub-buffer 1
    assert.equal(relayWrite(chan, bytes(20, 3)), false); // full
    const map = fs.openSync('/cpu0').mmap();
    const view = new DataView(map.data.buffer, map.data.byteOffset);
    assert.equal(view.getUint32(0, true), 8, 'header of sub-buffer 0 holds its padding');
    assert.equal(view.getUint32(32, true), 8, 'header of sub-buffer 1 holds its padding');
    assert.deepEqual(map.data.subarray(4, 24), bytes(20, 1));
    assert.equal(map.padding(0), 8);
    assert.equal(relaySubbufsConsumed(chan, 0, 1), 1);
    assert.ok(relayWrite(chan, bytes(20, 4))); // room again: sub-buffer 0 is reused
    assert.deepEqual(map.data.subarray(4, 24), bytes(20, 4));
    map.unmap();
    relayClose(chan);
  });

  test("the spec's overwrite (flight recorder) callback keeps the newest data and counts what it overwrote", () => {
    const { chan, fs } = openChannel({
      subbufSize: 32,
      nSubbufs: 3,
      callbacks: {
        subbufStart(buf, _subbuf, prev, prevPadding) {
          writePaddingHeader(prev, prevPadding);
          subbufStartReserve(buf, 4);
          return 1;
        },
      },
    });
    for (let i = 0; i < 20; i++) assert.ok(relayWrite(chan, bytes(28, i))); // one message per sub-buffer
    const file = fs.openSync('/cpu0');
    const data = file.read();
    // The two finished sub-buffers that survive plus the current one: messages 17, 18, 19.
    assert.equal(data.length, 3 * 32);
    for (let i = 0; i < 3; i++) assert.deepEqual(data.subarray(i * 32 + 4, i * 32 + 32), bytes(28, 17 + i));
    const s = file.stats();
    assert.equal(s.subbufsOverwritten, 17);
    assert.equal(s.messagesOverwritten, 17);
    assert.equal(s.messagesWritten, 20);
    file.close();
    relayClose(chan);
  });

  test('a message larger than a sub-buffer is dropped and counted; what was written stays intact', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 2 });
    assert.ok(relayWrite(chan, bytes(10, 1)));
    assert.equal(relayWrite(chan, bytes(33, 2)), false);
    assert.equal(__relayWrite(chan, bytes(100, 3)), false);
    const file = fs.openSync('/cpu0');
    assert.equal(file.stats().droppedTooBig, 2);
    assert.equal(file.stats().subbufsProduced, 0, 'no sub-buffer wasted on a message that can never fit');
    assert.deepEqual(file.read(), bytes(10, 1));
    file.close();
    relayClose(chan);
  });

  test('relay_write validates its arguments; __relay_write is the lean variant', () => {
    const { chan } = openChannel();
    assert.throws(() => relayWrite(chan, 'text' as never), code('ERELAY_INVALID_ARG'));
    assert.throws(() => relayWrite(chan, bytes(4), -1), code('ERELAY_INVALID_ARG'));
    assert.throws(() => relayWrite(chan, bytes(4), 5), code('ERELAY_INVALID_ARG'));
    assert.throws(() => relayWrite(chan, bytes(4), 1.5), code('ERELAY_INVALID_ARG'));
    assert.throws(() => relayWrite({} as never, bytes(4)), code('ERELAY_INVALID_ARG'));
    assert.ok(relayWrite(chan, bytes(8), 3), 'a length shorter than the data writes a prefix');
    assert.ok(__relayWrite(chan, bytes(8, 9)));
    assert.deepEqual(readAll(chan), new Uint8Array([...bytes(8).subarray(0, 3), ...bytes(8, 9)]));
    relayClose(chan);
  });

  test('a write from inside subbuf_start re-entering the same buffer is dropped and counted, never corrupting', () => {
    let reentered: boolean | undefined;
    const { chan, fs } = openChannel({
      subbufSize: 32,
      nSubbufs: 4,
      callbacks: {
        subbufStart(buf, _subbuf, prev) {
          if (prev) reentered = relayWrite(buf.chan, bytes(4, 99));
          return !relayBufFull(buf);
        },
      },
    });
    relayWrite(chan, bytes(30, 1));
    relayWrite(chan, bytes(30, 2));
    assert.equal(reentered, false);
    const file = fs.openSync('/cpu0');
    assert.equal(file.stats().droppedReentrant, 1);
    assert.deepEqual(file.read(), new Uint8Array([...bytes(30, 1), ...bytes(30, 2)]));
    file.close();
    relayClose(chan);
  });

  test('relay_reserve gives a writable slot, published by the next operation on the buffer', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 2 });
    const file = fs.openSync('/cpu0');
    const slot = relayReserve(chan, 12)!;
    assert.equal(slot.length, 12);
    assert.equal(file.available(), 0, 'a reserved slot is not visible while it is being filled');
    slot.set(bytes(12, 7));
    assert.ok(relayWrite(chan, bytes(4, 8)));
    assert.deepEqual(file.read(), new Uint8Array([...bytes(12, 7), ...bytes(4, 8)]));
    relayReserve(chan, 10)!.set(bytes(10, 9));
    relayFlush(chan);
    assert.deepEqual(file.read(), bytes(10, 9), 'flush publishes a pending reservation');
    assert.throws(() => relayReserve(chan, -1), code('ERELAY_INVALID_ARG'));
    assert.throws(() => relayReserve(chan, 2.5), code('ERELAY_INVALID_ARG'));
    assert.equal(file.stats().messagesWritten, 3);
    file.close();
    relayClose(chan);
  });

  test('relay_reserve returns null when the buffer is full (no-overwrite)', () => {
    const { chan, fs } = openChannel({ subbufSize: 16, nSubbufs: 2 });
    assert.ok(relayReserve(chan, 16));
    assert.ok(relayReserve(chan, 16));
    assert.equal(relayReserve(chan, 16), null);
    const file = fs.openSync('/cpu0');
    assert.equal(file.stats().droppedFull, 1);
    file.close();
    relayClose(chan);
  });
});

describe('Channel management', () => {
  test('relay_subbufs_consumed is clamped to what was produced, and checks its buffer index', () => {
    const { chan, fs } = openChannel({ subbufSize: 16, nSubbufs: 4 });
    for (let i = 0; i < 3; i++) relayWrite(chan, bytes(16, i)); // 2 produced, 1 current
    assert.equal(relaySubbufsConsumed(chan, 0, 4), 2);
    assert.equal(relaySubbufsConsumed(chan, 0, 1), 0);
    assert.throws(() => relaySubbufsConsumed(chan, 1, 1), code('ERELAY_NO_SUCH_BUFFER'));
    assert.throws(() => relaySubbufsConsumed(chan, -1, 1), code('ERELAY_NO_SUCH_BUFFER'));
    assert.throws(() => relaySubbufsConsumed(chan, 0, -1), code('ERELAY_INVALID_ARG'));
    assert.throws(() => relaySubbufsConsumed(chan, 0, 0.5), code('ERELAY_INVALID_ARG'));
    const file = fs.openSync('/cpu0');
    assert.equal(file.stats().subbufsConsumed, 2);
    assert.deepEqual(file.read(), bytes(16, 2), 'the current sub-buffer is still readable');
    file.close();
    relayClose(chan);
  });

  test('relay_flush forces a switch so the last partial sub-buffer becomes ready; empty buffers are left alone', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4, options: { buffers: 2 } });
    relayWrite(chan, bytes(10, 1));
    const map = fs.openSync('/cpu0').mmap();
    assert.equal(map.ready().count, 0);
    relayFlush(chan);
    assert.deepEqual(map.ready(), { first: 0, count: 1 });
    assert.equal(map.padding(0), 54);
    relayFlush(chan);
    assert.equal(map.ready().count, 1, 'an empty current sub-buffer is not switched');
    const other = fs.openSync('/cpu1');
    assert.equal(other.stats().subbufsProduced, 0);
    map.unmap();
    other.close();
    relayClose(chan);
  });

  test('relay_reset returns to the initial state in the same memory; mappings stay valid', () => {
    let starts = 0;
    const { chan, fs } = openChannel({
      subbufSize: 16,
      nSubbufs: 2,
      callbacks: {
        subbufStart(buf, _subbuf, prev) {
          if (!prev) starts++;
          return !relayBufFull(buf);
        },
      },
    });
    const file = fs.openSync('/cpu0');
    const map = file.mmap();
    for (let i = 0; i < 4; i++) relayWrite(chan, bytes(16, i));
    assert.equal(file.stats().droppedFull, 2);
    relayReset(chan);
    assert.equal(starts, 2, 'subbuf_start is called again for the first sub-buffer');
    const s = file.stats();
    assert.equal(s.messagesWritten + s.droppedFull + s.subbufsProduced + s.subbufsConsumed, 0);
    assert.equal(file.available(), 0);
    relayWrite(chan, bytes(16, 42));
    assert.deepEqual(map.data.subarray(0, 16), bytes(16, 42), 'the old mapping sees the new data');
    assert.deepEqual(file.read(), bytes(16, 42));
    map.unmap();
    file.close();
    relayClose(chan);
  });

  test('relay_close removes the files; later writes, flushes and a second close fail with ERELAY_CLOSED', () => {
    const { chan, fs } = openChannel();
    relayWrite(chan, bytes(8));
    relayClose(chan);
    assert.deepEqual(fs.readdir('/'), []);
    assert.throws(() => relayWrite(chan, bytes(8)), code('ERELAY_CLOSED'));
    assert.throws(() => __relayWrite(chan, bytes(8)), code('ERELAY_CLOSED'));
    assert.throws(() => relayReserve(chan, 8), code('ERELAY_CLOSED'));
    assert.throws(() => relayFlush(chan), code('ERELAY_CLOSED'));
    assert.throws(() => relayReset(chan), code('ERELAY_CLOSED'));
    assert.throws(() => relayClose(chan), code('ERELAY_CLOSED'));
  });

  test('close is reference counted: readers drain after relay_close, memory goes with the last reader', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 4 });
    const a = fs.openSync('/cpu0');
    const b = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20, 1));
    relayWrite(chan, bytes(20, 2));
    relayClose(chan);
    assert.equal(chan.freed, false);
    assert.deepEqual(a.read(), bytes(20, 1).length ? new Uint8Array([...bytes(20, 1), ...bytes(20, 2)]) : undefined);
    a.close();
    assert.equal(chan.freed, false);
    assert.equal(b.read().length, 0, 'data is consumed once across readers');
    b.close();
    assert.equal(chan.freed, true);
    assert.throws(() => a.read(), code('ERELAY_CLOSED'));
    assert.throws(() => a.mmap(), code('ERELAY_CLOSED'));
    assert.throws(() => a.close(), code('ERELAY_CLOSED'));
  });

  test('buf_mapped and buf_unmapped are called when a buffer is mapped and unmapped', () => {
    const events: string[] = [];
    const { chan, fs } = openChannel({
      callbacks: {
        bufMapped: (buf, filp) => events.push(`mapped ${buf.cpu} ${(filp as { path: string }).path}`),
        bufUnmapped: (buf) => events.push(`unmapped ${buf.cpu}`),
      },
    });
    const file = fs.openSync('/cpu0');
    const map = file.mmap();
    assert.equal(file.stats().mapped, 1);
    map.unmap();
    assert.throws(() => map.unmap(), code('ERELAY_CLOSED'));
    assert.deepEqual(events, ['mapped 0 /cpu0', 'unmapped 0']);
    assert.equal(file.stats().mapped, 0);
    file.close();
    relayClose(chan);
  });

  test('every buffer has counters readable at any time', () => {
    const { chan, fs } = openChannel({ subbufSize: 32, nSubbufs: 2 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20)); // sub-buffer 0
    relayWrite(chan, bytes(20)); // sub-buffer 1, 12 padding in 0
    relayWrite(chan, bytes(20)); // dropped: full
    relayWrite(chan, bytes(40)); // dropped: too big
    assert.deepEqual(
      { ...file.stats() },
      {
        messagesWritten: 2,
        bytesWritten: 40,
        droppedFull: 1,
        droppedTooBig: 1,
        droppedReentrant: 0,
        subbufsProduced: 2,
        subbufsConsumed: 0,
        subbufsOverwritten: 0,
        messagesOverwritten: 0,
        bytesOverwritten: 0,
        paddingBytes: 24,
        bytesRead: 0,
        readsTorn: 0,
        subbufsReady: 2,
        stalled: true,
        closed: false,
        mapped: 0,
      },
    );
    file.read();
    assert.equal(file.stats().bytesRead, 40);
    assert.equal(file.stats().subbufsConsumed, 2);
    file.close();
    relayClose(chan);
  });
});

/**
 * Where relayfs follows the kernel (Linux relay.c) case by case: each test
 * states what the kernel does for the same calls. Geometry of the issue's
 * reproductions: 64-byte sub-buffers, 40-byte messages.
 */
describe('Kernel fidelity', () => {
  const forty = (tag: number) => bytes(40, tag);

  test('zero-length relay_write, __relay_write and relay_reserve are accepted, as in the kernel', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    assert.equal(relayWrite(chan, new Uint8Array(0)), true);
    assert.equal(relayWrite(chan, bytes(8), 0), true);
    assert.equal(__relayWrite(chan, new Uint8Array(0), 0), true);
    const view = relayReserve(chan, 0);
    assert.ok(view instanceof Uint8Array, 'an empty slot, not null');
    assert.equal(view.length, 0);
    assert.ok(relayWrite(chan, forty(1)));
    assert.deepEqual(file.read(), forty(1), 'no bytes for the empty messages');
    const s = file.stats();
    assert.equal(s.messagesWritten, 5, 'each is a message of no bytes');
    assert.equal(s.bytesWritten, 40);
    file.close();
    relayClose(chan);
  });

  test('on a stalled buffer a zero-length write retries the switch; relay_reserve(0) then returns null even when it succeeds', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 2 });
    const file = fs.openSync('/cpu0');
    assert.ok(relayWrite(chan, forty(1)));
    assert.ok(relayWrite(chan, forty(2))); // switch: sub-buffer 0 finished
    assert.equal(relayWrite(chan, forty(3)), false, 'switch refused: full, stalled');
    assert.equal(relayReserve(chan, 0), null, 'retried, refused again');
    assert.equal(file.stats().stalled, true);
    assert.equal(relaySubbufsConsumed(chan, 0, 1), 1);
    // relay_reserve(0): offset (subbuf_size + 1) + 0 > subbuf_size, so the switch is retried and succeeds,
    // but relay_switch_subbuf returns the length, 0, which relay_reserve takes for failure.
    assert.equal(relayReserve(chan, 0), null);
    let s = file.stats();
    assert.equal(s.stalled, false, 'the switch happened');
    assert.equal(s.droppedFull, 3);
    assert.equal(s.messagesWritten, 2);
    assert.equal(relayReserve(chan, 0)?.length, 0, 'not stalled any more: an empty slot');
    // relay_write(0) on a stalled buffer: the retried switch succeeds and the (empty) message is written.
    assert.ok(relayWrite(chan, forty(4)));
    assert.equal(relayWrite(chan, forty(5)), false, 'stalled again');
    assert.equal(relaySubbufsConsumed(chan, 0, 1), 1);
    assert.equal(relayWrite(chan, new Uint8Array(0)), true);
    s = file.stats();
    assert.equal(s.stalled, false);
    assert.equal(s.messagesWritten, 5);
    assert.deepEqual(file.read(), forty(4));
    file.close();
    relayClose(chan);
  });

  test('relay_reserve larger than a sub-buffer returns null and counts droppedTooBig, like relay_write', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    assert.ok(relayWrite(chan, forty(1)));
    assert.equal(relayReserve(chan, 65), null);
    assert.equal(relayWrite(chan, bytes(65)), false);
    const s = file.stats();
    assert.equal(s.droppedTooBig, 2);
    assert.equal(s.subbufsProduced, 0, 'length > subbuf_size: the kernel does not switch');
    assert.deepEqual(file.read(), forty(1));
    file.close();
    relayClose(chan);
  });

  test('read(n) and readInto fill up to the limit across sub-buffers, padding removed, as read(2) does', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const both = new Uint8Array([...forty(1), ...forty(2)]);
    relayWrite(chan, forty(1));
    relayWrite(chan, forty(2)); // switches: 24 bytes of padding after the first
    const first = file.read(50);
    assert.deepEqual(first, both.subarray(0, 50), 'the kernel returns 40 + 10');
    assert.deepEqual(file.read(50), both.subarray(50), 'then 30');
    relayWrite(chan, forty(3));
    relayWrite(chan, forty(4));
    const dest = new Uint8Array(50);
    const next = new Uint8Array([...forty(3), ...forty(4)]);
    assert.equal(file.readInto(dest), 50);
    assert.deepEqual(dest, next.subarray(0, 50));
    assert.equal(file.readInto(dest), 30);
    assert.deepEqual(dest.subarray(0, 30), next.subarray(50));
    file.close();
    relayClose(chan);
  });

  test('readWhole and readWholeInto, for parsers, end on a message boundary', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, forty(1));
    relayWrite(chan, forty(2));
    assert.deepEqual(file.readWhole(50), forty(1), 'the rest of the next sub-buffer does not fit');
    assert.deepEqual(file.readWhole(50), forty(2));
    relayWrite(chan, forty(3));
    relayWrite(chan, forty(4));
    const dest = new Uint8Array(64);
    assert.equal(file.readWholeInto(dest, 10), 40);
    assert.deepEqual(dest.subarray(10, 50), forty(3));
    assert.equal(file.readWholeInto(dest), 40);
    assert.deepEqual(dest.subarray(0, 40), forty(4));
    file.close();
    relayClose(chan);
  });

  test('relay_subbufs_consumed ignores a count above n_subbufs (nothing unread is thrown away), here and on a mapping', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const map = file.mmap();
    for (let i = 1; i <= 3; i++) relayWrite(chan, forty(i)); // 2 finished, 1 current
    assert.equal(relaySubbufsConsumed(chan, 0, 5), 0);
    assert.equal(map.subbufsConsumed(5), 0);
    assert.equal(file.stats().subbufsConsumed, 0);
    assert.equal(file.read().length, 120, 'the kernel read returns all 120 bytes');
    for (let i = 4; i <= 6; i++) relayWrite(chan, forty(i));
    assert.equal(map.subbufsConsumed(4), 3, 'a count up to n_subbufs is clamped to what is ready');
    map.unmap();
    file.close();
    relayClose(chan);
  });

  test('overwrite mode with one sub-buffer: poll reports POLLIN after a lap and the data is readable', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 1, callbacks: { subbufStart: () => true } });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, forty(1));
    assert.equal((await file.poll(0)).mask & POLLIN, 0, 'nothing finished yet');
    relayWrite(chan, forty(2)); // switch: the only sub-buffer is taken over
    assert.ok((await file.poll(0)).mask & POLLIN, 'the kernel: produced - consumed = 1');
    assert.ok(file.pollSync(0).readable);
    assert.deepEqual(file.read(), forty(2));
    assert.equal(file.pollSync(0).mask & POLLIN, 0, 'read: nothing left');
    file.close();
    relayClose(chan);
  });

  test('overwrite mode: relay_buf_full is true after a lap until a reader reads, and poll({ minReady: n }) wakes', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4, callbacks: { subbufStart: () => true } });
    const file = fs.openSync('/cpu0');
    const buf = chan.buffer(0);
    for (let i = 1; i <= 4; i++) relayWrite(chan, forty(i)); // 3 finished, 1 current
    assert.equal(relayBufFull(buf), false);
    relayWrite(chan, forty(5)); // a lap: the oldest unread sub-buffer is taken over
    assert.equal(relayBufFull(buf), true, 'the kernel: produced - consumed = n_subbufs');
    assert.equal(file.pollSync(0, { minReady: 4 }).readable, true);
    assert.equal(file.stats().subbufsOverwritten, 1);
    assert.deepEqual(file.read(40), forty(2), 'the oldest intact sub-buffer');
    assert.equal(relayBufFull(buf), false);
    relayWrite(chan, forty(6));
    relayWrite(chan, forty(7)); // another lap
    assert.equal(relayBufFull(buf), true);
    assert.equal(relaySubbufsConsumed(chan, 0, 1), 1, 'counts from the oldest intact sub-buffer');
    assert.equal(relayBufFull(buf), false);
    file.close();
    relayClose(chan);
  });

  test('poll after close reports POLLERR | POLLHUP, with POLLIN while data is left (the kernel: POLLERR only)', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, forty(1));
    relayFlush(chan);
    relayClose(chan);
    assert.equal(file.pollSync(0).mask, POLLIN | POLLRDNORM | POLLERR | POLLHUP);
    file.read();
    assert.equal(file.pollSync(0).mask, POLLERR | POLLHUP);
    file.close();
  });
});

describe('Channels in other threads', () => {
  test('relayAttach needs the callbacks a writer runs: given, or through callbacks.module', async () => {
    const { relayAttach, relayAttachSync } = await import('../../src/index.js');
    const plain = openChannel();
    assert.equal(relayAttachSync(plain.chan.handle()), plain.chan, 'this thread already has the channel');
    const withStart = openChannel({ callbacks: { subbufStart: () => 1 } });
    const handle = { ...withStart.chan.handle(), id: 'elsewhere' }; // as if in a thread without the channel
    assert.throws(() => relayAttachSync(handle), code('ERELAY_CALLBACKS_REQUIRED'));
    const attached = relayAttachSync(handle, { subbufStart: () => 1 });
    assert.equal(attached.callbacks.subbufStart!(attached.buffers[0]!, new Uint8Array(1), null, 0), 1);
    const moduled = { ...handle, id: 'elsewhere-2', callbacksModule: new URL('../fixtures/overwrite-callbacks.js', import.meta.url).href };
    const loaded = await relayAttach(moduled);
    assert.equal(typeof loaded.callbacks.subbufStart, 'function');
    await assert.rejects(relayAttach({ kind: 'nope' } as never), code('ERELAY_INVALID_ARG'));
    relayClose(plain.chan);
    relayClose(withStart.chan);
  });
});
