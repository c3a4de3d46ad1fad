// A disabled trace point: klog / klogRaw with no handler registered, against an empty function
// called with the same arguments. One thread, no consumer: producer-only results, like copy-limit.
// Only size 16 (klogRaw's data; klog's text would format to 16 bytes): with no handler, size is moot.
import { runThreads } from '../threads.js';
import type { BenchCase } from '../types.js';
import type { Call } from './klog-off-worker.js';

const worker = new URL('./klog-off-worker.js', import.meta.url);

/** A klog call with no handler should cost at most twice an empty call: at least half its rate. */
const TARGET = 0.5;

function offCase(name: string, call: Call, description: string, versus?: string): BenchCase {
  return {
    name,
    family: 'klog',
    description,
    sizes: [16],
    versus: versus === undefined ? undefined : { name: versus, atLeast: TARGET },
    run: (size, opts) => runThreads(size, opts, { url: worker, data: { call } }),
  };
}

export const klogOffCases: readonly BenchCase[] = [
  offCase('empty-call', 'empty', "an empty function f(format, a1…a8) called as f('req %s %d', str, i): the baseline of klog-off"),
  offCase('klog-off', 'klog', "klog('req %s %d', str, i) with no handler registered", 'empty-call'),
  offCase('empty-call-raw', 'empty-raw', 'an empty function f(data, length?) called as f(bytes): the baseline of klog-raw-off'),
  offCase('klog-raw-off', 'klog-raw', 'klogRaw(bytes) with no handler registered', 'empty-call-raw'),
];
