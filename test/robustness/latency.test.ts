/**
 * #9 item 2: latency 0 means "as soon as possible" and must not starve the
 * event loop; a negative or non-numeric latency is a typed error. The
 * consumer runs in a worker thread, so a starved loop there is seen from
 * here (no message) instead of hanging the test process.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { RelayError, relayClose } from '../../src/index.js';
import { openChannel, workerInbox } from '../helpers.js';

const WORKER = new URL('./fixtures/latency-worker.js', import.meta.url);
const invalid = (err: unknown) => err instanceof RelayError && err.code === 'ERELAY_INVALID_ARG';

describe('latency 0', { timeout: 90_000 }, () => {
  for (const mode of ['chunks', 'stream', 'sendfile'] as const) {
    test(`${mode} with latency 0 lets a timer beside it fire, and delivers every byte`, async () => {
      const worker = new Worker(WORKER, { workerData: { mode } });
      const inbox = workerInbox(worker);
      try {
        // A starved event loop in the worker shows as no message here (the deadline is a hang guard).
        assert.equal(await inbox.next('timer'), 'timer');
        assert.deepEqual(await inbox.next('end of the consumer'), { done: true, bytes: 30 });
      } finally {
        await worker.terminate();
      }
    });
  }
});

describe('bad latencies are typed errors', () => {
  for (const latency of [-1, -Infinity, NaN, '5', null, {}]) {
    test(`latency ${inspect(latency)}`, async () => {
      const { chan, fs } = openChannel();
      const file = fs.openSync('/cpu0');
      const sink = new Writable({ write: (_c, _e, cb) => cb() });
      assert.throws(() => file.chunks({ latency: latency as number }), invalid);
      assert.throws(() => file.stream({ latency: latency as number }), invalid);
      await assert.rejects(file.sendfile(sink, { follow: true, latency: latency as number }), invalid);
      file.close();
      relayClose(chan);
    });
  }

  test('poll with latency 0 on an empty file returns (timed out) at the next turn of the loop', async () => {
    const { chan, fs } = openChannel();
    const file = fs.openSync('/cpu0');
    let immediate = false;
    setImmediate(() => (immediate = true));
    const r = await file.poll(0);
    assert.equal(r.timedOut, true);
    assert.equal(immediate, true, 'the event loop turned before poll(0) returned');
    file.close();
    relayClose(chan);
  });
});
