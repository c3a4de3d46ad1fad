import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  KlogFormatError,
  decodeRecords,
  encodeRecord,
  klogBegin,
  klogCounter,
  klogEnd,
  klogSpan,
  klogStats,
  readCounter,
  readSpanBegin,
  readSpanEnd,
  recordText,
  registerKlogHandler,
  unregisterKlogHandler,
  type KlogRecord,
} from '../../src/klog/index.js';

afterEach(() => unregisterKlogHandler());

function capture(maxRecordBytes?: number): KlogRecord[] {
  const got: KlogRecord[] = [];
  registerKlogHandler((bytes, length) => got.push(...decodeRecords(bytes.slice(0, length))), { maxRecordBytes });
  return got;
}

/** begin/end/counter records as short strings, to compare whole sequences. */
function shape(recs: KlogRecord[]): string[] {
  return recs.map((r) => {
    if (r.type === 'span-begin') {
      const s = readSpanBegin(r);
      return `B ${s.name} ${s.args}`;
    }
    if (r.type === 'span-end') {
      const s = readSpanEnd(r);
      return `E ${s.name} ${s.args}`;
    }
    if (r.type === 'counter') {
      const c = readCounter(r);
      return `C ${c.name}=${c.value}`;
    }
    return `T ${recordText(r)}`;
  });
}

test('with no handler a span runs its function and records nothing; its arguments are never serialized', async () => {
  const explosive = { toJSON: () => assert.fail('serialized without a handler') };
  assert.equal(
    klogSpan('sync', { explosive }, () => 42),
    42,
  );
  assert.equal(await klogSpan('async', { explosive }, async () => 'x'), 'x');
  assert.equal(klogBegin('manual', { explosive }), 0);
  klogEnd(0);
  klogCounter('c', 1);
  assert.equal(klogStats().records, 0);
});

test('spans of a sync function nest in the calling thread, ids match begin to end, arguments are JSON', () => {
  const got = capture();
  const r = klogSpan('outer', { path: '/a' }, () => klogSpan('inner', () => (klogCounter('queue', 3), 7)));
  assert.equal(r, 7);
  assert.deepEqual(shape(got), ['B outer {"path":"/a"}', 'B inner ', 'C queue=3', 'E inner ', 'E outer ']);
  const [b1, b2, , e2, e1] = got;
  assert.equal(readSpanBegin(b1!).id, readSpanEnd(e1!).id);
  assert.equal(readSpanBegin(b2!).id, readSpanEnd(e2!).id);
  assert.notEqual(readSpanBegin(b1!).id, readSpanBegin(b2!).id);
  assert.ok(got.every((rec, i) => i === 0 || rec.timestamp >= got[i - 1]!.timestamp));
  assert.deepEqual(
    got.map((rec) => rec.seq),
    [0, 1, 2, 3, 4],
  );
});

test('a span ends when its function throws, with the error in the end record, and the error goes on', () => {
  const got = capture();
  assert.throws(
    () =>
      klogSpan('fails', () => {
        throw new TypeError('bad');
      }),
    /bad/,
  );
  assert.deepEqual(shape(got), ['B fails ', 'E fails {"error":"TypeError: bad"}']);
});

test('an async span ends when its promise settles, after the awaits inside it', async () => {
  const got = capture();
  let resolveInner!: () => void;
  const gate = new Promise<void>((r) => (resolveInner = r));
  const p = klogSpan('request', { id: 1 }, async () => {
    await gate;
    return 'done';
  });
  klogSpan('meanwhile', () => undefined);
  resolveInner();
  assert.equal(await p, 'done');
  await assert.rejects(
    klogSpan('rejects', async () => {
      throw new Error('nope');
    }),
    /nope/,
  );
  assert.deepEqual(shape(got), ['B request {"id":1}', 'B meanwhile ', 'E meanwhile ', 'E request ', 'B rejects ', 'E rejects {"error":"Error: nope"}']);
});

test('klogBegin/klogEnd: a span across callbacks; an argument JSON cannot take is recorded as unserializable', () => {
  const got = capture();
  const id = klogBegin('manual', { big: 1n });
  klogEnd(id, { status: 200 });
  const b = readSpanBegin(got[0]!);
  assert.equal(b.id, id);
  assert.match(b.args, /unserializable/);
  assert.deepEqual(readSpanEnd(got[1]!), { id, name: '', args: '{"status":200}' });
});

test('arguments too long for the largest record are left out whole and the record flagged truncated', () => {
  const got = capture(96);
  klogSpan('long', { text: 'x'.repeat(200) }, () => undefined);
  assert.equal(got[0]!.truncated, true);
  assert.deepEqual(readSpanBegin(got[0]!).args, '');
  assert.equal(got[1]!.truncated, false);
  assert.equal(klogStats().truncated, 1);
});

test('a version 1 recording (text and raw records) still decodes', () => {
  const dir = new URL('../../../test/klog/fixtures/v1-recording/', import.meta.url);
  const cpu0 = readFileSync(new URL('cpu0', dir));
  assert.equal(cpu0[2], 1, 'the fixture is version 1');
  const recs = [...decodeRecords(cpu0)];
  assert.deepEqual(
    recs.map((r) => (r.type === 'text' ? recordText(r) : r.type)),
    ['main 1', 'main two', 'raw', 'main after the gap'],
  );
  assert.deepEqual(
    recs.map((r) => r.seq),
    [0, 1, 2, 4],
  );
  assert.equal([...decodeRecords(readFileSync(new URL('cpu1', dir)))].length, 5);
});

test('span and counter types are not defined in version 1: such a record is rejected', () => {
  const rec = encodeRecord({ type: 'counter', timestamp: 1, seq: 0, thread: 0, buffer: 0 }, new Uint8Array(10));
  assert.equal(rec[2], 2);
  assert.equal([...decodeRecords(rec)][0]!.type, 'counter');
  rec[2] = 1;
  assert.throws(
    () => [...decodeRecords(rec)],
    (err: unknown) => err instanceof KlogFormatError && err.code === 'EKLOG_BAD_HEADER' && /type 5/.test(err.message),
  );
});
