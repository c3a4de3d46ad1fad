// How noisy the machine is, in about 3 s: the figures at the top of docs/performance.md.
// 1. A busy loop reading the clock: every gap between two reads over 100 µs is a stop of the
//    thread (preempted, or the VM's vCPU descheduled), alone and beside a second busy thread.
// 2. Wake-up latency between two worker threads: Atomics.notify → Atomics.wait returning, and
//    what the Atomics.notify call itself costs the thread that wakes (a writer pays it in its write).
// Run alone: node dist/bench/noise.js [--json] [--out PATH]; writes bench/results/noise.json.
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { clockNs } from './worker-side.js';

const PROBE_MS = 1000;
const GAP_MS = 0.1;
const WAKE_SAMPLES = 3000;
const WAKE_PAUSE_MS = 0.2;
// A cap for a very loaded machine: the wake-ups taken so far are reported.
const WAKE_MAX_MS = 2000;

// Shared control words. Busy worker: SPIN_STOP. Wake pair: SEQ (the wait word), STATE, DONE.
const SPIN_STOP = 0;
const SEQ = 1;
const STATE = 2;
const DONE = 3;
const AWAKE = 0;
const ASLEEP = 1;

type Job =
  { role: 'busy'; ctrl: SharedArrayBuffer } | { role: 'sleeper' | 'waker'; ctrl: SharedArrayBuffer; stamp: SharedArrayBuffer; lat: SharedArrayBuffer; cost: SharedArrayBuffer };

interface GapStats {
  seconds: number;
  clockReads: number;
  /** Gaps between consecutive clock reads longer than 100 µs. */
  gaps: number;
  gapsPerSecond: number;
  /** Share of the time spent in those gaps. */
  lostPercent: number;
  p99GapUs: number | null;
  maxGapUs: number | null;
}

interface WakeStats {
  samples: number;
  /** Rounds where the sleeper had not entered Atomics.wait before the notify ('not-equal'): not counted. */
  notAsleep: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  /** How long Atomics.notify took to return in the waking thread, for the same wake-ups. */
  notifyCost: { meanUs: number; p50Us: number; p99Us: number; maxUs: number };
}

/** Nearest rank, of an ascending array. */
const percentile = (sorted: ArrayLike<number>, q: number): number => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;

// performance.now(), not clockNs(): hrtime.bigint() allocates on every call, and the GCs that
// causes would show up as gaps of our own making.
function probe(ms: number): GapStats {
  const gaps = new Float64Array(Math.ceil(ms / GAP_MS) + 1); // at most one gap per 100 µs
  const start = performance.now();
  const end = start + ms;
  let last = start;
  let n = 0;
  let reads = 0;
  for (;;) {
    const t = performance.now();
    reads++;
    if (t - last > GAP_MS) gaps[n++] = t - last;
    last = t;
    if (t >= end) break;
  }
  const seconds = (last - start) / 1000;
  const found = gaps.subarray(0, n).sort();
  const lost = found.reduce((a, b) => a + b, 0);
  return {
    seconds,
    clockReads: reads,
    gaps: n,
    gapsPerSecond: n / seconds,
    lostPercent: (lost / (last - start)) * 100,
    p99GapUs: n === 0 ? null : percentile(found, 0.99) * 1000,
    maxGapUs: n === 0 ? null : found[n - 1]! * 1000,
  };
}

function spawn(job: Job): Worker {
  return new Worker(new URL(import.meta.url), { workerData: job });
}

async function besideBusyThread(): Promise<GapStats> {
  const ctrl = new SharedArrayBuffer(16);
  const w = spawn({ role: 'busy', ctrl });
  try {
    await once(w, 'message'); // spinning: a probe started earlier would count the worker's start-up
    return probe(PROBE_MS);
  } finally {
    Atomics.store(new Int32Array(ctrl), SPIN_STOP, 1);
    await once(w, 'exit');
  }
}

async function wakeLatency(): Promise<WakeStats> {
  const job = {
    ctrl: new SharedArrayBuffer(16),
    stamp: new SharedArrayBuffer(8),
    lat: new SharedArrayBuffer(8 * WAKE_SAMPLES),
    cost: new SharedArrayBuffer(8 * (WAKE_SAMPLES + 1)),
  };
  const sleeper = spawn({ role: 'sleeper', ...job });
  const waker = spawn({ role: 'waker', ...job });
  const wakerDone = once(waker, 'message'); // its costs are all stored
  wakerDone.catch(() => {}); // awaited below; if the sleeper fails first, this must not go unhandled
  try {
    const [{ samples, notAsleep }] = (await once(sleeper, 'message')) as [{ samples: number; notAsleep: number }];
    if (samples === 0) throw new Error(`no wake-up measured (${notAsleep} rounds where the sleeper was not yet asleep)`);
    const lat = new Float64Array(job.lat, 0, samples).sort();
    await wakerDone;
    const all = new Float64Array(job.cost);
    const cost = all.subarray(1, 1 + all[0]!).sort(); // every wake-up, also the rounds the sleeper did not count
    const notifyCost = { meanUs: cost.reduce((a, b) => a + b, 0) / cost.length, p50Us: percentile(cost, 0.5), p99Us: percentile(cost, 0.99), maxUs: cost[cost.length - 1]! };
    return { samples, notAsleep, p50Us: percentile(lat, 0.5), p90Us: percentile(lat, 0.9), p99Us: percentile(lat, 0.99), maxUs: lat[samples - 1]!, notifyCost };
  } finally {
    await Promise.all([sleeper.terminate(), waker.terminate()]);
  }
}

