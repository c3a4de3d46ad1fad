/**
 * The reader side of a channel buffer: the consuming read behind read(),
 * sendfile() and relay_subbufs_consumed, readiness for poll(), and counters.
 * Pure code.
 *
 * Readers serialise among themselves with READ_LOCK (never taken by a
 * writer), so two readers never get the same bytes. A reader commits what it
 * copied with a compare-and-swap of CONSUMED: if a writer in overwrite mode
 * took the sub-buffer over meanwhile, the swap fails and the copy is thrown
 * away, so a copy never mixes old and new data; the loss shows in stats. A
 * read cut inside a sub-buffer that is taken over before the rest is read
 * resumes at the oldest intact one; the cut counts in readsTorn.
 */
import {
  type BufferMemory,
  C_BYTES,
  C_CONSUMED,
  C_CORR_BYTES,
  C_CORR_MSGS,
  C_DROP_FULL,
  C_DROP_REENTRANT,
  C_DROP_TOOBIG,
  C_MSGS,
  C_OVER_BYTES,
  C_OVER_MSGS,
  C_OVERWRITTEN,
  C_PADDING,
  C_PRODUCED,
  C_READ_BYTES,
  C_TORN,
  CLOSED,
  CONSUMED,
  CONSUMED_HELD,
  COUNT,
  FORCED,
  GEN,
  HOLD,
  LAPPED,
  ROOM_WAITERS,
  MAPPED,
  OFFS,
  PRODUCED,
  READ_BYTES,
  READ_LOCK,
  READ_MSGS,
  READ_RESERVE,
  READ_SUBBUF,
  RESERVE,
  SEQ_MASK,
  STALLED,
  STATS_SEQ,
  WAITERS,
  WAKE_READY,
  WAKE,
  ARMED,
  add64,
  read64,
  seqAdd,
  seqDiff,
  seqNext,
  seqWrap,
  slotMsgs,
  slotPadding,
  slotReserve,
} from './layout.js';
import { spinPause } from './writer.js';

/** Per-buffer counters, all exact once the buffer is quiet. */
export interface BufferStats {
  /** Messages accepted; a reservation counts from the moment it is made (readers see it from the next write on). */
  messagesWritten: number;
  /** Message bytes accepted (headers and padding excluded). */
  bytesWritten: number;
  /** Messages dropped because the buffer was full (no-overwrite mode). */
  droppedFull: number;
  /** Messages dropped because they were larger than a sub-buffer. */
  droppedTooBig: number;
  /** Messages dropped because they were written from inside subbufStart of the same buffer. */
  droppedReentrant: number;
  subbufsProduced: number;
  /** Sub-buffers consumed by read, sendfile or relaySubbufsConsumed. */
  subbufsConsumed: number;
  /** Sub-buffers overwritten before they were read (overwrite mode). */
  subbufsOverwritten: number;
  /** Messages lost to overwriting (those read before the overwrite are not counted). */
  messagesOverwritten: number;
  bytesOverwritten: number;
  /** Padding bytes left at the end of finished sub-buffers. */
  paddingBytes: number;
  /** Bytes copied out by read and sendfile. */
  bytesRead: number;
  /**
   * Reads that stopped inside a sub-buffer (a destination too small for the
   * rest of it) whose rest the writer then took over (overwrite mode): the
   * message the read was cut in may be torn, its rest is lost. A byte-stream
   * parser that sees this grow drops the partial message it holds. (A cut
   * that fell exactly on a message boundary is counted too: the reader cannot
   * tell.) Whole-message reads with a destination of a sub-buffer or more are
   * never cut.
   */
  readsTorn: number;
  /** Finished sub-buffers not yet consumed. */
  subbufsReady: number;
  stalled: boolean;
  closed: boolean;
  mapped: number;
}

const SPINS = 1000;

