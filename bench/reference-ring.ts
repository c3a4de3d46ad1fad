// A single-producer single-consumer ring of length-prefixed records in shared memory: the
// yardstick a relay buffer should match. One producer thread calls write() (lossless: waits
// while the ring is full) or tryWrite() (drops when full) and end(); one consumer thread
// calls next() and release(). Nothing else is shared.
//
// Layout: control words, then `capacity` bytes of data (a power of two).
// A record is an 8-byte header (the length, then 4 spare bytes) and the payload, padded to 8
// bytes, so payloads start 8-aligned: TypedArray.set into shared memory copies word by word
// only when source and target agree modulo 8, else byte by byte, ~6× slower. Records never wrap:
// when one does not fit before the end of the data, a WRAP marker sends the reader back to 0.
// HEAD and TAIL count bytes modulo 2^32; `head - tail` is the space in use.
//
// Hand-over, in both directions a store-then-load pair (sequentially consistent Atomics),
// batched so that neither side chases the other's counter (each load of a word the other
// thread just stored is a cache miss for both) and a sleeping side is woken with a quarter
// of the ring to work on, not one record:
//  - the producer stores HEAD when it crosses a 4 KiB boundary (a sequentially consistent
//    store is a locked instruction, dearer than a small record's copy), before it waits for
//    room and at end(); MARK (a word of its own) every 64 KiB. The consumer reloads HEAD only
//    when it has consumed all it saw; if less than 64 KiB is then pending it publishes its
//    tail and spins on MARK while data is flowing (adaptively, as relayfs's pollSync does:
//    giving up after up to 0.5 ms with MARK not moving, at once once the producer is idle),
//    then sets C_SLEEP and sleeps on the WAKE word. The producer looks at C_SLEEP only when
//    HEAD crosses a 256 KiB boundary, and wakes the consumer (bumps WAKE, notifies) once a
//    quarter of the ring is pending, or at once when the ring is full or at end() (which also
//    sets ENDED, so a consumer about to sleep sees that nothing more will come).
//  - the consumer stores TAIL every 64 KiB it releases and before it sleeps. A lossless
//    producer that finds the ring full spins, then asks (P_WANT) to be woken once a quarter
//    of the ring is free, sets P_SLEEP and sleeps on TAIL; the consumer wakes it when its
//    tail passes P_WANT, or when the ring is empty.
// Both waits are untimed (see docs/performance.md, "The yardstick", for the lost wake-up
// that an earlier version capped with a 1 ms timeout).

const HEAD = 0; // written by the producer
const TAIL = 16; // written by the consumer; 64 bytes apart so the two sides do not share a cache line
const C_SLEEP = 32; // 1 while the consumer sleeps (or is about to) on WAKE
const WAKE = 33; // bumped by the producer when it wakes the consumer
const ENDED = 34; // 1 once end() published the END marker: the consumer must not sleep on it
const MARK = 40; // HEAD as of the last 64 KiB boundary crossed: what a spinning consumer watches
const P_SLEEP = 48; // 1 while the producer sleeps (or is about to) on TAIL
const P_WANT = 49; // the TAIL value the sleeping producer wants to be woken at
const CONTROL_BYTES = 256;
const HEADER = 8; // bytes before each payload
const WRAP = -1; // length value: skip to the start of the data
const END = -2; // length value: the producer has finished
const WAKE_SHIFT = 18; // the producer checks for a sleeping consumer every 2^18 B = 256 KiB
const MARK_SHIFT = 16; // and stores MARK every 2^16 B = 64 KiB
const PUBLISH_SHIFT = 12; // and HEAD every 2^12 B = 4 KiB
const RELEASE_BYTES = 64 * 1024; // the consumer publishes TAIL every 64 KiB
const BATCH_BYTES = 64 * 1024; // the consumer goes on without sleeping while this much is pending
const SPINS = 256; // polls before the producer sleeps: a futex wake-up costs microseconds
const SMALL_COPY = 48; // a byte loop beats TypedArray.set's fixed cost below this
const MAX_SPIN_MICROS = 500; // the consumer's adaptive spin, as in relayfs's pollSync
const MIN_SPIN_MICROS = 20;

