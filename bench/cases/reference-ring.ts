// Reference case: the hand-written SPSC ring of ../reference-ring.ts, one producer and one consumer thread.
import { ReferenceRing } from '../reference-ring.js';
import { runThreads } from '../threads.js';
import { RING_BYTES, SIZES, type BenchCase } from '../types.js';

const worker = new URL('./reference-ring-worker.js', import.meta.url);

export const referenceRing: BenchCase = {
  name: 'reference-ring',
  family: 'reference',
  description: 'minimal SPSC ring of length-prefixed records; Atomics.wait when empty, notify only a waiting consumer',
  sizes: SIZES,
  run(size, opts) {
    const data = { sab: ReferenceRing.allocate(RING_BYTES) };
    return runThreads(size, opts, { url: worker, data }, { url: worker, data });
  },
};
