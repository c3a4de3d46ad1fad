// Messages copied from sources that disagree with their target modulo 8 take the writer's
// staging path (src/buffer/writer.ts, STAGE_FROM), and small messages from a reused 4-aligned
// source a word loop: the bytes read back must be exactly those written, whatever the source's
// offset, length, slack, reuse or kind of buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { relayClose, relayFlush, relayWrite, __relayWrite, type RelayChannel } from '../../src/index.js';
import { openChannel } from '../helpers.js';

interface Msg {
  len: number;
  shift: number;
  slack: number;
  shared: boolean;
  lean: boolean;
}

const msgArb: fc.Arbitrary<Msg> = fc.record({
  len: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 120, max: 5000 })),
  shift: fc.integer({ min: 0, max: 7 }),
  slack: fc.constantFrom(0, 0, 5),
  shared: fc.boolean(),
  lean: fc.boolean(),
});

function source(m: Msg, seq: number): Uint8Array {
  const size = m.shift + m.len + m.slack;
  const backing = m.shared ? new Uint8Array(new SharedArrayBuffer(size)) : new Uint8Array(size);
  const view = backing.subarray(m.shift);
  for (let i = 0; i < view.length; i++) view[i] = (seq * 31 + i * 7 + (i >> 8)) & 0xff;
  return view;
}

/** Flushes the channel and reads everything in its buffer. */
function readBack(chan: RelayChannel): Uint8Array {
  relayFlush(chan);
  const reader = chan.buffer(0).reader;
  const got: number[] = [];
  for (let part = reader.read(); part && part.length > 0; part = reader.read()) got.push(...part);
  return Uint8Array.from(got);
}

test('writes from sources at any offset modulo 8 read back byte for byte', () => {
  fc.assert(
    fc.property(fc.array(msgArb, { minLength: 1, maxLength: 60 }), (msgs) => {
      // Big enough for every message of the run: nothing is dropped, so every byte must come back.
      const { chan } = openChannel({ subbufSize: 8192, nSubbufs: 64 });
      try {
        const want: number[] = [];
        msgs.forEach((m, seq) => {
          const src = source(m, seq);
          assert.equal(m.lean ? __relayWrite(chan, src, m.len) : relayWrite(chan, src, m.len), true);
          for (let i = 0; i < m.len; i++) want.push(src[i]!);
        });
        assert.deepEqual(readBack(chan), Uint8Array.from(want));
      } finally {
        relayClose(chan);
      }
    }),
    { numRuns: 150 },
  );
});

test('a misaligned 4 KiB message lands intact after an aligned one and a 3-byte one', () => {
  const { chan } = openChannel({ subbufSize: 8192, nSubbufs: 4 });
  try {
    const aligned = source({ len: 4096, shift: 0, slack: 0, shared: false, lean: false }, 1);
    const shifted = source({ len: 4096, shift: 3, slack: 0, shared: false, lean: false }, 2);
    assert.equal(relayWrite(chan, new Uint8Array([9, 9, 9])), true); // the stream is now at offset 3
    assert.equal(relayWrite(chan, aligned), true);
    assert.equal(relayWrite(chan, shifted), true); // does not fit: the second sub-buffer, offset 0
    relayFlush(chan);
    assert.deepEqual(chan.buffer(0).reader.read(), Uint8Array.from([9, 9, 9, ...aligned, ...shifted]));
  } finally {
    relayClose(chan);
  }
});

test('small messages from reused sources (the word loop) read back byte for byte', () => {
  const pick = fc.record({ source: fc.integer({ min: 0, max: 3 }), len: fc.integer({ min: 0, max: 48 }), lean: fc.boolean() });
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 4, maxLength: 4 }),
      fc.boolean(),
      fc.array(pick, { minLength: 1, maxLength: 120 }),
      (shifts, shared, msgs) => {
        // Four sources reused across writes, each at its own offset 0–3 (only 0 is 4-aligned), 48 bytes or more.
        const sources = shifts.map((shift, s) => {
          const backing = shared ? new Uint8Array(new SharedArrayBuffer(shift + 48 + s)) : new Uint8Array(shift + 48 + s);
          return backing.subarray(shift);
        });
        const { chan } = openChannel({ subbufSize: 8192, nSubbufs: 4 });
        try {
          const want: number[] = [];
          msgs.forEach((m, seq) => {
            const src = sources[m.source]!;
            // New contents every time: a copy made from a stale view would show.
            for (let i = 0; i < src.length; i++) src[i] = (seq * 13 + i * 5 + m.source) & 0xff;
            assert.equal(m.lean ? __relayWrite(chan, src, m.len) : relayWrite(chan, src, m.len), true);
            for (let i = 0; i < m.len; i++) want.push(src[i]!);
            // At most 120 × 48 bytes: all in the first sub-buffer, whose bytes past the end were never written.
            const past = chan.buffer(0).mem.data.subarray(want.length, want.length + 8);
            assert.deepEqual(past, new Uint8Array(8), `message ${seq} wrote past its end`);
          });
          assert.deepEqual(readBack(chan), Uint8Array.from(want));
        } finally {
          relayClose(chan);
        }
      },
    ),
    { numRuns: 200 },
  );
});
