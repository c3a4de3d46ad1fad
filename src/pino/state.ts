/**
 * Shared words of a pino destination, beside its channel: who drains it now
 * (the drain lock), whether the process is ending, lines delivered per
 * buffer (for flush), and the staging area where the drain keeps records it
 * holds back for timestamp order. Staging is shared memory too, so a drain
 * in another thread (the exit dump) finds them: no line is ever only in one
 * thread's private memory while it waits for its turn.
 */
export const LOCK = 0; // 0 free, else the holder's threadId + 1
export const STOP = 1; // 1: the process is ending; the exit dump owns the drain from now on
export const STAGED = 2; // bytes of records in staging
export const CONSUMER_DONE = 3; // a target consumer finished its final drain (exit or end)
export const DROPPED_SINK = 4; // lines lost because the sink failed (a write error)
export const LATE = 5; // lines that reached the drain after a later-stamped line was written out
export const TICKET = 6; // the next line's ticket: its place in the order of all threads' lines
const DELIVERED = 8; // lines delivered, per buffer
const HEADER_WORDS = 8;

export class PinoState {
  readonly words: Int32Array;
  readonly staging: Uint8Array;
  /** Ticket of the last line written out, unwrapped (for order and for counting late lines). */
  private readonly last: Float64Array;

  constructor(
    readonly sab: SharedArrayBuffer,
    readonly stagingSab: SharedArrayBuffer,
  ) {
    this.last = new Float64Array(sab, 0, 1);
    this.words = new Int32Array(sab, 8);
    this.staging = new Uint8Array(stagingSab);
  }

  static create(buffers: number, stagingBytes: number): PinoState {
    return new PinoState(new SharedArrayBuffer(8 + (HEADER_WORDS + buffers) * 4), new SharedArrayBuffer(stagingBytes));
  }

  /** Only the drain lock holder writes it. */
  get lastTs(): number {
    return this.last[0]!;
  }

  set lastTs(ts: number) {
    this.last[0] = ts;
  }

  get stopping(): boolean {
    return Atomics.load(this.words, STOP) === 1;
  }

  /** Takes the drain lock if free. */
  tryLock(owner: number): boolean {
    return Atomics.compareExchange(this.words, LOCK, 0, owner) === 0;
  }

  /**
   * Takes the drain lock, waiting up to timeoutMs for the holder; after that
   * takes it anyway (the holder is a thread that died while draining) and
   * returns false.
   */
  lock(owner: number, timeoutMs: number): boolean {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const held = Atomics.compareExchange(this.words, LOCK, 0, owner);
      if (held === 0 || held === owner) return true;
      const left = deadline - performance.now();
      if (left <= 0) {
        Atomics.store(this.words, LOCK, owner);
        return false;
      }
      Atomics.wait(this.words, LOCK, held, Math.min(left, 5));
    }
  }

  unlock(owner: number): void {
    if (Atomics.compareExchange(this.words, LOCK, owner, 0) === owner) Atomics.notify(this.words, LOCK);
  }

  delivered(cpu: number): number {
    return Atomics.load(this.words, DELIVERED + cpu);
  }

  addDelivered(cpu: number, n: number): void {
    Atomics.add(this.words, DELIVERED + cpu, n);
    Atomics.notify(this.words, DELIVERED + cpu);
  }

  /** Waits (asynchronously) until buffer `cpu` has had `target` lines delivered, or timeoutMs. */
  async waitDelivered(cpu: number, target: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    // Atomics.waitAsync alone does not keep Node.js running.
    const keepAlive = setTimeout(() => {}, timeoutMs + 1000);
    try {
      for (;;) {
        const seen = this.delivered(cpu);
        if (seen - target >= 0) return true;
        const left = deadline - performance.now();
        if (left <= 0) return false;
        const r = Atomics.waitAsync(this.words, DELIVERED + cpu, seen, Math.min(left, 50));
        if (r.async) await r.value;
      }
    } finally {
      clearTimeout(keepAlive);
    }
  }

  /** A ticket (32 bits, wrapping) as a number that keeps growing: tickets in flight are within 2^31 of the last one written out. */
  unwrap(ticket: number): number {
    const last = this.lastTs;
    return last + ((ticket - last) | 0);
  }

  /** The ticket the next line will get, unwrapped. */
  nextTicket(): number {
    return this.unwrap(Atomics.load(this.words, TICKET));
  }

  count(word: number, n = 1): void {
    Atomics.add(this.words, word, n);
  }

  read(word: number): number {
    return Atomics.load(this.words, word);
  }

  set(word: number, value: number): void {
    Atomics.store(this.words, word, value);
    Atomics.notify(this.words, word);
  }
}
