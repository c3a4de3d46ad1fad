/**
 * Layout arithmetic of the shared-memory buffer: sub-buffer sequence numbers
 * that wrap at a multiple of nSubbufs below 2^31 (seqWrap / seqNext / seqAdd /
 * seqDiff), the bit-31 hold flag beside them, and the 64-bit counters kept as
 * two Uint32 words (add64 / read64), checked against exact BigInt arithmetic.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BufferMemory,
  CONSUMED_HELD,
  MAX_SUBBUFS,
  SEQ_MASK,
  SLOT_ARRAYS,
  add64,
  controlBytes,
  read64,
  seqAdd,
  seqDiff,
  seqNext,
  seqWrap,
  slotMsgs,
  slotPadding,
  slotReserve,
} from '../../src/buffer/layout.js';

const RUNS = Number(process.env.LAYOUT_RUNS ?? 500);
const TWO31 = 0x80000000;

/** nSubbufs: small ones, non powers of two, powers of two, and the largest allowed. */
const nSubbufsArb = fc.oneof(
  fc.integer({ min: 1, max: 16 }),
  fc.constantFrom(3, 5, 6, 7, 10, 12, 1000, 4096, 65535, 99991, MAX_SUBBUFS - 1, MAX_SUBBUFS),
  fc.integer({ min: 1, max: MAX_SUBBUFS }),
);

/** A count in [0, wrap), biased to the edges where the wrap happens. */
function seqArb(wrap: number): fc.Arbitrary<number> {
  return fc.oneof(
    fc.integer({ min: 0, max: wrap - 1 }),
    fc.integer({ min: 0, max: 40 }).map((d) => Math.min(d, wrap - 1)),
    fc.integer({ min: 1, max: 40 }).map((d) => Math.max(0, wrap - d)),
  );
}

/** Reference: the same operations on unbounded integers reduced modulo wrap. */
const mod = (a: number, m: number) => ((a % m) + m) % m;

describe('seqWrap', () => {
  test('is the largest multiple of nSubbufs not above 2^31, for every nSubbufs', () => {
    fc.assert(
      fc.property(nSubbufsArb, (n) => {
        const wrap = seqWrap(n);
        assert.equal(wrap % n, 0, 'a multiple of nSubbufs');
        assert.ok(wrap <= TWO31, 'not above 2^31');
        assert.ok(wrap + n > TWO31, 'the largest such multiple');
        assert.ok(Number.isSafeInteger(wrap));
        // Every count below wrap fits 31 bits, so bit 31 of CONSUMED stays free.
        assert.equal((wrap - 1) & CONSUMED_HELD, 0);
      }),
      { numRuns: RUNS },
    );
  });

  test('known values: powers of two wrap at exactly 2^31, others below', () => {
    assert.equal(seqWrap(1), TWO31);
    assert.equal(seqWrap(2), TWO31);
    assert.equal(seqWrap(4), TWO31);
    assert.equal(seqWrap(MAX_SUBBUFS), TWO31);
    assert.equal(seqWrap(3), 2147483646);
    assert.equal(seqWrap(5), 2147483645);
    assert.equal(seqWrap(6), 2147483646);
    assert.equal(seqWrap(7), 2147483646);
    assert.equal(seqWrap(1000), 2147483000);
  });
});

