/**
 * Flight recorder: a channel in overwrite mode that keeps the newest data of
 * every thread (the oldest is overwritten) and dumps it to disk on demand
 * and when the process dies: uncaught exception, process.exit, SIGTERM,
 * SIGINT. The dump is a directory of per-buffer files plus relayfs.json, the
 * same layout as record, so `relayfs merge` reads it.
 *
 * The dump is synchronous: read() copies straight out of shared memory in
 * the main thread, so it runs inside process.on('exit'), needs no help from
 * the event loop, and gets what workers wrote even if they are still running
 * (they are stopped only after the exit handlers). Not covered: SIGKILL and
 * crashes of the runtime itself, which run no JavaScript at all.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { relayClose, relayOpen, type ChannelHandle, type RelayChannel, hostfs as defaultFs, type HostFs, type RelayDentry } from '../index.js';
import { KLOG_MAGIC, KlogScanner, registerKlogHandler, unregisterKlogHandler } from '../klog/index.js';
import { overwriteCallbacks } from './overwrite-callbacks.js';
import { summarizeBuffer, totalsOf, writeFileDurableSync, writeSidecarSync, type Sidecar } from './summary.js';

export interface FlightRecorderOptions {
  /** Where dumps go: each dump is a new directory in it. */
  dumpDir: string;
  /** Host filesystem directory for the relay files (default "flight-recorder"). */
  name?: string;
  /** Relay file base name (default "cpu"). */
  base?: string;
  subbufSize?: number;
  nSubbufs?: number;
  /** Writer threads the channel can serve (default: the machine's parallelism). */
  buffers?: number;
  fs?: HostFs;
  /** Register the channel as this thread's klog handler (default true). */
  klog?: boolean;
  /** Dump when the process exits: always (default), only on a non-zero exit code or uncaught exception ('error'), or never. */
  dumpOnExit?: boolean | 'error';
  /** Signals that dump and then end the process as the signal would (default SIGTERM, SIGINT). */
  signals?: NodeJS.Signals[];
  /** A signal that dumps and carries on, e.g. SIGUSR2 (default none). */
  dumpSignal?: NodeJS.Signals;
}

export interface DumpResult {
  dir: string;
  sidecar: Sidecar;
}

let dumpCounter = 0;

export class FlightRecorder {
  readonly chan: RelayChannel;
  readonly dumpDir: string;
  readonly dentry: RelayDentry;
  private readonly fs: HostFs;
  private readonly started = new Date();
  private fatal: Error | null = null;
  private dumpedOnSignal = false;
  private readonly uninstall: (() => void)[] = [];
  private closed = false;
  private readonly klog: boolean;

  constructor(options: FlightRecorderOptions) {
    this.fs = options.fs ?? defaultFs;
    this.dumpDir = options.dumpDir;
    this.dentry = this.fs.createDir(options.name ?? 'flight-recorder');
    try {
      this.chan = relayOpen(
        options.base ?? 'cpu',
        this.dentry,
        options.subbufSize ?? 64 * 1024,
        options.nSubbufs ?? 8,
        overwriteCallbacks(this.fs),
        undefined,
        options.buffers === undefined ? {} : { buffers: options.buffers },
      );
    } catch (err) {
      this.fs.remove(this.dentry);
      throw err;
    }
    this.klog = options.klog ?? true;
    if (this.klog) registerKlogHandler(this.chan);
    this.installHandlers(options);
  }

  /** For workers: `await klogAttach(recorder.handle())` (the overwrite callbacks load by themselves). */
  handle(): ChannelHandle {
    return this.chan.handle();
  }

