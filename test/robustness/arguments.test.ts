/**
 * #9 items 10 and 11: a channel too large for the memory limit is
 * ERELAY_NOMEM at open; every missing argument check named in the issue is
 * a typed RelayError (no TypeError, no wait forever, no forged attach).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  RelayError,
  channelMemoryLimit,
  klogRaw,
  registerKlogHandler,
  relayAttach,
  relayAttachSync,
  relayBufFull,
  relayClose,
  relayOpen,
  relayWrite,
  setChannelMemoryLimit,
  subbufStartReserve,
  unregisterKlogHandler,
  hostfsCallbacks,
} from '../../src/index.js';
import { freshFs, openChannel } from '../helpers.js';

const code = (c: string) => (err: unknown) => err instanceof RelayError && err.code === c;
const invalid = code('ERELAY_INVALID_ARG');

describe('channel memory limit', () => {
  test('1024 buffers × 1 GiB is ERELAY_NOMEM at open (nothing allocated, no files made)', () => {
    const fs = freshFs();
    assert.throws(() => relayOpen('cpu', null, 1 << 20, 1024, hostfsCallbacks(fs), undefined, { buffers: 1024 }), code('ERELAY_NOMEM'));
    assert.deepEqual(fs.files(), []);
  });

  test('the default limit is half the machine memory in Node, and options.maxBytes overrides it per channel', () => {
    assert.ok(channelMemoryLimit() > 0);
    const fs = freshFs();
    assert.throws(() => relayOpen('cpu', null, 4096, 4, hostfsCallbacks(fs), undefined, { buffers: 2, maxBytes: 4096 * 4 * 2 - 1 }), code('ERELAY_NOMEM'));
    const chan = relayOpen('cpu', null, 4096, 4, hostfsCallbacks(fs), undefined, { buffers: 2, maxBytes: 4096 * 4 * 2 });
    relayClose(chan);
    for (const maxBytes of [0, -1, NaN, '1', 1.5]) {
      assert.throws(() => relayOpen('cpu', null, 64, 2, hostfsCallbacks(freshFs()), undefined, { buffers: 1, maxBytes: maxBytes as number }), invalid);
    }
  });

  test('setChannelMemoryLimit changes the default; a global channel counts one buffer', () => {
    const before = channelMemoryLimit();
    try {
      setChannelMemoryLimit(64 * 1024);
      assert.throws(() => relayOpen('cpu', null, 16 * 1024, 4, hostfsCallbacks(freshFs()), undefined, { buffers: 2 }), code('ERELAY_NOMEM'));
      relayClose(relayOpen(null, null, 16 * 1024, 4, hostfsCallbacks(freshFs()), undefined, { buffers: 8, global: true }));
      assert.throws(() => setChannelMemoryLimit(-5), invalid);
    } finally {
      setChannelMemoryLimit(before);
    }
  });
});

describe('argument checks named in the issue', () => {
  test('readInto offsets -1, past the end, NaN, Infinity, 1.5: ERELAY_INVALID_ARG and nothing consumed', () => {
    const { chan, fs } = openChannel();
    const file = fs.openSync('/cpu0');
    relayWrite(chan, new Uint8Array([1, 2, 3]));
    for (const offset of [-1, 9, NaN, Infinity, 1.5, '0']) {
      assert.throws(() => file.readInto(new Uint8Array(8), offset as number), invalid, String(offset));
    }
    assert.equal(file.readInto(new Uint8Array(8), 8), 0, 'an offset at the end reads nothing');
    assert.deepEqual(file.read(), new Uint8Array([1, 2, 3]));
    file.close();
    relayClose(chan);
  });

  test('poll and pollSync with NaN, a string or bad options: ERELAY_INVALID_ARG, never a wait forever', async () => {
    const { chan, fs } = openChannel();
    const file = fs.openSync('/cpu0');
    for (const t of [NaN, 'soon', null, {}]) {
      await assert.rejects(file.poll(t as number), invalid, String(t));
      assert.throws(() => file.pollSync(t as number), invalid, String(t));
    }
    for (const options of [null, 5, { minReady: 0 }, { minReady: NaN }]) {
      await assert.rejects(file.poll(0, options as object), invalid);
      assert.throws(() => file.pollSync(0, options as object), invalid);
    }
    // A negative timeout is a deadline already past: poll now.
    assert.equal((await file.poll(-5)).timedOut, true);
    assert.equal(file.pollSync(-5).timedOut, true);
    file.close();
    relayClose(chan);
  });

  test('relayBufFull(x) and subbufStartReserve(x) on something that is not a buffer: ERELAY_INVALID_ARG', () => {
    for (const x of [undefined, null, 42, {}, { writer: null }]) {
      assert.throws(() => relayBufFull(x as never), invalid);
      assert.throws(() => subbufStartReserve(x as never, 4), invalid);
    }
  });

  test('klogRaw(null) and klogRaw of a bad length with a handler: ERELAY_INVALID_ARG; without one: nothing at all', () => {
    klogRaw(null as never); // no handler: klog costs one check and looks at nothing
    const { chan } = openChannel({ subbufSize: 1024 });
    registerKlogHandler(chan);
    try {
      for (const [data, length] of [[null], [undefined], ['text'], [new Uint8Array(4), 5], [new Uint8Array(4), -1], [new Uint8Array(4), NaN]] as [unknown, unknown?][]) {
        assert.throws(() => klogRaw(data as Uint8Array, length as number), invalid, String(data));
      }
    } finally {
      unregisterKlogHandler();
      relayClose(chan);
    }
  });

  test('a forged or damaged handle does not attach', async () => {
    const { chan } = openChannel();
    const good = chan.handle();
    const forged: unknown[] = [
      { ...good, id: 42 },
      { ...good, id: '' },
      { ...good, subbufSize: -1 },
      { ...good, nSubbufs: 1.5 },
      { ...good, control: new ArrayBuffer(64) },
      { ...good, buffers: [] },
      { ...good, buffers: [new ArrayBuffer(1024)] },
      { ...good, buffers: [new SharedArrayBuffer(8)] },
      { ...good, isGlobal: 'no' },
      { kind: 'relayfs.channel', version: 1 },
      null,
      'handle',
    ];
    for (const h of forged) {
      assert.throws(() => relayAttachSync(h as never), invalid);
      await assert.rejects(relayAttach(h as never), invalid);
    }
    relayClose(chan);
  });

  test('non-object options are ERELAY_INVALID_ARG', () => {
    const { chan, fs } = openChannel();
    const file = fs.openSync('/cpu0');
    for (const options of [null, 5, 'x'] as unknown[]) {
      assert.throws(() => relayOpen('cpu', null, 64, 2, hostfsCallbacks(freshFs()), undefined, options as object), invalid);
      assert.throws(() => file.chunks(options as object), invalid);
      assert.throws(() => file.stream(options as object), invalid);
    }
    file.close();
    relayClose(chan);
  });
});
