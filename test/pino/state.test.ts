/** Tickets are 32-bit and wrap; the drain orders them as one growing count. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { PinoState, TICKET } from '../../src/pino/state.js';

test('tickets unwrap across 2^31 and 2^32 relative to the last line written out', () => {
  const s = PinoState.create(1, 1024);
  s.lastTs = 2 ** 31 - 3;
  assert.equal(s.unwrap((2 ** 31 + 4) >>> 0), 2 ** 31 + 4);
  s.lastTs = 2 ** 32 - 2;
  assert.equal(s.unwrap(5), 2 ** 32 + 5);
  assert.equal(s.unwrap(2 ** 32 - 7), 2 ** 32 - 7, 'a late line stays below the last one');
  Atomics.store(s.words, TICKET, -1); // 2^32 - 1 as a u32
  assert.equal(s.nextTicket(), 2 ** 32 - 1);
});
