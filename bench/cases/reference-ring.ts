// Reference cases: the hand-written SPSC ring of ../reference-ring.ts, one producer and one
// consumer thread; lossless (the producer waits while the ring is full) and dropping.
import { ReferenceRing } from '../reference-ring.js';
import { runThreads } from '../threads.js';
import { RING_BYTES, SIZES, type BenchCase } from '../types.js';

const worker = new URL('./reference-ring-worker.js', import.meta.url);

function ringCase(name: string, lossless: boolean, description: string): BenchCase {
  return {
    name,
    family: 'reference',
    description,
    sizes: SIZES,
    run(size, opts) {
      const data = { sab: ReferenceRing.allocate(RING_BYTES), lossless };
      return runThreads(size, opts, { url: worker, data }, { url: worker, data });
    },
  };
}

export const referenceRing = ringCase('reference-ring', true, 'SPSC ring of length-prefixed records, lossless: the producer sleeps while full; consumer woken every 256 KiB');
export const referenceRingDrop = ringCase('reference-ring-drop', false, 'the same ring, dropping: a message that finds the ring full is dropped and counted');