/** Longest a blocking poll spins with no sub-buffer produced (µs): a wake-up costs tens of µs (up to a ms on a busy VM), a buffer fills in a fraction of a ms. */
export const MAX_SPIN_MICROS = 500;
/** Shortest adaptive spin once data is seen flowing (µs). */
const MIN_SPIN_MICROS = 20;

/**
 * The adaptive spin of a blocking poll. `gapMicros` is how long the last wait
 * took per sub-buffer the writer produced meanwhile (the whole wait if none):
 * a writer that produces one within half the longest spin is flowing, so the
 * next wait spins, tolerating about twice that gap with no new sub-buffer; a
 * slower one halves the spin (one late wake-up does not stop it), and a wait
 * that timed out means the writer is idle: the next wait sleeps at once and
 * costs no CPU. `due` is whether the wait ended because it was due.
 */
export function nextSpinMicros(current: number, due: boolean, gapMicros: number): number {
  if (!due || Number.isNaN(gapMicros)) return 0;
  if (gapMicros > MAX_SPIN_MICROS / 2) return current / 2 >= MIN_SPIN_MICROS ? current / 2 : 0;
  return Math.min(MAX_SPIN_MICROS, Math.max(MIN_SPIN_MICROS, current, 2 * gapMicros));
}

export class BufferReader {
  readonly mem: BufferMemory;
  private readonly ctrl: Int32Array;
  private readonly u32: Uint32Array;
  private readonly wrap: number;
  // Last snapshot of the current sub-buffer (see snapshot()).
  private snapEnd = 0;
  private snapCount = 0;

  constructor(mem: BufferMemory) {
    this.mem = mem;
    this.ctrl = mem.ctrl;
    this.u32 = mem.u32;
    this.wrap = seqWrap(mem.nSubbufs);
  }

  /**
   * Copies readable bytes into dest from `at` on and consumes them: finished
   * sub-buffers without their padding, then the current sub-buffer up to the
   * last published message. Returns the number of bytes copied.
   *
   * By default a byte stream, like the kernel's read(2): fills dest as far as
   * data goes, across sub-buffers, so the end may fall inside a message. With
   * `whole` it ends on a message boundary: it stops before the rest of a
   * sub-buffer that does not fit (always true with room for a whole
   * sub-buffer; with less, a read that has copied nothing splits the rest, so
   * it still makes progress).
   */
  readInto(dest: Uint8Array, at = 0, whole = false): number {
    this.lock();
    try {
      return this.readLocked(dest, at, whole);
    } finally {
      this.unlock();
    }
  }

  /**
   * Reads and consumes what is readable into a new array: everything (whole
   * messages: data that arrives during the read and does not fit is left for
   * the next read), or up to maxBytes as readInto does (`whole` as there).
   */
  read(maxBytes?: number, whole = false): Uint8Array | null {
    this.lock();
    try {
      const available = this.available();
      // Slack of one sub-buffer: the current sub-buffer may grow while we read.
      const size = Math.min(maxBytes ?? Infinity, available + this.mem.subbufSize);
      const dest = new Uint8Array(size);
      const n = this.readLocked(dest, 0, whole || maxBytes === undefined);
      return n === 0 ? null : dest.subarray(0, n);
    } finally {
      this.unlock();
    }
  }

  /** Counts a mapping (mmap) of this buffer in or out. */
  mapped(delta: 1 | -1): void {
    Atomics.add(this.ctrl, MAPPED, delta);
  }

  /** Oldest finished, unconsumed sub-buffer (as a slot index) and how many follow it. */
  ready(): { first: number; count: number } {
    const consumed = Atomics.load(this.ctrl, CONSUMED) & SEQ_MASK;
    const count = Math.min(seqDiff(Atomics.load(this.ctrl, PRODUCED), consumed, this.wrap), this.mem.nSubbufs);
    return { first: consumed % this.mem.nSubbufs, count };
  }

