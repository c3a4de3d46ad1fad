/**
 * #9 item 4: sendfile checks its destination before consuming anything, and
 * bytes that did not reach the destination stay readable. Item 11: a follow
 * into a stream destroyed without an error settles.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { RelayError, relayClose, relayFlush, relayWrite } from '../../src/index.js';
import { bytes, openChannel } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'relayfs-sendfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const code = (c: string) => (err: unknown) => err instanceof RelayError && err.code === c;

describe('sendfile destinations', () => {
  const bad: [string, unknown][] = [
    ['fd 99999 (not open)', 99999],
    ['fd -1', -1],
    ['fd 1.5', 1.5],
    ['NaN', NaN],
    ['null', null],
    ['a string', '/tmp/x'],
    ['a plain object', {}],
    ['an object with a write that is not a function', { write: 1, once: 1 }],
  ];
  for (const [what, out] of bad) {
    test(`${what}: ERELAY_INVALID_ARG, and nothing consumed`, async () => {
      const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
      const file = fs.openSync('/cpu0');
      relayWrite(chan, bytes(20, 1));
      await assert.rejects(file.sendfile(out as number), code('ERELAY_INVALID_ARG'));
      assert.deepEqual(file.read(), bytes(20, 1));
      file.close();
      relayClose(chan);
    });
  }

  test('an ended stream: ERELAY_CLOSED, nothing consumed', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20, 1));
    const ended = new Writable({ write: (_c, _e, cb) => cb() });
    ended.end();
    await assert.rejects(file.sendfile(ended), code('ERELAY_CLOSED'));
    assert.deepEqual(file.read(), bytes(20, 1));
    file.close();
    relayClose(chan);
  });

  test('an fd open only for reading: a typed error, and the bytes stay readable in order', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20, 1));
    relayWrite(chan, bytes(30, 2));
    const path = join(dir, 'read-only');
    writeFileSync(path, '');
    const fd = openSync(path, 'r');
    try {
      await assert.rejects(file.sendfile(fd), code('ERELAY_INVALID_ARG'));
    } finally {
      closeSync(fd);
    }
    assert.equal(file.available(), 50);
    relayWrite(chan, bytes(10, 3));
    // Kept bytes come first, then what the buffer holds; readInto and sendfile see them too.
    const first = new Uint8Array(25);
    assert.equal(file.readInto(first), 25);
    assert.deepEqual(first, new Uint8Array([...bytes(20, 1), ...bytes(30, 2).subarray(0, 5)]));
    const outPath = join(dir, 'rest');
    const out = openSync(outPath, 'w');
    try {
      assert.equal(await file.sendfile(out), 35);
    } finally {
      closeSync(out);
    }
    assert.deepEqual(new Uint8Array(readFileSync(outPath)), new Uint8Array([...bytes(30, 2).subarray(5), ...bytes(10, 3)]));
    file.close();
    relayClose(chan);
  });

  test('count, latency, follow and options of the wrong type: typed errors, nothing consumed', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20, 1));
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    for (const options of [{ count: '5' }, { count: -1 }, { count: 1.5 }, { count: NaN }, { latency: '5' }, { latency: -5 }, { follow: 'yes' }, null, 42, 'x']) {
      await assert.rejects(file.sendfile(sink, options as object), code('ERELAY_INVALID_ARG'), JSON.stringify(options));
    }
    assert.deepEqual(file.read(), bytes(20, 1));
    file.close();
    relayClose(chan);
  });
});

describe('sendfile follow into a stream that goes away', () => {
  test('a stream destroyed without an error while sendfile waits for drain: the promise settles', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20, 1));
    let wrote!: () => void;
    const written = new Promise<void>((resolve) => (wrote = resolve));
    // Never calls back: write() returns false at once and 'drain' never comes.
    const stuck = new Writable({ highWaterMark: 1, write: () => wrote() });
    const sending = file.sendfile(stuck, { follow: true });
    await written;
    stuck.destroy();
    await assert.rejects(sending, code('ERELAY_CLOSED'));
    file.close();
    relayClose(chan);
  });

  test('a stream destroyed while sendfile follows an idle file: the promise settles', async () => {
    const { chan, fs } = openChannel({ subbufSize: 64, nSubbufs: 4 });
    const file = fs.openSync('/cpu0');
    relayWrite(chan, bytes(20, 1));
    relayFlush(chan);
    let got!: () => void;
    const gotData = new Promise<void>((resolve) => (got = resolve));
    const sink = new Writable({
      write(_c, _e, cb) {
        cb();
        got();
      },
    });
    const sending = file.sendfile(sink, { follow: true, latency: 5 });
    await gotData;
    sink.destroy();
    await assert.rejects(sending, code('ERELAY_CLOSED'));
    relayWrite(chan, bytes(10, 2));
    assert.deepEqual(file.read(), bytes(10, 2), 'nothing after the destroy was consumed');
    file.close();
    relayClose(chan);
  });
});
