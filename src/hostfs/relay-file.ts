/**
 * The relay file operations of relay.rst on one open relay file: read,
 * mmap, sendfile, poll and close, plus an async iterator and a Readable
 * stream built on them.
 */
import { fstatSync, writeSync } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { BufferMemory, BufferReader, type BufferStats } from '../buffer/index.js';
import { ChannelControl, notifyMapping, RelayChannel } from '../channel/channel.js';
import { DEFAULT_LATENCY_MS } from '../defaults.js';
import { RelayError, describe, invalidArg } from '../errors.js';
import type { FileEntry } from './hostfs.js';
import { RelayMapping } from './mapping.js';

/** poll() event bits, as in poll(2). */
export const POLLIN = 0x001;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLRDNORM = 0x040;

export interface PollOptions {
  /** Wake at a sub-buffer boundary only once this many sub-buffers are ready (default 1; flush and close always wake). */
  minReady?: number;
}

export interface PollResult {
  /** POLLIN | POLLRDNORM when a finished sub-buffer is ready; POLLERR | POLLHUP once the channel is closed. */
  mask: number;
  readable: boolean;
  /** The channel was closed: read what is left, then stop. */
  hangup: boolean;
  timedOut: boolean;
}

export interface SendfileOptions {
  /** Stop after this many bytes. */
  count?: number;
  /** Keep going as data arrives until the channel is closed and drained (or count is reached). */
  follow?: boolean;
  /** With follow: longest wait before partial sub-buffer data is sent (ms). */
  latency?: number;
}

export interface ChunkOptions {
  /** Longest wait before data of a partly filled sub-buffer is delivered (ms). Default 50. */
  latency?: number;
}

/** One chunk from the async iterator: whole messages, and what overwriting cost since the last chunk. */
export interface RelayChunk {
  data: Uint8Array;
  /** Sub-buffers overwritten (overwrite mode) since the previous chunk. */
  lostSubbufs: number;
}

const EMPTY = new Uint8Array(0);

interface PollState {
  minReady: number;
  /** forcedEvents() when the poll began. */
  forced: number;
  deadline: number;
}

export class RelayFile {
  readonly path: string;
  /** The buffer index (the N in baseN). */
  readonly cpu: number;
  readonly channelId: string;
  readonly subbufSize: number;
  readonly nSubbufs: number;
  private readonly mem: BufferMemory;
  private readonly reader: BufferReader;
  private readonly control: ChannelControl;
  private open = true;
  private lastOverwritten = 0;
  /** Bytes consumed from the buffer that a failed sendfile did not deliver: every read returns them first. */
  private pending: Uint8Array | null = null;

  private constructor(entry: FileEntry, control: ChannelControl) {
    const { handle, cpu } = entry;
    this.path = entry.path;
    this.cpu = cpu;
    this.channelId = handle.id;
    this.subbufSize = handle.subbufSize;
    this.nSubbufs = handle.nSubbufs;
    this.control = control;
    const local = RelayChannel.cached(handle.id)?.buffers[cpu];
    this.mem = local?.mem ?? new BufferMemory(handle.buffers[cpu]!, handle);
    this.reader = local?.reader ?? new BufferReader(this.mem);
  }

  /** Opens the file of a host filesystem entry; the channel's memory stays until close(). */
  static open(entry: FileEntry): RelayFile {
    const control = new ChannelControl(entry.handle.control);
    if (!control.acquire()) throw new RelayError('ENOENT', `${entry.path}: the channel was closed and released`);
    return new RelayFile(entry, control);
  }

  get closed(): boolean {
    return !this.open;
  }

  /** True once the producer closed the channel. */
  get hangup(): boolean {
    return this.reader.closed;
  }

  /**
   * read(): copies out and consumes what is readable, padding removed,
   * including the current partly filled sub-buffer. With no maxBytes:
   * everything, ending on a message boundary. With maxBytes: a byte stream as
   * the kernel's read(2), filled up to maxBytes across sub-buffers, so it may
   * end inside a message (see readWhole). Empty when nothing is readable.
   */
  read(maxBytes?: number): Uint8Array {
    this.check('read');
    checkMax(maxBytes);
    return this.take(maxBytes) ?? EMPTY;
  }

  /** read() into a caller's buffer from `offset` on, like read(2): fills it as far as data goes. */
  readInto(dest: Uint8Array, offset = 0): number {
    this.check('read');
    checkDest('readInto', dest, offset);
    if (this.pending) return this.takeInto(dest, offset);
    return this.reader.readInto(dest, offset);
  }

