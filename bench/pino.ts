// pino destinations compared: pino(relayDestination()) against pino.transport() to a file and
// pino.destination({ sync: false }), from 1 and from 4 threads, and what each loses at process.exit.
//
//   node dist/bench/pino.js [--lines N] [--runs N] [--json] [--out PATH]
//
// Every measurement is a fresh child process (the exit case needs one anyway):
//  - throughput: each thread logs N lines as fast as it can, then the destination is ended and
//    the run waits until the last line is on disk. "calls/s" is what a logging thread pays
//    (lines ÷ time inside the log calls), "on disk/s" counts delivered lines ÷ time from the first
//    call to the last byte on disk. Lines not in the file are "lost" (relayfs counts them, the
//    others cannot).
//  - exit: each thread logs N lines; once all have returned from their log calls (workers still
//    running) the main thread calls process.exit(0). Whatever is not in the file is lost at exit.
// With 1 thread the main thread logs; with 4, four workers do (each with its own pino.transport or
// pino.destination, as users have to: neither can be shared between threads).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { relayDestination, type RelayDestination, type RelayDestinationHandle } from '../src/pino/index.js';

type Kind = 'relayfs' | 'transport' | 'destination';
type Mode = 'throughput' | 'exit';
const KINDS: Kind[] = ['relayfs', 'transport', 'destination'];
const LABEL: Record<Kind, string> = {
  relayfs: 'pino(relayDestination())',
  transport: "pino.transport({ target: 'pino/file' })",
  destination: 'pino.destination({ sync: false })',
};

interface ChildResult {
  /** Slowest thread's time inside its log calls (ms). */
  logMs: number;
  /** First call to last line on disk (ms); throughput mode only. */
  totalMs: number | null;
  /** Lines relayfs counted as dropped (null for the others: they do not count). */
  dropped: number | null;
}

interface Row {
  kind: Kind;
  threads: number;
  mode: Mode;
  lines: number;
  onDisk: number;
  lost: number;
  dropped: number | null;
  callsPerSec: number | null;
  onDiskPerSec: number | null;
}

// ------------------------------------------------------------------ the logging side

interface ThreadJob {
  kind: Kind;
  file: string;
  lines: number;
  mode: Mode;
  handle?: RelayDestinationHandle;
}

/** A logger for this thread; end() resolves once its own stream has written everything. */
function makeLogger(job: ThreadJob): { log: pino.Logger; end: () => Promise<void> } {
  if (job.kind === 'relayfs') return { log: pino(relayDestination(job.handle!)), end: async () => {} };
  if (job.kind === 'transport') {
    const t = pino.transport({ target: 'pino/file', options: { destination: job.file, append: true } });
    return { log: pino(t), end: () => closed(t) };
  }
  const d = pino.destination({ dest: job.file, sync: false, append: true });
  return { log: pino(d), end: () => closed(d) };
}

/** Ends a stream and waits for 'close', keeping the thread alive meanwhile (thread-stream's worker is unref'd). */
function closed(stream: { once(ev: 'close', f: () => void): unknown; end(): unknown }): Promise<void> {
  const keepAlive = setInterval(() => {}, 1000);
  return new Promise<void>((resolve) => {
    stream.once('close', () => {
      clearInterval(keepAlive);
      resolve();
    });
    stream.end();
  });
}

/** Logs job.lines lines; returns ms spent in the log calls. */
async function logLines(job: ThreadJob, log: pino.Logger): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < job.lines; i++) log.info({ i, user: 'bench', path: '/api/items' }, 'request handled');
  return performance.now() - t0;
}

async function workerMain(job: ThreadJob): Promise<void> {
  const { log, end } = makeLogger(job);
  await onceReady(job);
  const ms = await logLines(job, log);
  if (job.mode === 'throughput') await end();
  parentPort!.postMessage(ms);
  if (job.mode === 'exit') setInterval(() => {}, 1000); // still running when the process exits
}

/** A transport's worker must be up before timing starts, as in a running service. */
async function onceReady(job: ThreadJob): Promise<void> {
  if (job.kind === 'transport') await new Promise((r) => setTimeout(r, 200));
}

async function childMain(kind: Kind, threads: number, lines: number, mode: Mode, file: string): Promise<void> {
  let dest: RelayDestination | null = null;
  // 4 MiB per thread: the buffer thread-stream (pino.transport) gives each stream.
  if (kind === 'relayfs') dest = relayDestination({ dest: file, threads: threads + 1, nSubbufs: 64, sidecar: `${file}.relayfs.json` });
  const job: ThreadJob = { kind, file, lines, mode, ...(dest ? { handle: dest.handle() } : {}) };
  const t0 = performance.now();
  let logMs: number;
  if (threads === 1) {
    const { log, end } = dest ? { log: pino(dest), end: async () => {} } : makeLogger(job);
    await onceReady(job);
    logMs = await logLines(job, log);
    if (mode === 'exit') return report({ logMs, totalMs: null, dropped: null });
    await end();
  } else {
    const workers = Array.from({ length: threads }, () => new Worker(new URL(import.meta.url), { workerData: job }));
    const times = await Promise.all(workers.map(async (w) => (await once(w, 'message'))[0] as number));
    logMs = Math.max(...times);
    if (mode === 'exit') return report({ logMs, totalMs: null, dropped: null });
  }
  if (dest) await dest.end();
  const totalMs = performance.now() - t0;
  report({ logMs, totalMs, dropped: dest ? dest.stats().lost : null });
}

/** Prints the result and exits at once: in exit mode, that exit is the measurement. */
function report(r: ChildResult): void {
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}

// ------------------------------------------------------------------ the parent

