/**
 * The writer side of a channel buffer: relay_write, relay_reserve and the
 * sub-buffer switch, over the shared memory of layout.ts. Pure code.
 *
 * Publication protocol. The COUNT word is both the publish word and the
 * buffer's lock:
 *  - the fast path (one writer thread per buffer) copies the message, stores
 *    its end in OFFS[(k+1) & 3] and publishes it with one compare-and-swap of
 *    COUNT from k to k+1. No lock is taken.
 *  - everything else (switch, drop accounting, flush from another thread,
 *    reset, close, every write to a global buffer) first swaps COUNT to -1,
 *    which makes an in-flight fast path fail its compare-and-swap and retry.
 *    The bytes it had copied lie past the published end and are never read.
 * A reader pairs COUNT with OFFS[COUNT & 3]; the four slots let it finish its
 * snapshot while the writer publishes two more messages.
 *
 * A reservation is published like a write, with HOLD set to its start before
 * the compare-and-swap, so readers stop there while the caller fills it; the
 * next write or reserve (fast path or locked), flush, switch or close clears
 * HOLD. So relayReserveOffset costs what relayWrite does, without the lock.
 *
 * Batched publication (opt-in, PUBLISH_BATCH): the owner copies messages past
 * the published end and publishes them together, with one compare-and-swap
 * once a batch reaches PUBLISH_BATCH bytes, and before anything else it does
 * to the buffer; a microtask publishes the rest at the end of its current
 * job. The compare-and-swap is a locked instruction that waits for the
 * message's stores to reach the cache: once per message it cost 12-31 % of
 * the rate end to end at 16-256 B (docs/performance.md). A batch whose
 * sub-buffer another thread switched meanwhile (a flush) is written again,
 * message by message, under the lock, so nothing is lost or counted twice.
 */
import {
  type BufferMemory,
  C_BYTES,
  C_CONSUMED,
  C_DROP_FULL,
  C_DROP_REENTRANT,
  C_DROP_TOOBIG,
  C_MSGS,
  C_OVER_BYTES,
  C_OVER_MSGS,
  C_OVERWRITTEN,
  C_PADDING,
  C_PRODUCED,
  CLOSED,
  CONSUMED,
  CONSUMED_HELD,
  COUNT,
  FINISHING,
  FORCED,
  GEN,
  LAPPED,
  LIMIT,
  LOCK_COUNT,
  LOCK_GEN,
  LOCK_PRODUCED,
  LOCKER,
  OFFS,
  HOLD,
  PRODUCED,
  RESERVE,
  SLOT_ARRAYS,
  SEQ_MASK,
  STALLED,
  STATS_SEQ,
  STEALING,
  WAITERS,
  WAKE_READY,
  WAKE,
  ARMED,
  BLOCK_MS,
  ROOM_WAITERS,
  PUBLISH_BATCH,
  add64,
  seqDiff,
  seqNext,
  seqWrap,
  slotMsgs,
  slotPadding,
  slotReserve,
} from './layout.js';
import { RelayError } from '../errors.js';

/** The spec's subbuf_start, bound to one buffer by the channel. Returns whether to switch. */
export type SubbufStart = (subbuf: Uint8Array, prevSubbuf: Uint8Array | null, prevPadding: number) => boolean | number;

/** Messages of at most this many bytes are copied in a loop: TypedArray.set has a fixed cost per call. */
const SMALL_COPY = 48;
/** A byte loop beats TypedArray.set up to about this length; above it, only a word loop does. */
const BYTE_LOOP_MAX = 16;
/**
 * TypedArray.set into shared memory copies word by word only when source and
 * target addresses agree modulo 8, else byte by byte (V8's relaxed copy):
 * ~6× slower at 4 KiB. From this length on, such a message goes through a
 * staging buffer placed to agree with the target: two fast copies instead.
 */
const STAGE_FROM = 128;
/** Below this, staging only when it allocates nothing: a view costs more than it saves on a short copy. */
const STAGE_ALLOCATING_FROM = 1024;

/**
 * This thread's staging buffer for misaligned copies (writes in one thread
 * never overlap). It grows to the largest message staged, at most a
 * sub-buffer, and is kept for the thread's life.
 */
class Staging {
  private bytes = new Uint8Array(0);
  private view = this.bytes;
  private viewShift = -1;

  /** Copies src[0, length) to data at off through the staging buffer; false (nothing copied) when that would not pay. */
  copy(src: Uint8Array, length: number, data: Uint8Array, off: number): boolean {
    const shift = (data.byteOffset + off) & 7; // a fresh ArrayBuffer starts 8-aligned
    // One view per (shift, length), kept: fixed-size messages allocate nothing after the first.
    const fits = shift === this.viewShift && this.view.length === length;
    if (!(fits && length === src.length) && length < STAGE_ALLOCATING_FROM) return false;
    if (!fits) {
      if (this.bytes.length < shift + length) this.bytes = new Uint8Array(Math.max(length + 8, 2 * this.bytes.length));
      this.view = this.bytes.subarray(shift, shift + length);
      this.viewShift = shift;
    }
    this.view.set(length === src.length ? src : src.subarray(0, length));
    data.set(this.view, off);
    return true;
  }
}
const staging = new Staging();
const SPINS_BEFORE_SLEEP = 64;

