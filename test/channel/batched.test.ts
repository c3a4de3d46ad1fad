/**
 * Batched publication (relayOpen's publishBatchBytes) through the public API,
 * with real worker threads: messages reach readers when a batch fills, at the
 * end of the writer's job, or before its next flush; a relayFlush or relayClose
 * from another thread racing a batch loses nothing and counts everything.
 * Nothing here waits for a duration, only for events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { hostfsCallbacks, relayClose, relayFlush, relayOpen, relayWrite, RelayError, type RelayBuffer, type RelayChannel } from '../../src/index.js';
import { freshFs, fillMessage, parseMessages, type Parsed } from '../helpers.js';

const fixture = new URL('../fixtures/lossless-writer.js', import.meta.url);
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

interface WriterResult {
  written: number;
  accepted: number;
  dropped: number;
  error?: string;
}

function open(batch: number, blockingTimeoutMs?: number, subbufSize = 2048, nSubbufs = 3): RelayChannel {
  return relayOpen(null, null, subbufSize, nSubbufs, hostfsCallbacks(freshFs()), undefined, { buffers: 1, blockingTimeoutMs, publishBatchBytes: batch });
}

/** Reads what the channel's buffer has; through the buffer, which stays readable after relayClose. */
function readSome(from: RelayChannel | RelayBuffer, into: Parsed[]): number {
  const part = ('reader' in from ? from : from.buffers[0]!).reader.read();
  if (part) parseMessages(part, into);
  return part?.length ?? 0;
}

test('lossless and batched, flushed from another thread all the while: every message delivered once, in order', { timeout: 120_000 }, async () => {
  const chan = open(512, 60_000);
  try {
    const count = 4000;
    const w = new Worker(fixture, { workerData: { handle: chan.handle(), count, lengths: [16, 100, 24, 300, 40, 16, 16] } });
    const exited = once(w, 'exit');
    let result: WriterResult | undefined;
    w.once('message', (m: WriterResult) => (result = m));
    const read: Parsed[] = [];
    while (result === undefined) {
      relayFlush(chan); // switches under the writer's open batch whenever one is pending
      readSome(chan, read);
      await nextTurn();
    }
    // The writer reported from the job that wrote its last batch, which the end of that job
    // publishes: the thread's exit comes after.
    await exited;
    relayFlush(chan);
    while (readSome(chan, read) > 0);
    assert.equal(result.error, undefined);
    assert.deepEqual([result.accepted, result.dropped], [count, 0]);
    assert.deepEqual(
      read.map((p) => p.seq),
      Array.from({ length: count }, (_, i) => i),
    );
    const s = chan.buffers[0]!.reader.stats();
    assert.deepEqual([s.messagesWritten, s.droppedFull], [count, 0]);
  } finally {
    relayClose(chan);
  }
});

test('a worker that writes and goes back to its event loop has published what it wrote', { timeout: 60_000 }, async () => {
  const chan = open(1 << 20);
  try {
    // Three messages, far below the batch size; the worker then waits for the main thread.
    const code = `
      import { workerData, parentPort } from 'node:worker_threads';
      const { relayAttach, relayWrite } = await import(${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)});
      const { fillMessage } = await import(${JSON.stringify(new URL('../helpers.js', import.meta.url).href)});
      const chan = await relayAttach(workerData);
      const msg = new Uint8Array(32);
      for (let seq = 0; seq < 3; seq++) { fillMessage(msg, 1, seq, 32); relayWrite(chan, msg); }
      parentPort.once('message', () => process.exit(0));
    `;
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData: chan.handle() });
    const exited = once(w, 'exit');
    const read: Parsed[] = [];
    while (read.length < 3) {
      readSome(chan, read);
      await nextTurn();
    }
    assert.deepEqual(
      read.map((p) => p.seq),
      [0, 1, 2],
    );
    w.postMessage('done');
    await exited;
  } finally {
    relayClose(chan);
  }
});

test('on the main thread, a batch is readable after the current job (a microtask), or at once after relayFlush', async () => {
  const chan = open(4096);
  try {
    const msg = new Uint8Array(32);
    const read: Parsed[] = [];
    fillMessage(msg, 1, 0, 32);
    assert.equal(relayWrite(chan, msg), true);
    readSome(chan, read);
    assert.equal(read.length, 0, 'not yet published');
    await Promise.resolve();
    readSome(chan, read);
    assert.deepEqual(
      read.map((p) => p.seq),
      [0],
    );
    fillMessage(msg, 1, 1, 32);
    relayWrite(chan, msg);
    relayFlush(chan);
    readSome(chan, read);
    assert.deepEqual(
      read.map((p) => p.seq),
      [0, 1],
    );
    assert.equal(chan.buffers[0]!.reader.stats().messagesWritten, 2);
  } finally {
    relayClose(chan);
  }
});

test('relayClose from another thread while a batched writer writes: what it was told was written is read or counted', { timeout: 120_000 }, async () => {
  const chan = open(4096, undefined, 64 * 1024, 4);
  const buf = chan.buffers[0]!;
  const w = new Worker(fixture, { workerData: { handle: chan.handle(), count: 50_000_000, lengths: [24, 40, 64] } });
  const exited = once(w, 'exit');
  const report = once(w, 'message');
  const read: Parsed[] = [];
  while (buf.reader.stats().messagesWritten === 0) {
    readSome(buf, read);
    await nextTurn();
  }
  relayClose(chan);
  const [result] = (await report) as [WriterResult];
  await exited;
  while (readSome(buf, read) > 0);
  assert.equal(result.error, 'ERELAY_CLOSED');
  const s = buf.reader.stats();
  assert.deepEqual(
    read.map((p) => p.seq),
    Array.from({ length: read.length }, (_, i) => i),
    'the messages read are the first ones, in order',
  );
  assert.equal(s.messagesWritten, read.length, 'every message counted written was read');
  assert.equal(s.messagesWritten + s.droppedFull, result.accepted + result.dropped, 'the writer was told true only of messages written or counted dropped');
});

test('publishBatchBytes must be a positive whole number, and is refused for a global buffer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, '4096', 2 ** 31]) {
    assert.throws(
      () => open(bad as number),
      (e: unknown) => e instanceof RelayError && e.code === 'ERELAY_INVALID_ARG',
    );
  }
  assert.throws(
    () => relayOpen(null, null, 1024, 2, hostfsCallbacks(freshFs()), undefined, { global: true, publishBatchBytes: 4096 }),
    (e: unknown) => e instanceof RelayError && e.code === 'ERELAY_INVALID_ARG' && /global/.test(e.message),
  );
});

test('a buffer made global by createBufFile publishes every message (its writers take turns)', () => {
  const fs = freshFs();
  const callbacks = hostfsCallbacks(fs);
  const chan = relayOpen(
    'g',
    null,
    1024,
    2,
    {
      ...callbacks,
      createBufFile: (name, parent, mode, buf, isGlobal) => {
        isGlobal.value = true;
        return callbacks.createBufFile!(name, parent, mode, buf, isGlobal);
      },
    },
    undefined,
    { buffers: 2, publishBatchBytes: 4096 },
  );
  try {
    assert.equal(chan.isGlobal, true);
    assert.equal(chan.buffers[0]!.writer.publishBatchBytes, 0);
    const msg = new Uint8Array(32);
    fillMessage(msg, 1, 0, 32);
    relayWrite(chan, msg);
    const read: Parsed[] = [];
    readSome(chan, read);
    assert.equal(read.length, 1, 'readable as soon as relayWrite returns');
  } finally {
    relayClose(chan);
  }
});