  /**
   * read() for parsers: whole messages only, up to maxBytes. Stops before the
   * rest of a sub-buffer that does not fit, so it ends on a message boundary
   * whenever maxBytes is at least subbufSize (with less, a read that would
   * return nothing splits the rest, so it still makes progress).
   */
  readWhole(maxBytes?: number): Uint8Array {
    this.check('read');
    checkMax(maxBytes);
    return this.take(maxBytes, true) ?? EMPTY;
  }

  /** readWhole into a caller's buffer from `offset` on: give it room for a sub-buffer (subbufSize bytes) or more. */
  readWholeInto(dest: Uint8Array, offset = 0): number {
    this.check('read');
    checkDest('readWholeInto', dest, offset);
    if (this.pending) return this.takeInto(dest, offset);
    return this.reader.readInto(dest, offset, true);
  }

  /** Bytes a read would return now. */
  available(): number {
    this.check('available');
    return (this.pending?.length ?? 0) + this.reader.available();
  }

  /**
   * Nothing left to read and no sub-buffer switch under way: a switch holds
   * the buffer lock while it finishes a sub-buffer, and until it lets go a
   * read returns nothing of it and available() does not count it. What a
   * reader that must leave nothing behind (after a hangup, at exit) waits for.
   */
  drained(): boolean {
    this.check('drained');
    return (this.pending?.length ?? 0) === 0 && this.reader.drained();
  }

  /** mmap(): the whole buffer, zero-copy; bufMapped runs now and bufUnmapped at unmap(). */
  mmap(): RelayMapping {
    this.check('mmap');
    const filp = { path: this.path, cpu: this.cpu };
    return new RelayMapping(
      this.mem,
      this.reader,
      () => {
        notifyMapping(this.channelId, this.cpu, false, this, filp);
      },
      () => notifyMapping(this.channelId, this.cpu, true, this, filp),
    );
  }

  /**
   * poll(): resolves when a finished sub-buffer is ready (POLLIN), when the
   * channel is closed (POLLERR | POLLHUP), or after timeoutMs. Wakes at
   * sub-buffer boundaries, flush and close, never per message.
   */
  async poll(timeoutMs = Infinity, options: PollOptions = {}): Promise<PollResult> {
    const state = this.pollStart(timeoutMs, options);
    // Atomics.waitAsync alone does not keep Node.js running; this timer does,
    // and outlives the wait so the loop cannot empty before it resolves.
    const keepAlive = setTimeout(() => {}, Math.min(state.deadline - Date.now() + 1000, 2 ** 31 - 1));
    let waited = false;
    try {
      for (;;) {
        const result = this.pollCheck(state);
        if (result) {
          // A poll that times out without ever waiting (timeout 0) returns at the next turn of the event
          // loop, so a loop of reads and polls cannot starve timers and I/O.
          if (!waited && result.mask === 0) await new Promise((resolve) => setImmediate(resolve));
          return result;
        }
        waited = true;
        await this.reader.waitReady(state.minReady, state.forced, state.deadline - Date.now());
        if (!this.open) throw new RelayError('ERELAY_CLOSED', `${this.path}: closed while polling`);
      }
    } finally {
      clearTimeout(keepAlive);
    }
  }

  /**
   * poll() that blocks the calling thread instead of returning a promise: for
   * worker-thread consumers that have nothing else to do. Same wake-ups (a
   * sub-buffer boundary, flush, close) and result. Before it sleeps it spins
   * while the writer keeps finishing sub-buffers, adaptively by default: it
   * gives up after about twice the last gap between sub-buffers with none new
   * (at most 0.5 ms), so a reader that keeps up never pays a wake-up and the
   * buffer does not fill during one; once the writer is idle, it sleeps at
   * once. `spinMicros` fixes that gap instead (0: never spin, for a loaded
   * machine where a spin takes CPU the writer needs). Not on a browser main
   * thread.
   */
  pollSync(timeoutMs = Infinity, options: PollOptions & { spinMicros?: number } = {}): PollResult {
    const state = this.pollStart(timeoutMs, options);
    const spin = options.spinMicros;
    if (spin !== undefined && (typeof spin !== 'number' || !(spin >= 0) || spin === Infinity)) {
      throw invalidArg(`spinMicros must be a number of microseconds ≥ 0, got ${describe(spin)}`);
    }
    for (;;) {
      const result = this.pollCheck(state);
      if (result) return result;
      this.reader.waitReadySync(state.minReady, state.forced, state.deadline - Date.now(), spin);
    }
  }