/** Most messages in one publication batch: their ends are kept, to write them again if another thread switched. */
const MAX_BATCH_MESSAGES = 1024;
/**
 * Larger messages are published one by one even in batched mode: their copy
 * outweighs the atomic operation, and batching 4 KiB messages measured
 * 10-30 % slower end to end (docs/performance.md).
 */
const BATCH_MESSAGE_MAX = 512;

/** queueMicrotask where the host has it (every web and server runtime), else a promise job. */
const queueTask: (task: () => void) => void =
  typeof (globalThis as { queueMicrotask?: unknown }).queueMicrotask === 'function'
    ? (globalThis as unknown as { queueMicrotask: (task: () => void) => void }).queueMicrotask.bind(globalThis)
    : (task) => void Promise.resolve().then(task);

/** Who this thread is, in LOCKER: a random id unless the host sets one (Node: the threadId). */
let writerIdentity = ((Math.random() * 0x7ffffffe) | 0) + 1;

/** Sets this thread's identity for lock recovery; the host calls it once per thread. */
export function setWriterIdentity(id: number): void {
  writerIdentity = id;
}

let mayBlock = true;
/**
 * Whether writers in this thread may wait for room in blocking mode. The host
 * sets it (Node: false on the main thread, whose event loop must never stall
 * behind a reader that may itself need that loop); a thread where Atomics.wait
 * throws (a browser main thread) finds out by itself. Where it is false a full
 * buffer drops and counts at once, as in non-blocking mode.
 */
export function setWriterMayBlock(allowed: boolean): void {
  mayBlock = allowed;
}

/** Atomics.pause where the runtime has it (Node 22+): a spin-wait hint to the CPU; else nothing. */
export const spinPause: () => void = typeof (Atomics as { pause?: () => void }).pause === 'function' ? (Atomics as unknown as { pause: () => void }).pause : () => {};

/** Polls for room before a blocked writer sleeps: a draining reader frees a sub-buffer within microseconds. */
const ROOM_SPINS = 200;
/** Longest sleep of a writer waiting for room before it looks at CLOSED again (ms). */
const CLOSE_CHECK_MS = 20;

/** prepare() outcomes. */
const ROOM = 1;
const DROPPED = 0;
const WAIT = 2;

let canSleep = true;
/** Backs off while another thread holds the buffer lock. */
function pause(ctrl: Int32Array, spins: number): void {
  if (spins < SPINS_BEFORE_SLEEP || !canSleep) return;
  try {
    Atomics.wait(ctrl, COUNT, -1, 0.05);
  } catch {
    canSleep = false; // a browser main thread may not block; keep spinning
  }
}

export class BufferWriter {
  readonly mem: BufferMemory;
  private readonly ctrl: Int32Array;
  private readonly u32: Uint32Array;
  private readonly data: Uint8Array;
  /** data.byteOffset, read once: the getter costs as much as a 16-byte copy. */
  private readonly dataOffset: number;
  /** The data area as words (it starts on a cache line), for small messages from a 4-aligned source. */
  private readonly data32: Int32Array;
  private readonly subbufSize: number;
  private readonly nSubbufs: number;
  private readonly wrap: number;
  private readonly subbufStart: SubbufStart;
  /** True while this thread runs subbufStart for this buffer (and so holds its lock). */
  private inSwitch = false;
  /** True during the first subbufStart of a switch, before PRODUCED counts the sub-buffer just finished. */
  private producePending = false;
  /** Header size asked for by subbufStartReserve during the running subbufStart. */
  private nextReserve = 0;

  /**
   * @param holdWhenFull false only for a subbufStart known to write nothing
   *   when it refuses (the kernel's default): then a full buffer's oldest
   *   sub-buffer need not be held while it decides, so a writer retrying a
   *   stalled switch does not contend with the readers draining it.
   */
  constructor(
    mem: BufferMemory,
    subbufStart: SubbufStart,
    private readonly holdWhenFull = true,
  ) {
    this.mem = mem;
    this.ctrl = mem.ctrl;
    this.u32 = mem.u32;
    this.data = mem.data;
    this.dataOffset = mem.data.byteOffset;
    this.data32 = new Int32Array(mem.data.buffer, mem.data.byteOffset, mem.data.length >> 2);
    this.subbufSize = mem.subbufSize;
    this.nSubbufs = mem.nSubbufs;
    this.wrap = seqWrap(mem.nSubbufs);
    this.subbufStart = subbufStart;
    this.setBatch(Atomics.load(mem.ctrl, PUBLISH_BATCH));
  }

  /**
   * Writes one message; returns false when it was dropped (and counted).
   * The caller is the buffer's only writer, or holds a lock of its own.
   */
  write(src: Uint8Array, length: number): boolean {
    if (this.pending !== 0) return this.writeBatched(src, length);
    const c = this.ctrl;
    const k = c[COUNT]!;
    const off = c[OFFS + (k & 3)]!;
    const end = off + length;
    const limit = c[LIMIT]!;
    // off below the limit's sub-buffer: another thread switched between our
    // loads; copying now could spill into the new sub-buffer's header.
    if (end > limit || off < limit - this.subbufSize || k < 0) return this.writeLocked(src, length);
    this.copy(src, length, off);
    if (this.batchBytes !== 0 && length <= BATCH_MESSAGE_MAX) return this.beginBatch(k, off, end, limit);
    c[OFFS + ((k + 1) & 3)] = end;
    if (c[HOLD] !== 0) Atomics.store(c, HOLD, 0); // the reservation before is filled; atomic, so a reader that sees the hold gone sees its bytes
    if (Atomics.compareExchange(c, COUNT, k, k + 1) !== k) return this.writeLocked(src, length);
    return true;
  }

