/**
 * The kernel API of relay.rst with its names in camelCase: relayOpen,
 * relayClose, relayFlush, relayReset, relaySubbufsConsumed, relayWrite,
 * __relayWrite, relayReserve, relayBufFull, subbufStartReserve,
 * relayLateSetupFiles; plus relayAttach for other threads. Pure code.
 */
import { BufferMemory, MAX_BUFFER_BYTES, MAX_SUBBUFS } from '../buffer/index.js';
import { RelayError, checkName, checkSize, describe, invalidArg } from '../errors.js';
import { loadCallbacks, type IsGlobal, type RelayCallbacks } from './callbacks.js';
import { ChannelControl, RelayBuffer, RelayChannel, type ChannelHandle } from './channel.js';

export interface RelayOpenOptions {
  /**
   * How many per-thread buffers to make (the kernel's "possible CPUs"): at
   * most this many threads can write. Default: the machine's parallelism
   * (see setDefaultBufferCount).
   */
  buffers?: number;
  /** For a buffer-only channel (no base name yet): one global buffer. */
  global?: boolean;
  /**
   * Blocking (lossless) mode, off by default: a write that finds its buffer
   * full (no-overwrite mode, every sub-buffer unread) waits up to this many
   * milliseconds for a reader to consume a sub-buffer, then drops and counts
   * (droppedFull) as without it. Writers on the main thread never wait: they
   * drop and count at once, so the event loop never stalls (see README,
   * "Lossless mode"). Whole milliseconds, 1 to 2^31 - 1.
   */
  blockingTimeoutMs?: number;
  /**
   * Write to every page of every buffer at relayOpen, so that the first lap
   * of writes does not pay a page fault per 4 KiB (relayOpen pays them
   * instead, about as much in total). Default false.
   */
  pretouch?: boolean;
  /**
   * Batched publication, off by default: a writer copies messages into its
   * buffer and makes them readable together once this many bytes have
   * accumulated, at the end of the writing thread's current job (a
   * microtask), and before its next reserve, flush or close, instead of after
   * every message. One atomic operation per batch instead of per message:
   * 1.1-1.5× the rate end to end for messages up to 256 B (see README,
   * "Batched publication"); messages above 512 B are still published one by
   * one. Readers of the current sub-buffer (read, not mmap) see a message
   * later; a worker terminated mid-job loses its unpublished batch. Whole
   * bytes, 1 to 2^31 - 1 (a batch never crosses a sub-buffer; 4096 is a good
   * value). Not for a global buffer.
   */
  publishBatchBytes?: number;
  /**
   * Most bytes the channel's buffers may take together (buffers × nSubbufs ×
   * subbufSize); more is ERELAY_NOMEM at open, not a failure when the memory
   * is first touched. Default: see setChannelMemoryLimit.
   */
  maxBytes?: number;
}

/** relay files are created read-only for their owner, as the kernel does (S_IRUSR). */
export const RELAY_FILE_MODE = 0o400;
const MAX_BUFFERS = 1024;

