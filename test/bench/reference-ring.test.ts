/**
 * The benchmark's yardstick, bench/reference-ring.ts: a single-producer single-consumer ring of
 * length-prefixed records. One producer and one consumer worker thread (./reference-ring-worker.ts),
 * mostly on small rings, so that they wrap and the two sides hand over many times; the consumer
 * recomputes every message from the seed both derive their plan from. Nothing here waits for a
 * duration, only for the threads' reports (with a deadline as a hang guard).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { ReferenceRing } from '../../bench/reference-ring.js';
import { workerInbox } from '../helpers.js';
import type { ConsumerReport, ProducerReport, RingJob } from './reference-ring-worker.js';

const WORKER = new URL('./reference-ring-worker.js', import.meta.url);

/** Runs a producer and a consumer thread on a fresh ring; rejects as soon as either fails or the consumer finds a wrong message. */
async function runPair(mode: RingJob['mode'], capacity: number, seed: number, count: number, work = 0): Promise<{ producer: ProducerReport; consumer: ConsumerReport }> {
  const job = { mode, sab: ReferenceRing.allocate(capacity), ready: new SharedArrayBuffer(4), seed, count, work };
  const consumerThread = new Worker(WORKER, { workerData: { ...job, role: 'consumer' } satisfies RingJob });
  const producerThread = new Worker(WORKER, { workerData: { ...job, role: 'producer' } satisfies RingJob });
  const fromConsumer = workerInbox(consumerThread);
  const fromProducer = workerInbox(producerThread);
  try {
    const consumer = fromConsumer.next('consumer report').then((m) => {
      const report = m as ConsumerReport;
      if (report.failure !== null) throw new Error(`${mode}, capacity ${capacity}, seed ${seed}: ${report.failure}`);
      return report;
    });
    const [producer, consumerReport] = await Promise.all([fromProducer.next('producer report') as Promise<ProducerReport>, consumer]);
    return { producer, consumer: consumerReport };
  } finally {
    // A consumer that stopped at a wrong message leaves the producer waiting for room: end both.
    await Promise.all([consumerThread.terminate(), producerThread.terminate()]);
  }
}

test('lossless, property: every message arrives, in order, each length and byte as written, exactly N of them', { timeout: 120_000 }, async () => {
  const count = 20_000;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 0x7fffffff }), fc.constantFrom(4096, 8192), async (seed, capacity) => {
      const { producer, consumer } = await runPair('lossless', capacity, seed, count);
      assert.equal(consumer.received, count, 'N messages, then the end');
      assert.deepEqual([producer.written, producer.dropped], [count, 0]);
      assert.ok(producer.recordBytes > 50 * capacity, `the ring wrapped many times (${producer.recordBytes} B through a ${capacity}-byte ring)`);
    }),
    // A seed has no simpler form to shrink to, and a hang would cost a deadline per shrinking step.
    { numRuns: 5, endOnFailure: true, includeErrorInReport: true },
  );
});

test('dropping: what arrives is intact and in order, and received + dropped = offered', { timeout: 120_000 }, async (t) => {
  const configs = [
    // A small ring and a consumer that does extra work per message: the producer outruns it. (The consumer
    // gets a few ringfuls at most: once it sleeps, tryWrite() never wakes it, since it does so only at
    // 256 KiB boundaries, which a full small ring does not reach; end() does.)
    { capacity: 8192, work: 20, count: 20_000, mustDrop: true },
    // Rings of 1 MiB, where the producer crosses 256 KiB boundaries (the only places tryWrite() wakes a
    // sleeping consumer), so the consumer takes messages while the producer drops others, across wraps.
    { capacity: 1 << 20, work: 20, count: 50_000, mustDrop: false },
    { capacity: 1 << 20, work: 0, count: 50_000, mustDrop: false },
  ];
  for (const [i, c] of configs.entries()) {
    await t.test(`capacity ${c.capacity}, ${c.work} extra passes per message`, async (st) => {
      const { producer, consumer } = await runPair('dropping', c.capacity, 7919 * (i + 1), c.count, c.work);
      st.diagnostic(`${consumer.received} received (the last seq ${consumer.lastSeq}), ${producer.dropped} dropped of ${c.count}`);
      assert.equal(consumer.received, producer.written, 'every message the ring took arrives');
      assert.equal(consumer.received + producer.dropped, c.count, 'received + dropped = offered');
      assert.ok(consumer.received > 0);
      if (c.mustDrop) assert.ok(producer.dropped > 0, 'a producer that outruns a small ring drops');
    });
  }
});

test('a message larger than half the ring, or a capacity that is not a power of two ≥ 64, is a RangeError', () => {
  for (const capacity of [0, 100, 1000, 4095, 4097, 3 * 1024, (1 << 20) + 4]) {
    assert.throws(() => ReferenceRing.allocate(capacity), RangeError, `capacity ${capacity}`);
  }
  assert.throws(() => ReferenceRing.allocate(32), RangeError, 'a power of two below 64');
  for (const capacity of [64, 4096, 1 << 20]) assert.equal(new ReferenceRing(ReferenceRing.allocate(capacity)).bytes.length, capacity);

  const sab = ReferenceRing.allocate(4096);
  const producer = new ReferenceRing(sab);
  // A record is a header and the padded payload, so a payload of half the ring is already too large.
  for (const len of [2049, 2048, 4096, 8192]) {
    assert.throws(() => producer.write(new Uint8Array(len)), RangeError, `write of ${len} B`);
    assert.throws(() => producer.tryWrite(new Uint8Array(len)), RangeError, `tryWrite of ${len} B`);
  }
  const msg = Uint8Array.from({ length: 2001 }, (_, i) => (i * 7 + 1) & 0xff);
  producer.write(msg);
  producer.end();
  // The refused messages left no trace: the consumer finds the one accepted message, then the end.
  const consumer = new ReferenceRing(sab);
  const at = consumer.next();
  assert.equal(consumer.length, msg.length);
  assert.deepEqual(consumer.bytes.subarray(at, at + consumer.length), msg);
  consumer.release();
  assert.equal(consumer.next(), -1);
});