  /** Writes one message under the buffer lock: the global-buffer path and every slow path. */
  writeLocked(src: Uint8Array, length: number): boolean {
    if (this.pending !== 0) this.publishPending();
    for (let deadline = 0; ;) {
      if (this.lock() < 0) return this.dropReentrant();
      try {
        const room = this.prepare(length, deadline >= 0);
        if (room === DROPPED) return false;
        if (room === ROOM) {
          const k = this.held;
          const off = this.ctrl[OFFS + (k & 3)]!;
          this.copy(src, length, off);
          this.ctrl[OFFS + ((k + 1) & 3)] = off + length;
          this.held = k + 1;
          return true;
        }
      } finally {
        this.unlock();
      }
      deadline = this.awaitRoom(deadline); // blocking mode, full: wait outside the lock, then retry
    }
  }

  /**
   * Reserves `length` bytes for the caller to fill; returns their offset in
   * `mem.data`, or -1 when the reservation was dropped (and counted). The
   * slot is counted at once and readable from this buffer's next write,
   * reserve, flush or close on, so a reader never sees it half filled.
   */
  reserve(length: number): number {
    if (this.pending !== 0) this.publishPending();
    const c = this.ctrl;
    const k = c[COUNT]!;
    const off = c[OFFS + (k & 3)]!;
    const limit = c[LIMIT]!;
    // Zero-length reservations take the locked path: on a stalled buffer they have kernel quirks of their own.
    if (length > 0 && off + length <= limit && off >= limit - this.subbufSize && k >= 0) {
      c[HOLD] = off + 1; // replaces the previous reservation's hold: that one is filled
      c[OFFS + ((k + 1) & 3)] = off + length;
      if (Atomics.compareExchange(c, COUNT, k, k + 1) === k) return off;
      // Lost to another thread's flush: the locked path sets HOLD again (or a reader saw it at our old end, where it stops nothing).
    }
    return this.reserveLocked(length);
  }

  /** reserve() under the buffer lock: the global-buffer path and every slow path. */
  reserveLocked(length: number): number {
    if (this.pending !== 0) this.publishPending();
    for (let deadline = 0; ; deadline = this.awaitRoom(deadline)) {
      if (this.lock() < 0) {
        this.dropReentrant();
        return -1;
      }
      try {
        const off = this.reserveHeld(length, deadline >= 0);
        if (off !== -2) return off;
      } finally {
        this.unlock();
      }
    }
  }

  /** reserve() under the lock: the offset, -1 when dropped, -2 to wait for room (blocking mode). */
  private reserveHeld(length: number, mayWait: boolean): number {
    const c = this.ctrl;
    const stalled = c[STALLED] === 1;
    const room = this.prepare(length, mayWait);
    if (room === DROPPED) return -1;
    if (room === WAIT) return -2;
    const off = c[OFFS + (this.held & 3)]!;
    // The kernel's relay_reserve(0) on a stalled buffer retries the switch
    // but returns NULL even when it succeeds (length 0 reads as failure).
    if (length === 0 && stalled) {
      this.drop(C_DROP_FULL);
      return -1;
    }
    if (length > 0) c[HOLD] = off + 1; // readers stop here until the caller has filled it
    c[OFFS + ((this.held + 1) & 3)] = off + length;
    this.held++;
    return off;
  }

  /**
   * relay_flush for this buffer: publishes a pending reservation and, when the
   * current sub-buffer holds messages, switches so that it becomes readable.
   * Safe from any thread. Returns false when called from inside subbufStart.
   */
  flush(): boolean {
    if (this.inSwitch) return false;
    this.publishPending();
    if (this.lock() < 0) return false;
    try {
      if (this.ctrl[CLOSED]) return true;
      this.releaseHold();
      if (!this.ctrl[STALLED] && this.held > 0) this.switchSubbuf();
    } finally {
      this.unlock();
    }
    this.signal(); // after unlock: a woken reader must find the buffer free
    return true;
  }

  /**
   * Initial state: positions and writer counters zeroed, subbufStart called
   * for the first sub-buffer. `clearReader` runs under the lock to reset the
   * reader side at the same moment.
   */
  reset(clearReader: () => void): void {
    if (this.inSwitch) throw new RelayError('ERELAY_INVALID_ARG', 'relayReset cannot run inside subbufStart');
    this.pending = 0; // written before the reset: discarded with everything else
    this.lock();
    try {
      const c = this.ctrl;
      for (const at of [PRODUCED, STALLED, RESERVE, HOLD, LAPPED]) c[at] = 0;
      for (let at = C_MSGS; at < C_CONSUMED; at++) c[at] = 0;
      for (let at = SLOT_ARRAYS; at < c.length; at++) c[at] = 0;
      clearReader();
      this.startFirst();
      this.held = 0;
    } finally {
      this.unlock();
    }
    Atomics.notify(this.ctrl, CONSUMED); // writers waiting for room (blocking mode) find it
  }

