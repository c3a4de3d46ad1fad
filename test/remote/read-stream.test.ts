import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import type { RelayFile } from '../../src/hostfs/index.js';
import { pump } from '../../src/remote/read-stream.js';

/** A response that takes everything. */
function sink(): { res: ServerResponse; chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  const res = { destroyed: false, socket: { destroyed: false, writable: true }, write: (c: Uint8Array) => (chunks.push(c), true) };
  return { res: res as unknown as ServerResponse, chunks };
}

test('after a hangup a read keeps going while a switch holds the last sub-buffer, however long, then ends with its data', async () => {
  // A hung-up file whose last sub-buffer a writer is still finishing (preempted inside the switch):
  // read() returns nothing and drained() is false until the switch lets go. The stream used to give
  // up after 7 empty reads (~90 ms of retries) and lose that tail on a busy machine.
  const tail = new Uint8Array([1, 2, 3]);
  let reads = 0;
  let released = false;
  const file = {
    closed: false,
    hangup: true,
    read(): Uint8Array {
      reads++;
      if (!released) {
        if (reads === 20) released = true; // the writer lets go after 20 empty reads
        return new Uint8Array(0);
      }
      const out = reads === 21 ? tail : new Uint8Array(0);
      return out;
    },
    drained: () => released && reads > 21,
  } as unknown as RelayFile;
  const { res, chunks } = sink();
  const reason = await pump(file, res, { follow: false, latency: 10, max: Infinity, keep: null }, { stopping: false });
  assert.equal(reason, 'hangup');
  assert.deepEqual(chunks, [tail]);
  assert.equal(reads, 22, 'read until drained, not once more');
});

test('after a hangup an empty, drained file ends the read at once', async () => {
  let reads = 0;
  const file = { closed: false, hangup: true, read: () => (reads++, new Uint8Array(0)), drained: () => true } as unknown as RelayFile;
  const { res, chunks } = sink();
  assert.equal(await pump(file, res, { follow: true, latency: 10, max: Infinity, keep: null }, { stopping: false }), 'hangup');
  assert.equal(chunks.length, 0);
  assert.equal(reads, 1);
});
