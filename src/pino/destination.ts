/**
 * relayDestination: a pino destination backed by a relay channel.
 *
 * Each thread that logs writes its lines into its own buffer of the channel
 * (a klog text record per line: header with timestamp, thread and sequence,
 * then the line), so a write is an encode and a copy into shared memory: no
 * lock, no system call, no message to another thread, and nothing allocated
 * once the thread has warmed up. When the consumer falls behind, the
 * buffer fills and further lines are dropped and counted (no-overwrite mode):
 * memory stays bounded and the loss is exact.
 *
 * A consumer thread of its own drains every buffer in timestamp order into
 * the destination (a file, stdout, or a pino transport target). When the
 * process ends (process.exit, an uncaught exception, SIGTERM, SIGINT) the
 * main thread drains what is left synchronously from shared memory, workers
 * that still run included (see exit-hooks.ts, shared with the other relayfs
 * tools that clean up at exit).
 */
import { closeSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, threadId } from 'node:worker_threads';
import type { BufferStats, BufferWriter } from '../buffer/index.js';
import { relayAttachSync, relayClose, relayOpen } from '../channel/api.js';
import type { ChannelHandle, RelayBuffer, RelayChannel } from '../channel/channel.js';
import { RelayError } from '../errors.js';
import { hostfs as defaultFs, hostfsCallbacks, type HostFs, type RelayDentry } from '../hostfs/hostfs.js';
import { KLOG_HEADER_SIZE, KLOG_TYPE_TEXT, writeHeader } from '../klog/index.js';
import { H_LENGTH, H_SEQ, H_TS_LO } from '../klog/format.js';
import { onProcessExit } from '../remote/exit-hooks.js';
import { summarizeBuffer, totalsOf, type Sidecar } from '../tools/summary.js';
import '../threads.js';
import { Drainer, fdSink, type LineSink } from './drain.js';
import { CONSUMER_DONE, DROPPED_SINK, LATE, PinoState, STOP, TICKET } from './state.js';

/** A pino transport target, as in pino.transport({ target, options }). */
export interface PinoTarget {
  /** Module name (resolved from the current directory) or path of a pino-abstract-transport target. */
  target: string;
  options?: unknown;
}

export interface RelayDestinationOptions {
  /**
   * Where the lines go: a file path (NDJSON, appended), 1 / 'stdout', 2 /
   * 'stderr', a transport target run in a thread of its own, or null for no
   * consumer (read the channel with `relayfs record`, `cat` or `top`).
   * Default: stdout.
   */
  dest?: string | number | PinoTarget | null;
  /** Host filesystem directory of the channel's relay files (default "pino", or "pino-2"... when taken). */
  name?: string;
  /** Threads that can log through this destination, each with a buffer of its own (default 8). */
  threads?: number;
  /** Sub-buffer size in bytes; the longest line is this minus 32 (default 64 KiB). */
  subbufSize?: number;
  /** Sub-buffers per thread (default 16: 1 MiB per thread). */
  nSubbufs?: number;
  /** Longest the consumer sleeps when it has nothing to read (ms, default 50); it wakes early at sub-buffer boundaries and flushes. */
  latency?: number;
  /** How long a line is held back so lines of other threads stamped earlier can pass it (ms, default 20). */
  lateness?: number;
  /** At exit, how long a transport target gets to take the last lines before they go to stderr instead (ms, default 5000). */
  exitTimeout?: number;
  /**
   * Where the summary of a run goes when the destination ends or the process
   * exits: lines written, delivered and lost by cause, per thread buffer, in
   * the relayfs.json layout of record. Default: FILE.relayfs.json beside a
   * file destination, none otherwise; false for none.
   */
  sidecar?: string | false;
  fs?: HostFs;
}

/** Passes to a worker (workerData, postMessage): `pino(relayDestination(handle))` there. */
export interface RelayDestinationHandle {
  readonly kind: 'relayfs.pino';
  readonly channel: ChannelHandle;
  readonly state: SharedArrayBuffer;
  readonly staging: SharedArrayBuffer;
  /** The file descriptor lines are written to (file, stdout, stderr), or -1. */
  readonly fd: number;
  /** Whether a consumer thread drains the channel (false for dest: null). */
  readonly consumer: boolean;
}