  /** Called once when the buffer is created: subbufStart for the first sub-buffer, prev null. */
  init(): void {
    this.lock();
    try {
      this.startFirst();
    } finally {
      this.unlock();
    }
  }

  /** Marks the buffer closed: later writes throw, readers drain what is there. */
  close(): void {
    if (!this.inSwitch) this.publishPending();
    const reentrant = this.lock() < 0; // inside subbufStart the outer switch holds the lock
    try {
      if (!reentrant) this.releaseHold();
      this.ctrl[CLOSED] = 1;
      Atomics.add(this.ctrl, GEN, 1);
    } finally {
      if (!reentrant) this.unlock();
    }
    this.signal(); // after unlock: a reader woken by the hang-up must be able to read the tail
    Atomics.notify(this.ctrl, CONSUMED); // writers waiting for room (blocking mode) give up
  }

  /**
   * After the thread with identity `id` died (a terminated worker): if it
   * died holding this buffer's lock, release it so what was written stays
   * readable. Returns whether anything was recovered.
   */
  recover(id: number): boolean {
    const c = this.ctrl;
    if (Atomics.load(c, COUNT) !== -1 || Atomics.load(c, LOCKER) !== id) return false;
    // A finished sub-buffer whose counts were published but not PRODUCED.
    const lockProduced = c[LOCK_PRODUCED]!;
    if (c[PRODUCED] === lockProduced && c[FINISHING] === seqNext(lockProduced, this.wrap) && c[GEN] === c[LOCK_GEN]) {
      Atomics.store(c, PRODUCED, c[FINISHING]!);
    }
    // An overwrite counted but not released: release it; any other hold is undone.
    const consumed = Atomics.load(c, CONSUMED);
    if (consumed & CONSUMED_HELD) {
      const held = consumed & SEQ_MASK;
      const stolen = c[STEALING] === held;
      if (stolen) c[LAPPED] = 1;
      Atomics.store(c, CONSUMED, stolen ? seqNext(held, this.wrap) : held);
    }
    if (Atomics.load(c, STATS_SEQ) & 1) Atomics.add(c, STATS_SEQ, 1);
    // A switch it had begun: a new sub-buffer has no messages yet; one only
    // finished is left stalled, so nobody reads past its end.
    let count = c[LOCK_COUNT]!;
    if (c[GEN] !== c[LOCK_GEN]) count = 0;
    else if (c[PRODUCED] !== c[LOCK_PRODUCED]) c[STALLED] = 1;
    Atomics.add(c, GEN, 1);
    c[LIMIT] = -1;
    Atomics.store(c, COUNT, count);
    this.signal();
    return true;
  }

  /**
   * relay_buf_full: every sub-buffer is unconsumed, counting one just finished
   * by a running switch; in overwrite mode also from a lap until a reader
   * reads (the kernel's consumed count stays behind at a lap, relayfs's moves).
   */
  isFull(): boolean {
    let produced = Atomics.load(this.ctrl, PRODUCED);
    if (this.producePending) produced = seqNext(produced, this.wrap);
    const consumed = Atomics.load(this.ctrl, CONSUMED) & SEQ_MASK;
    return seqDiff(produced, consumed, this.wrap) >= this.nSubbufs || Atomics.load(this.ctrl, LAPPED) === 1;
  }

  /** Blocking mode: a writer that finds the buffer full waits up to `ms` for a reader (0: never waits). */
  setBlockingTimeout(ms: number): void {
    Atomics.store(this.ctrl, BLOCK_MS, ms);
  }

  get blockingTimeoutMs(): number {
    return Atomics.load(this.ctrl, BLOCK_MS);
  }

  /**
   * Batched publication for every writer of this buffer (set at relayOpen,
   * before any other thread attaches): publish once per `bytes` copied
   * instead of per message (0: per message). A batch never crosses a
   * sub-buffer. Writers made later read it from the buffer.
   */
  setPublishBatch(bytes: number): void {
    Atomics.store(this.ctrl, PUBLISH_BATCH, bytes);
    this.setBatch(bytes);
  }

  get publishBatchBytes(): number {
    return this.batchBytes;
  }

  /**
   * Publishes the messages this thread has copied but not yet published
   * (batched publication); does nothing when there are none. Runs by itself
   * at the end of the job that wrote them, and before any other operation of
   * this thread on the buffer.
   */
  publishPending(): void {
    const m = this.pending;
    if (m === 0) return;
    if ((m & 3) === 1) this.publish();
    else this.publishLocked();
  }

  /** subbuf_start_reserve: only meaningful inside subbufStart. */
  startReserve(length: number): void {
    if (!this.inSwitch) throw new RelayError('ERELAY_INVALID_ARG', 'subbufStartReserve may only be called from subbufStart');
    if (!Number.isInteger(length) || length < 0 || length >= this.subbufSize - 1) {
      throw new RelayError('ERELAY_INVALID_ARG', `subbufStartReserve length must be a whole number below subbufSize - 1 (${this.subbufSize - 1}), got ${length}`);
    }
    this.nextReserve = length;
  }