  /** Padding bytes at the end of a finished sub-buffer (by slot index). */
  padding(slot: number): number {
    return Atomics.load(this.ctrl, slotPadding(slot));
  }

  /** Bytes a read would return now (a lower bound while writers run). */
  available(): number {
    const c = this.ctrl;
    const { nSubbufs: n, subbufSize: size } = this.mem;
    const consumed = Atomics.load(c, CONSUMED) & SEQ_MASK;
    const produced = Atomics.load(c, PRODUCED);
    const ready = Math.min(seqDiff(produced, consumed, this.wrap), n);
    const readBytes = c[READ_SUBBUF] === consumed ? Atomics.load(c, READ_BYTES) : 0;
    let total = 0;
    for (let i = 0, cursor = consumed; i < ready; i++, cursor = seqNext(cursor, this.wrap)) {
      const valid = size - Atomics.load(c, slotPadding(cursor % n));
      total += i === 0 ? Math.max(0, valid - readBytes) : valid;
    }
    if (this.snapshot(produced)) {
      const current = this.snapEnd - (produced % n) * size - (ready === 0 ? readBytes : 0);
      total += Math.max(0, current);
    }
    return total;
  }

  /**
   * A writer, flush or close holds the buffer lock (a sub-buffer switch): until
   * it lets go, a read returns nothing of the sub-buffer being finished and
   * available() does not count it, though it holds data. A drain that must
   * leave nothing behind waits while this is true.
   */
  busy(): boolean {
    return Atomics.load(this.ctrl, COUNT) < 0;
  }

  /**
   * Nothing left to read, and no switch under way that is about to finish a
   * sub-buffer: what an exit drain waits for. A switch that began and ended
   * while available() ran (which then found nothing) moved PRODUCED or GEN.
   */
  drained(): boolean {
    const c = this.ctrl;
    const gen = Atomics.load(c, GEN);
    const produced = Atomics.load(c, PRODUCED);
    if (this.busy() || this.available() !== 0) return false;
    return !this.busy() && Atomics.load(c, GEN) === gen && Atomics.load(c, PRODUCED) === produced;
  }

  /** poll's POLLIN: at least one finished sub-buffer is unconsumed. */
  hasReadySubbufs(): boolean {
    return this.pollReady() > 0;
  }

  /**
   * Finished sub-buffers unconsumed as poll counts them: as the kernel's
   * produced - consumed, which a lap in overwrite mode leaves at n_subbufs
   * (relayfs's writer moved CONSUMED one on: the lap counts one more until a
   * reader reads). So a one-sub-buffer flight recorder reports POLLIN.
   */
  pollReady(): number {
    const c = this.ctrl;
    const consumed = Atomics.load(c, CONSUMED) & SEQ_MASK;
    const ready = seqDiff(Atomics.load(c, PRODUCED), consumed, this.wrap) + Atomics.load(c, LAPPED);
    return Math.min(ready, this.mem.nSubbufs);
  }

  get closed(): boolean {
    return Atomics.load(this.ctrl, CLOSED) === 1;
  }

  /** Flushes, closes and resets so far: after one of these a poller returns whatever minReady says. */
  forcedEvents(): number {
    return Atomics.load(this.ctrl, FORCED);
  }

  /**
   * Whether a poller should return now: minReady finished sub-buffers are
   * ready, or a flush, close or reset happened since forcedSeen, or the
   * channel is closed.
   */
  wakeDue(minReady: number, forcedSeen: number): boolean {
    if (Atomics.load(this.ctrl, CLOSED) === 1 || Atomics.load(this.ctrl, FORCED) !== forcedSeen) return true;
    return this.pollReady() >= minReady;
  }

