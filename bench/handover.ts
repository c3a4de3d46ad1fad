// Where the writer's time goes at 256 B, 4 KiB and 64 KiB, lossless: relayfs blocking mode (relayWrite,
// consumer mmap + subbufsConsumed, batched publication, as bench case relayfs-lossless+mmap) against the lossless
// reference ring, interleaved. The producer times every write call; a call over 5 µs is a stall
// (waiting for room, waking the reader, or the thread stopped). For relayfs the stalls at a
// sub-buffer switch are counted apart. The consumer counts its pick-ups and how many found the
// buffer full (every sub-buffer ready: the writer had to wait). On Linux both threads also count
// how often the scheduler switched them out while they could run (involuntary context switches,
// /proc/thread-self/status): a reader woken onto the writer's core would preempt the writer.
// Run alone: node dist/bench/handover.js [--runs N] [--out PATH]; writes bench/results/handover.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { HostFs, RelayFile, hostfsCallbacks, relayAttach, relayClose, relayFlush, relayOpen, relayWrite, type ChannelHandle, type FileEntry } from '../src/index.js';
import { newMessage, readStamp, stamp } from './message.js';
import { ReferenceRing } from './reference-ring.js';
import { RING_BYTES } from './types.js';

const SIZES = [256, 4096, 65536];
const SUBBUF = 256 * 1024;
const DURATION_MS = 200;
const STALL_MS = 0.005;

type Variant = 'relayfs' | 'ring';
type Job = { role: 'producer' | 'consumer'; variant: Variant; size: number } & (
  { variant: 'ring'; sab: SharedArrayBuffer } | { variant: 'relayfs'; handle: ChannelHandle; entry: FileEntry; done: SharedArrayBuffer }
);

interface ProducerSide {
  t0: number;
  sent: number;
  ms: number;
  stalls: number;
  stallMs: number;
  /** relayfs: stalls in the call that switched sub-buffers. */
  switchStalls: number;
  switchStallMs: number;
  /** Involuntary context switches of the producer thread during the run (null where not measurable). */
  producerPreempted: number | null;
}

interface ConsumerSide {
  t1: number;
  received: number;
  /** relayfs: times ready() returned sub-buffers, and how many of those found all of them ready. */
  pickups: number;
  fullPickups: number;
  /** Involuntary context switches of the consumer thread, from its start to its end (null where not measurable). */
  consumerPreempted: number | null;
}

export interface HandoverRun extends Omit<ProducerSide, 't0'>, Omit<ConsumerSide, 't1'> {
  variant: Variant;
  size: number;
  gigabytesPerSecond: number;
}