  // ---------------------------------------------------------------- internals

  // Batched publication: the batch is pending messages copied to [pendStart, pendEnd), not yet counted in COUNT.
  private batchBytes = 0;
  /** Messages copied and not yet published. */
  private pending = 0;
  /** COUNT when the batch began (nothing else moves it while this thread owns the buffer, bar a flush's switch). */
  private pendK = 0;
  private pendStart = 0;
  private pendEnd = 0;
  /** End of the batch's sub-buffer: a message that does not fit ends the batch. */
  private pendLimit = 0;
  /** pendStart + batchBytes: the batch is published at the first count of 1 mod 4 messages from here on. */
  private publishAt = 0;
  /** End offset of each pending message, to write them again one by one when the sub-buffer was switched under them. */
  private ends = new Int32Array(0);
  private taskQueued = false;
  private readonly publishTask = (): void => {
    this.taskQueued = false;
    this.publishPending();
  };

  private setBatch(bytes: number): void {
    this.publishPending();
    this.batchBytes = bytes;
    if (bytes !== 0 && this.ends.length === 0) this.ends = new Int32Array(MAX_BATCH_MESSAGES);
  }

  /** write() while a batch is open: the message joins it if it fits in the batch's sub-buffer. */
  private writeBatched(src: Uint8Array, length: number): boolean {
    const n = this.pending;
    const off = this.pendEnd;
    const end = off + length;
    if (end > this.pendLimit || n === MAX_BATCH_MESSAGES || length > BATCH_MESSAGE_MAX) {
      this.publishPending(); // the message goes to the next sub-buffer, or on its own: the batch goes first
      return this.write(src, length);
    }
    this.copy(src, length, off);
    this.ends[n] = end;
    this.pendEnd = end;
    this.pending = n + 1;
    // Published only at a count of 1 mod 4 messages: see publish().
    if (end >= this.publishAt && (n & 3) === 0) this.publish();
    return true;
  }

  /** The message just copied to [off, end) starts a batch instead of being published. */
  private beginBatch(k: number, off: number, end: number, limit: number): true {
    this.releaseHold(); // the reservation before is filled
    this.pendK = k;
    this.pendStart = off;
    this.pendEnd = end;
    this.pendLimit = limit;
    this.publishAt = off + this.batchBytes;
    this.ends[0] = end;
    this.pending = 1;
    if (!this.taskQueued) {
      this.taskQueued = true;
      queueTask(this.publishTask);
    }
    return true;
  }

  /**
   * Publishes the batch with one compare-and-swap of COUNT, from pendK to
   * pendK + m. Only for m = 1 mod 4: a reader pairs COUNT k with OFFS[k & 3]
   * and accepts the pair if COUNT has moved at most 2 when it looks again, so
   * the slot written must be (k + 1) & 3, the one no accepted pair uses.
   */
  private publish(): void {
    const c = this.ctrl;
    const k = this.pendK;
    const m = this.pending;
    c[OFFS + ((k + m) & 3)] = this.pendEnd;
    if (Atomics.compareExchange(c, COUNT, k, k + m) === k) {
      this.pending = 0;
      return;
    }
    this.publishLocked(); // another thread holds the lock, or switched the sub-buffer
  }

  /**
   * Publishes the batch under the lock, where a count of any size is safe
   * (readers see the lock). If another thread switched the sub-buffer since
   * the batch began (a flush), its messages lie past that sub-buffer's
   * recorded end: they are written again, one by one, as locked writes.
   */
  private publishLocked(): void {
    const m = this.pending;
    const k = this.pendK;
    const start = this.pendStart;
    const end = this.pendEnd;
    this.pending = 0;
    let saved: Uint8Array | null = null;
    let ends: Int32Array | null = null;
    for (let i = 0, deadline = 0; ; deadline = this.awaitRoom(deadline)) {
      if (this.lock() < 0) throw new RelayError('ERELAY_INVALID_ARG', 'a batch cannot be published inside subbufStart'); // never: a switch publishes first
      try {
        const c = this.ctrl;
        if (saved === null) {
          if (this.held === k && c[OFFS + (k & 3)] === start) {
            c[OFFS + ((k + m) & 3)] = end;
            this.held = k + m;
            return;
          }
          // Copied out first: the writes below may land on the same memory (one sub-buffer, or a reset).
          saved = this.data.slice(start, end);
          ends = this.ends.slice(0, m);
        }
        i = this.rewrite(saved, ends!, start, i, deadline >= 0);
        if (i === m) return;
      } finally {
        this.unlock();
      }
    }
  }

  /** Under the lock: writes batch messages from, returns where it stopped to wait for room (blocking mode), or ends.length. */
  private rewrite(saved: Uint8Array, ends: Int32Array, start: number, from: number, mayWait: boolean): number {
    const c = this.ctrl;
    this.restoreFirstEnd();
    for (let i = from; i < ends.length; i++) {
      const at = (i === 0 ? start : ends[i - 1]!) - start;
      const length = ends[i]! - start - at;
      if (c[CLOSED]) {
        this.drop(C_DROP_FULL); // closed by another thread before they were published: counted, never lost unseen
        continue;
      }
      const room = this.prepare(length, mayWait);
      if (room === WAIT) return i;
      if (room === DROPPED) continue;
      const off = c[OFFS + (this.held & 3)]!;
      this.data.set(saved.subarray(at, at + length), off);
      c[OFFS + ((this.held + 1) & 3)] = off + length;
      this.held++;
    }
    return ends.length;
  }

