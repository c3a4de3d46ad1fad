/** The chunker: messages of whole klog records within the limit, partial records held back, oversized ones counted. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecords, encodeRecord } from '../../src/klog/index.js';
import { Chunker } from '../../src/ship/chunker.js';

function records(n: number, size: (i: number) => number): Buffer {
  return Buffer.concat(Array.from({ length: n }, (_, seq) => encodeRecord({ type: 'raw', timestamp: seq, seq, thread: 1, buffer: 0 }, new Uint8Array(size(seq)))));
}

test('whole records only, at most limit bytes a message, offsets continuous; a record cut by a read waits for its end', () => {
  const data = records(200, (i) => (i * 13) % 300);
  const c = new Chunker(1000, 5000);
  const pieces = [];
  // Reads that end anywhere, as a remote follow's chunks do.
  for (let at = 0; at < data.length; at += 777) {
    c.push(data.subarray(at, Math.min(data.length, at + 777)));
    pieces.push(...c.take(false));
  }
  pieces.push(...c.take(true));
  assert.equal(c.isKlog, true);
  let offset = 5000;
  let count = 0;
  for (const p of pieces) {
    assert.equal(p.offset, offset);
    assert.ok(p.data.length <= 1000);
    const recs = [...decodeRecords(p.data)];
    assert.equal(recs.length, p.records);
    count += recs.length;
    offset += p.data.length;
  }
  assert.equal(count, 200);
  assert.ok(Buffer.concat(pieces.map((p) => p.data)).equals(data));
});

test('a record larger than the limit is counted, not shipped; version 1 records are klog too', () => {
  const small = records(3, () => 10);
  const big = encodeRecord({ type: 'raw', timestamp: 9, seq: 3, thread: 1, buffer: 0 }, new Uint8Array(5000));
  const v1 = Buffer.from(records(2, () => 4));
  for (let at = 0; at < v1.length; at += 36) v1[at + 2] = 1; // header byte 2: the format version
  const c = new Chunker(1024, 0);
  c.push(Buffer.concat([small, big, small]));
  const pieces = c.take(false);
  assert.deepEqual(c.tooBig, { records: 1, bytes: big.length });
  assert.deepEqual(
    pieces.map((p) => [p.offset, p.data.length, p.records]),
    [
      [0, small.length, 3],
      [small.length + big.length, small.length, 3],
    ],
  );
  const old = new Chunker(1024, 0);
  old.push(v1);
  assert.deepEqual(
    old.take(false).map((p) => p.records),
    [2],
  );
  assert.equal(old.isKlog, true);
});

test('other data is cut by size only', () => {
  const c = new Chunker(1024, 0);
  c.push(new Uint8Array(2500).fill(1));
  assert.deepEqual(
    c.take(false).map((p) => [p.offset, p.data.length, p.records]),
    [
      [0, 1024, null],
      [1024, 1024, null],
      [2048, 452, null],
    ],
  );
});