export interface PinoDestinationStats {
  /** Lines accepted into a buffer, every thread. */
  written: number;
  /** Lines that left the drain: written to the destination (or lost by it: see dropped.sink). */
  delivered: number;
  /** Accepted but not delivered yet. */
  pending: number;
  dropped: {
    /** The thread's buffer was full: the consumer fell behind. */
    full: number;
    /** Longer than a sub-buffer. */
    tooBig: number;
    /** Logged from inside the channel's own sub-buffer callback. */
    reentrant: number;
    /** The destination failed to take them (a write error). */
    sink: number;
  };
  /** Sum of dropped. */
  lost: number;
  /** Lines written out after a line stamped later (their thread was descheduled past `lateness`). */
  late: number;
  buffers: BufferStats[];
}

const DEFAULTS = { threads: 8, subbufSize: 64 * 1024, nSubbufs: 16, latency: 50, lateness: 20, exitTimeout: 5000 };
/** Lines up to this many bytes get a cached exact-length view of the scratch, so the copy into the buffer allocates nothing. */
const VIEW_CACHE = 4096;
const LOCK_TIMEOUT_MS = 2000;

export class RelayDestination {
  /** What pino looks for to take `pino(destination)` as a stream rather than as options. */
  readonly writable = true;
  readonly chan: RelayChannel;
  private readonly state: PinoState;
  private readonly fd: number;
  private readonly buf: RelayBuffer;
  private readonly writer: BufferWriter;
  private readonly scratch: Buffer;
  private readonly view: DataView;
  private readonly views: (Uint8Array | undefined)[] = [];
  private readonly room: number;
  private readonly cpu: number;
  private readonly tickets: Int32Array;
  private seq = 0;
  private ended = false;
  private drainer: Drainer | null = null;
  /** Opener only. */
  private readonly owner: Opener | null;

