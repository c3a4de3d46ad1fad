// A minimal single-producer single-consumer ring of length-prefixed records in shared
// memory: the yardstick a relay buffer should match. One producer thread calls write()
// and end(); one consumer thread calls next() and release(). Nothing else is shared.
//
// Layout: control words, then `capacity` bytes of data (a power of two).
// A record is a 4-byte length and the payload, padded to 4 bytes. Records never wrap:
// when one does not fit before the end of the data, a WRAP marker sends the reader back to 0.
// HEAD and TAIL count bytes modulo 2^32; `head - tail` is the space in use.

const HEAD = 0; // written by the producer
const TAIL = 16; // written by the consumer; 64 bytes apart so the two sides do not share a cache line
const WAITING = 32; // 1 while the consumer sleeps (or is about to) in Atomics.wait
const CONTROL_BYTES = 192;
const WRAP = -1; // length value: skip to the start of the data
const END = -2; // length value: the producer has finished
const SPINS = 200; // polls before the consumer sleeps: a futex wake costs microseconds

export class ReferenceRing {
  static allocate(capacity: number): SharedArrayBuffer {
    if (capacity < 64 || (capacity & (capacity - 1)) !== 0) throw new RangeError('capacity must be a power of two ≥ 64');
    return new SharedArrayBuffer(CONTROL_BYTES + capacity);
  }

  /** The data region; next() returns offsets into it. */
  readonly bytes: Uint8Array;
  /** Length of the record last returned by next(). */
  length = 0;
  private readonly ctrl: Int32Array;
  private readonly words: Int32Array;
  private readonly capacity: number;
  private head = 0; // producer: where the next record goes
  private tailSeen = 0; // producer: last TAIL read, so it reads TAIL only when it looks full
  private tail = 0; // consumer: start of the current record
  private headSeen = 0; // consumer: last HEAD read
  private recordBytes = 0; // consumer: size of the current record

  constructor(sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab, 0, CONTROL_BYTES / 4);
    this.bytes = new Uint8Array(sab, CONTROL_BYTES);
    this.words = new Int32Array(sab, CONTROL_BYTES);
    this.capacity = this.bytes.length;
  }

  /** Producer: copy one message in, waiting while the ring is full. */
  write(src: Uint8Array): void {
    const pos = this.place(4 + ((src.length + 3) & ~3));
    this.words[pos >> 2] = src.length;
    this.bytes.set(src, pos + 4);
    this.publish();
  }

  /** Producer: tell the consumer no more records follow. */
  end(): void {
    this.words[this.place(4) >> 2] = END;
    this.publish();
  }

  /** Consumer: offset in `bytes` of the next payload (its length in `length`), or -1 after end(). */
  next(): number {
    for (;;) {
      if (this.tail === this.headSeen) this.waitForData();
      const pos = this.tail & (this.capacity - 1);
      const len = this.words[pos >> 2];
      if (len === WRAP) {
        this.advance(this.capacity - pos);
        continue;
      }
      if (len === END) return -1;
      this.length = len;
      this.recordBytes = 4 + ((len + 3) & ~3);
      return pos + 4;
    }
  }

  /** Consumer: hand the record returned by next() back to the producer. */
  release(): void {
    this.advance(this.recordBytes);
  }

  // Reserves `size` bytes (plus a WRAP marker if needed) and returns where the record starts.
  private place(size: number): number {
    if (size > this.capacity / 2) throw new RangeError('record larger than half the ring');
    let pos = this.head & (this.capacity - 1);
    const skip = pos + size > this.capacity ? this.capacity - pos : 0;
    for (let spins = 0; this.capacity - ((this.head - this.tailSeen) | 0) < skip + size; spins++) {
      this.tailSeen = Atomics.load(this.ctrl, TAIL);
      // Full: spin, then yield briefly. The consumer never signals space, so this is a timed nap.
      if (spins > SPINS) Atomics.wait(this.ctrl, TAIL, this.tailSeen, 0.05);
    }
    if (skip !== 0) {
      this.words[pos >> 2] = WRAP;
      this.head = (this.head + skip) | 0;
      pos = 0;
    }
    this.head = (this.head + size) | 0; // published by publish(), after the payload is written
    return pos;
  }

  private publish(): void {
    Atomics.store(this.ctrl, HEAD, this.head);
    // Sequentially consistent store-then-load pairs with the consumer's store of WAITING
    // then wait on HEAD: either we see WAITING = 1, or the consumer sees the new HEAD.
    // Clearing the flag makes it one wake-up per sleep, not one per message until it wakes.
    if (Atomics.load(this.ctrl, WAITING) !== 0 && Atomics.exchange(this.ctrl, WAITING, 0) !== 0) {
      Atomics.notify(this.ctrl, HEAD);
    }
  }

  private advance(n: number): void {
    this.tail = (this.tail + n) | 0;
    Atomics.store(this.ctrl, TAIL, this.tail);
  }

  private waitForData(): void {
    for (let spins = 0; (this.headSeen = Atomics.load(this.ctrl, HEAD)) === this.tail; spins++) {
      if (spins < SPINS) continue;
      Atomics.store(this.ctrl, WAITING, 1);
      // Returns at once if HEAD already moved. Timed: about 1 run in 10 hung for good
      // without it (a lost wake-up not yet understood); a 1 ms bound caps what one costs.
      Atomics.wait(this.ctrl, HEAD, this.tail, 1);
      Atomics.store(this.ctrl, WAITING, 0);
    }
  }
}