  /**
   * Resolves true once wakeDue(minReady, forcedSeen), false after timeoutMs.
   * The writer wakes it only when that is so (see BufferWriter.signal), and
   * at most once per sleep.
   */
  async waitReady(minReady: number, forcedSeen: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    this.register(minReady);
    try {
      for (;;) {
        const seen = this.sleepStep(minReady, forcedSeen, deadline);
        if (typeof seen === 'boolean') return seen;
        const r = Atomics.waitAsync(this.ctrl, WAKE, seen, deadline - performance.now());
        if ((r.async ? await r.value : r.value) === 'timed-out') return this.wakeDue(minReady, forcedSeen);
      }
    } finally {
      Atomics.sub(this.ctrl, WAITERS, 1);
    }
  }

  /**
   * waitReady for threads that may block (workers), in Atomics.wait. It first
   * spins while the writer keeps producing sub-buffers, giving up after
   * spinMicros with none (undefined: adaptively, see nextSpinMicros): a
   * reader that catches data while spinning spares the writer its wake-up
   * system call and never lets the buffer fill during a wake-up.
   */
  waitReadySync(minReady: number, forcedSeen: number, timeoutMs: number, spinMicros?: number): boolean {
    const start = performance.now();
    const deadline = start + timeoutMs;
    const produced = Atomics.load(this.ctrl, PRODUCED);
    const spin = spinMicros ?? this.spinMicros;
    let due = spin > 0 && this.spinUntil(minReady, forcedSeen, spin / 1000, deadline);
    if (!due) due = this.sleepUntil(minReady, forcedSeen, deadline);
    if (spinMicros === undefined) {
      const made = seqDiff(Atomics.load(this.ctrl, PRODUCED), produced, this.wrap);
      this.spinMicros = nextSpinMicros(this.spinMicros, due, ((performance.now() - start) * 1000) / Math.max(1, made));
    }
    return due;
  }

  /** The current adaptive spin of waitReadySync, in microseconds (0: it sleeps at once). */
  get adaptiveSpinMicros(): number {
    return this.spinMicros;
  }

  private spinMicros = 0;

  /**
   * Spins until the wait is due (true), or `idleMs` pass with no sub-buffer
   * produced, or the deadline (false). Between full checks it watches only
   * words the writer stores once per sub-buffer (C_PRODUCED) or per flush
   * (FORCED): loading the words it stores on every write would cost it a
   * cache miss per write.
   */
  private spinUntil(minReady: number, forcedSeen: number, idleMs: number, deadline: number): boolean {
    const c = this.ctrl;
    let produced = Atomics.load(c, C_PRODUCED);
    let until = Math.min(deadline, performance.now() + idleMs);
    for (;;) {
      if (this.wakeDue(minReady, forcedSeen)) return true;
      for (let i = 0; i < 64; i++) {
        spinPause(); // Atomics.pause where the runtime has it: spares the writer's core some of the spin
        if (Atomics.load(c, C_PRODUCED) !== produced || Atomics.load(c, FORCED) !== forcedSeen) break;
      }
      const now = performance.now();
      const p = Atomics.load(c, C_PRODUCED);
      if (p !== produced) {
        produced = p; // progress: tolerate another idle stretch
        until = Math.min(deadline, now + idleMs);
      }
      if (now >= until) return this.wakeDue(minReady, forcedSeen);
    }
  }

  private sleepUntil(minReady: number, forcedSeen: number, deadline: number): boolean {
    this.register(minReady);
    try {
      for (;;) {
        const seen = this.sleepStep(minReady, forcedSeen, deadline);
        if (typeof seen === 'boolean') return seen;
        if (Atomics.wait(this.ctrl, WAKE, seen, deadline - performance.now()) === 'timed-out') return this.wakeDue(minReady, forcedSeen);
      }
    } finally {
      Atomics.sub(this.ctrl, WAITERS, 1);
    }
  }

  /** Arms, then: true if the wait is due, false if time is up, else the wake word to sleep on. */
  private sleepStep(minReady: number, forcedSeen: number, deadline: number): number | boolean {
    const seen = this.arm();
    if (this.wakeDue(minReady, forcedSeen)) return true;
    return performance.now() >= deadline ? false : seen;
  }