let defaultBuffers = Math.max(1, Number((globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency) || 4);

let memoryLimit = 2 ** 31;

/**
 * Sets the default total size limit of one channel's buffers (relayOpen's
 * options.maxBytes). The Node entry sets half the machine's memory
 * (os.totalmem() / 2); elsewhere it is 2 GiB.
 */
export function setChannelMemoryLimit(bytes: number): void {
  checkSize('channel memory limit', bytes, Number.MAX_SAFE_INTEGER);
  memoryLimit = bytes;
}

/** The default total size limit of one channel's buffers, in bytes. */
export function channelMemoryLimit(): number {
  return memoryLimit;
}

/** Sets the number of buffers relayOpen makes when not told (the Node entry uses os.availableParallelism()). */
export function setDefaultBufferCount(n: number): void {
  defaultBuffers = checkSize('default buffer count', n, MAX_BUFFERS);
}

/**
 * relay_open: creates a channel with one buffer per writer thread (or one
 * global buffer) of nSubbufs × subbufSize bytes each, and a relay file
 * baseFilename0..N-1 per buffer through createBufFile in `parent`.
 * baseFilename null makes a buffer-only channel (see relayLateSetupFiles).
 */
export function relayOpen<P = unknown>(
  baseFilename: string | null,
  parent: unknown,
  subbufSize: number,
  nSubbufs: number,
  callbacks: RelayCallbacks,
  privateData?: P,
  options: RelayOpenOptions = {},
): RelayChannel<P> {
  if (baseFilename !== null) checkBaseFilename(baseFilename);
  checkSize('subbufSize', subbufSize, MAX_BUFFER_BYTES);
  checkSize('nSubbufs', nSubbufs, MAX_SUBBUFS);
  if (subbufSize * nSubbufs > MAX_BUFFER_BYTES) {
    throw new RelayError('ERELAY_NOMEM', `subbufSize × nSubbufs = ${subbufSize * nSubbufs} bytes exceeds the ${MAX_BUFFER_BYTES}-byte limit of one buffer`);
  }
  checkCallbacks(callbacks);
  if (options === null || typeof options !== 'object') throw invalidArg(`relayOpen options must be an object, got ${describe(options)}`);
  const nBuffers = options.buffers === undefined ? defaultBuffers : checkSize('options.buffers', options.buffers, MAX_BUFFERS);
  const blockingMs = options.blockingTimeoutMs === undefined ? 0 : checkSize('options.blockingTimeoutMs', options.blockingTimeoutMs, 0x7fffffff);
  const pretouch = options.pretouch === true;
  const batchBytes = options.publishBatchBytes === undefined ? 0 : checkSize('options.publishBatchBytes', options.publishBatchBytes, 0x7fffffff);
  if (batchBytes !== 0 && options.global === true) throw invalidArg('options.publishBatchBytes needs a buffer per writer thread, not a global buffer');
  const allocateBuffer = (): BufferMemory => {
    const mem = allocate(subbufSize, nSubbufs);
    if (pretouch) mem.pretouch();
    return mem;
  };
  const limit = options.maxBytes === undefined ? memoryLimit : checkSize('options.maxBytes', options.maxBytes, Number.MAX_SAFE_INTEGER);
  const total = (options.global === true ? 1 : nBuffers) * subbufSize * nSubbufs;
  if (total > limit) {
    throw new RelayError(
      'ERELAY_NOMEM',
      `${options.global === true ? 1 : nBuffers} buffers × ${nSubbufs} × ${subbufSize} bytes = ${total} bytes exceeds the channel memory limit of ${limit} bytes (options.maxBytes, setChannelMemoryLimit)`,
    );
  }

  const chan = new RelayChannel<P>({
    id: globalThis.crypto.randomUUID(),
    subbufSize,
    nSubbufs,
    isGlobal: options.global === true,
    control: ChannelControl.create().sab,
    memories: [],
    baseFilename,
    parent,
    callbacks,
    privateData: privateData as P,
    opener: true,
    callbacksModule: callbacks.module ?? null,
    needsCallbacks: ['subbufStart', 'bufMapped', 'bufUnmapped'].some((k) => typeof callbacks[k as keyof RelayCallbacks] === 'function'),
  });
  try {
    const first = chan.addBuffer(allocateBuffer());
    first.writer.setBlockingTimeout(blockingMs);
    first.writer.setPublishBatch(batchBytes);
    first.writer.init();
    let global = chan.isGlobal;
    if (baseFilename !== null) global = createFile(chan, first, baseFilename, parent) || global;
    if (global) {
      first.writer.setPublishBatch(0); // writers of a global buffer take turns under the lock: each must publish before the next
      chan.markGlobal();
    } else {
      for (let cpu = 1; cpu < nBuffers; cpu++) {
        const buf = chan.addBuffer(allocateBuffer());
        buf.writer.setBlockingTimeout(blockingMs);
        buf.writer.setPublishBatch(batchBytes);
        buf.writer.init();
        if (baseFilename !== null && createFile(chan, buf, baseFilename, parent)) {
          throw invalidArg('createBufFile set isGlobal for a buffer other than the first');
        }
      }
    }
  } catch (err) {
    removeFiles(chan);
    chan.forget();
    throw err;
  }
  return chan;
}

/**
 * relay_late_setup_files: gives a buffer-only channel its relay files; data
 * written before is readable through them.
 */
export function relayLateSetupFiles(chan: RelayChannel, baseFilename: string, parent: unknown): void {
  checkChannel(chan);
  checkBaseFilename(baseFilename);
  if (!chan.opener) throw invalidArg('relayLateSetupFiles must be called in the thread that opened the channel');
  if (chan.baseFilename !== null) throw new RelayError('EEXIST', `channel already has relay files ${chan.baseFilename}0..`);
  try {
    for (const buf of chan.buffers) {
      if (createFile(chan, buf, baseFilename, parent) && !chan.isGlobal) {
        throw invalidArg('createBufFile set isGlobal, but a buffer-only channel decides that at relayOpen: pass { global: true }');
      }
    }
  } catch (err) {
    removeFiles(chan);
    throw err;
  }
  chan.baseFilename = baseFilename;
  chan.parent = parent;
}

/**
 * relay_close: closes the channel. Later writes throw ERELAY_CLOSED; relay
 * files are removed through removeBufFile; open readers can still drain, and
 * the memory is released when the last of them closes.
 */
export function relayClose(chan: RelayChannel): void {
  checkChannel(chan);
  if (!chan.opener) throw invalidArg('relayClose must be called in the thread that opened the channel (it owns the relay files)');
  if (!chan.control.markClosed()) throw new RelayError('ERELAY_CLOSED', 'relayClose: the channel is already closed');
  for (const buf of chan.buffers) buf.writer.close();
  removeFiles(chan);
  chan.release();
}

/** relay_flush: forces a sub-buffer switch on every buffer that holds messages, so they become readable. */
export function relayFlush(chan: RelayChannel): void {
  checkOpen(chan, 'relayFlush');
  for (const buf of chan.buffers) buf.writer.flush();
}

/**
 * relay_reset: every buffer back to its initial state, same memory, existing
 * mappings still valid. Only safe while nobody writes, as in the kernel.
 */
export function relayReset(chan: RelayChannel): void {
  checkOpen(chan, 'relayReset');
  for (const buf of chan.buffers) buf.reader.exclusive(() => buf.writer.reset(() => buf.reader.clear()));
}

/**
 * relay_subbufs_consumed: tells the channel that n sub-buffers of buffer
 * `cpu` were consumed (by an mmap reader). As in the kernel, clamped to the
 * sub-buffers produced and not yet consumed, and ignored when n exceeds
 * nSubbufs; returns how many were consumed.
 */
export function relaySubbufsConsumed(chan: RelayChannel, cpu: number, subbufsConsumed: number): number {
  checkChannel(chan);
  const buf = chan.buffer(cpu);
  if (typeof subbufsConsumed !== 'number' || !Number.isInteger(subbufsConsumed) || subbufsConsumed < 0) {
    throw invalidArg(`subbufsConsumed must be a whole number ≥ 0, got ${describe(subbufsConsumed)}`);
  }
  return buf.reader.subbufsConsumed(subbufsConsumed);
}

/**
 * relay_write, the safe variant: validates its arguments, takes the lock of a
 * global buffer, and drops (and counts) a write made from inside subbufStart
 * of the same buffer. Returns whether the message was accepted. A zero-length
 * message is accepted as in the kernel (a message of no bytes; on a stalled
 * buffer it retries the switch like any write).
 */
export function relayWrite(chan: RelayChannel, data: Uint8Array, length: number = data?.length): boolean {
  if (!(chan instanceof RelayChannel)) throw invalidArg(`relayWrite needs a channel, got ${describe(chan)}`);
  if (!(data instanceof Uint8Array)) throw invalidArg(`relayWrite data must be a Uint8Array, got ${describe(data)}`);
  if (!Number.isInteger(length) || length < 0 || length > data.length) {
    throw invalidArg(`relayWrite length must be a whole number from 0 to data.length (${data.length}), got ${describe(length)}`);
  }
  const buf = chan.own ?? chan.claim();
  return chan.isGlobal ? buf.writer.writeLocked(data, length) : buf.writer.write(data, length);
}

/**
 * __relay_write, the leanest variant: no argument checks and no lock. On a
 * global buffer the caller must make sure only one thread writes at a time.
 */
export function __relayWrite(chan: RelayChannel, data: Uint8Array, length: number = data.length): boolean {
  return (chan.own ?? chan.claim()).writer.write(data, length);
}

/**
 * relay_reserve: a writable view of `length` bytes in the calling thread's
 * buffer, or null when it was dropped (and counted): buffer full, or larger
 * than a sub-buffer (droppedTooBig), as relayWrite. Readers see the slot
 * from this buffer's next write, reserve, flush or close on. As in the
 * kernel, length 0 gives an empty view, except on a stalled buffer: there the
 * call retries the switch and returns null even when the switch succeeds
 * (counted in droppedFull).
 */
export function relayReserve(chan: RelayChannel, length: number): Uint8Array | null {
  checkReserve(chan, length);
  const buf = chan.own ?? chan.claim();
  const off = chan.isGlobal ? buf.writer.reserveLocked(length) : buf.writer.reserve(length);
  return off < 0 ? null : buf.mem.data.subarray(off, off + length);
}

/**
 * relayReserve without the view: the offset of the slot in the calling
 * thread's buffer data (`chan.own.mem.data`), or -1 when dropped. Allocates
 * nothing, for hot paths that build messages in place.
 */
export function relayReserveOffset(chan: RelayChannel, length: number): number {
  checkReserve(chan, length);
  const buf = chan.own ?? chan.claim();
  return chan.isGlobal ? buf.writer.reserveLocked(length) : buf.writer.reserve(length);
}

/**
 * relay_buf_full: every sub-buffer of buf is unconsumed. In overwrite mode,
 * as in the kernel, also from the moment the writer laps (takes over the
 * oldest unread sub-buffer) until a reader reads or calls relaySubbufsConsumed.
 */
export function relayBufFull(buf: RelayBuffer): boolean {
  if (!(buf instanceof RelayBuffer)) throw invalidArg(`relayBufFull needs a relay buffer (as passed to subbufStart), got ${describe(buf)}`);
  return buf.writer.isFull();
}

/** subbuf_start_reserve: reserves a header at the start of the new sub-buffer; call it from subbufStart. */
export function subbufStartReserve(buf: RelayBuffer, length: number): void {
  if (!(buf instanceof RelayBuffer)) throw invalidArg(`subbufStartReserve needs the relay buffer subbufStart was given, got ${describe(buf)}`);
  buf.writer.startReserve(length);
}

/**
 * Gives the calling thread its own object for a channel opened elsewhere,
 * from chan.handle() passed through workerData or postMessage. The callbacks
 * come from `callbacks`, else from the module the opener named, else none
 * (an error if the opener had ones a writer needs).
 */
export async function relayAttach<P = unknown>(handle: ChannelHandle, callbacks?: RelayCallbacks): Promise<RelayChannel<P>> {
  checkHandle(handle);
  const cached = RelayChannel.cached(handle.id);
  if (cached) return cached as RelayChannel<P>;
  let cbs = callbacks;
  if (!cbs && handle.callbacksModule) cbs = await loadCallbacks(handle.callbacksModule);
  return relayAttachSync<P>(handle, cbs);
}

/** relayAttach without loading a callbacks module: callbacks given here or none. */
export function relayAttachSync<P = unknown>(handle: ChannelHandle, callbacks?: RelayCallbacks): RelayChannel<P> {
  checkHandle(handle);
  const cached = RelayChannel.cached(handle.id);
  if (cached) return cached as RelayChannel<P>;
  if (!callbacks && handle.needsCallbacks) {
    throw new RelayError(
      'ERELAY_CALLBACKS_REQUIRED',
      'this channel has subbufStart/bufMapped/bufUnmapped callbacks: pass them to relayAttach, or open the channel with callbacks.module so every thread can import them',
    );
  }
  const geometry = { subbufSize: handle.subbufSize, nSubbufs: handle.nSubbufs };
  return new RelayChannel<P>({
    id: handle.id,
    subbufSize: handle.subbufSize,
    nSubbufs: handle.nSubbufs,
    isGlobal: handle.isGlobal,
    control: handle.control,
    memories: handle.buffers.map((sab) => new BufferMemory(sab, geometry)),
    baseFilename: handle.baseFilename,
    parent: null,
    callbacks: callbacks ?? {},
    privateData: handle.privateData as P,
    opener: false,
    callbacksModule: handle.callbacksModule,
    needsCallbacks: handle.needsCallbacks,
  });
}

// ------------------------------------------------------------------ helpers

function allocate(subbufSize: number, nSubbufs: number): BufferMemory {
  try {
    return BufferMemory.allocate({ subbufSize, nSubbufs });
  } catch (err) {
    throw new RelayError('ERELAY_NOMEM', `cannot allocate a buffer of ${subbufSize} × ${nSubbufs} bytes: ${(err as Error).message}`);
  }
}

/** Calls createBufFile for one buffer; returns the is_global out-parameter. */
function createFile(chan: RelayChannel, buf: RelayBuffer, baseFilename: string, parent: unknown): boolean {
  const isGlobal: IsGlobal = { value: false };
  let dentry: unknown;
  try {
    dentry = chan.callbacks.createBufFile!(`${baseFilename}${buf.cpu}`, parent, RELAY_FILE_MODE, buf, isGlobal);
  } catch (err) {
    throw new RelayError('ERELAY_CREATE_FAILED', `createBufFile(${baseFilename}${buf.cpu}) failed: ${(err as Error)?.message ?? String(err)}`);
  }
  if (!dentry) throw new RelayError('ERELAY_CREATE_FAILED', `createBufFile(${baseFilename}${buf.cpu}) returned no file`);
  buf.dentry = dentry;
  return isGlobal.value === true;
}

function removeFiles(chan: RelayChannel): void {
  for (const buf of chan.buffers) {
    if (buf.dentry === null) continue;
    const dentry = buf.dentry;
    buf.dentry = null;
    chan.callbacks.removeBufFile!(dentry);
  }
}

/** Room is left for the buffer number appended to the base name. */
export function checkBaseFilename(name: unknown): asserts name is string {
  checkName(name, 'base filename', 200);
}

function checkCallbacks(callbacks: RelayCallbacks): void {
  if (!callbacks || typeof callbacks !== 'object') throw new RelayError('ERELAY_NO_CALLBACK', 'relayOpen needs a callbacks object with createBufFile and removeBufFile');
  for (const name of ['createBufFile', 'removeBufFile'] as const) {
    if (typeof callbacks[name] !== 'function') throw new RelayError('ERELAY_NO_CALLBACK', `relayOpen needs callbacks.${name}`);
  }
  for (const name of ['subbufStart', 'bufMapped', 'bufUnmapped'] as const) {
    if (callbacks[name] !== undefined && typeof callbacks[name] !== 'function') throw invalidArg(`callbacks.${name} must be a function`);
  }
}

function checkReserve(chan: RelayChannel, length: number): void {
  checkChannel(chan);
  if (!Number.isInteger(length) || length < 0) throw invalidArg(`relayReserve length must be a whole number ≥ 0, got ${describe(length)}`);
}

function checkChannel(chan: unknown): asserts chan is RelayChannel {
  if (!(chan instanceof RelayChannel)) throw invalidArg(`expected a relay channel, got ${describe(chan)}`);
}

function checkOpen(chan: RelayChannel, what: string): void {
  checkChannel(chan);
  if (chan.closed) throw new RelayError('ERELAY_CLOSED', `${what}: the channel is closed`);
}

/** A handle must be what chan.handle() made: a forged or damaged one could point a writer anywhere. */
function checkHandle(handle: ChannelHandle): void {
  if (!handle || typeof handle !== 'object' || handle.kind !== 'relayfs.channel' || handle.version !== 1) {
    throw invalidArg('relayAttach needs the object returned by chan.handle()');
  }
  const bad = (what: string): never => {
    throw invalidArg(`relayAttach: the handle's ${what} is not what chan.handle() makes (a forged or damaged handle?)`);
  };
  if (typeof handle.id !== 'string' || handle.id.length === 0) bad('id');
  if (!Number.isInteger(handle.subbufSize) || handle.subbufSize <= 0 || handle.subbufSize > MAX_BUFFER_BYTES) bad('subbufSize');
  if (!Number.isInteger(handle.nSubbufs) || handle.nSubbufs <= 0 || handle.nSubbufs > MAX_SUBBUFS) bad('nSubbufs');
  if (typeof handle.isGlobal !== 'boolean') bad('isGlobal');
  if (handle.baseFilename !== null && typeof handle.baseFilename !== 'string') bad('baseFilename');
  if (!(handle.control instanceof SharedArrayBuffer)) bad('control');
  if (!Array.isArray(handle.buffers) || handle.buffers.length === 0 || handle.buffers.length > MAX_BUFFERS) bad('buffers');
  for (const sab of handle.buffers) {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < handle.subbufSize * handle.nSubbufs) bad('buffers');
  }
}