  constructor(
    chan: RelayChannel,
    state: PinoState,
    fd: number,
    private readonly consumer: boolean,
    owner: Opener | null,
  ) {
    this.chan = chan;
    this.state = state;
    this.tickets = state.words;
    this.fd = fd;
    this.owner = owner;
    // Claimed now, so a thread too many fails here rather than inside a log call.
    this.buf = chan.claim();
    this.writer = this.buf.writer;
    this.cpu = this.buf.cpu;
    this.scratch = Buffer.allocUnsafeSlow(chan.subbufSize);
    this.view = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.byteLength);
    this.room = chan.subbufSize - KLOG_HEADER_SIZE;
    // The fields that never change, once: a text record of this thread and buffer.
    writeHeader(this.view, 0, KLOG_TYPE_TEXT, 0, 0, 0, threadId, this.cpu, 0);
  }

  /** pino's stream.write: one line into this thread's buffer; false when it was dropped (counted). */
  write(line: string): boolean {
    if (this.ended) return false;
    const scratch = this.scratch;
    let n: number;
    if (line.length * 3 <= this.room) {
      n = scratch.write(line, KLOG_HEADER_SIZE);
    } else {
      n = Buffer.byteLength(line);
      // Too long: a length over the sub-buffer makes the channel drop and count it (droppedTooBig) without reading the bytes.
      if (n <= this.room) scratch.write(line, KLOG_HEADER_SIZE);
    }
    // Every value goes in as an int32: a double would be boxed, an allocation per line (so no clock either: see drain.ts).
    const view = this.view;
    view.setUint32(H_LENGTH, n | 0, true);
    view.setUint32(H_TS_LO, Atomics.add(this.tickets, TICKET, 1), true);
    view.setUint32(H_SEQ, this.seq, true);
    this.seq = (this.seq + 1) | 0; // dropped lines leave a gap in the numbering, as klog's do
    const total = KLOG_HEADER_SIZE + n;
    const src = total <= 48 || n > this.room ? scratch : total <= VIEW_CACHE ? (this.views[total] ??= scratch.subarray(0, total)) : scratch.subarray(0, total);
    try {
      return this.writer.write(src, total);
    } catch {
      this.ended = true; // the channel was closed (end() in the opener): logging stops quietly
      return false;
    }
  }

  /**
   * pino's logger.flush(cb): makes this thread's lines readable at once and
   * calls back when the consumer has delivered them (with an error after
   * exitTimeout ms, or at once when there is no consumer).
   */
  flush(cb?: (err?: Error | null) => void): void {
    const done = cb ?? (() => {});
    if (this.ended) return void queueMicrotask(() => done(null));
    this.writer.flush();
    const target = this.buf.reader.stats().messagesWritten | 0;
    if (!this.consumer) return void queueMicrotask(() => done(null));
    this.state.waitDelivered(this.cpu, target, DEFAULTS.exitTimeout).then(
      (ok) => done(ok ? null : new RelayError('ERELAY_CLOSED', 'pino flush: the relay consumer did not deliver the lines in time')),
      (err: Error) => done(err),
    );
  }

  /**
   * Synchronous flush: with a file or stdout destination, writes every line
   * the buffers hold (all threads) from the calling thread, in order. Waits
   * for a drain in progress in another thread, never for a thread that is
   * gone. With a transport target it only makes the lines readable.
   */
  flushSync(): void {
    if (this.ended) return;
    this.writer.flush();
    if (this.fd < 0 || this.state.stopping) return;
    const me = threadId + 1;
    this.state.lock(me, LOCK_TIMEOUT_MS);
    try {
      if (!this.state.stopping) this.drain().drainAll(this.sink());
    } finally {
      this.state.unlock(me);
    }
  }

  /**
   * In a worker: stops logging through this destination (its buffer keeps
   * what it holds until drained). In the thread that made the destination:
   * drains everything, stops the consumer and closes the channel.
   */
  end(cb?: (err?: Error | null) => void): Promise<void> {
    const p = this.ended ? Promise.resolve() : this.owner ? this.owner.end(this) : Promise.resolve();
    this.ended = true;
    if (cb) p.then(() => cb(null), cb);
    return p;
  }

  /** Counts of every thread's lines: accepted, delivered, dropped by cause. */
  stats(): PinoDestinationStats {
    const buffers = this.chan.closed && this.owner ? this.owner.finalStats : this.chan.buffers.slice(0, this.chan.claimed).map((b) => b.reader.stats());
    let written = 0;
    let delivered = 0;
    const dropped = { full: 0, tooBig: 0, reentrant: 0, sink: this.state.read(DROPPED_SINK) };
    buffers.forEach((s, cpu) => {
      written += s.messagesWritten;
      delivered += this.state.delivered(cpu);
      dropped.full += s.droppedFull;
      dropped.tooBig += s.droppedTooBig;
      dropped.reentrant += s.droppedReentrant;
    });
    const lost = dropped.full + dropped.tooBig + dropped.reentrant + dropped.sink;
    return { written, delivered, pending: written - delivered, dropped, lost, late: this.state.read(LATE), buffers };
  }

  /** For workers: `pino(relayDestination(handle))`. */
  handle(): RelayDestinationHandle {
    return { kind: 'relayfs.pino', channel: this.chan.handle(), state: this.state.sab, staging: this.state.stagingSab, fd: this.fd, consumer: this.consumer };
  }

  /** The relay files' directory in the host filesystem (for relayfs top / record / cat). */
  get path(): string | null {
    return this.owner?.dentry.path ?? null;
  }

  /** @internal */
  drain(): Drainer {
    return (this.drainer ??= new Drainer(this.chan, this.state));
  }

  /** @internal */
  sink(): LineSink {
    return fdSink(this.fd);
  }
}

/** What the thread that made the destination owns: the channel, the consumer thread, the exit hook. */
class Opener {
  worker: Worker | null = null;
  finalStats: BufferStats[] = [];
  private unhook: (() => void) | null = null;
  private ending: Promise<void> | null = null;