  private register(minReady: number): void {
    Atomics.store(this.ctrl, WAKE_READY, minReady);
    Atomics.add(this.ctrl, WAITERS, 1);
  }

  /** Reads the wake word, then arms: a writer that makes the wait due after this wakes us. */
  private arm(): number {
    const seen = Atomics.load(this.ctrl, WAKE);
    Atomics.store(this.ctrl, ARMED, 1);
    return seen;
  }

  /**
   * relay_subbufs_consumed: marks n finished sub-buffers consumed, clamped (as
   * the kernel does) to the number produced and not yet consumed. A count
   * above n_subbufs is ignored, as the kernel ignores it: a bogus count must
   * not throw unread data away. Returns how many were actually consumed.
   */
  subbufsConsumed(n: number): number {
    if (n > this.mem.nSubbufs) return 0;
    this.lock();
    try {
      const c = this.ctrl;
      for (let spins = 0; ; spins++) {
        const consumed = Atomics.load(c, CONSUMED);
        if (consumed & CONSUMED_HELD) {
          this.spin(spins);
          continue;
        }
        this.noticeOverwrite(consumed);
        if (n > 0) this.clearLap();
        const ready = seqDiff(Atomics.load(c, PRODUCED), consumed, this.wrap);
        const take = Math.min(n, ready);
        const next = seqAdd(consumed, take, this.wrap);
        if (Atomics.compareExchange(c, CONSUMED, consumed, next) !== consumed) continue;
        if (take > 0) this.advance(next, take);
        return take;
      }
    } finally {
      this.unlock();
    }
  }

  /** Runs fn while holding the read lock, so no reader is mid-copy (used by reset). */
  exclusive<T>(fn: () => T): T {
    this.lock();
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }

  /** Zeroes the reader side; called by the writer's reset while it holds the buffer lock. */
  clear(): void {
    const c = this.ctrl;
    for (const at of [CONSUMED, READ_SUBBUF, READ_BYTES, READ_MSGS, READ_RESERVE]) Atomics.store(c, at, 0);
    for (let at = C_CONSUMED; at < C_TORN + 2; at++) c[at] = 0;
  }

  /** Per-buffer counters as one consistent snapshot. */
  stats(): BufferStats {
    this.lock();
    try {
      const consumed = Atomics.load(this.ctrl, CONSUMED);
      if (!(consumed & CONSUMED_HELD)) this.noticeOverwrite(consumed);
      return this.statsLocked();
    } finally {
      this.unlock();
    }
  }

  // ---------------------------------------------------------------- internals

  /** With whole, the rest of a sub-buffer that does not fit is left, unless nothing was copied yet. */
  private readLocked(dest: Uint8Array, at: number, whole: boolean): number {
    const c = this.ctrl;
    const data = this.mem.data;
    const { nSubbufs: n, subbufSize: size } = this.mem;
    let pos = at;
    for (let spins = 0; pos < dest.length && spins < SPINS;) {
      const consumed = Atomics.load(c, CONSUMED);
      if (consumed & CONSUMED_HELD) {
        this.spin(spins++); // a writer is deciding whether to overwrite the oldest sub-buffer
        continue;
      }
      this.noticeOverwrite(consumed);
      this.clearLap(); // a read after a lap: the kernel's consumed count catches up here too
      const produced = Atomics.load(c, PRODUCED);
      const slot = consumed % n;
      const base = slot * size;
      const finished = seqDiff(produced, consumed, this.wrap) > 0;
      let end: number;
      let msgs: number;
      if (finished) {
        end = base + size - Atomics.load(c, slotPadding(slot));
        msgs = Atomics.load(c, slotMsgs(n, slot));
      } else {
        if (!this.snapshot(produced)) break;
        end = this.snapEnd;
        msgs = this.snapCount;
        if (end < base || end > base + size) break;
      }
      const readBytes = c[READ_BYTES]!;
      const start = base + readBytes;
      if (start >= end && !finished) break;
      // Whole-message reads leave a chunk that does not fit for the next read;
      // one that has copied nothing yet splits it, so that it makes progress.
      if (whole && end - start > dest.length - pos && pos > at) break;
      const take = Math.max(0, Math.min(end - start, dest.length - pos));
      if (take > 0) dest.set(data.subarray(start, start + take), pos);
      const toEnd = start + take >= end;
      const next = finished && toEnd ? seqNext(consumed, this.wrap) : consumed;
      // Commit: fails if a writer took this sub-buffer over while we copied.
      if (Atomics.compareExchange(c, CONSUMED, consumed, next) !== consumed) {
        spins++;
        continue;
      }
      pos += take;
      add64(this.u32, C_READ_BYTES, take);
      if (next !== consumed) {
        this.advance(next, 1);
      } else {
        c[READ_BYTES] = readBytes + take;
        c[READ_MSGS] = toEnd ? msgs : -1;
        c[READ_RESERVE] = Atomics.load(c, slotReserve(n, slot));
      }
    }
    return pos - at;
  }

