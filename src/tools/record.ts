/**
 * record: streams every buffer of a channel to disk, one file per buffer
 * (base0..baseN-1, as blktrace does), until stopped, until the producer
 * closes the channel, or until the source ends.
 *
 * Latency bound: read() returns the partly filled current sub-buffer too,
 * and each buffer's loop sleeps in poll(latency), which wakes early at every
 * sub-buffer boundary, flush and close. So a record written at time t is in
 * its output file by t + latency + the time to write one chunk, however
 * slowly its sub-buffer fills. Default latency: 50 ms.
 *
 * Files are complete when record() resolves: the last data is drained after
 * the stop, each file is fsync'ed and closed, and relayfs.json records
 * per-buffer bytes, records and losses by cause.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BufferStats } from '../buffer/index.js';
import { DEFAULT_LATENCY_MS } from '../defaults.js';
import { KLOG_MAGIC, KLOG_MIN_VERSION, KLOG_VERSION, KlogFormatError, KlogScanner, klogNow } from '../klog/index.js';
import { FILL_SAMPLES_NAME, FillSampleWriter } from './fill-samples.js';
import { invalidArg } from '../errors.js';
import { summarizeBuffer, totalsOf, unreadWarning, writeSidecar, type Sidecar } from './summary.js';
import { SourceError, type RelaySource, type SourceEntry, type SourceFile } from './source.js';

export interface RecordOptions {
  source: RelaySource;
  outDir: string;
  /** Longest a record waits before it is written to its file (ms). Default 50. */
  latency?: number;
  /** Stops recording; its reason (a string such as "SIGINT") is kept as the stop reason. */
  signal?: AbortSignal;
  /** Count klog records: 'auto' (default) looks at the first bytes of each buffer. */
  klog?: boolean | 'auto';
  /** Called every progressInterval ms with running counts. */
  onProgress?: (progress: RecordProgress) => void;
  /** Called once every file is open and followed: the producer may close its channel from then on without a file going missing. */
  onOpen?: () => void;
  progressInterval?: number;
  /**
   * Every this many ms, the fill level of each buffer goes to fill.jsonl
   * (on the klog clock; the Chrome export draws it as a counter track).
   * Default 100; false for none. Only sources that know their geometry (live relay files).
   */
  fillInterval?: number | false;
}

export interface BufferProgress {
  name: string;
  cpu: number;
  bytes: number;
  records: number | null;
  stats: BufferStats | null;
  subbufSize: number | null;
  nSubbufs: number | null;
  done: boolean;
}

export interface RecordProgress {
  elapsedMs: number;
  buffers: BufferProgress[];
  bytes: number;
  /** Messages lost so far, all causes and buffers (null without counters). */
  lost: number | null;
}

