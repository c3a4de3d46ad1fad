/**
 * Blocking (lossless) mode: a writer that finds its buffer full waits for a
 * reader (up to blockingTimeoutMs), then drops and counts. Real worker
 * threads; nothing here waits for a duration, only for events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import fc from 'fast-check';
import { hostfsCallbacks, relayClose, relayFlush, relayOpen, relayWrite, RelayError, type RelayChannel } from '../../src/index.js';
import { ROOM_WAITERS } from '../../src/buffer/layout.js';
import { freshFs, parseMessages } from '../helpers.js';

const fixture = new URL('../fixtures/lossless-writer.js', import.meta.url);

interface WriterResult {
  written: number;
  accepted: number;
  dropped: number;
  error?: string;
}

function open(blockingTimeoutMs: number, subbufSize = 4096, nSubbufs = 4): RelayChannel {
  return relayOpen(null, null, subbufSize, nSubbufs, hostfsCallbacks(freshFs()), undefined, { buffers: 1, blockingTimeoutMs });
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A writer thread; `exited` is listened for from the start (the thread may end before we get to it). */
function startWriter(workerData: object): { w: Worker; exited: Promise<unknown> } {
  const w = new Worker(fixture, { workerData });
  return { w, exited: once(w, 'exit') };
}

/**
 * A slow consumer: reads only while the writer is asleep waiting for room (so
 * every hand-over goes through a blocked writer), one sub-buffer at a time,
 * until the writer reports. Returns the writer's report, the sequence numbers
 * read, and how many times the writer was seen waiting.
 */
async function drainSlowly(chan: RelayChannel, writer: Worker): Promise<{ result: WriterResult; seqs: number[]; waits: number }> {
  const buf = chan.buffers[0]!;
  const dest = new Uint8Array(chan.subbufSize);
  const seqs: number[] = [];
  let result: WriterResult | undefined;
  writer.once('message', (m: WriterResult) => (result = m));
  const readSome = (): number => {
    const n = buf.reader.readInto(dest, 0, true);
    const parsed: { seq: number }[] = [];
    parseMessages(dest.subarray(0, n), parsed as never);
    for (const p of parsed) seqs.push(p.seq);
    return n;
  };
  let waits = 0;
  while (result === undefined) {
    if (Atomics.load(buf.mem.ctrl, ROOM_WAITERS) > 0) {
      waits++;
      readSome();
    }
    await nextTurn();
  }
  relayFlush(chan);
  while (readSome() > 0);
  return { result, seqs, waits };
}

test('a lossless writer and a slow reader: every message delivered in order, none dropped', { timeout: 120_000 }, async () => {
  const chan = open(60_000);
  try {
    const count = 3000;
    const { w, exited } = startWriter({ handle: chan.handle(), count, lengths: [100, 300, 1000, 24], reserve: true });
    const { result, seqs, waits } = await drainSlowly(chan, w);
    assert.equal(result.error, undefined);
    assert.deepEqual([result.written, result.accepted, result.dropped], [count, count, 0]);
    assert.deepEqual(
      seqs,
      Array.from({ length: count }, (_, i) => i),
      'delivered == written, in order',
    );
    assert.ok(waits > 0, 'the writer blocked at least once (the buffer holds far fewer than the messages)');
    const s = buf0(chan).reader.stats();
    assert.equal(s.droppedFull, 0);
    assert.equal(s.messagesWritten, count);
    await exited;
  } finally {
    relayClose(chan);
  }
});

test('lossless, property: any message lengths, every message delivered exactly once and in order', { timeout: 180_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 16, max: 2048 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 200, max: 1500 }), async (lengths, count) => {
      const chan = open(60_000, 2048, 3);
      try {
        const { w, exited } = startWriter({ handle: chan.handle(), count, lengths });
        const { result, seqs } = await drainSlowly(chan, w);
        assert.equal(result.error, undefined);
        assert.equal(result.dropped, 0);
        assert.deepEqual(
          seqs,
          Array.from({ length: count }, (_, i) => i),
        );
        assert.equal(buf0(chan).reader.stats().droppedFull, 0);
        await exited;
      } finally {
        relayClose(chan);
      }
    }),
    { numRuns: 6 },
  );
});

test('lossless with nobody reading: each write waits out the timeout, then is dropped and counted exactly', { timeout: 120_000 }, async () => {
  const chan = open(2, 1024, 2);
  try {
    const count = 60;
    const { w, exited } = startWriter({ handle: chan.handle(), count, lengths: [200] });
    const [result] = (await once(w, 'message')) as [WriterResult];
    assert.equal(result.error, undefined);
    // 5 messages of 200 B fit a 1024-byte sub-buffer: 10 in the two sub-buffers, the rest time out.
    assert.deepEqual([result.written, result.accepted, result.dropped], [count, 10, count - 10]);
    const s = buf0(chan).reader.stats();
    assert.equal(s.droppedFull, count - 10);
    assert.equal(s.messagesWritten, 10);
    // What was kept is intact and readable.
    relayFlush(chan);
    const parsed: { seq: number }[] = [];
    parseMessages(buf0(chan).reader.read() ?? new Uint8Array(0), parsed as never);
    assert.deepEqual(
      parsed.map((p) => p.seq),
      Array.from({ length: 10 }, (_, i) => i),
    );
    await exited;
  } finally {
    relayClose(chan);
  }
});

test('a writer blocked on a full buffer is woken by relayClose and gets ERELAY_CLOSED', { timeout: 120_000 }, async () => {
  const chan = open(600_000, 1024, 2);
  const buf = buf0(chan);
  const { w, exited } = startWriter({ handle: chan.handle(), count: 100, lengths: [200] });
  const report = once(w, 'message');
  while (Atomics.load(buf.mem.ctrl, ROOM_WAITERS) === 0) await nextTurn(); // the writer is asleep
  relayClose(chan);
  const [result] = (await report) as [WriterResult];
  assert.equal(result.error, 'ERELAY_CLOSED');
  assert.equal(result.accepted, 10);
  await exited;
});

test('on the main thread a full buffer in blocking mode drops and counts at once (never stalls the event loop)', () => {
  const chan = open(600_000, 1024, 2);
  try {
    const msg = new Uint8Array(200);
    let accepted = 0;
    for (let i = 0; i < 30; i++) if (relayWrite(chan, msg)) accepted++;
    assert.equal(accepted, 10);
    assert.equal(buf0(chan).reader.stats().droppedFull, 20);
  } finally {
    relayClose(chan);
  }
});

test('blockingTimeoutMs must be a positive whole number', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, '5', 2 ** 31]) {
    assert.throws(
      () => relayOpen(null, null, 1024, 2, hostfsCallbacks(freshFs()), undefined, { buffers: 1, blockingTimeoutMs: bad as number }),
      (e: unknown) => e instanceof RelayError && e.code === 'ERELAY_INVALID_ARG',
    );
  }
});

function buf0(chan: RelayChannel) {
  return chan.buffers[0]!;
}