  /**
   * A consistent (end offset, message count) of the current sub-buffer, in
   * snapEnd / snapCount. False when the writer is stalled, or busy for longer
   * than a few spins (then the current sub-buffer is simply not read yet).
   */
  private snapshot(produced: number): boolean {
    const c = this.ctrl;
    for (let spins = 0; spins < SPINS; spins++) {
      const gen = Atomics.load(c, GEN);
      const k = Atomics.load(c, COUNT);
      if (k < 0) continue;
      if (Atomics.load(c, STALLED)) return false;
      const end = Atomics.load(c, OFFS + (k & 3));
      // Loaded after COUNT: a hold inside the published data is message k, a reservation still being filled.
      const hold = Atomics.load(c, HOLD) - 1;
      const k2 = Atomics.load(c, COUNT);
      // Slot k & 3 is rewritten only by the fourth write after k; two later publishes are harmless.
      if (k2 >= 0 && k2 - k <= 2 && k2 >= k && Atomics.load(c, GEN) === gen && Atomics.load(c, PRODUCED) === produced) {
        const held = hold >= (produced % this.mem.nSubbufs) * this.mem.subbufSize && hold < end;
        this.snapEnd = held ? hold : end;
        this.snapCount = held ? k - 1 : k;
        return true;
      }
    }
    return false;
  }

  /**
   * The writer moves CONSUMED past the read cursor only when it overwrites
   * that sub-buffer: what we had read of it was delivered, so it is taken
   * off the writer's overwritten counts.
   */
  private noticeOverwrite(consumed: number): void {
    const c = this.ctrl;
    if (consumed === c[READ_SUBBUF]) return;
    const readBytes = c[READ_BYTES]!;
    if (readBytes > 0) {
      add64(this.u32, C_CORR_MSGS, Math.max(0, c[READ_MSGS]!));
      add64(this.u32, C_CORR_BYTES, Math.max(0, readBytes - c[READ_RESERVE]!));
      if (c[READ_MSGS] === -1) add64(this.u32, C_TORN, 1); // the read stopped inside it: the rest is gone
    }
    c[READ_SUBBUF] = consumed;
    c[READ_BYTES] = 0;
    c[READ_MSGS] = 0;
  }

  /** A reader read or handed sub-buffers back: no longer full from a lap (see LAPPED). */
  private clearLap(): void {
    if (this.ctrl[LAPPED]) Atomics.store(this.ctrl, LAPPED, 0);
  }

  private advance(next: number, subbufs: number): void {
    const c = this.ctrl;
    c[READ_SUBBUF] = next;
    c[READ_BYTES] = 0;
    c[READ_MSGS] = 0;
    add64(this.u32, C_CONSUMED, subbufs);
    // Blocking mode: wake writers waiting for room (this load follows the CONSUMED swap; see BufferWriter.awaitRoom).
    if (Atomics.load(c, ROOM_WAITERS) !== 0) Atomics.notify(c, CONSUMED);
  }