describe('seqNext / seqAdd / seqDiff', () => {
  test('seqNext is +1 modulo wrap, and the slot (count % n) always advances by one, across the wrap too', () => {
    fc.assert(
      fc.property(
        nSubbufsArb.chain((n) => fc.tuple(fc.constant(n), seqArb(seqWrap(n)))),
        ([n, a]) => {
          const wrap = seqWrap(n);
          const next = seqNext(a, wrap);
          assert.equal(next, mod(a + 1, wrap));
          assert.ok(next >= 0 && next < wrap);
          assert.equal(next % n, ((a % n) + 1) % n, 'slot continuity');
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('seqNext at the very edge: wrap - 1 goes to 0, for non powers of two too', () => {
    for (const n of [1, 2, 3, 5, 6, 7, 12, 1000, 99991, MAX_SUBBUFS]) {
      const wrap = seqWrap(n);
      assert.equal(seqNext(wrap - 1, wrap), 0, `n=${n}`);
      assert.equal((wrap - 1) % n, n - 1, `n=${n}: the last count names the last slot`);
      assert.equal(seqNext(wrap - 2, wrap), wrap - 1);
      assert.equal(seqNext(0, wrap), 1);
    }
  });

  test('seqAdd is + modulo wrap and agrees with repeated seqNext (slots included)', () => {
    fc.assert(
      fc.property(
        nSubbufsArb.chain((n) => fc.tuple(fc.constant(n), seqArb(seqWrap(n)), fc.integer({ min: 0, max: 3 * n + 50 }))),
        ([n, a, k]) => {
          const wrap = seqWrap(n);
          const steps = Math.min(k, 200);
          let b = a;
          for (let i = 0; i < steps; i++) b = seqNext(b, wrap);
          assert.equal(seqAdd(a, steps, wrap), b);
          assert.equal(seqAdd(a, k, wrap), mod(a + k, wrap));
          assert.equal(seqAdd(a, k, wrap) % n, (a + k) % n, 'slot of a + k');
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('seqDiff is the distance modulo wrap and inverts seqAdd, across the wrap', () => {
    fc.assert(
      fc.property(
        nSubbufsArb.chain((n) => {
          const wrap = seqWrap(n);
          return fc.tuple(fc.constant(n), seqArb(wrap), fc.oneof(fc.integer({ min: 0, max: 2 * n + 8 }), fc.integer({ min: 0, max: wrap - 1 })));
        }),
        ([n, b, d]) => {
          const wrap = seqWrap(n);
          const a = seqAdd(b, d, wrap);
          assert.equal(seqDiff(a, b, wrap), d);
          assert.equal(seqDiff(a, b, wrap), mod(a - b, wrap));
          assert.equal(seqDiff(b, b, wrap), 0);
          if (d > 0) assert.equal(seqDiff(b, a, wrap), wrap - d, 'the other way round');
          // produced - consumed of a full buffer, straddling the wrap, still reads n.
          const c = mod(wrap - 1 - (d % n), wrap);
          assert.equal(seqDiff(seqAdd(c, n, wrap), c, wrap), n);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('a whole walk across the wrap: produced and consumed counts stay n apart at most, slots agree', () => {
    for (const n of [1, 3, 5, 6, 7]) {
      const wrap = seqWrap(n);
      let produced = wrap - 2 * n - 1;
      let consumed = produced;
      let slot = produced % n;
      for (let i = 0; i < 6 * n; i++) {
        produced = seqNext(produced, wrap);
        slot = (slot + 1) % n;
        assert.equal(produced % n, slot);
        if (seqDiff(produced, consumed, wrap) > n - 1) consumed = seqNext(consumed, wrap);
        assert.ok(seqDiff(produced, consumed, wrap) <= n - 1 || n === 1);
        assert.equal(consumed % n, mod(slot - seqDiff(produced, consumed, wrap), n));
      }
    }
  });

  test('the hold bit (bit 31) round-trips through an Int32 word and SEQ_MASK', () => {
    fc.assert(
      fc.property(
        nSubbufsArb.chain((n) => seqArb(seqWrap(n))),
        (a) => {
          const word = new Int32Array(1);
          Atomics.store(word, 0, a | CONSUMED_HELD);
          const loaded = Atomics.load(word, 0);
          assert.ok((loaded & CONSUMED_HELD) !== 0);
          assert.equal(loaded & SEQ_MASK, a);
          Atomics.store(word, 0, a);
          assert.equal(Atomics.load(word, 0) & CONSUMED_HELD, 0);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('add64 / read64', () => {
  const U32 = 0x100000000n;
  const U64 = 1n << 64n;

  test('a sequence of additions equals BigInt arithmetic modulo 2^64, carries included', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: U64 - 1n }),
        fc.oneof(fc.constant(0n), fc.constant(0xffffffffn), fc.constant(0xfffffff0n), fc.constant((1n << 53n) - 5n), fc.bigInt({ min: 0n, max: U64 - 1n })),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 0xffffffff }), fc.constant(0xffffffff)), { maxLength: 40 }),
        fc.integer({ min: 0, max: 6 }),
        (random, edge, deltas, at) => {
          const start = edge === 0n ? random : edge;
          const u32 = new Uint32Array(8).fill(0xdeadbeef);
          u32[at] = Number(start % U32);
          u32[at + 1] = Number(start / U32);
          let expected = start;
          for (const d of deltas) {
            add64(u32, at, d);
            expected = (expected + BigInt(d)) % U64;
            assert.equal(BigInt(u32[at]!), expected % U32, 'low word');
            assert.equal(BigInt(u32[at + 1]!), expected / U32, 'high word');
            if (expected < 1n << 53n) assert.equal(read64(u32, at), Number(expected));
          }
          // Neighbouring words untouched.
          for (let i = 0; i < 8; i++) if (i !== at && i !== at + 1) assert.equal(u32[i], 0xdeadbeef);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('the carry edge exactly', () => {
    const u32 = new Uint32Array(2);
    u32[0] = 0xffffffff;
    add64(u32, 0, 1);
    assert.deepEqual([...u32], [0, 1]);
    assert.equal(read64(u32, 0), 2 ** 32);
    add64(u32, 0, 0xffffffff);
    assert.deepEqual([...u32], [0xffffffff, 1]);
    add64(u32, 0, 0xffffffff);
    assert.deepEqual([...u32], [0xfffffffe, 2]);
    assert.equal(read64(u32, 0), 3 * 2 ** 32 - 2);
    u32[0] = 0xffffffff;
    u32[1] = 0xffffffff;
    add64(u32, 0, 1);
    assert.deepEqual([...u32], [0, 0], 'wraps modulo 2^64');
    u32[0] = 0xfffffffe;
    u32[1] = 0x001fffff; // 2^53 - 2
    add64(u32, 0, 1);
    assert.equal(read64(u32, 0), Number.MAX_SAFE_INTEGER);
  });

  test('read64 of any pair of words is hi * 2^32 + lo (exact below 2^53)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x1fffff }), fc.integer({ min: 0, max: 0xffffffff }), (hi, lo) => {
        const u32 = new Uint32Array([lo, hi]);
        assert.equal(read64(u32, 0), Number((BigInt(hi) << 32n) + BigInt(lo)));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('control words', () => {
  test('the per-sub-buffer arrays fit the control area, do not overlap, and the data follows it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 256 }), (n, size) => {
        const bytes = controlBytes(n);
        assert.equal(bytes % 64, 0, 'whole cache lines');
        const mem = BufferMemory.allocate({ subbufSize: size, nSubbufs: n });
        assert.equal(mem.ctrl.length * 4, bytes);
        const seen = new Set<number>();
        for (let slot = 0; slot < n; slot++) {
          for (const at of [slotPadding(slot), slotMsgs(n, slot), slotReserve(n, slot)]) {
            assert.ok(at >= SLOT_ARRAYS && at < mem.ctrl.length);
            assert.ok(!seen.has(at), 'no two slot words share a place');
            seen.add(at);
          }
        }
        assert.equal(mem.data.byteOffset, bytes);
        assert.equal(mem.data.length, n * size);
        assert.equal(mem.subbufs.length, n);
        mem.subbufs.forEach((s, i) => {
          assert.equal(s.byteOffset, bytes + i * size);
          assert.equal(s.length, size);
        });
      }),
      { numRuns: 100 },
    );
  });
});
