// Shows that the write path allocates nothing: heap growth over 10^7 writes, per write path.
// Run with --expose-gc (npm run bench does) so a collection can be forced before each loop.
import { writeFileSync, mkdirSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { HostFs, __relayWrite, hostfsCallbacks, relayOpen, relayReserveOffset, relayWrite } from '../src/index.js';

const WRITES = 10_000_000;
const SIZE = Number(process.env.ALLOC_SIZE ?? 64);

interface Result {
  path: string;
  writes: number;
  /** Garbage collections that ran during the loop: none means it allocated (almost) nothing. */
  gcs: number;
  heapGrowthBytes: number;
}

// Every GC, with its start time, to count those that fall inside a loop.
const gcTimes: number[] = [];
new PerformanceObserver((list) => list.getEntries().forEach((e) => gcTimes.push(e.startTime))).observe({ entryTypes: ['gc'] });

async function measure(path: string, write: () => void): Promise<Result> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  for (let i = 0; i < 100_000; i++) write(); // warm up: let the optimiser settle first
  gc();
  await new Promise((r) => setTimeout(r, 10));
  const t0 = performance.now();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < WRITES; i++) write();
  const after = process.memoryUsage().heapUsed;
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 10)); // GC entries arrive asynchronously
  const gcs = gcTimes.filter((t) => t >= t0 && t <= t1).length;
  return { path, writes: WRITES, gcs, heapGrowthBytes: after - before };
}

if (!(globalThis as { gc?: unknown }).gc) {
  console.error('run with node --expose-gc dist/bench/alloc.js');
  process.exit(2);
}
const fs = HostFs.get('alloc');
const chan = relayOpen('a', null, 256 * 1024, 16, { ...hostfsCallbacks(fs), subbufStart: () => 1 }, undefined, { buffers: 1 });
const msg = new Uint8Array(SIZE);
chan.claim();
const batched = relayOpen('b', null, 256 * 1024, 16, { ...hostfsCallbacks(fs), subbufStart: () => 1 }, undefined, { buffers: 1, publishBatchBytes: 4096 });
batched.claim();
const data = chan.own!.mem.data;
let sink = 0;
const paths: [string, () => void][] = [
  ['empty function (baseline)', () => void sink++],
  ['new Uint8Array(16) (allocates)', () => void (sink += new Uint8Array(16).length)],
  ['relayWrite', () => void relayWrite(chan, msg)],
  ['__relayWrite', () => void __relayWrite(chan, msg)],
  ['relayWrite, batched publication', () => void relayWrite(batched, msg)],
  ['relayReserveOffset', () => void (data[relayReserveOffset(chan, SIZE)] = 1)],
];
const results: Result[] = [];
for (const [path, write] of paths) results.push(await measure(path, write));
console.log(`write path allocations over ${WRITES.toExponential(0)} writes of ${SIZE} B (overwrite mode, never full):`);
for (const r of results) console.log(`  ${r.path.padEnd(32)} ${String(r.gcs).padStart(5)} GCs during the loop, heap growth ${r.heapGrowthBytes} B`);
const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1]! : new URL('../../bench/results/alloc.json', import.meta.url);
mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
writeFileSync(out, JSON.stringify({ schema: 'relayfs-alloc/1', size: SIZE, results }, null, 2) + '\n');
