/**
 * Every public function fed wrong types, NaN, negative, huge and closed
 * inputs: it either works or throws a RelayError (with a code) — never a
 * TypeError, a hang, or damage to data already written.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  HostFs,
  KlogDecoder,
  KlogScanner,
  RelayError,
  RelayRemote,
  decodeRecords,
  encodeRecord,
  hostfsCallbacks,
  klog,
  klogRaw,
  openFlightRecorder,
  openSource,
  registerKlogHandler,
  relayAttachSync,
  relayBufFull,
  relayClose,
  relayFlush,
  relayLateSetupFiles,
  relayOpen,
  relayReserve,
  relayReserveOffset,
  relayReset,
  relaySubbufsConsumed,
  relayWrite,
  subbufStartReserve,
  unregisterKlogHandler,
} from '../../src/index.js';
import { freshFs, openChannel } from '../helpers.js';

/** Values no argument should choke on: wrong types, NaN, negatives, huge numbers, and anything fast-check makes. */
const HOSTILE: unknown[] = [
  undefined,
  null,
  NaN,
  -1,
  -0,
  0.5,
  -Infinity,
  Infinity,
  2 ** 53,
  -(2 ** 31),
  2 ** 32 + 1,
  '',
  '5',
  'x'.repeat(300),
  [],
  {},
  () => 1,
  Symbol('s'),
  10n,
  true,
  new Uint8Array(0),
  new ArrayBuffer(8),
  new Date(0),
];
const hostile = fc.oneof(fc.constantFrom(...HOSTILE), fc.anything({ withBigInt: true, withTypedArray: true, withBoxedValues: true, withNullPrototype: true }));

/** Calls fn(v) for hostile values: a result is fine (and cleaned up), an error must be a RelayError with a code. */
function typedOrOk(what: string, fn: (v: unknown) => unknown, cleanup?: (r: unknown) => void): void {
  const values = [...HOSTILE, ...fc.sample(hostile, { numRuns: 60, seed: what.length })];
  const bad: string[] = [];
  for (const v of values) {
    let r: unknown;
    try {
      r = fn(v);
    } catch (err) {
      if (!(err instanceof RelayError && typeof err.code === 'string')) bad.push(`${what}(${fc.stringify(v)}) threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
      continue;
    }
    cleanup?.(r);
  }
  assert.deepEqual(bad, []);
}

async function typedOrOkAsync(what: string, fn: (v: unknown) => Promise<unknown>, values: unknown[] = HOSTILE): Promise<void> {
  for (const v of values) {
    try {
      await fn(v);
    } catch (err) {
      assert.ok(err instanceof RelayError, `${what}(${fc.stringify(v)}) threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    }
  }
}

const closeChan = (c: unknown) => relayClose(c as never);

describe('the channel API with hostile arguments', () => {
  test('relayOpen, each argument', () => {
    const cbs = () => hostfsCallbacks(freshFs());
    typedOrOk('relayOpen base', (v) => relayOpen(v as string, null, 64, 2, cbs(), undefined, { buffers: 1 }), closeChan);
    typedOrOk('relayOpen subbufSize', (v) => relayOpen('cpu', null, v as number, 2, cbs(), undefined, { buffers: 1 }), closeChan);
    typedOrOk('relayOpen nSubbufs', (v) => relayOpen('cpu', null, 64, v as number, cbs(), undefined, { buffers: 1 }), closeChan);
    typedOrOk('relayOpen callbacks', (v) => relayOpen('cpu', null, 64, 2, v as never, undefined, { buffers: 1 }), closeChan);
    typedOrOk('relayOpen options', (v) => relayOpen('cpu', null, 64, 2, cbs(), undefined, v as never), closeChan);
    typedOrOk('relayOpen options.buffers', (v) => relayOpen('cpu', null, 64, 2, cbs(), undefined, { buffers: v as number }), closeChan);
  });

  test('writes, reserves, flush, reset, consumed and late setup: typed errors, and what was written stays intact', () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const msg = new Uint8Array([7, 7, 7]);
    relayWrite(chan, msg);
    typedOrOk('relayWrite chan', (v) => relayWrite(v as never, msg));
    typedOrOk('relayWrite data', (v) => relayWrite(chan, v as never));
    typedOrOk('relayWrite length', (v) => relayWrite(chan, new Uint8Array(8), v as number));
    typedOrOk('relayReserve length', (v) => relayReserve(chan, v as number));
    typedOrOk('relayReserveOffset length', (v) => relayReserveOffset(chan, v as number));
    typedOrOk('relayFlush', (v) => relayFlush(v as never));
    typedOrOk('relayReset', (v) => relayReset(v as never));
    typedOrOk('relayClose', (v) => relayClose(v as never));
    typedOrOk('relaySubbufsConsumed cpu', (v) => relaySubbufsConsumed(chan, v as number, 0));
    typedOrOk('relaySubbufsConsumed n', (v) => relaySubbufsConsumed(v as never, 0, v as number));
    typedOrOk('relayBufFull', (v) => relayBufFull(v as never));
    typedOrOk('subbufStartReserve', (v) => subbufStartReserve(chan.buffers[0]!, v as number));
    typedOrOk('relayAttachSync', (v) => relayAttachSync(v as never));
    typedOrOk('relayLateSetupFiles', (v) => relayLateSetupFiles(chan, v as string, null));
    // The first message is still there, first and whole.
    const data = file.read();
    assert.deepEqual(data.subarray(0, 3), msg);
    file.close();
    relayClose(chan);
  });

  test('relay file operations', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    typedOrOk('read', (v) => file.read(v as number));
    typedOrOk('readWhole', (v) => file.readWhole(v as number));
    typedOrOk('readInto dest', (v) => file.readInto(v as never));
    typedOrOk('readInto offset', (v) => file.readInto(new Uint8Array(8), v as number));
    typedOrOk('readWholeInto offset', (v) => file.readWholeInto(new Uint8Array(8), v as number));
    typedOrOk('chunks', (v) => file.chunks(v as never));
    typedOrOk(
      'stream',
      (v) => file.stream(v as never),
      (s) => (s as { destroy(): void }).destroy(),
    );
    // Timeouts: only values that do not ask for a real wait (a positive number is a legitimate wait).
    const noWait = HOSTILE.filter((v) => v !== undefined && !(typeof v === 'number' && v > 0)); // undefined is the default: Infinity
    for (const v of noWait) {
      try {
        file.pollSync(v as number);
      } catch (err) {
        assert.ok(err instanceof RelayError, `pollSync(${fc.stringify(v)}) threw ${(err as Error)?.name}`);
      }
    }
    await typedOrOkAsync('poll', (v) => file.poll(v as number), noWait);
    await typedOrOkAsync('poll options', (v) => file.poll(0, v as never));
    await typedOrOkAsync('sendfile destination', (v) => file.sendfile(v as never));
    await typedOrOkAsync(
      'sendfile options',
      (v) => file.sendfile(sink, v as never),
      HOSTILE.filter((v) => v !== undefined && !(typeof v === 'object' && v !== null && !Array.isArray(v))),
    );
    const map = file.mmap();
    typedOrOk('mapping.subbuf', (v) => map.subbuf(v as number));
    typedOrOk('mapping.padding', (v) => map.padding(v as number));
    typedOrOk('mapping.subbufsConsumed', (v) => map.subbufsConsumed(v as number));
    map.unmap();
    typedOrOk(
      'hostfs.openSync',
      (v) => fs.openSync(v as string),
      (f) => (f as { close(): void }).close(),
    );
    typedOrOk(
      'hostfs.createDir',
      (v) => fs.createDir(v as string),
      (d) => fs.remove(d as never),
    );
    typedOrOk('HostFs.get', (v) => HostFs.get(v as string));
    file.close();
    relayClose(chan);
  });

  test('closed channels and files: ERELAY_CLOSED for every operation', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    const map = file.mmap();
    map.unmap();
    file.close();
    relayClose(chan);
    const closed = (err: unknown) => err instanceof RelayError && (err.code === 'ERELAY_CLOSED' || err.code === 'ENOENT');
    assert.throws(() => relayWrite(chan, new Uint8Array(1)), closed);
    assert.throws(() => relayReserve(chan, 1), closed);
    assert.throws(() => relayFlush(chan), closed);
    assert.throws(() => relayReset(chan), closed);
    assert.throws(() => relayClose(chan), closed);
    assert.throws(() => registerKlogHandler(chan), closed);
    assert.throws(() => file.read(), closed);
    assert.throws(() => file.readInto(new Uint8Array(4)), closed);
    assert.throws(() => file.available(), closed);
    assert.throws(() => file.stats(), closed);
    assert.throws(() => file.mmap(), closed);
    assert.throws(() => file.pollSync(0), closed);
    assert.throws(() => file.close(), closed);
    await assert.rejects(file.poll(0), closed);
    await assert.rejects(file.sendfile(new Writable({ write: (_c, _e, cb) => cb() })), closed);
    assert.throws(() => map.subbuf(0), closed);
    assert.throws(() => map.unmap(), closed);
    assert.throws(() => fs.openSync('/cpu0'), closed);
  });
});

