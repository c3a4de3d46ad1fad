/**
 * `relayfs demo`: worker threads trace with klog at full speed into one
 * channel, the main thread records it to disk with a live view, and at the
 * end every buffer is checked: klog calls made = records recorded + records
 * lost (by the channel's own counters), with each record's sequence
 * number read back from disk to show which ones were lost. It ends by
 * writing the Chrome trace of the recording (spans, counters, losses, fill).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Command } from 'commander';
import { relayClose, relayOpen } from '../channel/api.js';
import { DEFAULT_LATENCY_MS } from '../defaults.js';
import { hostfs, hostfsCallbacks } from '../hostfs/hostfs.js';
import { DiskSource, HostfsSource, KlogReader, record, writeChromeTraceFile, type BufferSummary, type ChromeExportSummary, type Sidecar } from '../tools/index.js';
import { action } from './action.js';
import type { DemoWorkerData, DemoWorkerResult } from './demo-worker.js';
import { CliError } from './errors.js';
import { bar, bytes, count, table } from './format.js';
import { LiveView, recordFrame } from './live-view.js';
import { positiveInt, positiveNumber, size } from './options.js';
import { createProgress } from './progress.js';
import { sleep } from '../tools/async.js';
import { stopOnSignals } from './signals.js';

interface DemoFlags {
  workers: number;
  duration: number;
  out?: string;
  keep?: boolean;
  subbufSize: number;
  subbufs: number;
  latency: number;
  json?: boolean;
  /** Where the Chrome trace goes; false with --no-trace. */
  trace: string | boolean;
}

export interface BufferCheck {
  buffer: string;
  thread: number;
  /** klog calls that made a record (the worker's own count). */
  calls: number;
  recorded: number;
  /** Lost, by the channel's counters (dropped: full + too big + re-entrant; nothing is overwritten here). */
  lost: number;
  /** Records missing from the file, by sequence number. */
  missing: number;
  bytes: number;
  ok: boolean;
  problem?: string;
}

const WORKER = new URL('./demo-worker.js', import.meta.url);

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('worker threads trace with klog at full speed; the channel is recorded to disk with a live view, then verified')
    .option('-w, --workers <n>', 'writer threads', positiveInt, Math.max(2, Math.min(4, availableParallelism())))
    .option('-d, --duration <seconds>', 'how long the workers trace', positiveNumber, 2)
    .option('-o, --out <dir>', 'record into this directory and keep it (default: a temporary directory, removed at the end)')
    .option('--keep', 'keep the temporary directory')
    .option('--subbuf-size <bytes>', 'sub-buffer size (e.g. 64k)', size, 256 * 1024)
    .option('--subbufs <n>', 'sub-buffers per buffer', positiveInt, 16)
    .option('--latency <ms>', 'recording latency bound', positiveNumber, DEFAULT_LATENCY_MS)
    .option('--json', 'no live view; print the result as JSON')
    .option('--trace <file>', 'write the Chrome trace here (default: trace.json.gz in --out, else relayfs-demo-trace.json.gz in the temp directory)')
    .option('--no-trace', 'no Chrome trace at the end')
    .addHelpText('after', '\nExit status 0 when every buffer adds up, 1 otherwise. Ctrl-C ends the tracing early.')
    .action(action('demo', runDemo));
}

