/**
 * Blocking (lossless) mode at the buffer level, where the moments of a race
 * can be put in order by hand: the writer and reader run in this thread,
 * and subbufStart stands for what another thread does meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferMemory, BufferReader, BufferWriter, setWriterMayBlock } from '../../src/buffer/index.js';

test('a switch refused for want of room, with a sub-buffer freed right after the refusal, waits and goes in: it is not dropped', () => {
  const mem = BufferMemory.allocate({ subbufSize: 1024, nSubbufs: 2 });
  const reader = new BufferReader(mem);
  const out = new Uint8Array(1024);
  let freedAfterRefusal = 0;
  // The default policy (refuse when full), and a reader that frees the oldest sub-buffer just after
  // the refusal: the moment between the writer's switch and its next look at the buffer.
  const writer = new BufferWriter(
    mem,
    () => {
      if (!writer.isFull()) return true;
      freedAfterRefusal += reader.readInto(out, 0, true);
      return false;
    },
    false,
  );
  writer.init();
  writer.setBlockingTimeout(60_000);
  setWriterMayBlock(true); // as in a worker thread (this process never loads the main-thread set-up); nothing here waits
  const msg = new Uint8Array(1000).fill(7);
  const results = [0, 1, 2, 3, 4].map(() => writer.write(msg, msg.length));
  assert.deepEqual(results, [true, true, true, true, true]);
  assert.equal(freedAfterRefusal, 3 * 1000, 'the race happened at every switch from the third write on');
  const s = reader.stats();
  assert.equal(s.droppedFull, 0);
  assert.equal(s.messagesWritten, 5);
});

test('while a switch holds the buffer lock the reader reports busy: the sub-buffer being finished holds data that read() and available() cannot see yet', () => {
  const mem = BufferMemory.allocate({ subbufSize: 256, nSubbufs: 4 });
  const reader = new BufferReader(mem);
  const out = new Uint8Array(1024);
  let seen: { busy: boolean; drained: boolean; available: number; read: number } | null = null;
  let switches = 0;
  const writer = new BufferWriter(mem, () => {
    // subbufStart runs inside the switch, lock held, as another thread's reader would find it.
    if (switches++ === 1) seen = { busy: reader.busy(), drained: reader.drained(), available: reader.available(), read: reader.readInto(out) };
    return true;
  });
  writer.init();
  assert.equal(reader.busy(), false);
  const msg = new Uint8Array(100).fill(3);
  writer.write(msg, msg.length);
  writer.write(msg, msg.length);
  assert.equal(reader.busy(), false, 'plain writes take no lock');
  writer.write(msg, msg.length); // does not fit: the switch
  assert.deepEqual(seen, { busy: true, drained: false, available: 0, read: 0 }, 'inside the switch: 200 bytes there, none readable, and busy says so');
  assert.equal(reader.busy(), false);
  assert.equal(reader.drained(), false, 'after the switch: 300 bytes to read');
  assert.equal(reader.readInto(out), 300, 'after it, everything');
  assert.equal(reader.drained(), true);
});