  /** While this thread holds the lock: the COUNT that unlock() will publish. */
  private held = 0;

  /** The last source of STAGE_FROM bytes or more and its byteOffset (fixed for a view's life): a writer reusing one source reads the getter once. */
  private lastSrc: Uint8Array | null = null;
  private lastSrcOffset = 0;

  /**
   * A small source written twice in a row, viewed as words (null: not
   * 4-aligned); the one seen once before it. A view is made only for a source
   * that is reused, so a writer with a fresh source per message allocates nothing.
   */
  private smallSrc: Uint8Array | null = null;
  private smallSrc32: Int32Array | null = null;
  private smallCandidate: Uint8Array | null = null;

  private copy(src: Uint8Array, length: number, off: number): void {
    const data = this.data;
    if (length <= SMALL_COPY) {
      let i = 0;
      if (src === this.smallSrc) {
        const src32 = this.smallSrc32;
        if (src32 !== null && (off & 3) === 0) {
          // A word at a time: 4× fewer stores (0.6× the time of a byte loop at 16 B, of TypedArray.set at 48 B).
          const words = this.data32;
          const at = off >> 2;
          const n = length >> 2;
          for (; i < n; i++) words[at + i] = src32[i]!;
          i <<= 2;
        }
      } else {
        this.noteSmall(src);
      }
      if (i === 0 && length > BYTE_LOOP_MAX && length === src.length) return void data.set(src, off);
      for (; i < length; i++) data[off + i] = src[i]!;
    } else if (
      length >= STAGE_FROM &&
      ((this.offsetOf(src) - this.dataOffset - off) & 7) !== 0 &&
      !(src.buffer instanceof SharedArrayBuffer) &&
      staging.copy(src, length, data, off)
    ) {
      // copied
    } else if (length === src.length) {
      data.set(src, off);
    } else {
      data.set(src.subarray(0, length), off);
    }
  }

  private noteSmall(src: Uint8Array): void {
    if (src !== this.smallCandidate) {
      this.smallCandidate = src;
      return;
    }
    this.smallSrc = src;
    // A detached source has length 0: no view.
    this.smallSrc32 = (src.byteOffset & 3) === 0 && src.length >= 4 ? new Int32Array(src.buffer, src.byteOffset, src.length >> 2) : null;
  }

  private offsetOf(src: Uint8Array): number {
    if (src !== this.lastSrc) {
      this.lastSrc = src;
      this.lastSrcOffset = src.byteOffset;
    }
    return this.lastSrcOffset;
  }

  /** Takes the buffer lock; returns the COUNT it replaced, or -1 when this thread already holds it. */
  private lock(): number {
    const c = this.ctrl;
    for (let spins = 0; ; spins++) {
      const k = Atomics.load(c, COUNT);
      if (k >= 0) {
        if (Atomics.compareExchange(c, COUNT, k, -1) === k) {
          this.held = k;
          c[LOCKER] = writerIdentity;
          c[LOCK_COUNT] = k;
          c[LOCK_GEN] = c[GEN]!;
          c[LOCK_PRODUCED] = c[PRODUCED]!;
          return k;
        }
      } else if (this.inSwitch) {
        return -1;
      } else {
        pause(c, spins);
      }
    }
  }

  /** Releases the lock, publishing `held` messages, and sets the fast-path gate. */
  private unlock(): void {
    const c = this.ctrl;
    const blocked = c[STALLED] || c[CLOSED];
    c[LIMIT] = blocked ? -1 : this.currentEnd();
    Atomics.store(c, COUNT, this.held);
  }

  /** Absolute end of the current sub-buffer. */
  private currentEnd(): number {
    return ((this.ctrl[PRODUCED]! % this.nSubbufs) + 1) * this.subbufSize;
  }

  /**
   * Under the lock: makes room for `length` bytes at OFFS[held & 3], switching
   * sub-buffers if needed. Returns false when the message is dropped (counted).
   */
  private prepare(length: number, mayWait: boolean): number {
    const c = this.ctrl;
    if (c[CLOSED]) throw new RelayError('ERELAY_CLOSED', 'write to a closed channel');
    this.restoreFirstEnd();
    this.releaseHold();
    if (!c[STALLED] && c[OFFS + (this.held & 3)]! + length <= this.currentEnd()) return ROOM;
    if (length > this.subbufSize - c[RESERVE]!) return this.drop(C_DROP_TOOBIG);
    // Looked at before the switch: a reader may free a sub-buffer right after a refusal,
    // and that refusal was still for want of room (waiting then returns at once, and the retry switches).
    const full = this.nextIsUnread();
    if (!this.switchSubbuf()) {
      // Blocking mode: a switch refused because every sub-buffer was unread waits for a reader;
      // one that subbufStart refused with room to spare is its own decision, dropped.
      if (mayWait && mayBlock && c[BLOCK_MS]! > 0 && full) return WAIT;
      return this.drop(C_DROP_FULL);
    }
    // A header larger than the last one can leave too little room.
    if (c[OFFS]! + length > this.currentEnd()) return this.drop(C_DROP_TOOBIG);
    return ROOM;
  }