  /**
   * sendfile(): moves data to a file descriptor or a writable stream, padding
   * removed, and consumes it. Returns the bytes moved.
   */
  async sendfile(out: number | Writable, options: SendfileOptions = {}): Promise<number> {
    this.check('sendfile');
    checkOptions('sendfile', options);
    // The destination is checked before anything is consumed.
    checkDestination(out);
    const count = options.count ?? Infinity;
    if (count !== Infinity && (!Number.isInteger(count) || count < 0)) {
      throw invalidArg(`sendfile count must be a whole number ≥ 0, got ${describe(count)}`);
    }
    const latency = checkLatency('sendfile', options.latency);
    if (options.follow !== undefined && typeof options.follow !== 'boolean') {
      throw invalidArg(`sendfile follow must be true or false, got ${describe(options.follow)}`);
    }
    let moved = 0;
    while (moved < count) {
      const closed = this.hangup; // read before the read: data written just before a close is not missed
      const chunk = this.take(count === Infinity ? undefined : count - moved);
      if (chunk && chunk.length > 0) {
        moved += await this.writeOut(out, chunk);
        continue;
      }
      if (!options.follow || closed) break;
      await this.poll(latency);
      checkDestination(out); // a stream destroyed while we wait ends the follow
    }
    return moved;
  }

  /**
   * Writes a chunk taken from the buffer; whatever does not reach the
   * destination is kept for the next read, never dropped. Returns the bytes written.
   */
  private async writeOut(out: number | Writable, chunk: Uint8Array): Promise<number> {
    if (typeof out === 'number') {
      let done = 0;
      try {
        while (done < chunk.length) done += writeSync(out, chunk, done, chunk.length - done);
      } catch (err) {
        this.keep(chunk.subarray(done));
        if ((err as NodeJS.ErrnoException)?.code === 'EBADF') throw invalidArg(`sendfile: fd ${out} is not open for writing`);
        throw new RelayError('ERELAY_WRITE_FAILED', `sendfile: writing to fd ${out} failed: ${(err as Error)?.message ?? String(err)}; the bytes stay readable`, { cause: err });
      }
      return done;
    }
    if (out.destroyed || out.writableEnded) {
      this.keep(chunk);
      throw new RelayError('ERELAY_CLOSED', 'sendfile: the destination stream was ended or destroyed');
    }
    if (!out.write(chunk)) await drained(out);
    return chunk.length;
  }

  /** Puts undelivered bytes back in front of what the next read returns. */
  private keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (!this.pending) {
      this.pending = bytes;
      return;
    }
    const joined = new Uint8Array(bytes.length + this.pending.length);
    joined.set(bytes, 0);
    joined.set(this.pending, bytes.length);
    this.pending = joined;
  }

  /** The reader's read, with bytes a failed sendfile kept coming first. */
  private take(maxBytes?: number, whole = false): Uint8Array | null {
    const p = this.pending;
    if (!p) return this.reader.read(maxBytes, whole);
    if (maxBytes === undefined || p.length <= maxBytes) {
      this.pending = null;
      return p;
    }
    this.pending = p.subarray(maxBytes);
    return p.subarray(0, maxBytes);
  }

  /** Kept bytes into a caller's buffer. */
  private takeInto(dest: Uint8Array, offset: number): number {
    const part = this.take(dest.length - offset);
    if (part) dest.set(part, offset);
    return part?.length ?? 0;
  }

  /** Per-buffer counters. */
  stats(): BufferStats {
    this.check('stats');
    return this.reader.stats();
  }

  /**
   * Chunks of whole messages as they arrive, until the channel is closed and
   * drained. Data of a partly filled sub-buffer waits at most `latency` ms.
   */
  chunks(options: ChunkOptions = {}): AsyncGenerator<RelayChunk> {
    checkOptions('chunks', options);
    return this.chunksFrom(checkLatency('chunks', options.latency));
  }

  private async *chunksFrom(latency: number): AsyncGenerator<RelayChunk> {
    while (this.open) {
      const closed = this.hangup; // read before the read: data written just before a close is not missed
      const data = this.take();
      const overwritten = this.reader.stats().subbufsOverwritten;
      const lostSubbufs = overwritten - this.lastOverwritten;
      this.lastOverwritten = overwritten;
      if (data && data.length > 0) {
        yield { data, lostSubbufs };
        continue;
      }
      if (closed) return;
      await this.poll(latency);
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<RelayChunk> {
    return this.chunks();
  }

  /** A Readable stream of the file's bytes, ending when the channel is closed and drained. */
  stream(options: ChunkOptions = {}): Readable {
    const chunks = this.chunks(options);
    return Readable.from(
      (async function* () {
        for await (const chunk of chunks) yield chunk.data;
      })(),
      { objectMode: false },
    );
  }

  /** close(): drops this reader's reference; the memory goes with the last one after relayClose. */
  close(): void {
    if (!this.open) throw new RelayError('ERELAY_CLOSED', `${this.path} is already closed`);
    this.open = false;
    if (this.control.release()) RelayChannel.cached(this.channelId)?.forget();
  }

  private pollStart(timeoutMs: number, options: PollOptions): PollState {
    this.check('poll');
    // A negative timeout is a deadline already past (poll now); NaN or a non-number would wait forever.
    if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) throw invalidArg(`poll timeout must be a number of ms (or Infinity), got ${describe(timeoutMs)}`);
    checkOptions('poll', options);
    const n = options.minReady ?? 1;
    if (!Number.isInteger(n) || n < 1) throw invalidArg(`minReady must be a whole number ≥ 1, got ${describe(n)}`);
    return { minReady: Math.min(n, this.nSubbufs), forced: this.reader.forcedEvents(), deadline: Date.now() + Math.max(0, timeoutMs) };
  }

  /** The poll result if poll should return now, else null (wait for the next event). */
  private pollCheck(state: PollState): PollResult | null {
    // After a flush or close any ready sub-buffer will do, whatever minReady says.
    const result = this.pollState(false, this.reader.forcedEvents() === state.forced ? state.minReady : 1);
    if (result.mask !== 0) return result;
    return Date.now() >= state.deadline ? this.pollState(true) : null;
  }

  private pollState(timedOut: boolean, minReady = 1): PollResult {
    const readable = this.reader.pollReady() >= minReady;
    const hangup = this.reader.closed;
    const mask = (readable ? POLLIN | POLLRDNORM : 0) | (hangup ? POLLERR | POLLHUP : 0);
    return { mask, readable, hangup, timedOut };
  }

  private check(what: string): void {
    if (!this.open) throw new RelayError('ERELAY_CLOSED', `${what} on closed relay file ${this.path}`);
  }
}