describe('klog, decoders, tools and the remote client with hostile arguments', () => {
  test('klog and klogRaw with a handler', () => {
    const { chan, fs } = openChannel({ subbufSize: 1024, nSubbufs: 4 });
    registerKlogHandler(chan);
    try {
      typedOrOk('klog format', (v) => klog(v as string));
      typedOrOk('klog args', (v) => klog('%s %d %j', v, v, v));
      typedOrOk('klogRaw', (v) => klogRaw(v as never));
      typedOrOk('klogRaw length', (v) => klogRaw(new Uint8Array(8), v as number));
      typedOrOk(
        'registerKlogHandler',
        (v) => registerKlogHandler(v as never),
        () => registerKlogHandler(chan),
      );
    } finally {
      unregisterKlogHandler();
    }
    // Everything written decodes.
    const file = fs.openSync('/cpu0');
    relayFlush(chan);
    for (const r of decodeRecords(file.read())) assert.ok(r.length >= 0);
    file.close();
    relayClose(chan);
  });

  test('decoders and the encoder', () => {
    typedOrOk('decodeRecords', (v) => [...decodeRecords(v as never)]);
    typedOrOk('KlogDecoder.push', (v) => new KlogDecoder().push(v as never));
    typedOrOk('KlogScanner.push', (v) => new KlogScanner().push(v as never));
    typedOrOk('encodeRecord fields', (v) => encodeRecord(v as never, 'x'));
    typedOrOk('encodeRecord payload', (v) => encodeRecord({ type: 'raw', timestamp: 0, seq: 0, thread: 0, buffer: 0 }, v as never));
  });

  test('openFlightRecorder, openSource, RelayRemote', () => {
    typedOrOk(
      'openFlightRecorder',
      (v) => openFlightRecorder(v as never),
      (r) => (r as { close(): void }).close(),
    );
    typedOrOk('openSource', (v) => openSource(v as string));
    typedOrOk('RelayRemote', (v) => new RelayRemote(v as never));
    typedOrOk('RelayRemote pid', (v) => new RelayRemote({ pid: v as number }));
  });
});