  /**
   * A fast path (or batch) that lost its compare-and-swap to another thread's
   * flush has already stored its end into OFFS[(k+m) & 3], which after that
   * flush's switch can be the new sub-buffer's OFFS[0]. Nothing is published
   * there yet, so its true value is known: put it back. Under the lock.
   */
  private restoreFirstEnd(): void {
    const c = this.ctrl;
    if (this.held === 0 && !c[STALLED]) c[OFFS] = (c[PRODUCED]! % this.nSubbufs) * this.subbufSize + c[RESERVE]!;
  }

  /** The sub-buffer a switch would move to is still unread: the switch can only be refused, or overwrite. */
  private nextIsUnread(): boolean {
    const c = this.ctrl;
    const produced = Atomics.load(c, PRODUCED);
    const next = c[STALLED] ? produced : seqNext(produced, this.wrap);
    return seqDiff(next, Atomics.load(c, CONSUMED) & SEQ_MASK, this.wrap) >= this.nSubbufs;
  }

  /** At least one sub-buffer is consumed (or was never used): a refused switch may now succeed. */
  private hasRoom(): boolean {
    const consumed = Atomics.load(this.ctrl, CONSUMED) & SEQ_MASK;
    return seqDiff(Atomics.load(this.ctrl, PRODUCED), consumed, this.wrap) < this.nSubbufs;
  }

  /**
   * Blocking mode, outside the lock: waits until a reader frees a sub-buffer,
   * the channel closes or is reset, or the deadline (0: BLOCK_MS from now)
   * passes. Returns the deadline for the retry, or -1 when time is up: the
   * retry then drops and counts if the buffer is still full.
   */
  private awaitRoom(deadline: number): number {
    const c = this.ctrl;
    if (deadline === 0) deadline = performance.now() + c[BLOCK_MS]!;
    for (let i = 0; i < ROOM_SPINS; i++) {
      if (this.hasRoom() || Atomics.load(c, CLOSED)) return deadline;
      spinPause();
    }
    // Readers notify CONSUMED after moving it when ROOM_WAITERS is non-zero:
    // counted in before the check, so a reader either sees us or we see its move.
    Atomics.add(c, ROOM_WAITERS, 1);
    try {
      for (;;) {
        const consumed = Atomics.load(c, CONSUMED);
        if (this.hasRoom() || Atomics.load(c, CLOSED)) return deadline;
        const left = deadline - performance.now();
        if (left <= 0) return -1;
        try {
          // A reader's move changes CONSUMED, so that wake-up is never missed. Close and reset do not
          // change it: one that lands between the check above and this wait is seen at the next slice.
          Atomics.wait(c, CONSUMED, consumed, Math.min(left, CLOSE_CHECK_MS));
        } catch {
          mayBlock = false; // this thread may not block: drop from now on
          return -1;
        }
      }
    } finally {
      Atomics.sub(c, ROOM_WAITERS, 1);
    }
  }

  /** The last reservation is filled (or given up on: flush, close): readers may read it. */
  private releaseHold(): void {
    if (this.ctrl[HOLD] !== 0) Atomics.store(this.ctrl, HOLD, 0); // atomic: a reader that sees the hold gone also sees the caller's bytes
  }

  /**
   * relay_switch_subbuf, under the lock. Finishes the current sub-buffer
   * (unless a refused switch already did), asks subbufStart, and on yes moves
   * to the next one, taking over the oldest unread sub-buffer when the buffer
   * is full (overwrite mode). Returns whether the switch happened.
   */
  private switchSubbuf(): boolean {
    const c = this.ctrl;
    const n = this.nSubbufs;
    const size = this.subbufSize;
    const k = this.held;
    const stalled = c[STALLED] === 1;
    const produced = c[PRODUCED]!;
    const next = stalled ? produced : seqNext(produced, this.wrap);
    const prevSlot = (next + n - 1) % n;
    const newSlot = next % n;
    const prevPadding = stalled ? c[slotPadding(prevSlot)]! : (prevSlot + 1) * size - c[OFFS + (k & 3)]!;

    const held = this.holdWhenFull ? this.holdOldest(next) : -1;
    this.producePending = !stalled;
    this.nextReserve = 0;
    this.inSwitch = true;
    let accepted = false;
    try {
      accepted = this.subbufStart(this.mem.subbufs[newSlot]!, this.mem.subbufs[prevSlot]!, prevPadding) ? true : false;
    } finally {
      this.inSwitch = false;
      this.producePending = false;
      if (!stalled) this.finishSubbuf(prevSlot, k, prevPadding, next);
      if (!accepted) {
        c[STALLED] = 1;
        if (held >= 0) Atomics.store(c, CONSUMED, held);
      }
    }
    if (!accepted) {
      // The old sub-buffer is finished. COUNT must not return to k: an owner's
      // fast path racing this (flush from another thread) would then publish a
      // message into it, past its recorded end, where no reader looks.
      this.held = 0;
      return false;
    }
    if (held >= 0) this.overwrite(held, newSlot);
    this.beginSubbuf(newSlot);
    this.held = 0;
    return true;
  }