  /**
   * Copies what the buffers hold to a new directory, newest data kept, and
   * consumes it: the next dump starts where this one ended. Synchronous.
   */
  dump(reason = 'on-demand', extra: { error?: string } = {}): DumpResult {
    if (this.closed) throw new Error('flight recorder is closed');
    const dir = join(this.dumpDir, `dump-${process.pid}-${++dumpCounter}-${reason}`);
    mkdirSync(dir, { recursive: true });
    const buffers = this.fs.files(this.dentry.path).sort((a, b) => a.cpu - b.cpu);
    const summaries = buffers.map((entry) => {
      const name = entry.path.slice(entry.path.lastIndexOf('/') + 1);
      const file = this.fs.openSync(entry.path);
      try {
        const chunks = drain(file, this.chan.subbufSize * this.chan.nSubbufs * 2);
        const bytes = writeFileDurableSync(join(dir, name), chunks);
        return summarizeBuffer({ name, cpu: entry.cpu, file: name, bytes, records: countRecords(chunks) }, file.stats());
      } finally {
        file.close();
      }
    });
    const sidecar: Sidecar = {
      kind: 'flight-dump',
      version: 1,
      source: `hostfs:${this.dentry.path}`,
      startedAt: this.started.toISOString(),
      endedAt: new Date().toISOString(),
      latencyMs: null,
      reason,
      complete: true,
      ...(extra.error ? { error: extra.error } : {}),
      warnings: [],
      buffers: summaries,
      totals: totalsOf(summaries),
    };
    writeSidecarSync(dir, sidecar);
    return { dir, sidecar };
  }

  /** Removes the handlers, closes the channel and its host filesystem directory. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const undo of this.uninstall.splice(0)) undo();
    if (this.klog) unregisterKlogHandler();
    relayClose(this.chan);
    this.fs.removeRecursive(this.dentry);
  }

  private installHandlers(options: FlightRecorderOptions): void {
    const onExit = options.dumpOnExit ?? true;
    if (onExit !== false) {
      const monitor = (err: Error) => {
        this.fatal = err;
      };
      const exit = (code: number) => {
        if (this.closed || this.dumpedOnSignal) return;
        if (onExit === 'error' && code === 0 && !this.fatal) return;
        this.safeDump(this.fatal ? 'uncaughtException' : 'exit', this.fatal ? { error: String(this.fatal?.stack ?? this.fatal) } : {});
      };
      this.listen('uncaughtExceptionMonitor', monitor);
      this.listen('exit', exit);
    }
    for (const sig of options.signals ?? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[])) {
      const handler = () => {
        this.safeDump(sig);
        // Alone on this signal: end the process the way the signal would have.
        if (process.listenerCount(sig) === 1) {
          this.dumpedOnSignal = true;
          process.removeListener(sig, handler);
          process.kill(process.pid, sig);
        }
      };
      this.listen(sig, handler);
    }
    if (options.dumpSignal) this.listen(options.dumpSignal, () => this.safeDump('on-demand'));
  }

  private listen(event: string, fn: (...args: never[]) => void): void {
    process.on(event, fn as (...args: unknown[]) => void);
    this.uninstall.push(() => process.removeListener(event, fn as (...args: unknown[]) => void));
  }

  /** A dump from a handler must not throw over the original failure. */
  private safeDump(reason: string, extra: { error?: string } = {}): void {
    try {
      this.dump(reason, extra);
    } catch (err) {
      process.stderr.write(`relayfs flight recorder: dump failed: ${(err as Error)?.message ?? String(err)}\n`);
    }
  }
}

export function openFlightRecorder(options: FlightRecorderOptions): FlightRecorder {
  return new FlightRecorder(options);
}

/** Reads until empty, or until `limit` bytes when writers keep adding. */
function drain(file: { read(): Uint8Array }, limit: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (total < limit) {
    const chunk = file.read();
    if (chunk.length === 0) break;
    chunks.push(chunk);
    total += chunk.length;
  }
  return chunks;
}

function countRecords(chunks: Uint8Array[]): number | null {
  const first = chunks[0];
  if (!first || first.length < 2 || (first[0]! | (first[1]! << 8)) !== KLOG_MAGIC) return chunks.length === 0 ? 0 : null;
  const scanner = new KlogScanner();
  try {
    for (const c of chunks) scanner.push(c);
    return scanner.records;
  } catch {
    return null;
  }
}
