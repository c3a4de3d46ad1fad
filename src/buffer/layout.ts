/**
 * Memory layout of one channel buffer (the kernel's rchan_buf) in a single
 * SharedArrayBuffer: control words first, then n_subbufs × subbuf_size bytes
 * of data. Pure code: no Node.js API, only SharedArrayBuffer and Atomics.
 *
 * Control words are Int32 so every one of them can be used with Atomics.
 * Writer-owned and reader-owned words sit on separate 64-byte cache lines so
 * that a busy reader does not slow the writer down by false sharing.
 */

// --- writer line (written by the thread that holds the buffer's writer role)
/** Messages published in the current sub-buffer; -1 while the buffer is locked. */
export const COUNT = 0;
/** Absolute end offset of published data, kept in four slots indexed by COUNT & 3. */
export const OFFS = 1; // 1..4
/** Fast-path gate: absolute end of the current sub-buffer, or -1 to force the slow path. */
export const LIMIT = 5;
/** Sub-buffers produced (finished), modulo 2^31. */
export const PRODUCED = 6;
/** Bumped by every structural change (switch, reset, close); readers validate snapshots with it. */
export const GEN = 7;
/** 1 while a refused switch leaves the buffer stalled (the kernel's offset = subbuf_size + 1). */
export const STALLED = 8;
/** Header bytes reserved at the start of the current sub-buffer by subbufStartReserve. */
export const RESERVE = 9;
/**
 * 1 + the absolute offset of a reservation still being filled (0: none). It is
 * published (counted in COUNT) at once; readers stop at its start until the
 * buffer's next write, reserve, flush or close clears this word.
 */
export const HOLD = 10;
/** 1 once the channel is closed: writes fail, readers drain. */
export const CLOSED = 11;
/**
 * 1 from the moment the writer takes over the oldest unread sub-buffer (overwrite mode) until a
 * reader reads or hands sub-buffers back: the kernel's produced - consumed ≥ n_subbufs after a lap,
 * which relayfs (advancing CONSUMED itself) would otherwise not see. Feeds relayBufFull and POLLIN.
 */
export const LAPPED = 12;
/** Odd while the writer side updates its 64-bit counters; stats readers retry on a change. */
export const STATS_SEQ = 13;
/** Identity of the thread holding the lock, so a dead holder can be recovered (see BufferWriter.recover). */
export const LOCKER = 14;
/** COUNT as it was when the lock was taken. */
export const LOCK_COUNT = 15;

// --- reader line
/** Sub-buffers consumed, modulo 2^31; bit 31 is held by a writer deciding whether to overwrite the oldest. */
export const CONSUMED = 16;
/** Mutual exclusion between readers (never taken by writers). */
export const READ_LOCK = 17;
/** The sub-buffer the read cursor below refers to. */
export const READ_SUBBUF = 18;
/** Bytes already read from READ_SUBBUF (counted from the sub-buffer start, header included). */
export const READ_BYTES = 19;
/** Messages already read from READ_SUBBUF, or -1 when a read stopped inside a message. */
export const READ_MSGS = 20;
/** Readers waiting in poll; the writer notifies only when this is non-zero. */
export const WAITERS = 21;
/** Live mappings (mmap) of this buffer. */
export const MAPPED = 22;
/** Header size of READ_SUBBUF when the cursor was set, for the overwritten-bytes correction. */
export const READ_RESERVE = 23;
/** GEN and PRODUCED when the lock was taken: recovery tells how far a dead holder got. */
export const LOCK_GEN = 24;
export const LOCK_PRODUCED = 25;
/** A waiting reader wants waking only once this many sub-buffers are ready (0 or 1: at every boundary). */
export const WAKE_READY = 26;
/** Bumped by the events that wake every poller whatever WAKE_READY says: flush, close, reset. */
export const FORCED = 27;
/** The word waiting readers sleep on: bumped only when a wake-up is due, not at every boundary. */
export const WAKE = 28;
/** 1 while a reader is about to sleep; the writer clears it when it wakes them (one wake-up per sleep). */
export const ARMED = 29;
/** Recovery journal: PRODUCED-to-be while a finished sub-buffer's counts are being published. */
export const FINISHING = 30;
/** Recovery journal: the held CONSUMED value while an overwrite's counts are being published. */
export const STEALING = 31;

// --- 64-bit counters as (lo, hi) Uint32 pairs; each has exactly one writer side.
export const C_MSGS = 32; // messages in finished sub-buffers (writer)
export const C_BYTES = 34; // message bytes in finished sub-buffers (writer)
export const C_DROP_FULL = 36; // dropped: buffer full in no-overwrite mode (writer)
export const C_DROP_TOOBIG = 38; // dropped: larger than a sub-buffer (writer)
export const C_DROP_REENTRANT = 40; // dropped: written from inside a callback during a switch (writer)
export const C_PRODUCED = 42; // sub-buffers produced (writer)
export const C_OVERWRITTEN = 44; // sub-buffers overwritten before they were read (writer)
export const C_OVER_MSGS = 46; // messages in those sub-buffers (writer)
export const C_OVER_BYTES = 48; // message bytes in those sub-buffers (writer)
export const C_PADDING = 50; // padding bytes at the end of finished sub-buffers (writer)
export const C_CONSUMED = 52; // sub-buffers consumed by readers (reader)
export const C_READ_BYTES = 54; // bytes copied out by read / sendfile (reader)
export const C_CORR_MSGS = 56; // messages read from a sub-buffer before it was overwritten (reader)
export const C_CORR_BYTES = 58; // bytes likewise (reader)
export const C_TORN = 60; // reads cut inside a sub-buffer that the writer then took over (reader)

