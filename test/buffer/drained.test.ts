// BufferReader.drained(), what exit drains and the flight recorder's dump wait for, must not
// say "drained" when a sub-buffer switch came and went while it looked (flake-check: a dump
// read nothing of a writer released from a held switch between its two loads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relayClose, relayFlush, relayWrite } from '../../src/index.js';
import { bytes, openChannel } from '../helpers.js';

test('drained() is false when a switch finished a sub-buffer while available() ran', () => {
  const { chan } = openChannel({ subbufSize: 64, nSubbufs: 4 });
  try {
    const reader = chan.buffer(0).reader;
    assert.equal(reader.drained(), true, 'a fresh buffer is drained');
    relayWrite(chan, bytes(10, 1));
    assert.equal(reader.drained(), false, 'a message in the current sub-buffer');
    // Stand-in for available() running while the writer held the lock (it then counts nothing),
    // with the switch completing before available() returns.
    const real = reader.available.bind(reader);
    reader.available = () => {
      relayFlush(chan);
      return 0;
    };
    assert.equal(reader.drained(), false, 'the switch moved PRODUCED: not drained');
    reader.available = real;
    assert.deepEqual(reader.read(), bytes(10, 1));
    assert.equal(reader.drained(), true, 'all read');
  } finally {
    relayClose(chan);
  }
});