const pause: () => void = typeof (Atomics as { pause?: () => void }).pause === 'function' ? (Atomics as unknown as { pause: () => void }).pause : () => {};

export class ReferenceRing {
  static allocate(capacity: number): SharedArrayBuffer {
    if (capacity < 64 || (capacity & (capacity - 1)) !== 0) throw new RangeError('capacity must be a power of two ≥ 64');
    return new SharedArrayBuffer(CONTROL_BYTES + capacity);
  }

  /** The data region; next() returns offsets into it. */
  readonly bytes: Uint8Array;
  /** Length of the record last returned by next(). */
  length = 0;
  /** Producer: messages tryWrite() dropped because the ring was full. */
  dropped = 0;
  private readonly ctrl: Int32Array;
  private readonly words: Int32Array;
  private readonly capacity: number;
  private head = 0; // producer: where the next record goes
  private tailSeen = 0; // producer: last TAIL read, so it reads TAIL only when it looks full
  private tail = 0; // consumer: start of the current record
  private tailPublished = 0; // consumer: last TAIL stored
  private headSeen = 0; // consumer: last HEAD read
  private recordBytes = 0; // consumer: size of the current record
  private lastSrc: Uint8Array | null = null; // producer: the source src32 views
  private src32: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private spinMicros = 0; // consumer: how long the next wait spins before it sleeps