/** Records a source into outDir; resolves with the summary also written to relayfs.json. */
export async function record(options: RecordOptions): Promise<Sidecar> {
  const { source, outDir } = options;
  const latency = options.latency ?? DEFAULT_LATENCY_MS;
  if (!(latency > 0)) throw invalidArg(`latency must be above 0 ms, got ${latency}`);
  const started = Date.now();
  await mkdir(outDir, { recursive: true });

  const entries = await source.list();
  if (entries.length === 0) throw new SourceError('ENOENT', `${source.description}: no relay files to record`);
  const sidecar: Sidecar = {
    kind: 'record',
    version: 1,
    source: source.description,
    startedAt: new Date(started).toISOString(),
    endedAt: null,
    latencyMs: latency,
    reason: null,
    complete: false,
    warnings: [],
    buffers: [],
    totals: { bytes: 0, records: null, written: null, lost: null, unread: null },
  };

  const recorders: BufferRecorder[] = [];
  try {
    for (const entry of entries) recorders.push(await BufferRecorder.open(entry, source, outDir, options.klog ?? 'auto', sidecar.warnings));
  } catch (err) {
    await Promise.allSettled(recorders.map((r) => r.close()));
    throw err;
  }
  // A crash from here on leaves a sidecar saying recording was under way.
  sidecar.buffers = recorders.map((r) => summarizeBuffer(r.base(), null));
  await writeSidecar(outDir, sidecar);

  options.onOpen?.();
  const progress = options.onProgress ? startProgress(recorders, started, options.onProgress, options.progressInterval ?? 250) : null;
  const fill = options.fillInterval === false ? null : await startFillSamples(recorders, outDir, options.fillInterval ?? 100);
  let failure: unknown = null;
  // One buffer's failure (a remote producer gone, a full disk) stops the others,
  // and every loop has ended before the files are closed.
  const stop = new AbortController();
  const onStop = (): void => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) onStop();
  else options.signal?.addEventListener('abort', onStop, { once: true });
  try {
    const runs = await Promise.allSettled(
      recorders.map((r) =>
        r.run(latency, stop.signal).catch((err: unknown) => {
          failure ??= err;
          stop.abort('error');
          throw err;
        }),
      ),
    );
    for (const run of runs) if (run.status === 'rejected') failure ??= run.reason;
  } finally {
    options.signal?.removeEventListener('abort', onStop);
    progress?.stop();
    await fill?.stop();
  }

  // Final counters are read after the last drain, so records + losses add up.
  const finals = await Promise.all(recorders.map(async (r) => ({ r, stats: await r.file.stats().catch(() => null) })));
  const closing = await Promise.allSettled(recorders.map((r) => r.close()));
  for (const c of closing) if (c.status === 'rejected' && !failure) failure = c.reason;

  sidecar.buffers = finals.map(({ r, stats }) => summarizeBuffer(r.base(), stats));
  sidecar.totals = totalsOf(sidecar.buffers);
  sidecar.endedAt = new Date().toISOString();
  const signal = options.signal;
  sidecar.reason = failure ? 'error' : signal?.aborted ? (typeof signal.reason === 'string' ? signal.reason : 'stopped') : source.live ? 'hangup' : 'end';
  sidecar.complete = !failure;
  if (failure) sidecar.error = (failure as Error)?.message ?? String(failure);
  for (const b of sidecar.buffers) {
    const warning = unreadWarning(b);
    if (warning) sidecar.warnings.push(warning);
  }
  await writeSidecar(outDir, sidecar);
  if (failure) throw failure;
  return sidecar;
}

/** One buffer: its source file, its output file and its counts. */
class BufferRecorder {
  readonly entry: SourceEntry;
  readonly file: SourceFile;
  private readonly out: FileHandle;
  private readonly fileName: string;
  private readonly warnings: string[];
  private scanner: KlogScanner | null;
  private klogMode: boolean | 'auto';
  bytes = 0;
  done = false;

  private constructor(entry: SourceEntry, file: SourceFile, out: FileHandle, klog: boolean | 'auto', warnings: string[]) {
    this.entry = entry;
    this.file = file;
    this.out = out;
    this.fileName = entry.name;
    this.klogMode = klog;
    this.scanner = klog === false ? null : new KlogScanner();
    this.warnings = warnings;
  }