  private statsLocked(): BufferStats {
    const c = this.ctrl;
    const u = this.u32;
    const { nSubbufs: n, subbufSize: size } = this.mem;
    for (let spins = 0; ; spins++) {
      const seq = Atomics.load(c, STATS_SEQ);
      const gen = Atomics.load(c, GEN);
      const k = Atomics.load(c, COUNT);
      // A writer mid-update (or one that died holding the lock): retry a while, then report what is there.
      if ((seq & 1 || k < 0) && spins < SPINS) {
        this.spin(spins);
        continue;
      }
      const stalled = Atomics.load(c, STALLED) === 1;
      const produced = Atomics.load(c, PRODUCED);
      // Messages and bytes of the current sub-buffer are not in the counters until it is finished.
      let curMsgs = 0;
      let curBytes = 0;
      if (!stalled && k >= 0) {
        curMsgs = k;
        // Clamped: a fast path that lost to a flush may leave OFFS[0] stale until its retry.
        curBytes = Math.max(0, Atomics.load(c, OFFS + (k & 3)) - (produced % n) * size - Atomics.load(c, RESERVE));
      }
      const s: BufferStats = {
        messagesWritten: read64(u, C_MSGS) + curMsgs,
        bytesWritten: read64(u, C_BYTES) + curBytes,
        droppedFull: read64(u, C_DROP_FULL),
        droppedTooBig: read64(u, C_DROP_TOOBIG),
        droppedReentrant: read64(u, C_DROP_REENTRANT),
        subbufsProduced: read64(u, C_PRODUCED),
        subbufsConsumed: read64(u, C_CONSUMED),
        subbufsOverwritten: read64(u, C_OVERWRITTEN),
        messagesOverwritten: read64(u, C_OVER_MSGS) - read64(u, C_CORR_MSGS),
        bytesOverwritten: Math.max(0, read64(u, C_OVER_BYTES) - read64(u, C_CORR_BYTES)),
        paddingBytes: read64(u, C_PADDING),
        bytesRead: read64(u, C_READ_BYTES),
        readsTorn: read64(u, C_TORN),
        subbufsReady: seqDiff(produced, Atomics.load(c, CONSUMED) & SEQ_MASK, this.wrap),
        stalled,
        closed: Atomics.load(c, CLOSED) === 1,
        mapped: Atomics.load(c, MAPPED),
      };
      const stable = Atomics.load(c, STATS_SEQ) === seq && Atomics.load(c, GEN) === gen && Atomics.load(c, COUNT) === k;
      if (stable || spins >= SPINS) return s;
    }
  }

  /** Readers' mutex: 0 free, 1 held, 2 held with waiters (so unlock notifies only when someone sleeps). */
  private lock(): void {
    const c = this.ctrl;
    if (Atomics.compareExchange(c, READ_LOCK, 0, 1) === 0) return;
    for (let spins = 0; ; spins++) {
      if (spins < 64) {
        if (Atomics.compareExchange(c, READ_LOCK, 0, 1) === 0) return;
        continue;
      }
      if (Atomics.exchange(c, READ_LOCK, 2) === 0) return;
      try {
        Atomics.wait(c, READ_LOCK, 2, 1);
      } catch {
        /* a thread that may not block keeps spinning */
      }
    }
  }

  private unlock(): void {
    if (Atomics.exchange(this.ctrl, READ_LOCK, 0) === 2) Atomics.notify(this.ctrl, READ_LOCK, 1);
  }

  private spin(spins: number): void {
    if (spins > 64) {
      try {
        Atomics.wait(this.ctrl, WAITERS, -1, 0.02); // a short sleep: WAITERS is never -1
      } catch {
        /* keep spinning */
      }
    }
  }
}
