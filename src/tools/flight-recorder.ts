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
import { accessSync, constants as fsConstants, mkdirSync, rmSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { checkBaseFilename, relayClose, relayOpen } from '../channel/api.js';
import type { ChannelHandle, RelayChannel } from '../channel/channel.js';
import { RelayError, describe, invalidArg } from '../errors.js';
import { hostfs as defaultFs, HostFs, type RelayDentry } from '../hostfs/hostfs.js';
import type { RelayFile } from '../hostfs/relay-file.js';
import { markLibraryListener, onSignal } from '../signal-hooks.js';
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
  /**
   * Signals that dump and then end the process as the signal would (default SIGTERM, SIGINT).
   * If the application has a listener of its own for one of them, the dump is made and
   * ending the process is left to the application.
   */
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
    const opts = checkOptions(options);
    this.fs = opts.fs;
    this.dumpDir = opts.dumpDir;
    this.klog = opts.klog;
    // Every step from here is undone if a later one fails: a failed open leaves nothing behind.
    const undo: (() => void)[] = [];
    try {
      const made = mkdirSync(this.dumpDir, { recursive: true });
      if (made !== undefined) undo.push(() => rmSync(made, { recursive: true, force: true }));
      accessSync(this.dumpDir, fsConstants.W_OK | fsConstants.X_OK);
      this.dentry = this.fs.createDir(opts.name);
      undo.push(() => this.fs.removeRecursive(this.dentry));
      this.chan = relayOpen(
        opts.base,
        this.dentry,
        opts.subbufSize,
        opts.nSubbufs,
        overwriteCallbacks(this.fs),
        undefined,
        opts.buffers === undefined ? {} : { buffers: opts.buffers },
      );
      undo.push(() => relayClose(this.chan));
      if (this.klog) {
        registerKlogHandler(this.chan);
        undo.push(() => unregisterKlogHandler());
      }
      this.installHandlers(opts);
    } catch (err) {
      for (const step of this.uninstall.splice(0)) step();
      for (const step of undo.reverse()) {
        try {
          step();
        } catch {
          /* best effort: report the first failure */
        }
      }
      throw err instanceof RelayError ? err : new RelayError('ERELAY_INVALID_ARG', `openFlightRecorder: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
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
    if (this.closed) throw new RelayError('ERELAY_CLOSED', 'flight recorder is closed');
    const dir = join(this.dumpDir, `dump-${process.pid}-${++dumpCounter}-${reason}`);
    mkdirSync(dir, { recursive: true });
    const buffers = this.fs.files(this.dentry.path).sort((a, b) => a.cpu - b.cpu);
    const deadline = performance.now() + SWITCH_WAIT_MS;
    const summaries = buffers.map((entry) => {
      const name = entry.path.slice(entry.path.lastIndexOf('/') + 1);
      const file = this.fs.openSync(entry.path);
      try {
        const chunks = drain(file, this.chan.subbufSize * this.chan.nSubbufs * 2, deadline);
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

  private installHandlers(options: CheckedOptions): void {
    const onExit = options.dumpOnExit;
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
    // Dump, then the process ends as the signal would have, unless the application listens too (see signal-hooks.ts).
    for (const sig of options.signals) {
      this.uninstall.push(
        onSignal(sig, (_s, ending) => {
          if (this.closed) return;
          this.safeDump(sig);
          if (ending) this.dumpedOnSignal = true;
        }),
      );
    }
    if (options.dumpSignal)
      this.listen(
        options.dumpSignal,
        markLibraryListener(() => this.safeDump('on-demand')),
      );
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

type CheckedOptions = Required<Omit<FlightRecorderOptions, 'subbufSize' | 'nSubbufs' | 'buffers' | 'dumpSignal'>> &
  Pick<FlightRecorderOptions, 'buffers' | 'dumpSignal'> & { subbufSize: number; nSubbufs: number };

/** Signals a listener can catch and that end a process by default; the fault signals are not safe to handle in JavaScript. */
const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGILL']);

function checkSignal(name: string, value: unknown): NodeJS.Signals {
  if (typeof value !== 'string' || !(value in osConstants.signals) || UNCATCHABLE.has(value)) {
    throw invalidArg(`${name} must be the name of a signal a process can catch, like "SIGTERM", got ${describe(value)}`);
  }
  return value as NodeJS.Signals;
}

/** Every option checked before anything is made, so a bad one costs nothing and a dump is never lost to a late TypeError. */
function checkOptions(options: FlightRecorderOptions): CheckedOptions {
  if (options === null || typeof options !== 'object') throw invalidArg(`openFlightRecorder needs an options object, got ${describe(options)}`);
  const { dumpDir } = options;
  if (typeof dumpDir !== 'string' || dumpDir.length === 0 || dumpDir.includes('\0')) {
    throw invalidArg(`options.dumpDir must be a directory path (a non-empty string), got ${describe(dumpDir)}`);
  }
  const fs = options.fs ?? defaultFs;
  if (!(fs instanceof HostFs)) throw invalidArg('options.fs must be a HostFs (hostfs or HostFs.get(name))');
  const name = options.name ?? 'flight-recorder';
  if (typeof name !== 'string' || name.length === 0) throw invalidArg(`options.name must be a non-empty string, got ${describe(name)}`);
  const base = options.base ?? 'cpu';
  checkBaseFilename(base);
  const klog = options.klog ?? true;
  if (typeof klog !== 'boolean') throw invalidArg(`options.klog must be true or false, got ${describe(klog)}`);
  const dumpOnExit = options.dumpOnExit ?? true;
  if (dumpOnExit !== true && dumpOnExit !== false && dumpOnExit !== 'error') {
    throw invalidArg(`options.dumpOnExit must be true, false or 'error', got ${describe(dumpOnExit)}`);
  }
  const signalList = options.signals ?? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[]);
  if (!Array.isArray(signalList)) throw invalidArg(`options.signals must be an array of signal names, got ${describe(signalList)}`);
  const signals = [...new Set(signalList.map((s, i) => checkSignal(`options.signals[${i}]`, s)))];
  const dumpSignal = options.dumpSignal === undefined ? undefined : checkSignal('options.dumpSignal', options.dumpSignal);
  if (dumpSignal && signals.includes(dumpSignal)) {
    throw invalidArg(`options.dumpSignal ${dumpSignal} is also in options.signals: a signal either ends the process or carries on`);
  }
  // Sizes are checked by relayOpen; these are only their defaults.
  return {
    dumpDir,
    fs,
    name,
    base,
    klog,
    dumpOnExit,
    signals,
    dumpSignal,
    subbufSize: options.subbufSize ?? 64 * 1024,
    nSubbufs: options.nSubbufs ?? 8,
    buffers: options.buffers,
  };
}

/** How long one dump waits, in all, for writers caught inside a sub-buffer switch. */
const SWITCH_WAIT_MS = 2000;
const nap = new Int32Array(new SharedArrayBuffer(4));

/**
 * Reads until empty, or until `limit` bytes when writers keep adding. A
 * writer inside a sub-buffer switch (preempted there, on a busy machine)
 * makes read() return nothing while the buffer holds data, and available()
 * not count the sub-buffer being finished (`file.drained()` says it is all
 * read and no switch is under way): the dump waits for it, up to the
 * deadline, instead of leaving that data out.
 */
function drain(file: RelayFile, limit: number, deadline: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (total < limit) {
    const chunk = file.read();
    if (chunk.length === 0) {
      if (file.drained() || performance.now() >= deadline) break;
      Atomics.wait(nap, 0, 0, 1);
      continue;
    }
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