function workerMain(job: Job): void {
  const ctrl = new Int32Array(job.ctrl);
  if (job.role === 'busy') {
    parentPort!.postMessage('spinning');
    while (Atomics.load(ctrl, SPIN_STOP) === 0) {
      // a second thread wanting a core, nothing else
    }
    return;
  }
  const stamp = new Float64Array(job.stamp);
  if (job.role === 'sleeper') {
    const lat = new Float64Array(job.lat);
    let samples = 0;
    let notAsleep = 0;
    for (;;) {
      const seq = Atomics.load(ctrl, SEQ);
      Atomics.store(ctrl, STATE, ASLEEP);
      const r = Atomics.wait(ctrl, SEQ, seq);
      const t = clockNs();
      if (Atomics.load(ctrl, DONE) === 1) break;
      if (r === 'ok') lat[samples++] = (t - stamp[0]!) / 1000;
      else notAsleep++;
    }
    parentPort!.postMessage({ samples, notAsleep });
    return;
  }
  // The waker: once the sleeper is in (or entering) Atomics.wait, let it settle, stamp, notify.
  const cost = new Float64Array(job.cost); // [0]: how many follow
  const end = performance.now() + WAKE_MAX_MS;
  const wake = (): void => {
    while (Atomics.load(ctrl, STATE) !== ASLEEP) {
      // the sleeper records the last sample, then sleeps again
    }
    const t = performance.now() + WAKE_PAUSE_MS;
    while (performance.now() < t) {
      // the pause: a wake-up just after the wait began would not show a real sleep's latency
    }
    Atomics.store(ctrl, STATE, AWAKE);
    stamp[0] = clockNs();
    Atomics.add(ctrl, SEQ, 1);
    const t0 = performance.now();
    Atomics.notify(ctrl, SEQ);
    cost[1 + cost[0]!] = (performance.now() - t0) * 1000;
    cost[0]!++;
  };
  // One wake-up per sample; the sleeper takes WAKE_SAMPLES at most (notAsleep rounds do not count).
  for (let i = 0; i < WAKE_SAMPLES && performance.now() < end; i++) wake();
  while (Atomics.load(ctrl, STATE) !== ASLEEP) {
    // as above
  }
  parentPort!.postMessage('done');
  Atomics.store(ctrl, DONE, 1);
  Atomics.add(ctrl, SEQ, 1);
  Atomics.notify(ctrl, SEQ);
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { json: { type: 'boolean', default: false }, out: { type: 'string' } } });
  probe(50); // warm-up: the loop optimised before it is timed
  const alone = probe(PROBE_MS);
  const beside = await besideBusyThread();
  const wake = await wakeLatency();
  const cpu = cpus();
  const report = {
    schema: 'relayfs-noise/1',
    createdAt: new Date().toISOString(),
    environment: { node: process.version, platform: process.platform, arch: process.arch, cpus: cpu.length, cpuModel: cpu[0]?.model.trim() ?? 'unknown', loadavg1: loadavg()[0]! },
    settings: { probeMs: PROBE_MS, gapThresholdUs: GAP_MS * 1000, wakeSamples: WAKE_SAMPLES, wakePauseUs: WAKE_PAUSE_MS * 1000 },
    gaps: { alone, besideBusyThread: beside },
    wake,
  };
  const out = v.out === undefined ? fileURLToPath(new URL('../../bench/results/noise.json', import.meta.url)) : resolve(v.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  if (v.json) return void console.log(JSON.stringify(report, null, 2));

  const ms = (us: number | null) => (us === null ? '—' : `${(us / 1000).toFixed(2)} ms`);
  console.log(`machine noise (${report.environment.cpus} CPUs, load average ${report.environment.loadavg1.toFixed(2)}): a busy loop reading performance.now() for ${PROBE_MS} ms`);
  console.log('  busy thread              gaps > 100 µs/s  time lost   p99 gap   max gap');
  for (const [label, g] of [
    ['alone', alone],
    ['beside a busy thread', beside],
  ] as const) {
    console.log(
      `  ${label.padEnd(22)} ${g.gapsPerSecond.toFixed(0).padStart(15)}  ${g.lostPercent.toFixed(1).padStart(7)} %  ${ms(g.p99GapUs).padStart(8)}  ${ms(g.maxGapUs).padStart(8)}`,
    );
  }
  const us = (x: number) => `${x.toFixed(0)} µs`;
  console.log(
    `  wake-up, Atomics.notify → Atomics.wait returns (two workers, ${wake.samples} samples, ${wake.notAsleep} not asleep): p50 ${us(wake.p50Us)}, p90 ${us(wake.p90Us)}, p99 ${us(wake.p99Us)}, max ${us(wake.maxUs)}`,
  );
  const c = wake.notifyCost;
  console.log(`  the Atomics.notify call itself, in the waking thread: mean ${us(c.meanUs)}, p50 ${us(c.p50Us)}, p99 ${us(c.p99Us)}, max ${us(c.maxUs)}`);
  console.log(`wrote ${out}`);
}

if (isMainThread) await main();
else workerMain(workerData as Job);