  constructor(sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab, 0, CONTROL_BYTES / 4);
    this.bytes = new Uint8Array(sab, CONTROL_BYTES);
    this.words = new Int32Array(sab, CONTROL_BYTES);
    this.capacity = this.bytes.length;
  }

  /** Producer, lossless: copy one message in, waiting while the ring is full. */
  write(src: Uint8Array): void {
    const size = recordSize(src.length);
    while (!this.hasRoom(size)) this.waitForRoom(size);
    this.put(src, size);
  }

  /** Producer, dropping: copy one message in, or count it dropped and return false when the ring is full. */
  tryWrite(src: Uint8Array): boolean {
    const size = recordSize(src.length);
    if (!this.hasRoom(size)) {
      this.dropped++;
      return false;
    }
    this.put(src, size);
    return true;
  }

  /** Producer: tell the consumer no more records follow (waits for room for the marker). */
  end(): void {
    while (!this.hasRoom(HEADER)) this.waitForRoom(HEADER);
    this.words[this.place(HEADER) >> 2] = END;
    Atomics.store(this.ctrl, HEAD, this.head);
    Atomics.store(this.ctrl, ENDED, 1);
    this.wakeConsumerNow();
  }

  /** Consumer: offset in `bytes` of the next payload (its length in `length`), or -1 after end(). */
  next(): number {
    for (;;) {
      if (this.tail === this.headSeen) this.waitForData();
      const pos = this.tail & (this.capacity - 1);
      const len = this.words[pos >> 2]!;
      if (len === WRAP) {
        this.tail = (this.tail + this.capacity - pos) | 0;
        continue;
      }
      if (len === END) {
        this.publishTail();
        return -1;
      }
      this.length = len;
      this.recordBytes = recordSize(len);
      return pos + HEADER;
    }
  }

  /** Consumer: hand the record returned by next() back to the producer. */
  release(): void {
    this.tail = (this.tail + this.recordBytes) | 0;
    if (((this.tail - this.tailPublished) | 0) >= RELEASE_BYTES) this.publishTail();
  }

  // ------------------------------------------------------------------ producer

  // Room for `size` bytes, plus the skip to the start if the record would not fit before the end.
  private hasRoom(size: number): boolean {
    if (size > this.capacity / 2) throw new RangeError('record larger than half the ring');
    const pos = this.head & (this.capacity - 1);
    const need = pos + size > this.capacity ? this.capacity - pos + size : size;
    if (this.capacity - ((this.head - this.tailSeen) | 0) >= need) return true;
    this.tailSeen = Atomics.load(this.ctrl, TAIL);
    return this.capacity - ((this.head - this.tailSeen) | 0) >= need;
  }

  private put(src: Uint8Array, size: number): void {
    const prev = this.head;
    const pos = this.place(size);
    const len = src.length;
    this.words[pos >> 2] = len;
    const at = pos + HEADER;
    if (len <= SMALL_COPY) this.copySmall(src, len, at);
    else this.bytes.set(src, at);
    // HEAD is published once per 4 KiB, not per record: a sequentially consistent store is a
    // locked instruction, dearer than a small record's copy, and the consumer never acts on
    // less than a batch anyway. end() and a wait for room publish the rest.
    if (prev >>> PUBLISH_SHIFT !== this.head >>> PUBLISH_SHIFT) {
      Atomics.store(this.ctrl, HEAD, this.head);
      if (prev >>> MARK_SHIFT !== this.head >>> MARK_SHIFT) {
        Atomics.store(this.ctrl, MARK, this.head);
        if (prev >>> WAKE_SHIFT !== this.head >>> WAKE_SHIFT) this.wakeConsumer();
      }
    }
  }

  // Payloads start 8-aligned, so a 4-aligned source copies a word at a time: 4× fewer stores.
  private copySmall(src: Uint8Array, len: number, at: number): void {
    const bytes = this.bytes;
    let i = 0;
    if ((src.byteOffset & 3) === 0) {
      if (src !== this.lastSrc) {
        this.lastSrc = src; // one view per distinct source, so a producer reusing its buffer allocates nothing
        this.src32 = new Int32Array(src.buffer, src.byteOffset, len >> 2);
      }
      const words = this.words;
      const src32 = this.src32;
      const w = at >> 2;
      const n = len >> 2;
      for (; i < n; i++) words[w + i] = src32[i]!;
      i <<= 2;
    }
    for (; i < len; i++) bytes[at + i] = src[i]!;
  }

  // Advances head over the record (and a WRAP marker if needed); returns where the record starts.
  private place(size: number): number {
    let pos = this.head & (this.capacity - 1);
    if (pos + size > this.capacity) {
      this.words[pos >> 2] = WRAP;
      this.head = (this.head + this.capacity - pos) | 0;
      pos = 0;
    }
    this.head = (this.head + size) | 0; // published by the caller, after the payload is written
    return pos;
  }

  // At a 256 KiB boundary: wake a sleeping consumer once a quarter of the ring is pending.
  private wakeConsumer(): void {
    if (Atomics.load(this.ctrl, C_SLEEP) === 0) return;
    if (((this.head - Atomics.load(this.ctrl, TAIL)) | 0) < this.capacity / 4) return;
    this.wakeConsumerNow();
  }

  private wakeConsumerNow(): void {
    // Clearing the flag makes it one wake-up per sleep, not one per boundary until it wakes.
    if (Atomics.load(this.ctrl, C_SLEEP) !== 0 && Atomics.exchange(this.ctrl, C_SLEEP, 0) !== 0) {
      Atomics.add(this.ctrl, WAKE, 1);
      Atomics.notify(this.ctrl, WAKE);
    }
  }

  private waitForRoom(size: number): void {
    Atomics.store(this.ctrl, HEAD, this.head); // the consumer frees room only up to what it sees
    for (let spins = 0; spins < SPINS; spins++) {
      pause();
      if (this.hasRoom(size)) return;
    }
    const want = (this.tailSeen + this.capacity / 4) | 0;
    Atomics.store(this.ctrl, P_WANT, want);
    Atomics.store(this.ctrl, P_SLEEP, 1);
    this.wakeConsumerNow(); // full: the consumer must run (it may be asleep below the quarter)
    // Sleep until the consumer's tail passes `want`, or it empties the ring. Checked after
    // P_SLEEP is set: a TAIL stored before the consumer could see the flag is seen here.
    for (;;) {
      const tail = Atomics.load(this.ctrl, TAIL);
      if (((tail - want) | 0) >= 0 || tail === this.head) break;
      Atomics.wait(this.ctrl, TAIL, tail);
    }
    Atomics.store(this.ctrl, P_SLEEP, 0);
    this.tailSeen = Atomics.load(this.ctrl, TAIL);
  }

  // ------------------------------------------------------------------ consumer

  private publishTail(): void {
    this.tailPublished = this.tail;
    Atomics.store(this.ctrl, TAIL, this.tail);
    if (Atomics.load(this.ctrl, P_SLEEP) === 0) return;
    // Wake the producer once it has the room it asked for, or when the ring is empty (we are about to sleep).
    const due = ((this.tail - Atomics.load(this.ctrl, P_WANT)) | 0) >= 0 || this.tail === Atomics.load(this.ctrl, HEAD);
    if (due && Atomics.exchange(this.ctrl, P_SLEEP, 0) !== 0) Atomics.notify(this.ctrl, TAIL);
  }

  // All seen records are consumed: go on if a batch is pending, else sleep until woken.
  private waitForData(): void {
    const c = this.ctrl;
    this.headSeen = Atomics.load(c, HEAD);
    if (((this.headSeen - this.tail) | 0) >= BATCH_BYTES) return;
    if (this.tail !== this.tailPublished) this.publishTail(); // the producer may be waiting for room
    const start = performance.now();
    const mark = Atomics.load(c, MARK);
    if (this.spinMicros > 0 && this.spinForBatch(this.spinMicros / 1000)) {
      this.adapt(start, mark);
      return;
    }
    for (;;) {
      const wake = Atomics.load(c, WAKE);
      Atomics.store(c, C_SLEEP, 1);
      // Checked after C_SLEEP is set: a boundary crossed before the producer could see the
      // flag is seen here. Enough pending: no sleep.
      this.headSeen = Atomics.load(c, HEAD);
      if (((this.headSeen - this.tail) | 0) >= this.capacity / 4 || Atomics.load(c, ENDED) !== 0) break;
      Atomics.wait(c, WAKE, wake);
      // Woken (full ring, end() or a quarter pending), or WAKE moved before we slept: take what is there.
      this.headSeen = Atomics.load(c, HEAD);
      if (this.headSeen !== this.tail) break;
    }
    Atomics.store(c, C_SLEEP, 0);
    this.adapt(start, mark);
  }

  // The next wait's spin, from how long this one took per 64 KiB the producer wrote meanwhile.
  private adapt(start: number, mark: number): void {
    const marks = ((Atomics.load(this.ctrl, MARK) - mark) | 0) >>> MARK_SHIFT;
    this.spinMicros = nextSpinMicros(this.spinMicros, ((performance.now() - start) * 1000) / Math.max(1, marks));
  }

  // Spins until a batch is pending or the producer ended (true), or idleMs pass with MARK not moving (false).
  private spinForBatch(idleMs: number): boolean {
    const c = this.ctrl;
    let mark = Atomics.load(c, MARK);
    let until = performance.now() + idleMs;
    for (;;) {
      for (let i = 0; i < 64; i++) {
        const m = Atomics.load(c, MARK);
        if (((m - this.tail) | 0) >= BATCH_BYTES || Atomics.load(c, ENDED) !== 0) {
          this.headSeen = Atomics.load(c, HEAD);
          return true;
        }
        if (m !== mark) {
          mark = m; // the producer is writing: tolerate another idle stretch
          until = performance.now() + idleMs;
        }
        pause();
      }
      if (performance.now() >= until) return false;
    }
  }
}

const recordSize = (length: number): number => HEADER + ((length + 7) & ~7);

// The producer wrote 64 KiB within half the longest spin: it is flowing, so the next wait spins,
// tolerating about twice that with MARK not moving. Slower halves the spin. The same policy as
// relayfs's nextSpinMicros (src/buffer/reader.ts), written out so the yardstick imports nothing of relayfs.
function nextSpinMicros(current: number, gapMicros: number): number {
  if (gapMicros > MAX_SPIN_MICROS / 2) return current / 2 >= MIN_SPIN_MICROS ? current / 2 : 0;
  return Math.min(MAX_SPIN_MICROS, Math.max(MIN_SPIN_MICROS, current, 2 * gapMicros));
}