/** GCs during 10^6 write() calls of one pino line, in this thread (the consumer thread has a heap of its own). */
async function allocChild(): Promise<void> {
  const { PerformanceObserver } = await import('node:perf_hooks');
  const gcs: number[] = [];
  new PerformanceObserver((list) => list.getEntries().forEach((e) => gcs.push(e.startTime))).observe({ entryTypes: ['gc'] });
  const dest = relayDestination({ dest: '/dev/null', nSubbufs: 64 });
  const line = JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, hostname: 'bench', i: 1, user: 'bench', path: '/api/items', msg: 'request handled' }) + '\n';
  const calls = 1_000_000;
  for (let i = 0; i < 100_000; i++) dest.write(line); // warm up
  await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) dest.write(line);
  const after = process.memoryUsage().heapUsed;
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 50));
  const s = dest.stats();
  process.stdout.write(
    JSON.stringify({ calls, bytes: line.length, gcs: gcs.filter((t) => t >= t0 && t <= t1).length, heapGrowth: after - before, ns: ((t1 - t0) * 1e6) / calls, dropped: s.lost }) +
      '\n',
  );
  process.exit(0);
}

function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function measure(kind: Kind, threads: number, lines: number, mode: Mode): Row {
  const dir = mkdtempSync(join(tmpdir(), 'relayfs-bench-pino-'));
  try {
    const file = join(dir, 'out.ndjson');
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', kind, String(threads), String(lines), mode, file], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`${kind} ${threads} ${mode}: child failed (${r.status ?? r.signal}): ${r.stderr}`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
    const total = lines * threads;
    const onDisk = countLines(file);
    let dropped = res.dropped;
    if (kind === 'relayfs' && mode === 'exit' && existsSync(`${file}.relayfs.json`)) {
      dropped = (JSON.parse(readFileSync(`${file}.relayfs.json`, 'utf8')) as { pino: { lost: number } }).pino.lost;
    }
    return {
      kind,
      threads,
      mode,
      lines: total,
      onDisk,
      lost: total - onDisk,
      dropped,
      callsPerSec: total / (res.logMs / 1000) / threads,
      onDiskPerSec: res.totalMs === null ? null : onDisk / (res.totalMs / 1000),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const fmt = (n: number | null) => (n === null ? '—' : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${Math.round(n / 1000)} k`);

async function parentMain(): Promise<void> {
  const arg = (name: string, dflt: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1]! : dflt);
  const lines = Number(arg('--lines', '50000'));
  const runs = Number(arg('--runs', '3'));
  const json = process.argv.includes('--json');
  const rows: Row[] = [];
  for (const mode of ['throughput', 'exit'] as Mode[]) {
    for (const threads of [1, 4]) {
      for (const kind of KINDS) {
        const samples = Array.from({ length: mode === 'exit' ? 1 : runs }, () => measure(kind, threads, lines, mode));
        // The median run by on-disk rate (calls/s for exit runs), reported whole.
        const key = (r: Row) => (mode === 'exit' ? r.onDisk : r.onDiskPerSec!);
        const mid = median(samples.map(key));
        rows.push(samples.find((r) => key(r) === mid)!);
      }
    }
  }
  const a = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--alloc'], { encoding: 'utf8', timeout: 120_000 });
  const alloc = a.status === 0 ? (JSON.parse(a.stdout.trim()) as { calls: number; bytes: number; gcs: number; heapGrowth: number; ns: number; dropped: number }) : null;
  const out = arg('--out', fileURLToPath(new URL('../../bench/results/pino.json', import.meta.url)));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ schema: 'relayfs-bench-pino/1', linesPerThread: lines, runs, rows, alloc }, null, 2) + '\n');
  if (json) return void console.log(JSON.stringify({ rows, alloc }, null, 2));
  console.log(`pino destinations: ${lines} lines per thread, median of ${runs} runs (exit: 1 run); calls/s per logging thread`);
  console.log('  destination                               threads  calls/s   on disk/s  lost (counted)');
  for (const r of rows.filter((x) => x.mode === 'throughput')) {
    console.log(
      `  ${LABEL[r.kind].padEnd(41)} ${String(r.threads).padStart(7)}  ${fmt(r.callsPerSec).padStart(7)}  ${fmt(r.onDiskPerSec).padStart(9)}  ${r.lost}${r.dropped === null ? '' : ` (${r.dropped})`}`,
    );
  }
  console.log('  at process.exit right after the last log call (workers still running):');
  for (const r of rows.filter((x) => x.mode === 'exit')) {
    console.log(
      // relayfs: lines it counted as dropped (a full buffer while logging) are not lines the exit lost: print both.
      `  ${LABEL[r.kind].padEnd(41)} ${String(r.threads).padStart(7)}  ${r.onDisk} of ${r.lines} on disk, ${
        r.dropped === null ? `${r.lost} lost (uncounted)` : `${r.dropped} counted as dropped, ${r.lost - r.dropped} lost uncounted`
      }`,
    );
  }
  if (alloc) {
    console.log(
      `  relayDestination write() alone, ${alloc.calls} calls of a ${alloc.bytes}-byte line: ${alloc.ns.toFixed(0)} ns each, ${alloc.gcs} GCs during the loop, heap growth ${alloc.heapGrowth} B (${alloc.dropped} dropped)`,
    );
  } else console.log(`  allocation check failed: ${a.stderr}`);
  console.log(`wrote ${out}`);
}

if (!isMainThread) await workerMain(workerData as ThreadJob);
else if (process.argv[2] === '--alloc') await allocChild();
else if (process.argv[2] === '--child') await childMain(process.argv[3] as Kind, Number(process.argv[4]), Number(process.argv[5]), process.argv[6] as Mode, process.argv[7]!);
else await parentMain();
