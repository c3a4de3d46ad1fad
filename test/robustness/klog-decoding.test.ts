/**
 * #9 item 8: KlogDecoder stays linear whatever the length fields claim.
 * Item 11: unknown record types are rejected, not decoded as raw.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { KlogDecoder, KlogFormatError, KlogScanner, decodeRecords, encodeRecord } from '../../src/klog/index.js';

describe('KlogDecoder on a header that claims 2^31-1 bytes', { timeout: 120_000 }, () => {
  test('32 MiB in 4 KiB chunks: held back without re-joining at every push, reported as a truncated tail', async () => {
    const worker = new Worker(new URL('./fixtures/decode-worker.js', import.meta.url), { workerData: { mib: 32, chunk: 4096 } });
    try {
      const result = await new Promise((resolve, reject) => {
        // A hang guard, not a timing assertion: a quadratic decoder takes minutes here, a linear one well under a second.
        const guard = setTimeout(() => reject(new Error('the decoder did not finish: quadratic in the input?')), 60_000);
        worker.once('message', (m) => (clearTimeout(guard), resolve(m)));
        worker.once('error', (e) => (clearTimeout(guard), reject(e)));
      });
      assert.deepEqual(result, { records: 0, pending: 32 + 32 * 1024 * 1024, tail: { offset: 0, bytes: 32 + 32 * 1024 * 1024 } });
    } finally {
      await worker.terminate();
    }
  });
});

const recordArb = fc.record({
  type: fc.constantFrom('text' as const, 'raw' as const),
  seq: fc.nat({ max: 0xffffffff }),
  thread: fc.nat({ max: 1000 }),
  buffer: fc.nat({ max: 0xffff }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

describe('KlogDecoder splits', () => {
  test('any records cut at any chunk boundaries decode as the whole does, with the same offsets', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 20 }), fc.array(fc.nat({ max: 400 }), { maxLength: 30 }), fc.nat({ max: 40 }), (recs, cuts, cutTail) => {
        const parts = recs.map((r, i) => encodeRecord({ type: r.type, timestamp: i * 1000, seq: r.seq, thread: r.thread, buffer: r.buffer }, r.payload));
        const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          whole.set(p, at);
          at += p.length;
        }
        const stream = whole.subarray(0, Math.max(0, whole.length - cutTail)); // maybe ending inside a record
        const expected = [...decodeRecords(whole)].filter((r) => r.offset + 32 + r.length <= stream.length);
        const decoder = new KlogDecoder();
        const got = [];
        let from = 0;
        const points = [...new Set(cuts.map((c) => Math.min(c * 7, stream.length)))].sort((a, b) => a - b);
        const reused = new Uint8Array(stream.length); // the caller reuses its chunk memory: held bytes must be copies
        for (const to of [...points, stream.length]) {
          if (to <= from) continue;
          const chunk = reused.subarray(0, to - from);
          chunk.set(stream.subarray(from, to));
          for (const r of decoder.push(chunk)) got.push({ offset: r.offset, seq: r.seq, payload: [...r.payload] });
          reused.fill(0xee, 0, to - from);
          from = to;
        }
        assert.deepEqual(
          got,
          expected.map((r) => ({ offset: r.offset, seq: r.seq, payload: [...r.payload] })),
        );
        const tail = decoder.end();
        const decodedEnd = expected.length ? expected.at(-1)!.offset + 32 + expected.at(-1)!.length : 0;
        assert.deepEqual(tail, decodedEnd === stream.length ? null : { offset: decodedEnd, bytes: stream.length - decodedEnd });
      }),
      { numRuns: 300 },
    );
  });
});

describe('unknown record types', () => {
  for (const [type, version] of [
    [0, 0],
    [99, 0],
    [255, 0],
    [3, 1],
  ]) {
    test(`type ${type}${version ? ` in a version ${version} record` : ''} is EKLOG_BAD_HEADER in decodeRecords, KlogDecoder and KlogScanner`, () => {
      const rec = encodeRecord({ type: 'raw', timestamp: 0, seq: 0, thread: 0, buffer: 0 }, 'x');
      if (version) rec[2] = version;
      rec[3] = type!;
      const bad = (err: unknown) => err instanceof KlogFormatError && err.code === 'EKLOG_BAD_HEADER' && /type/.test(err.message);
      assert.throws(() => [...decodeRecords(rec)], bad);
      assert.throws(() => new KlogDecoder().push(rec), bad);
      assert.throws(() => new KlogScanner().push(rec), bad);
      // Split inside the header too.
      const d = new KlogDecoder();
      d.push(rec.subarray(0, 10));
      assert.throws(() => d.push(rec.subarray(10)), bad);
    });
  }
});
