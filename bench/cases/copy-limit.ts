// Copy-limit cases: what one thread can copy into a SharedArrayBuffer, with no consumer.
import { runThreads } from '../threads.js';
import { RING_BYTES, SIZES, type BenchCase } from '../types.js';
import type { CopyMethod } from './copy-limit-worker.js';

const worker = new URL('./copy-limit-worker.js', import.meta.url);

const METHODS: Record<CopyMethod, string> = {
  set: 'Uint8Array.prototype.set',
  u32: 'a Uint32Array word loop',
  f64: 'a Float64Array word loop (8-byte words)',
};

function copyCase(method: CopyMethod, publish: boolean): BenchCase {
  return {
    name: `copy-${method}${publish ? '+store' : ''}`,
    family: 'copy-limit',
    description: `copy each message with ${METHODS[method]}${publish ? ', then one Atomics.store' : ''}; no consumer`,
    sizes: SIZES,
    run: (size, opts) => runThreads(size, opts, { url: worker, data: { method, publish, capacity: RING_BYTES } }),
  };
}

export const copyLimitCases: BenchCase[] = (['set', 'u32', 'f64'] as const).flatMap((m) => [copyCase(m, false), copyCase(m, true)]);
