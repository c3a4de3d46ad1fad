// The first lap: a buffer's memory costs a page fault per 4 KiB page the first time it is
// written. One thread, no consumer. Each lap writes one 4 MiB buffer until it is full; the
// first-lap cases start every lap on fresh memory, the warm ones reuse the same memory.
// Only the writes are timed (allocating, relayOpen and relayClose are not).
import { runThreads } from '../threads.js';
import { SIZES, type BenchCase } from '../types.js';
import type { LapKind } from './first-lap-worker.js';

const worker = new URL('./first-lap-worker.js', import.meta.url);

function lapCase(name: string, kind: LapKind, description: string, versus?: string): BenchCase {
  return {
    name,
    family: 'first-lap',
    description,
    sizes: SIZES,
    versus: versus === undefined ? undefined : { name: versus },
    run: (size, opts) => runThreads(size, opts, { url: worker, data: { kind } }),
  };
}

export const firstLapCases: readonly BenchCase[] = [
  lapCase('copy-warm-lap', 'copy-warm', 'copy (set, byte loop ≤ 48 B) + Atomics.store into the same 4 MiB again and again'),
  lapCase('copy-first-lap', 'copy-first', 'the same copy into a fresh 4 MiB SharedArrayBuffer every lap (page faults)', 'copy-warm-lap'),
  lapCase('relayfs-warm-lap', 'relayfs-warm', 'relayWrite until the 4 MiB buffer is full, relayReset, again (same memory)'),
  lapCase('relayfs-first-lap', 'relayfs-first', 'relayWrite until full into a freshly opened channel every lap (page faults)', 'relayfs-warm-lap'),
  lapCase(
    'relayfs-first-lap+pretouch',
    'relayfs-pretouch',
    'the same, channels opened with { pretouch: true }: the faults are paid in relayOpen, outside the clock',
    'relayfs-warm-lap',
  ),
];
