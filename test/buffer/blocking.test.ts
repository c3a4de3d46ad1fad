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