  static async open(entry: SourceEntry, source: RelaySource, outDir: string, klog: boolean | 'auto', warnings: string[]): Promise<BufferRecorder> {
    const file = await source.open(entry);
    try {
      const out = await open(join(outDir, entry.name), 'w');
      return new BufferRecorder(entry, file, out, klog, warnings);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  get records(): number | null {
    return this.scanner ? this.scanner.records : null;
  }

  base() {
    return { name: this.entry.name, cpu: this.entry.cpu, file: this.fileName, bytes: this.bytes, records: this.records };
  }

  /** Copies until stopped or hung up, then drains what is left. */
  async run(latency: number, signal: AbortSignal | undefined): Promise<void> {
    let idle = false;
    while (!signal?.aborted) {
      if (await this.copyOnce()) {
        idle = false;
        continue;
      }
      if (signal?.aborted) break;
      // A poll that says "readable" and a read that finds nothing must not
      // become a loop of resolved promises that starves timers and signals.
      if (idle) await yieldToEventLoop();
      const p = await this.file.poll(latency);
      if (p.hangup && !p.readable) break;
      idle = p.readable;
    }
    while (await this.copyOnce()) {
      /* drain */
    }
    if (this.scanner && !this.scanner.atBoundary) {
      this.warnings.push(`${this.entry.name}: the data ends inside a klog record`);
    }
    await this.out.sync();
    this.done = true;
  }

  /** One read and write; false when there was nothing to read. */
  private async copyOnce(): Promise<boolean> {
    const data = await this.file.read();
    if (data.length === 0) return false;
    for (let done = 0; done < data.length;) {
      const { bytesWritten } = await this.out.write(data, done, data.length - done);
      done += bytesWritten;
    }
    this.scan(data);
    this.bytes += data.length;
    return true;
  }

  private scan(data: Uint8Array): void {
    if (!this.scanner) return;
    if (this.klogMode === 'auto' && this.bytes === 0) {
      const isKlog = data.length >= 3 && (data[0]! | (data[1]! << 8)) === KLOG_MAGIC && data[2]! >= KLOG_MIN_VERSION && data[2]! <= KLOG_VERSION;
      this.klogMode = isKlog;
      if (!isKlog) {
        this.scanner = null;
        return;
      }
    }
    try {
      this.scanner.push(data);
    } catch (err) {
      if (!(err instanceof KlogFormatError)) throw err;
      this.warnings.push(`${this.entry.name}: stopped counting klog records: ${err.message}`);
      this.scanner = null;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.out.close(), this.file.close()]);
  }
}

function startProgress(recorders: BufferRecorder[], started: number, report: (p: RecordProgress) => void, interval: number): { stop(): void } {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const buffers = await Promise.all(
        recorders.map(async (r) => ({
          name: r.entry.name,
          cpu: r.entry.cpu,
          bytes: r.bytes,
          records: r.records,
          stats: await r.file.stats().catch(() => null),
          subbufSize: r.file.subbufSize,
          nSubbufs: r.file.nSubbufs,
          done: r.done,
        })),
      );
      const lost = buffers.some((b) => !b.stats) ? null : buffers.reduce((n, b) => n + lostOf(b.stats!), 0);
      report({ elapsedMs: Date.now() - started, buffers, bytes: buffers.reduce((n, b) => n + b.bytes, 0), lost });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), interval);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/**
 * Fill level: bytes written and neither read nor overwritten, as a fraction
 * of the buffer (at least the finished sub-buffers waiting to be read).
 */
function fillOf(stats: BufferStats, subbufSize: number, nSubbufs: number): number {
  const unread = stats.bytesWritten - stats.bytesRead - stats.bytesOverwritten;
  return Math.max(0, Math.min(1, Math.max(unread / (subbufSize * nSubbufs), stats.subbufsReady / nSubbufs)));
}

async function startFillSamples(recorders: BufferRecorder[], outDir: string, interval: number): Promise<{ stop(): Promise<void> } | null> {
  if (!(interval > 0) || !recorders.some((r) => r.file.nSubbufs && r.file.subbufSize)) return null;
  const writer = new FillSampleWriter(await open(join(outDir, FILL_SAMPLES_NAME), 'w'));
  let running = false;
  const tick = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      const fill: Record<string, number> = {};
      for (const r of recorders) {
        const { subbufSize, nSubbufs } = r.file;
        if (!subbufSize || !nSubbufs || r.done) continue;
        const stats = await r.file.stats().catch(() => null);
        if (stats) fill[r.entry.name] = Math.round(fillOf(stats, subbufSize, nSubbufs) * 10000) / 10000;
      }
      if (Object.keys(fill).length > 0) writer.add({ t: klogNow(), fill });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), interval);
  timer.unref();
  void tick();
  return {
    async stop() {
      clearInterval(timer);
      await writer.close();
    },
  };
}

/** Lets timers, messages and signal handlers run. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

export function lostOf(s: BufferStats): number {
  return s.droppedFull + s.droppedTooBig + s.droppedReentrant + s.messagesOverwritten;
}
