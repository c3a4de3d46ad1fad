/**
 * Writers in several threads and a reader in another, at full speed, with
 * self-checking messages: nothing torn, duplicated or reordered, and
 * delivered + dropped = written exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { hostfsCallbacks, relayClose, relayFlush, relayOpen, type BufferStats, type RelayCallbacks } from '../../src/index.js';
import { freshFs, waitUntil } from '../helpers.js';

const fixture = (name: string) => new URL(`../fixtures/${name}.js`, import.meta.url);
/** Messages each writer gets accepted: many laps of every buffer, however slow the machine. */
const ACCEPTED = 10_000;
const FLUSHES = 50;

interface WriterResult {
  writer: number;
  written: number;
  accepted: number;
  dropped: number;
  cpu: number;
  error?: string;
}
interface ReaderResult {
  delivered: Record<string, number>;
  errors: string[];
  bytes: number;
  stats: BufferStats[];
}

async function run(opts: {
  callbacks?: Partial<RelayCallbacks>;
  global?: boolean;
  writers: number;
  subbufSize: number;
  nSubbufs: number;
  lean?: boolean;
  reserve?: boolean;
  /** relayFlush from the main thread while the writers write. */
  flushing?: boolean;
}) {
  const fs = freshFs();
  const callbacks = { ...hostfsCallbacks(fs, { global: opts.global }), ...opts.callbacks };
  const chan = relayOpen('cpu', null, opts.subbufSize, opts.nSubbufs, callbacks, undefined, { buffers: opts.writers });
  const paths = fs.files('/').map((f) => f.path);
  const buffers = chan.buffers.length;
  const reader = new Worker(fixture('reader'), { workerData: { fsName: fs.name, paths } });
  await once(reader, 'message'); // files open
  const readerDone = once(reader, 'message');
  const readerExited = once(reader, 'exit');
  // With flushing, the writers go on until the main thread has flushed FLUSHES times while they write.
  const stop = opts.flushing ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
  const writers = Array.from(
    { length: opts.writers },
    (_, writer) =>
      new Worker(fixture('writer'), {
        workerData: { handle: chan.handle(), writer, accepted: ACCEPTED, stop, minLen: 16, maxLen: 300, lean: opts.lean, reserve: opts.reserve },
      }),
  );
  const exited = Promise.all(writers.map((w) => once(w, 'exit'))); // listen now: a worker can exit right after its message
  const replies = Promise.all(writers.map((w) => once(w, 'message')));
  let flushes = 0;
  const flusher = stop
    ? setInterval(() => {
        relayFlush(chan);
        if (++flushes === FLUSHES) Atomics.store(stop, 0, 1);
      }, 0)
    : undefined;
  const results = (await replies).map(([r]) => r as WriterResult);
  clearInterval(flusher);
  await exited;
  relayClose(chan); // the reader drains what is left, then sees the hang-up
  const [read] = (await readerDone) as [ReaderResult];
  await readerExited;
  return { results, read, buffers, freed: chan.freed, flushes };
}

function sum(stats: BufferStats[], key: keyof BufferStats): number {
  return stats.reduce((n, s) => n + (s[key] as number), 0);
}

test('no-overwrite mode: two writer threads, one reader thread; every message delivered intact or counted dropped', async () => {
  const { results, read } = await run({ writers: 2, subbufSize: 4096, nSubbufs: 4 });
  assert.deepEqual(read.errors, []);
  assert.deepEqual(new Set(results.map((r) => r.cpu)), new Set([0, 1]), 'each writing thread has a buffer of its own');
  for (const r of results) {
    assert.equal(r.error, undefined);
    const stats = read.stats[r.cpu]!;
    const delivered = read.delivered[r.writer] ?? 0;
    assert.ok(delivered >= ACCEPTED, `writer ${r.writer} delivered ${delivered}`);
    assert.equal(delivered + r.dropped, r.written, `writer ${r.writer}: delivered + dropped = written`);
    assert.equal(stats.messagesWritten, r.accepted);
    assert.equal(stats.droppedFull, r.dropped, 'every drop is counted in the buffer');
    assert.equal(stats.messagesWritten, delivered);
  }
});

test('relay_reserve in writer threads, a reader at their heels: every reservation is read whole, never half filled', async () => {
  const { results, read } = await run({ writers: 2, subbufSize: 4096, nSubbufs: 4, reserve: true });
  assert.deepEqual(read.errors, []);
  for (const r of results) {
    assert.equal(r.error, undefined);
    const stats = read.stats[r.cpu]!;
    const delivered = read.delivered[r.writer] ?? 0;
    assert.ok(delivered >= ACCEPTED, `writer ${r.writer} delivered ${delivered}`);
    assert.equal(delivered + r.dropped, r.written, `writer ${r.writer}: delivered + dropped = written`);
    assert.equal(stats.messagesWritten, delivered);
    assert.equal(stats.droppedFull, r.dropped);
  }
});