async function runDemo(flags: DemoFlags): Promise<number> {
  const outDir = flags.out ?? mkdtempSync(join(tmpdir(), 'relayfs-demo-'));
  const keep = flags.out !== undefined || flags.keep === true;
  const userStop = new AbortController();
  const unlisten = stopOnSignals(userStop);
  const dentry = hostfs.createDir(`demo-${process.pid}`);
  const chan = relayOpen('klog', dentry, flags.subbufSize, flags.subbufs, hostfsCallbacks(), undefined, { buffers: flags.workers });
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const workers: Worker[] = [];
  try {
    const results: Promise<DemoWorkerResult>[] = [];
    const ready: Promise<void>[] = [];
    for (let id = 0; id < flags.workers; id++) {
      const data: DemoWorkerData = { kind: 'relayfs-demo', id, handle: chan.handle(), stop };
      const w = new Worker(WORKER, { workerData: data });
      workers.push(w);
      let onReady!: () => void;
      ready.push(new Promise((resolve) => (onReady = resolve)));
      results.push(workerResult(w, id, onReady));
    }

    const recStop = new AbortController();
    const progress = createProgress(flags);
    const view = new LiveView();
    const title = `relayfs demo: ${flags.workers} workers → ${outDir}`;
    const recording = record({
      source: new HostfsSource(dentry.path),
      outDir,
      latency: flags.latency,
      signal: recStop.signal,
      onProgress: progress.live ? (p) => progress.update(recordFrame(title, p, view)) : undefined,
    });
    recording.catch(() => Atomics.store(stop, 0, 1)); // a failed recording stops the workers too

    // The duration counts from when every worker is tracing (starting threads takes a while).
    await Promise.race([Promise.all(ready), Promise.all(results), sleep(Infinity, userStop.signal)]);
    const tracing = Date.now();
    await sleep(flags.duration * 1000, userStop.signal);
    Atomics.store(stop, 0, 1);
    const elapsedMs = Date.now() - tracing;
    const done = await Promise.all(results);
    recStop.abort('stopped');
    const sidecar = await recording;
    progress.done();

    const checks = await verify(sidecar, done, outDir);
    const ok = checks.every((c) => c.ok);
    const trace = flags.trace === false ? null : await exportTrace(outDir, tracePath(flags, outDir), flags);
    if (flags.json) {
      process.stdout.write(
        JSON.stringify({ ok, workers: flags.workers, elapsedMs, latencyMs: flags.latency, outDir, kept: keep, checks, totals: sidecar.totals, trace }, null, 2) + '\n',
      );
    } else {
      process.stdout.write(report(flags, elapsedMs, outDir, keep, checks, sidecar) + (trace ? traceLines(trace) : ''));
    }
    return ok ? 0 : 1;
  } finally {
    Atomics.store(stop, 0, 1);
    await Promise.allSettled(workers.map((w) => w.terminate()));
    if (!chan.closed) relayClose(chan);
    hostfs.removeRecursive(dentry);
    unlisten();
    if (!keep) rmSync(outDir, { recursive: true, force: true });
  }
}

function tracePath(flags: DemoFlags, outDir: string): string {
  if (typeof flags.trace === 'string') return flags.trace;
  return flags.out !== undefined ? join(outDir, 'trace.json.gz') : join(tmpdir(), 'relayfs-demo-trace.json.gz');
}

interface TraceResult {
  file: string;
  events: number;
  records: number;
  spans: number;
}

/** The recording as a Chrome trace, with a progress bar on a terminal. */
async function exportTrace(outDir: string, file: string, flags: DemoFlags): Promise<TraceResult> {
  const progress = createProgress(flags);
  const s: ChromeExportSummary = await writeChromeTraceFile(
    [outDir],
    file,
    progress.live ? (p) => progress.update(`writing the Chrome trace ${bar(p.totalBytes ? p.bytes / p.totalBytes : 0)} ${count(p.events)} events`) : undefined,
  );
  progress.done();
  return { file, events: s.events, records: s.records, spans: s.spans };
}

function traceLines(t: TraceResult): string {
  return (
    [
      `trace: ${t.file} (${count(t.records)} records: ${count(t.spans)} spans, ${count(t.events)} events)`,
      '  open it at https://ui.perfetto.dev (Open trace file), in chrome://tracing (Load),',
      '  or in the Chrome DevTools Performance panel (Load profile); or: relayfs export DIR -o FILE',
    ].join('\n') + '\n'
  );
}

function workerResult(w: Worker, id: number, ready: () => void): Promise<DemoWorkerResult> {
  return new Promise((resolve, reject) => {
    w.on('message', (m: { type: string }) => {
      if (m.type === 'ready') ready();
      if (m.type === 'done') resolve(m as DemoWorkerResult);
    });
    w.once('error', (err) => reject(new CliError('ERELAY_FAILED', `demo worker ${id} failed: ${err.message}`, { cause: err })));
    w.once('exit', (code) => reject(new CliError('ERELAY_FAILED', `demo worker ${id} exited (${code}) before reporting`)));
  });
}

/**
 * Per buffer: calls = recorded + lost, and the file's sequence numbers
 * are increasing, from the right thread, below `calls`, and as many as
 * recorded: so the missing ones are exactly the lost ones.
 */
