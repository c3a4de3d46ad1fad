import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KLOG_HEADER_SIZE, KLOG_NO_BUFFER, KlogDecoder, KlogFormatError, KlogScanner, decodeRecords, encodeRecord, recordText } from '../../src/klog/index.js';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

test('the header is the documented 32 little-endian bytes', () => {
  const rec = encodeRecord({ type: 'text', timestamp: 0x0102_0304_0506, seq: 0x0a0b0c0d, thread: 7, buffer: 3, flags: 1 }, 'hi');
  assert.equal(rec.length, KLOG_HEADER_SIZE + 2);
  const v = new DataView(rec.buffer);
  assert.equal(String.fromCharCode(rec[0]!, rec[1]!), 'KL'); // magic
  assert.equal(rec[2], 2); // version
  assert.equal(rec[3], 1); // type: text
  assert.equal(v.getUint32(4, true), 2); // payload length
  assert.equal(v.getUint32(8, true), 0x03040506); // timestamp low word
  assert.equal(v.getUint32(12, true), 0x0102); // timestamp high word
  assert.equal(v.getUint32(16, true), 0x0a0b0c0d); // seq
  assert.equal(v.getUint32(20, true), 7); // thread
  assert.equal(v.getUint16(24, true), 3); // buffer
  assert.equal(rec[26], 32); // header size
  assert.equal(rec[27], 1); // flags
  assert.equal(v.getUint32(28, true), 0); // reserved
});

test('records decode back field for field', () => {
  const ts = 2 ** 52 + 12345;
  const bytes = concat([
    encodeRecord({ type: 'text', timestamp: ts, seq: 0xffffffff, thread: 12, buffer: 2 }, 'héllo wörld'),
    encodeRecord({ type: 'raw', timestamp: ts + 1, seq: 0, thread: 0, buffer: KLOG_NO_BUFFER }, new Uint8Array([0, 1, 255])),
    encodeRecord({ type: 'text', timestamp: 5, seq: 1, thread: 1, buffer: 0, flags: 1 }, ''),
  ]);
  const recs = [...decodeRecords(bytes)];
  assert.equal(recs.length, 3);
  assert.deepEqual(
    { type: recs[0]!.type, ts: recs[0]!.timestamp, seq: recs[0]!.seq, thread: recs[0]!.thread, buffer: recs[0]!.buffer, text: recordText(recs[0]!) },
    { type: 'text', ts, seq: 0xffffffff, thread: 12, buffer: 2, text: 'héllo wörld' },
  );
  assert.equal(recs[1]!.type, 'raw');
  assert.deepEqual([...recs[1]!.payload], [0, 1, 255]);
  assert.equal(recs[1]!.buffer, KLOG_NO_BUFFER);
  assert.equal(recs[2]!.truncated, true);
  assert.equal(recs[2]!.length, 0);
  assert.equal(recs[2]!.offset, recs[1]!.offset + KLOG_HEADER_SIZE + 3);
});

test('bad magic, unknown version and a cut-short record are typed errors with the offset', () => {
  const good = encodeRecord({ type: 'text', timestamp: 1, seq: 0, thread: 0, buffer: 0 }, 'ok');
  const bad = concat([good, new TextEncoder().encode('this is not klog data at all, no it is not')]);
  assert.throws(
    () => [...decodeRecords(bad)],
    (e: unknown) => e instanceof KlogFormatError && e.code === 'EKLOG_BAD_MAGIC' && e.offset === good.length,
  );

  const v3 = good.slice();
  v3[2] = 3;
  assert.throws(
    () => [...decodeRecords(v3)],
    (e: unknown) => e instanceof KlogFormatError && e.code === 'EKLOG_VERSION' && /version 3/.test(e.message),
  );

  // Something else that is shorter than a header is still "not klog", not a cut-short record.
  assert.throws(
    () => new KlogDecoder().push(new TextEncoder().encode('#!/bin/sh')),
    (e: unknown) => e instanceof KlogFormatError && e.code === 'EKLOG_BAD_MAGIC',
  );
  assert.throws(
    () => new KlogScanner().push(new Uint8Array([0x4b, 0x4c, 7])),
    (e: unknown) => e instanceof KlogFormatError && e.code === 'EKLOG_VERSION',
  );

  const cut = concat([good, good.subarray(0, good.length - 1)]);
  assert.throws(
    () => [...decodeRecords(cut)],
    (e: unknown) => e instanceof KlogFormatError && e.code === 'EKLOG_TRUNCATED' && e.offset === good.length,
  );
});

const recordArb = fc.record({
  type: fc.constantFrom('text' as const, 'raw' as const, 'span-begin' as const, 'span-end' as const, 'counter' as const),
  timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  seq: fc.integer({ min: 0, max: 0xffffffff }),
  thread: fc.integer({ min: 0, max: 0xffffffff }),
  buffer: fc.integer({ min: 0, max: 0xffff }),
  payload: fc.uint8Array({ maxLength: 80 }),
});

test('the streaming decoder and the scanner agree with the whole-buffer decoder at any chunking', () => {
  fc.assert(
    fc.property(fc.array(recordArb, { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }), (records, sizes) => {
      const bytes = concat(records.map((r) => encodeRecord(r, r.payload)));
      const decoder = new KlogDecoder();
      const scanner = new KlogScanner();
      const got: { seq: number; payload: number[] }[] = [];
      for (let at = 0, i = 0; at < bytes.length; i++) {
        const chunk = bytes.subarray(at, at + sizes[i % sizes.length]!);
        at += chunk.length;
        for (const rec of decoder.push(chunk)) got.push({ seq: rec.seq, payload: [...rec.payload] });
        scanner.push(chunk);
      }
      assert.equal(decoder.end(), null);
      assert.equal(scanner.records, records.length);
      assert.equal(scanner.atBoundary, true);
      assert.deepEqual(
        got,
        records.map((r) => ({ seq: r.seq, payload: [...r.payload] })),
      );
    }),
    { numRuns: 200 },
  );
});

test('the streaming decoder reports a truncated last record instead of throwing', () => {
  const a = encodeRecord({ type: 'text', timestamp: 1, seq: 0, thread: 0, buffer: 0 }, 'first');
  const b = encodeRecord({ type: 'text', timestamp: 2, seq: 1, thread: 0, buffer: 0 }, 'second');
  const decoder = new KlogDecoder();
  const recs = decoder.push(concat([a, b.subarray(0, 10)]));
  assert.equal(recs.length, 1);
  assert.equal(decoder.pending, 10);
  assert.deepEqual(decoder.end(), { offset: a.length, bytes: 10 });
});