  constructor(
    readonly dentry: RelayDentry,
    private readonly fs: HostFs,
    private readonly state: PinoState,
    private readonly fd: number,
    private readonly ownsFd: boolean,
    private readonly target: PinoTarget | null,
    private readonly exitTimeout: number,
    private readonly sidecar: string | null,
    /** What the lines went to, for the summary: a file path, stdout, stderr or a target. */
    private readonly destName: string,
  ) {}

  private readonly started = new Date();

  /** Writes the run's summary (atomically: temporary file, then rename). */
  writeSidecar(dest: RelayDestination, reason: string): void {
    if (!this.sidecar) return;
    const stats = dest.stats();
    const buffers = stats.buffers.map((b, cpu) => summarizeBuffer({ name: `cpu${cpu}`, cpu, file: this.destName, bytes: 0, records: this.state.delivered(cpu) }, b));
    const { buffers: _, ...pino } = stats;
    const sidecar: Sidecar & { pino: Omit<PinoDestinationStats, 'buffers'> } = {
      kind: 'pino',
      version: 1,
      source: `hostfs:${this.dentry.path}`,
      startedAt: this.started.toISOString(),
      endedAt: new Date().toISOString(),
      latencyMs: null,
      reason,
      complete: stats.pending === 0,
      warnings: stats.pending > 0 ? [`${stats.pending} lines were still arriving when the summary was written`] : [],
      buffers,
      totals: totalsOf(buffers),
      pino,
    };
    try {
      writeFileSync(`${this.sidecar}.tmp`, JSON.stringify(sidecar, null, 2) + '\n');
      renameSync(`${this.sidecar}.tmp`, this.sidecar);
    } catch (err) {
      process.stderr.write(`relayfs pino: cannot write ${this.sidecar}: ${(err as Error).message}\n`);
    }
  }

  start(dest: RelayDestination, latency: number, lateness: number): void {
    if (this.fd >= 0 || this.target) {
      this.worker = new Worker(new URL('./consumer.js', import.meta.url), {
        workerData: { handle: dest.handle(), latency, lateness, target: this.target },
      });
      this.worker.unref(); // logging never keeps a process alive; the exit hook drains
      this.worker.on('error', (err) => process.emitWarning(`relayfs pino consumer failed: ${err.message}`, 'RelayfsPinoWarning'));
    }
    this.unhook = onProcessExit(() => this.exitDrain(dest));
  }

  /** At exit: everything still in shared memory goes out now, synchronously. */
  private exitDrain(dest: RelayDestination): void {
    if (dest.chan.closed) return;
    this.state.set(STOP, 1);
    if (this.target) {
      // The target lives in the consumer thread, which runs on while this thread waits for it; a flush wakes it.
      for (const b of dest.chan.buffers) b.writer.flush();
      Atomics.wait(this.state.words, CONSUMER_DONE, 0, this.exitTimeout);
    }
    if (this.fd < 0 && !this.target) return;
    this.state.lock(1 + threadId, LOCK_TIMEOUT_MS);
    const limit = 2 * dest.chan.subbufSize * dest.chan.nSubbufs * dest.chan.buffers.length;
    // Whatever a target could not take in time goes to stderr rather than nowhere.
    dest.drain().drainAll(this.target ? fdSink(2) : dest.sink(), limit);
    this.writeSidecar(dest, 'exit');
  }

  end(dest: RelayDestination): Promise<void> {
    return (this.ending ??= this.finish(dest));
  }

  private async finish(dest: RelayDestination): Promise<void> {
    this.unhook?.();
    this.unhook = null;
    const me = 1 + threadId;
    if (this.target && this.worker) {
      const exited = new Promise<void>((r) => this.worker!.once('exit', () => r()));
      this.state.set(STOP, 1);
      this.worker.ref();
      await exited;
    } else {
      this.state.lock(me, LOCK_TIMEOUT_MS);
      this.state.set(STOP, 1);
      if (this.fd >= 0) dest.drain().drainAll(dest.sink());
      await this.worker?.terminate();
    }
    this.finalStats = dest.chan.buffers.slice(0, dest.chan.claimed).map((b) => b.reader.stats());
    this.writeSidecar(dest, 'end');
    relayClose(dest.chan);
    this.fs.removeRecursive(this.dentry);
    if (this.ownsFd) closeSync(this.fd);
  }
}