/** This thread's involuntary context switches so far (Linux), or null. */
function preempted(): number | null {
  try {
    const m = /^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync('/proc/thread-self/status', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const since = (before: number | null): number | null => {
  const now = preempted();
  return before === null || now === null ? null : now - before;
};

/** Wall-clock milliseconds comparable across threads (each worker's performance.now() has its own origin). */
const wall = (): number => performance.timeOrigin + performance.now();

async function producer(job: Job): Promise<ProducerSide> {
  const { size } = job;
  const src = newMessage(size);
  let write: (s: Uint8Array) => void;
  let finish: () => void;
  if (job.variant === 'ring') {
    const ring = new ReferenceRing(job.sab);
    write = (s) => ring.write(s);
    finish = () => ring.end();
  } else {
    const chan = await relayAttach(job.handle);
    chan.claim();
    write = (s) => {
      if (!relayWrite(chan, s, size)) throw new Error('dropped in blocking mode');
    };
    finish = () => {
      relayFlush(chan);
      Atomics.store(new Int32Array(job.done), 0, 1);
    };
  }
  const perSubbuf = SUBBUF / size;
  const r = { t0: wall(), sent: 0, ms: 0, stalls: 0, stallMs: 0, switchStalls: 0, switchStallMs: 0, producerPreempted: null as number | null };
  const before = preempted();
  const start = performance.now();
  const end = start + DURATION_MS;
  for (let seq = 0; performance.now() < end; seq++) {
    stamp(src, 0, size, seq);
    const t = performance.now();
    write(src);
    const d = performance.now() - t;
    r.sent++;
    if (d <= STALL_MS) continue;
    r.stalls++;
    r.stallMs += d;
    if (job.variant === 'relayfs' && seq % perSubbuf === 0 && seq > 0) {
      r.switchStalls++;
      r.switchStallMs += d;
    }
  }
  r.ms = performance.now() - start;
  r.producerPreempted = since(before);
  finish();
  return r;
}

function consumer(job: Job): ConsumerSide {
  const { size } = job;
  const before = preempted();
  let received = 0;
  let pickups = 0;
  let fullPickups = 0;
  if (job.variant === 'ring') {
    const ring = new ReferenceRing(job.sab);
    for (let at = ring.next(); at >= 0; at = ring.next()) {
      readStamp(ring.bytes, at, size);
      received++;
      ring.release();
    }
  } else {
    const file = RelayFile.open(job.entry);
    const map = file.mmap();
    const done = new Int32Array(job.done);
    for (;;) {
      const wasDone = Atomics.load(done, 0) === 1;
      const { first, count } = map.ready();
      for (let i = 0; i < count; i++) {
        const slot = (first + i) % map.nSubbufs;
        const from = slot * map.subbufSize;
        const to = from + map.subbufSize - map.padding(slot);
        for (let at = from; at < to; at += size, received++) readStamp(map.data, at, size);
      }
      if (count > 0) {
        pickups++;
        if (count === map.nSubbufs) fullPickups++;
        map.subbufsConsumed(count);
        continue;
      }
      if (wasDone) break;
      file.pollSync(1, { minReady: 8 });
    }
    map.unmap();
    file.close();
  }
  return { t1: wall(), received, pickups, fullPickups, consumerPreempted: since(before) };
}

async function measure(variant: Variant, size: number): Promise<HandoverRun> {
  let job: Job;
  let close = (): void => {};
  if (variant === 'ring') {
    job = { role: 'producer', variant, size, sab: ReferenceRing.allocate(RING_BYTES) };
  } else {
    const fs = HostFs.get(`handover-${process.pid}-${Math.random()}`);
    const chan = relayOpen('cpu', null, SUBBUF, RING_BYTES / SUBBUF, hostfsCallbacks(fs), undefined, { blockingTimeoutMs: 10_000, publishBatchBytes: 4096 });
    close = () => relayClose(chan);
    job = { role: 'producer', variant, size, handle: chan.handle(), entry: fs.files()[0]!, done: new SharedArrayBuffer(4) };
  }
  try {
    const run = (role: Job['role']): Promise<unknown> =>
      new Promise((ok, fail) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { ...job, role } });
        w.once('message', ok);
        w.once('error', fail);
      });
    const [p, c] = (await Promise.all([run('producer'), run('consumer')])) as [ProducerSide, ConsumerSide];
    const { t0, ...producerSide } = p;
    const { t1, ...consumerSide } = c;
    if (c.received !== p.sent) throw new Error(`${variant} ${size}: sent ${p.sent}, received ${c.received}`);
    return { variant, size, gigabytesPerSecond: (c.received * size) / ((t1 - t0) / 1000) / 1e9, ...producerSide, ...consumerSide };
  } finally {
    close();
  }
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { runs: { type: 'string', default: '3' }, out: { type: 'string' } } });
  const runs: HandoverRun[] = [];
  for (const size of SIZES) for (let i = 0; i < Number(v.runs); i++) for (const variant of ['ring', 'relayfs'] as const) runs.push(await measure(variant, size));
  const out = v.out === undefined ? fileURLToPath(new URL('../../bench/results/handover.json', import.meta.url)) : resolve(v.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        schema: 'relayfs-handover/1',
        createdAt: new Date().toISOString(),
        node: process.version,
        settings: { durationMs: DURATION_MS, stallUs: STALL_MS * 1000, subbufSize: SUBBUF, bufferBytes: RING_BYTES },
        runs,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`hand-over, lossless, ${DURATION_MS} ms per run: the writer's calls over ${STALL_MS * 1000} µs (stalls), and the consumer's pick-ups`);
  console.log('(at 256 B the two clock reads around each call are most of its cost: compare stalls and switches, not the rate, with run.ts)');
  console.log('  size   variant   GB/s  stalls (ms of 200)  at a switch (ms)  pick-ups  finding it full  preempted: writer  reader');
  for (const r of runs) {
    const sw = r.variant === 'relayfs' ? `${r.switchStalls} (${r.switchStallMs.toFixed(1)})` : '—';
    const pick = r.variant === 'relayfs' ? `${String(r.pickups).padStart(8)}  ${String(r.fullPickups).padStart(15)}` : `${'—'.padStart(8)}  ${'—'.padStart(15)}`;
    const pre = `${String(r.producerPreempted ?? '—').padStart(17)}  ${String(r.consumerPreempted ?? '—').padStart(6)}`;
    console.log(
      `  ${String(r.size).padStart(5)}  ${r.variant.padEnd(8)} ${r.gigabytesPerSecond.toFixed(2).padStart(5)}  ${`${r.stalls} (${r.stallMs.toFixed(1)})`.padStart(18)}  ${sw.padStart(16)}  ${pick}  ${pre}`,
    );
  }
  console.log(`wrote ${out}`);
}

if (isMainThread) await main();
else {
  const job = workerData as Job;
  parentPort!.postMessage(job.role === 'producer' ? await producer(job) : consumer(job));
}
