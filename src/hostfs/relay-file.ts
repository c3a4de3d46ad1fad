/**
 * The relay file operations of relay.rst on one open relay file: read,
 * mmap, sendfile, poll and close, plus an async iterator and a Readable
 * stream built on them.
 */
import { writeSync } from 'node:fs';
import { once } from 'node:events';
import { Readable, type Writable } from 'node:stream';
import { BufferMemory, BufferReader, type BufferStats } from '../buffer/index.js';
import { ChannelControl, notifyMapping, RelayChannel } from '../channel/channel.js';
import { DEFAULT_LATENCY_MS } from '../defaults.js';
import { RelayError, invalidArg } from '../errors.js';
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
    return this.reader.read(maxBytes) ?? EMPTY;
  }

  /** read() into a caller's buffer from `offset` on, like read(2): fills it as far as data goes. */
  readInto(dest: Uint8Array, offset = 0): number {
    this.check('read');
    if (!(dest instanceof Uint8Array)) throw invalidArg('readInto needs a Uint8Array');
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
    return this.reader.read(maxBytes, true) ?? EMPTY;
  }

  /** readWhole into a caller's buffer from `offset` on: give it room for a sub-buffer (subbufSize bytes) or more. */
  readWholeInto(dest: Uint8Array, offset = 0): number {
    this.check('read');
    if (!(dest instanceof Uint8Array)) throw invalidArg('readWholeInto needs a Uint8Array');
    return this.reader.readInto(dest, offset, true);
  }

  /** Bytes a read would return now. */
  available(): number {
    this.check('available');
    return this.reader.available();
  }

  /** mmap(): the whole buffer, zero-copy; bufMapped runs now and bufUnmapped at unmap(). */
  mmap(): RelayMapping {
    this.check('mmap');
    const filp = { path: this.path, cpu: this.cpu };
    return new RelayMapping(this.mem, this.reader, () => {
      notifyMapping(this.channelId, this.cpu, false, this, filp);
    }, () => notifyMapping(this.channelId, this.cpu, true, this, filp));
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
    const keepAlive = setTimeout(() => {}, Math.min(timeoutMs + 1000, 2 ** 31 - 1));
    try {
      for (;;) {
        const result = this.pollCheck(state);
        if (result) return result;
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
   * sub-buffer boundary, flush, close) and result. With spinMicros it first
   * spins that long, which on an idle core spares a busy writer its wake-up
   * system call (and on a loaded one takes CPU from it). Not on a browser
   * main thread.
   */
  pollSync(timeoutMs = Infinity, options: PollOptions & { spinMicros?: number } = {}): PollResult {
    const state = this.pollStart(timeoutMs, options);
    for (;;) {
      const result = this.pollCheck(state);
      if (result) return result;
      this.reader.waitReadySync(state.minReady, state.forced, state.deadline - Date.now(), options.spinMicros ?? 0);
    }
  }

  /**
   * sendfile(): moves data to a file descriptor or a writable stream, padding
   * removed, and consumes it. Returns the bytes moved.
   */
  async sendfile(out: number | Writable, options: SendfileOptions = {}): Promise<number> {
    this.check('sendfile');
    const count = options.count ?? Infinity;
    const latency = options.latency ?? DEFAULT_LATENCY_MS;
    let moved = 0;
    while (moved < count) {
      const closed = this.hangup; // read before the read: data written just before a close is not missed
      const chunk = this.reader.read(count === Infinity ? undefined : count - moved);
      if (chunk && chunk.length > 0) {
        await writeOut(out, chunk);
        moved += chunk.length;
        continue;
      }
      if (!options.follow || closed) break;
      await this.poll(latency);
    }
    return moved;
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
  async *chunks(options: ChunkOptions = {}): AsyncGenerator<RelayChunk> {
    const latency = options.latency ?? DEFAULT_LATENCY_MS;
    while (this.open) {
      const closed = this.hangup; // read before the read: data written just before a close is not missed
      const data = this.reader.read();
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
    const n = options.minReady ?? 1;
    if (!Number.isInteger(n) || n < 1) throw invalidArg(`minReady must be a whole number ≥ 1, got ${n}`);
    return { minReady: Math.min(n, this.nSubbufs), forced: this.reader.forcedEvents(), deadline: Date.now() + timeoutMs };
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
    throw invalidArg(`read maxBytes must be a whole number ≥ 1, got ${maxBytes}`);
  }
}

async function writeOut(out: number | Writable, chunk: Uint8Array): Promise<void> {
  if (typeof out === 'number') {
    for (let done = 0; done < chunk.length; ) done += writeSync(out, chunk, done, chunk.length - done);
    return;
  }
  if (!out.write(chunk)) await once(out, 'drain');
}
