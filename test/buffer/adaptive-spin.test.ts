/**
 * The adaptive spin of a blocking poll: the policy as a pure function (fast-check), and the
 * reader's state after waits whose outcome does not depend on timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BufferMemory, BufferReader, BufferWriter } from '../../src/buffer/index.js';
import { MAX_SPIN_MICROS, nextSpinMicros } from '../../src/buffer/reader.js';

const micros = fc.double({ min: 0, max: 1e6, noNaN: true });

test('a wait that timed out makes the next wait sleep at once; a slow writer halves the spin, so a few slow waits stop it', () => {
  fc.assert(
    fc.property(micros, micros, (current, took) => {
      assert.equal(nextSpinMicros(current, false, took), 0);
    }),
  );
  fc.assert(
    fc.property(fc.double({ min: 0, max: MAX_SPIN_MICROS, noNaN: true }), fc.double({ min: MAX_SPIN_MICROS / 2, max: 1e6, noNaN: true, minExcluded: true }), (current, gap) => {
      const next = nextSpinMicros(current, true, gap);
      assert.ok(next === 0 || next === current / 2, `${current} → ${next}`);
      // From the longest spin, slow waits reach 0 within 6 (500 → 250 → 125 → 62.5 → 31.25 → 0).
      let spin = MAX_SPIN_MICROS;
      for (let i = 0; i < 6; i++) spin = nextSpinMicros(spin, true, gap);
      assert.equal(spin, 0);
    }),
  );
  assert.equal(nextSpinMicros(100, true, Number.NaN), 0, 'a clock that gives nothing usable means no spin');
});

test('while data flows the spin covers twice the last gap between sub-buffers, never shrinks, and stays within the longest spin', () => {
  fc.assert(
    fc.property(fc.double({ min: 0, max: MAX_SPIN_MICROS, noNaN: true }), fc.double({ min: 0, max: MAX_SPIN_MICROS / 2, noNaN: true }), (current, gap) => {
      const next = nextSpinMicros(current, true, gap);
      assert.ok(next > 0 && next <= MAX_SPIN_MICROS, `${next}`);
      assert.ok(next >= Math.min(MAX_SPIN_MICROS, 2 * gap));
      assert.ok(next >= current);
    }),
  );
});

test('a reader spins only after data arrived while it waited; a wait with nothing coming leaves it sleeping at once', () => {
  const mem = BufferMemory.allocate({ subbufSize: 64, nSubbufs: 4 });
  const writer = new BufferWriter(mem, () => true);
  writer.init();
  const reader = new BufferReader(mem);
  assert.equal(reader.adaptiveSpinMicros, 0, 'a new reader sleeps at once');
  assert.equal(reader.waitReadySync(1, reader.forcedEvents(), 1), false, 'nothing written: the wait times out');
  assert.equal(reader.adaptiveSpinMicros, 0);

  // A wait for data that is already there (or comes soon) returns true; how long it took sets the spin (the policy above).
  const msg = new Uint8Array(60);
  writer.write(msg, msg.length);
  writer.write(msg, msg.length); // finishes the first sub-buffer
  assert.equal(reader.waitReadySync(1, reader.forcedEvents(), 60_000), true);
  const after = reader.adaptiveSpinMicros;
  assert.ok(after >= 0 && after <= MAX_SPIN_MICROS);

  // A fixed spin (spinMicros given) does not touch the adaptive state.
  const out = new Uint8Array(256);
  reader.readInto(out, 0, true);
  assert.equal(reader.waitReadySync(1, reader.forcedEvents(), 1, 0), false);
  assert.equal(reader.adaptiveSpinMicros, after);
  // An adaptive wait that times out: the writer is idle.
  assert.equal(reader.waitReadySync(1, reader.forcedEvents(), 1), false);
  assert.equal(reader.adaptiveSpinMicros, 0);
});