async function verify(sidecar: Sidecar, done: DemoWorkerResult[], outDir: string): Promise<BufferCheck[]> {
  const checks: BufferCheck[] = [];
  const source = new DiskSource(outDir);
  const entries = await source.list();
  for (const b of sidecar.buffers) {
    const worker = done.find((d) => d.cpu === b.cpu);
    const calls = worker?.stats.records ?? 0;
    const lost = b.drops ? b.drops.full + b.drops.tooBig + b.drops.reentrant : 0;
    const check: BufferCheck = { buffer: b.name, thread: worker?.threadId ?? -1, calls, recorded: b.records ?? 0, lost, missing: 0, bytes: b.bytes, ok: true };
    const problem = (msg: string) => {
      check.ok = false;
      check.problem ??= msg;
    };
    const entry = entries.find((e) => e.name === b.name);
    if (entry) await checkSequence(await source.open(entry), check, worker?.threadId ?? -1, problem);
    if (b.records === null) problem('the file does not hold klog records');
    if (calls !== check.recorded + lost) problem(`klog calls ${calls} ≠ recorded ${check.recorded} + lost ${lost}`);
    if (worker && worker.stats.dropped !== lost) problem(`klog saw ${worker.stats.dropped} lost, the channel counted ${lost}`);
    if (check.missing !== lost) problem(`${check.missing} sequence numbers missing, ${lost} lost counted`);
    if (b.unread) problem(`${b.unread} records were not read`);
    checks.push(check);
  }
  return checks;
}

async function checkSequence(file: Awaited<ReturnType<DiskSource['open']>>, check: BufferCheck, thread: number, problem: (m: string) => void): Promise<void> {
  const reader = new KlogReader(file);
  let last = -1;
  let n = 0;
  try {
    for (let rec = await reader.next(); rec; rec = await reader.next()) {
      n++;
      if (rec.thread !== thread) problem(`a record of thread ${rec.thread} in the buffer of thread ${thread}`);
      if (rec.seq <= last) problem(`sequence number ${rec.seq} after ${last}: duplicated or reordered`);
      if (rec.seq >= check.calls) problem(`sequence number ${rec.seq} beyond the ${check.calls} calls made`);
      last = rec.seq;
    }
  } finally {
    await file.close();
  }
  if (reader.tail) problem('the file ends inside a record');
  if (n !== check.recorded) problem(`${n} records read back, ${check.recorded} counted while recording`);
  check.missing = check.calls - n;
}

function report(flags: DemoFlags, elapsedMs: number, outDir: string, keep: boolean, checks: BufferCheck[], s: Sidecar): string {
  const rows = checks.map((c) => [
    c.buffer,
    `t${c.thread}`,
    count(c.calls),
    count(c.recorded),
    count(c.lost),
    count(c.missing),
    bytes(c.bytes),
    c.ok ? 'ok' : `FAILED: ${c.problem}`,
  ]);
  const sum = (f: (c: BufferCheck) => number) => checks.reduce((n, c) => n + f(c), 0);
  rows.push(['total', '', count(sum((c) => c.calls)), count(sum((c) => c.recorded)), count(sum((c) => c.lost)), count(sum((c) => c.missing)), bytes(sum((c) => c.bytes)), '']);
  const ok = checks.every((c) => c.ok);
  const secs = elapsedMs / 1000;
  const padding = s.buffers.reduce((n, b: BufferSummary) => n + (b.paddingRemoved ?? 0), 0);
  return (
    [
      `relayfs demo: ${flags.workers} worker threads traced with klog for ${secs.toFixed(1)} s; recorded with a ${flags.latency} ms latency bound`,
      `channel: ${flags.workers} buffers × ${flags.subbufs} sub-buffers × ${bytes(flags.subbufSize)}; ${bytes(padding)} of sub-buffer padding removed`,
      '',
      table(['buffer', 'thread', 'klog calls', 'recorded', 'lost', 'lost (by seq #)', 'bytes', 'check'], rows, new Set([2, 3, 4, 5, 6])),
      '',
      ok ? 'verified: for every buffer, klog calls = recorded + lost, and the missing sequence numbers are exactly the lost records' : 'NOT verified: see the check column',
      keep ? `files: ${outDir}` : `files removed (keep them with --out DIR or --keep)`,
    ].join('\n') + '\n'
  );
}
