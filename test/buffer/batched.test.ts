// Batched publication (PUBLISH_BATCH, src/buffer/writer.ts): the owner copies messages past the
// published end and publishes them together. Single-thread interleavings of the owner's calls with
// another writer's flush (what a relayFlush from another thread does between two of them) and a
// reader: every message the owner was told was written is read back intact, in order, exactly
// once, or counted as dropped; nothing is published early or late beyond what the batch rule says.
// Messages above 512 B are published one by one, between batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BufferMemory } from '../../src/buffer/index.js';
import { BufferWriter } from '../../src/buffer/writer.js';
import { BufferReader } from '../../src/buffer/reader.js';
import { fillMessage, parseMessages, HEADER, type Parsed } from '../helpers.js';

const RUNS = Number(process.env.MODEL_RUNS ?? 300);

/** A writer whose subbufStart is the kernel's default: switch unless every sub-buffer is unread. */
function writer(mem: BufferMemory): BufferWriter {
  const w: BufferWriter = new BufferWriter(mem, () => !w.isFull(), false);
  return w;
}

function setup(subbufSize: number, nSubbufs: number, batch: number) {
  const mem = BufferMemory.allocate({ subbufSize, nSubbufs });
  const owner = writer(mem);
  owner.init();
  owner.setPublishBatch(batch);
  const other = writer(mem); // another thread's view of the same buffer: only ever flushes
  const reader = new BufferReader(mem);
  return { mem, owner, other, reader };
}

function readAll(reader: BufferReader, into: Parsed[]): void {
  for (let part = reader.read(); part && part.length > 0; part = reader.read()) parseMessages(part, into);
}

type Op = { kind: 'write'; len: number } | { kind: 'reserve'; len: number } | { kind: 'publish' | 'flush' | 'otherFlush' | 'read' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      len: fc.oneof(fc.integer({ min: HEADER, max: 48 }), fc.integer({ min: HEADER, max: 300 }), fc.integer({ min: 500, max: 700 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reserve' as const), len: fc.integer({ min: HEADER, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('publish' as const, 'flush' as const, 'read' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('otherFlush' as const) }) },
);

test('batched publication, property: racing flushes, reservations and reads; every message delivered once, in order, intact, or counted dropped', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 128, max: 1024 }),
      fc.integer({ min: 2, max: 4 }),
      fc.integer({ min: 1, max: 600 }),
      fc.array(opArb, { minLength: 1, maxLength: 150 }),
      (subbufSize, nSubbufs, batch, ops) => {
        const { owner, other, reader, mem } = setup(subbufSize, nSubbufs, batch);
        const msg = new Uint8Array(700);
        const read: Parsed[] = [];
        const refused = new Set<number>();
        let seq = 0;
        for (const op of ops) {
          if (op.kind === 'write') {
            fillMessage(msg, 1, seq, op.len);
            if (!owner.write(msg, op.len)) refused.add(seq);
            seq++;
          } else if (op.kind === 'reserve') {
            fillMessage(msg, 1, seq, op.len);
            const at = owner.reserve(op.len);
            if (at < 0) refused.add(seq);
            else mem.data.set(msg.subarray(0, op.len), at);
            seq++;
          } else if (op.kind === 'publish') {
            owner.publishPending(); // what the microtask does at the end of the job
          } else if (op.kind === 'flush') {
            owner.flush();
          } else if (op.kind === 'otherFlush') {
            other.flush();
          } else {
            readAll(reader, read);
          }
        }
        owner.flush();
        readAll(reader, read);
        const seqs = read.map((p) => p.seq);
        for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `in order, once: ${seqs[i - 1]} then ${seqs[i]}`);
        for (const s of seqs) assert.ok(!refused.has(s), `message ${s} was refused, yet read`);
        const stats = reader.stats();
        assert.equal(stats.messagesWritten, seqs.length, 'every message counted written was read');
        assert.equal(stats.messagesWritten + stats.droppedFull + stats.droppedTooBig, seq, 'written + dropped = calls');
      },
    ),
    { numRuns: RUNS },
  );
});

test('batched publication with a reader that keeps up: nothing is dropped, whatever the flushes from another thread', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 600 }), fc.array(fc.tuple(fc.integer({ min: HEADER, max: 100 }), fc.boolean()), { minLength: 1, maxLength: 300 }), (batch, steps) => {
      const { owner, other, reader } = setup(256, 4, batch);
      const msg = new Uint8Array(100);
      const read: Parsed[] = [];
      steps.forEach(([len, flush], seq) => {
        fillMessage(msg, 1, seq, len);
        assert.equal(owner.write(msg, len), true);
        if (flush) other.flush();
        readAll(reader, read);
      });
      owner.flush();
      readAll(reader, read);
      assert.deepEqual(
        read.map((p) => p.seq),
        steps.map((_, i) => i),
      );
    }),
    { numRuns: RUNS },
  );
});

test('a batch is published when it reaches its size at a count of 1 mod 4 messages, and not before', () => {
  const { owner, reader } = setup(1024, 2, 64);
  const msg = new Uint8Array(16);
  const read: Parsed[] = [];
  for (let seq = 0; seq < 4; seq++) {
    fillMessage(msg, 1, seq, 16);
    owner.write(msg, 16);
  }
  readAll(reader, read);
  assert.equal(read.length, 0, '64 bytes in 4 messages: a jump of 4 would reuse a slot a reader may hold');
  fillMessage(msg, 1, 4, 16);
  owner.write(msg, 16);
  readAll(reader, read);
  assert.deepEqual(
    read.map((p) => p.seq),
    [0, 1, 2, 3, 4],
  );
  fillMessage(msg, 1, 5, 16);
  owner.write(msg, 16);
  readAll(reader, read);
  assert.equal(read.length, 5, 'the next batch waits for its own size');
  owner.publishPending();
  readAll(reader, read);
  assert.deepEqual(
    read.map((p) => p.seq),
    [0, 1, 2, 3, 4, 5],
  );
});

test('a batch whose sub-buffer another thread switched is written again in the new one', () => {
  const { owner, other, reader } = setup(1024, 4, 4096);
  const msg = new Uint8Array(40);
  const read: Parsed[] = [];
  fillMessage(msg, 1, 0, 40);
  owner.write(msg, 40);
  owner.publishPending(); // one message published: another thread's flush now switches
  for (let seq = 1; seq < 4; seq++) {
    fillMessage(msg, 1, seq, 40);
    owner.write(msg, 40);
  }
  assert.equal(other.flush(), true);
  assert.equal(reader.stats().subbufsProduced, 1, 'the flush finished the sub-buffer with only the published message');
  owner.publishPending();
  owner.flush();
  readAll(reader, read);
  assert.deepEqual(
    read.map((p) => p.seq),
    [0, 1, 2, 3],
  );
  const s = reader.stats();
  assert.equal(s.messagesWritten, 4);
  assert.equal(s.subbufsProduced, 2);
});

test('relayReset discards the batch with everything else; close publishes it', () => {
  const { owner, reader } = setup(1024, 2, 4096);
  const msg = new Uint8Array(32);
  fillMessage(msg, 1, 0, 32);
  owner.write(msg, 32);
  owner.reset(() => reader.clear());
  owner.publishPending();
  assert.equal(reader.stats().messagesWritten, 0);
  fillMessage(msg, 1, 1, 32);
  owner.write(msg, 32);
  owner.close();
  const read: Parsed[] = [];
  readAll(reader, read);
  assert.deepEqual(
    read.map((p) => p.seq),
    [1],
  );
});