test('relay_flush from another thread while writers write loses nothing', async () => {
  const { results, read, flushes } = await run({ writers: 2, subbufSize: 4096, nSubbufs: 8, flushing: true });
  assert.ok(flushes >= FLUSHES, `flushed ${flushes} times`);
  assert.deepEqual(read.errors, []);
  for (const r of results) {
    const stats = read.stats[r.cpu]!;
    const delivered = read.delivered[r.writer] ?? 0;
    assert.equal(delivered + r.dropped, r.written, `writer ${r.writer}: delivered + dropped = written`);
    assert.equal(stats.messagesWritten, delivered);
    assert.equal(stats.droppedFull, r.dropped);
  }
});

test('overwrite mode: whole messages or counted losses, never torn data', async () => {
  const callbacks: Partial<RelayCallbacks> = {
    subbufStart: () => 1,
    module: fixture('overwrite-callbacks').href,
  };
  const { results, read } = await run({ writers: 2, subbufSize: 1024, nSubbufs: 4, callbacks });
  assert.deepEqual(read.errors, []);
  for (const r of results) {
    const stats = read.stats[r.cpu]!;
    const delivered = read.delivered[r.writer] ?? 0;
    assert.equal(r.dropped, 0, 'overwrite mode never refuses a write');
    assert.equal(stats.messagesWritten, r.written);
    assert.equal(delivered + stats.messagesOverwritten, r.written, `writer ${r.writer}: delivered + overwritten = written`);
  }
});

test('global buffer: writers in two threads share one buffer safely', async () => {
  const { results, read, buffers, freed } = await run({ writers: 2, subbufSize: 4096, nSubbufs: 8, global: true });
  assert.equal(buffers, 1);
  assert.ok(freed, 'memory released once the channel and its reader closed');
  assert.deepEqual(read.errors, []);
  assert.ok(results.every((r) => r.cpu === 0));
  const written = results.reduce((n, r) => n + r.written, 0);
  const dropped = results.reduce((n, r) => n + r.dropped, 0);
  const delivered = Object.values(read.delivered).reduce((n, d) => n + d, 0);
  for (const r of results) assert.ok((read.delivered[r.writer] ?? 0) >= ACCEPTED, `writer ${r.writer} got through`);
  assert.equal(delivered + dropped, written);
  assert.equal(sum(read.stats, 'droppedFull'), dropped);
});

test('a thread started after relay_open gets its own buffer, or ERELAY_NO_BUFFER when none is left', async () => {
  const fs = freshFs();
  const chan = relayOpen('cpu', null, 4096, 4, hostfsCallbacks(fs), undefined, { buffers: 2 });
  const start = (writer: number) => new Worker(fixture('writer'), { workerData: { handle: chan.handle(), writer, accepted: 100, minLen: 16, maxLen: 64 } });
  const first = await Promise.all([start(0), start(1)].map(async (w) => (await once(w, 'message'))[0] as WriterResult));
  const late = (await once(start(2), 'message'))[0] as WriterResult;
  assert.deepEqual(first.map((r) => r.cpu).sort(), [0, 1]);
  assert.equal(late.error, 'ERELAY_NO_BUFFER');
  relayClose(chan);
});

test('a worker that is terminated mid-write leaves its buffer readable and consistent', async () => {
  const fs = freshFs();
  const chan = relayOpen('cpu', null, 512, 64, { ...hostfsCallbacks(fs), subbufStart: () => 1, module: fixture('overwrite-callbacks').href }, undefined, { buffers: 1 });
  const file = fs.openSync('/cpu0');
  // Overwrite mode accepts every write: this writer runs until terminated.
  const w = new Worker(fixture('writer'), { workerData: { handle: chan.handle(), writer: 7, accepted: Infinity, minLen: 16, maxLen: 200 } });
  await waitUntil(() => file.stats().messagesWritten >= 10_000, 'the writer wrote 10 000 messages');
  await w.terminate();
  const { parseMessages } = await import('../helpers.js');
  const msgs: { writer: number; seq: number; length: number }[] = [];
  parseMessages(file.read(), msgs);
  const stats = file.stats();
  assert.ok(msgs.length > 0);
  assert.ok(msgs.every((m, i) => m.writer === 7 && (i === 0 || m.seq > msgs[i - 1]!.seq)));
  // Exact even when the worker was killed inside a sub-buffer switch (recover() completes or undoes it).
  assert.equal(msgs.length + stats.messagesOverwritten, stats.messagesWritten, 'delivered + overwritten = written');
  file.close();
  relayClose(chan);
});