// --- blocking (lossless) mode: two single words in the spare room before the slot arrays
/** Blocking mode: how long (ms) a writer that finds the buffer full waits for a reader; 0 = off. Set at relayOpen. */
export const BLOCK_MS = 62;
/** Writers asleep waiting for a reader to free a sub-buffer; readers notify CONSUMED only when non-zero. */
export const ROOM_WAITERS = 63;

// --- settings read by every thread's writer: a line of its own, written once at relayOpen
/** Batched publication: bytes a writer may copy before it publishes them with one atomic operation; 0 = every message. */
export const PUBLISH_BATCH = 64;

// --- per-sub-buffer arrays
export const SLOT_ARRAYS = 80;
export const slotPadding = (slot: number): number => SLOT_ARRAYS + slot;
export const slotMsgs = (n: number, slot: number): number => SLOT_ARRAYS + n + slot;
export const slotReserve = (n: number, slot: number): number => SLOT_ARRAYS + 2 * n + slot;

/** Bit 31 of CONSUMED: a writer holds the oldest unread sub-buffer while it decides to overwrite it. */
export const CONSUMED_HELD = 0x80000000 | 0;
export const SEQ_MASK = 0x7fffffff;

/** Largest data area: absolute offsets must fit a positive Int32. */
export const MAX_BUFFER_BYTES = 0x7fffffff - 64;
export const MAX_SUBBUFS = 1 << 20;
/** Smallest page size of the hosts relayfs runs on; touching every 4096th byte touches every page. */
const PAGE = 4096;

export interface Geometry {
  readonly subbufSize: number;
  readonly nSubbufs: number;
}

/** Bytes of control words before the data, rounded to a cache line. */
export function controlBytes(nSubbufs: number): number {
  const words = SLOT_ARRAYS + 3 * nSubbufs;
  return Math.ceil((words * 4) / 64) * 64;
}

/** Typed views of one buffer's shared memory. Cheap to rebuild in any thread. */
export class BufferMemory implements Geometry {
  readonly sab: SharedArrayBuffer;
  readonly subbufSize: number;
  readonly nSubbufs: number;
  readonly ctrl: Int32Array;
  readonly u32: Uint32Array;
  /** The whole data area: what mmap hands out. */
  readonly data: Uint8Array;
  /** One view per sub-buffer, made once so the switch path allocates nothing. */
  readonly subbufs: readonly Uint8Array[];

  constructor(sab: SharedArrayBuffer, geometry: Geometry) {
    const { subbufSize, nSubbufs } = geometry;
    const start = controlBytes(nSubbufs);
    this.sab = sab;
    this.subbufSize = subbufSize;
    this.nSubbufs = nSubbufs;
    this.ctrl = new Int32Array(sab, 0, start / 4);
    this.u32 = new Uint32Array(sab, 0, start / 4);
    this.data = new Uint8Array(sab, start, subbufSize * nSubbufs);
    const views: Uint8Array[] = [];
    for (let i = 0; i < nSubbufs; i++) views.push(this.data.subarray(i * subbufSize, (i + 1) * subbufSize));
    this.subbufs = views;
  }

  /**
   * Writes to every page of the buffer once, so that the first lap of writes
   * does not pay the page faults of fresh memory (the host maps zeroed pages
   * lazily, on first write). Writes zeros, so the contents do not change.
   */
  pretouch(): void {
    const bytes = new Uint8Array(this.sab);
    for (let at = 0; at < bytes.length; at += PAGE) bytes[at] = 0;
  }

  /** Allocates zeroed memory for a buffer; throws RangeError when the host refuses. */
  static allocate(geometry: Geometry): BufferMemory {
    const bytes = controlBytes(geometry.nSubbufs) + geometry.subbufSize * geometry.nSubbufs;
    return new BufferMemory(new SharedArrayBuffer(bytes), geometry);
  }
}

// --- 64-bit counters over two Uint32 words. Only ever called by the counter's single writer side.
export function add64(u32: Uint32Array, at: number, delta: number): void {
  const lo = u32[at]! + delta;
  if (lo > 0xffffffff) {
    u32[at] = lo - 0x100000000;
    u32[at + 1] = u32[at + 1]! + 1;
  } else {
    u32[at] = lo;
  }
}

/** Reads a 64-bit counter; callers validate with STATS_SEQ (writer side) or the read lock (reader side). */
export function read64(u32: Uint32Array, at: number): number {
  return Atomics.load(u32, at + 1) * 0x100000000 + Atomics.load(u32, at);
}

/**
 * Sub-buffer counts (PRODUCED, CONSUMED) wrap at the largest multiple of
 * n_subbufs below 2^31, so `count % n_subbufs` names the right slot across a
 * wrap and bit 31 stays free for CONSUMED_HELD.
 */
export function seqWrap(nSubbufs: number): number {
  return nSubbufs * Math.floor(0x80000000 / nSubbufs);
}

export function seqNext(a: number, wrap: number): number {
  return a + 1 === wrap ? 0 : a + 1;
}

export function seqAdd(a: number, n: number, wrap: number): number {
  return (a + n) % wrap;
}

/** How far count a is ahead of count b. */
export function seqDiff(a: number, b: number, wrap: number): number {
  return a >= b ? a - b : a - b + wrap;
}