function checkMax(maxBytes: number | undefined): void {
  if (maxBytes !== undefined && (!Number.isInteger(maxBytes) || maxBytes <= 0)) {
    throw invalidArg(`read maxBytes must be a whole number ≥ 1, got ${describe(maxBytes)}`);
  }
}

function checkDest(what: string, dest: unknown, offset: unknown): asserts dest is Uint8Array {
  if (!(dest instanceof Uint8Array)) throw invalidArg(`${what} needs a Uint8Array, got ${describe(dest)}`);
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > dest.length) {
    throw invalidArg(`${what} offset must be a whole number from 0 to dest.length (${dest.length}), got ${describe(offset)}`);
  }
}

function checkOptions(what: string, options: unknown): void {
  if (options === null || typeof options !== 'object') throw invalidArg(`${what} options must be an object, got ${describe(options)}`);
}

/** latency: ms ≥ 0 (0 = as soon as possible, yielding to the event loop between polls), default DEFAULT_LATENCY_MS. */
function checkLatency(what: string, latency: unknown): number {
  if (latency === undefined) return DEFAULT_LATENCY_MS;
  if (typeof latency !== 'number' || Number.isNaN(latency) || latency < 0) {
    throw invalidArg(`${what} latency must be a number of ms ≥ 0, got ${describe(latency)}`);
  }
  return latency;
}

/** A sendfile destination: an open file descriptor or a writable stream that is still open. */
function checkDestination(out: unknown): void {
  if (typeof out === 'number') {
    if (!Number.isInteger(out) || out < 0) throw invalidArg(`sendfile needs a file descriptor (a whole number ≥ 0) or a writable stream, got ${describe(out)}`);
    try {
      fstatSync(out);
    } catch {
      throw invalidArg(`sendfile: fd ${out} is not an open file descriptor`);
    }
    return;
  }
  const stream = out as Writable | null;
  if (stream === null || typeof stream !== 'object' || typeof stream.write !== 'function' || typeof stream.once !== 'function') {
    throw invalidArg(`sendfile needs a file descriptor or a writable stream, got ${describe(out)}`);
  }
  if (stream.destroyed || stream.writableEnded) throw new RelayError('ERELAY_CLOSED', 'sendfile: the destination stream was ended or destroyed');
}

/** Waits for 'drain'; a stream closed or failed instead settles the wait (with an error), never leaves it hanging. */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      out.off('drain', onDrain).off('close', onClose).off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new RelayError('ERELAY_CLOSED', 'sendfile: the destination stream closed before taking the data'));
    const onError = (err: Error): void => done(new RelayError('ERELAY_WRITE_FAILED', `sendfile: the destination stream failed: ${err?.message ?? String(err)}`, { cause: err }));
    out.on('drain', onDrain).on('close', onClose).on('error', onError);
    if (out.destroyed) onClose();
  });
}