  /** In overwrite mode: marks the oldest unread sub-buffer held so no reader commits a copy of it. */
  private holdOldest(next: number): number {
    const c = this.ctrl;
    for (;;) {
      const consumed = Atomics.load(c, CONSUMED);
      if (seqDiff(next, consumed, this.wrap) < this.nSubbufs) return -1;
      if (Atomics.compareExchange(c, CONSUMED, consumed, consumed | CONSUMED_HELD) === consumed) return consumed;
    }
  }

  private finishSubbuf(slot: number, k: number, padding: number, produced: number): void {
    const c = this.ctrl;
    const u = this.u32;
    const n = this.nSubbufs;
    const bytes = this.subbufSize - padding - c[slotReserve(n, slot)]!;
    c[slotPadding(slot)] = padding;
    c[slotMsgs(n, slot)] = k;
    this.beginStats();
    add64(u, C_PADDING, padding);
    add64(u, C_PRODUCED, 1);
    // A worker can be terminated at any call, builtins included. FINISHING,
    // stored with plain statements just before the counts, tells recover()
    // that the counts are in and only the PRODUCED store may be missing.
    c[FINISHING] = produced;
    let lo = u[C_MSGS]! + k;
    if (lo > 0xffffffff) {
      lo -= 0x100000000;
      u[C_MSGS + 1]!++;
    }
    u[C_MSGS] = lo;
    lo = u[C_BYTES]! + bytes;
    if (lo > 0xffffffff) {
      lo -= 0x100000000;
      u[C_BYTES + 1]!++;
    }
    u[C_BYTES] = lo;
    Atomics.store(c, PRODUCED, produced);
    this.endStats();
    this.signal(false);
  }

  private overwrite(held: number, slot: number): void {
    const c = this.ctrl;
    const u = this.u32;
    const n = this.nSubbufs;
    const msgs = c[slotMsgs(n, slot)]!;
    const next = seqNext(held, this.wrap);
    this.beginStats();
    add64(u, C_OVERWRITTEN, 1);
    add64(u, C_OVER_BYTES, this.subbufSize - c[slotPadding(slot)]! - c[slotReserve(n, slot)]!);
    // STEALING, stored with plain statements just before the count, tells
    // recover() that these messages are counted lost, so it completes the
    // release instead of handing them to a reader too.
    c[STEALING] = held;
    const lo = u[C_OVER_MSGS]! + msgs;
    if (lo > 0xffffffff) {
      u[C_OVER_MSGS] = lo - 0x100000000;
      u[C_OVER_MSGS + 1]!++;
    } else u[C_OVER_MSGS] = lo;
    c[LAPPED] = 1; // before the release: a reader that sees the new CONSUMED sees the lap
    Atomics.store(c, CONSUMED, next); // releases the hold
    this.endStats();
  }

  private beginSubbuf(slot: number): void {
    const c = this.ctrl;
    const n = this.nSubbufs;
    const reserve = this.nextReserve;
    c[STALLED] = 0;
    c[RESERVE] = reserve;
    c[slotReserve(n, slot)] = reserve;
    c[slotPadding(slot)] = 0;
    c[slotMsgs(n, slot)] = 0;
    c[OFFS] = slot * this.subbufSize + reserve;
    Atomics.add(c, GEN, 1);
  }

  private startFirst(): void {
    this.ctrl[FINISHING] = -1; // recovery journal: nothing in progress
    this.ctrl[STEALING] = -1;
    this.nextReserve = 0;
    this.inSwitch = true;
    try {
      this.subbufStart(this.mem.subbufs[0]!, null, 0); // the kernel ignores this return value
    } finally {
      this.inSwitch = false;
    }
    this.beginSubbuf(0);
    this.signal();
  }

  private drop(counter: number): typeof DROPPED {
    this.beginStats();
    add64(this.u32, counter, 1);
    this.endStats();
    return DROPPED;
  }

  private dropReentrant(): false {
    this.drop(C_DROP_REENTRANT);
    return false;
  }

  private beginStats(): void {
    Atomics.add(this.ctrl, STATS_SEQ, 1);
  }

  private endStats(): void {
    Atomics.add(this.ctrl, STATS_SEQ, 1);
  }

  /**
   * Wakes pollers; costs one load when nobody waits. A boundary crossing
   * (forced false) wakes them only once as many sub-buffers are ready as they
   * asked for (WAKE_READY), and only once per sleep (ARMED): a reader that
   * keeps up no longer costs the writer a system call per sub-buffer.
   */
  private signal(forced = true): void {
    const c = this.ctrl;
    if (forced) Atomics.add(c, FORCED, 1);
    if (Atomics.load(c, WAITERS) === 0) return;
    if (!forced) {
      const ready = seqDiff(Atomics.load(c, PRODUCED), Atomics.load(c, CONSUMED) & SEQ_MASK, this.wrap);
      if (ready < Atomics.load(c, WAKE_READY) || Atomics.exchange(c, ARMED, 0) === 0) return;
    }
    Atomics.add(c, WAKE, 1);
    Atomics.notify(c, WAKE);
  }
}
