/**
 * The kept window of one relay file: bytes a kept read consumed from the
 * relay buffer and sent, held in the producer process until the reader
 * says they are stored safely (released). A reader that dies (a shipper
 * killed with SIGKILL) loses nothing: the next kept read starts again at
 * the first byte not released.
 *
 * Offsets count the bytes kept reads consumed, starting at the buffer's
 * bytesRead when the window was made. The window holds at most `capacity`
 * bytes (one relay buffer's worth); when it is full, kept reads stop
 * consuming, the relay buffer fills, and writers drop and count as they do
 * with any slow reader: memory stays bounded and writers never wait.
 */
export interface KeptInfo {
  /** First byte not released. */
  start: number;
  /** One past the last byte consumed into the window. */
  end: number;
  capacity: number;
}

export class KeptWindow {
  readonly capacity: number;
  private first: number;
  private last: number;
  private readonly chunks: Uint8Array[] = [];
  /** The kept read that may consume now; a newer one takes over. */
  private ownerId = 0;
  private waiters: (() => void)[] = [];

  constructor(startOffset: number, capacity: number) {
    this.first = startOffset;
    this.last = startOffset;
    this.capacity = capacity;
  }

  get start(): number {
    return this.first;
  }

  get end(): number {
    return this.last;
  }

  get size(): number {
    return this.last - this.first;
  }

  /** Bytes the window can take now. */
  room(): number {
    return Math.max(0, this.capacity - this.size);
  }

  info(): KeptInfo {
    return { start: this.first, end: this.last, capacity: this.capacity };
  }

  /** A new kept read takes the window over; the previous one must stop (its id is stale). */
  takeOver(): number {
    this.wake(); // a previous reader waiting for room sees it lost the window
    return ++this.ownerId;
  }

  owns(id: number): boolean {
    return this.ownerId === id;
  }

  /** Keeps bytes just consumed (the array is kept, not copied: reads return fresh arrays). */
  append(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.last += data.length;
  }

  /** Forgets the bytes below `offset` (clamped to the window); returns the new start. */
  release(offset: number): number {
    let drop = Math.min(Math.max(offset, this.first), this.last) - this.first;
    if (drop === 0) return this.first;
    this.first += drop;
    while (drop > 0) {
      const head = this.chunks[0]!;
      if (head.length <= drop) {
        this.chunks.shift();
        drop -= head.length;
      } else {
        this.chunks[0] = head.subarray(drop);
        drop = 0;
      }
    }
    this.wake();
    return this.first;
  }

  /** The kept bytes from `offset` (within the window) to the end, as views. */
  since(offset: number): Uint8Array[] {
    let skip = offset - this.first;
    const out: Uint8Array[] = [];
    for (const c of this.chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      out.push(skip > 0 ? c.subarray(skip) : c);
      skip = 0;
    }
    return out;
  }

  /** Resolves when bytes are released (room made) or the window is taken over, or after timeoutMs. */
  changed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.push(done);
    });
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