function isHandle(x: unknown): x is RelayDestinationHandle {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'relayfs.pino';
}

/**
 * `pino(relayDestination({ dest: 'app.log' }))` in the main thread, and
 * `pino(relayDestination(handle))` in a worker, with `handle` from
 * `destination.handle()` passed through workerData.
 */
export function relayDestination(options: RelayDestinationOptions | RelayDestinationHandle = {}): RelayDestination {
  if (isHandle(options)) {
    const chan = relayAttachSync(options.channel);
    return new RelayDestination(chan, new PinoState(options.state, options.staging), options.fd, options.consumer, null);
  }
  if (typeof options !== 'object' || options === null) {
    throw new RelayError('ERELAY_INVALID_ARG', 'relayDestination takes an options object, or the handle of a destination made in another thread');
  }
  const fs = options.fs ?? defaultFs;
  const subbufSize = options.subbufSize ?? DEFAULTS.subbufSize;
  const nSubbufs = options.nSubbufs ?? DEFAULTS.nSubbufs;
  const threads = options.threads ?? DEFAULTS.threads;
  const { fd, ownsFd, target } = openDest(options.dest === undefined ? 1 : options.dest);
  let dentry: RelayDentry | null = null;
  try {
    dentry = makeDir(fs, options.name);
    const chan = relayOpen('cpu', dentry, subbufSize, nSubbufs, hostfsCallbacks(fs), undefined, { buffers: threads });
    // Staging holds at most what every buffer holds at once.
    const state = PinoState.create(threads, Math.max(64 * 1024, Math.min(subbufSize * nSubbufs * threads, 16 * 1024 * 1024)));
    const sidecar = options.sidecar === false ? null : (options.sidecar ?? (ownsFd ? `${options.dest as string}.relayfs.json` : null));
    const destName = target ? target.target : ownsFd ? String(options.dest) : fd === 1 ? 'stdout' : fd === 2 ? 'stderr' : '';
    const opener = new Opener(dentry, fs, state, fd, ownsFd, target, options.exitTimeout ?? DEFAULTS.exitTimeout, sidecar, destName);
    const dest = new RelayDestination(chan, state, fd, fd >= 0 || target !== null, opener);
    opener.start(dest, options.latency ?? DEFAULTS.latency, options.lateness ?? DEFAULTS.lateness);
    return dest;
  } catch (err) {
    if (dentry) fs.removeRecursive(dentry);
    if (ownsFd) closeSync(fd);
    throw err;
  }
}

function openDest(dest: RelayDestinationOptions['dest']): { fd: number; ownsFd: boolean; target: PinoTarget | null } {
  if (dest === null) return { fd: -1, ownsFd: false, target: null };
  if (dest === 1 || dest === 'stdout') return { fd: 1, ownsFd: false, target: null };
  if (dest === 2 || dest === 'stderr') return { fd: 2, ownsFd: false, target: null };
  if (typeof dest === 'string' && dest.length > 0) return { fd: openSync(dest, 'a'), ownsFd: true, target: null };
  if (typeof dest === 'object' && typeof dest.target === 'string') return { fd: -1, ownsFd: false, target: { target: resolveTarget(dest.target), options: dest.options ?? {} } };
  throw new RelayError('ERELAY_INVALID_ARG', `relayDestination dest must be a file path, 1/'stdout', 2/'stderr', { target, options } or null, got ${String(dest)}`);
}

/** Like pino.transport: a module name is looked up from the current directory; a path is made absolute. */
function resolveTarget(target: string): string {
  if (target.startsWith('file:')) return target;
  if (isAbsolute(target) || target.startsWith('.')) return pathToFileURL(resolve(target)).href;
  return pathToFileURL(createRequire(resolve('noop.js')).resolve(target)).href;
}

function makeDir(fs: HostFs, name: string | undefined): RelayDentry {
  if (name !== undefined) return fs.createDir(name);
  for (let i = 1; ; i++) {
    const candidate = i === 1 ? 'pino' : `pino-${i}`;
    if (!fs.lookup(`/${candidate}`)) return fs.createDir(candidate);
  }
}
