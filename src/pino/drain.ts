/**
 * The ordered drain of a pino destination: reads every buffer of the
 * channel, sorts the lines of all threads by ticket and hands them to a
 * sink. Runs in whichever thread holds the drain lock: the consumer thread
 * while the process runs, flushSync's caller, the main thread at exit.
 * Synchronous: it only touches shared memory and the sink.
 *
 * A line's ticket (in the klog timestamp field of its record) is its place
 * in the order of every thread's log calls, taken with one atomic add: exact
 * across threads, and unlike a clock read it allocates nothing on Node 20.
 *
 * A round writes out the lines whose ticket is below `cut` (for the
 * consumer: the tickets handed out at least `lateness` ms ago) and keeps the
 * newer ones in the shared staging area for a later round, when every buffer
 * has been read again. A line published more than `lateness` after it took
 * its ticket (its thread was descheduled in between) can still come out
 * after a later one; such lines are counted as `late`.
 */
import { writeSync } from 'node:fs';
import type { RelayChannel } from '../channel/channel.js';
import { H_BUFFER, H_HEADER_SIZE, H_LENGTH, H_TS_LO, KLOG_HEADER_SIZE, KLOG_MAGIC } from '../klog/format.js';
import { DROPPED_SINK, LATE, STAGED, type PinoState } from './state.js';

/** How long drainAll waits, in all, for writers caught inside a sub-buffer switch (as the flight recorder's dump does). */
const SWITCH_WAIT_MS = 2000;
const NAP = new Int32Array(new SharedArrayBuffer(4));

/** Where drained lines go, synchronously; a sink that throws loses that batch (counted). */
export type LineSink = (data: Uint8Array) => void;

export interface RoundResult {
  /** Lines read from the buffers in this round. */
  read: number;
  /** Lines written out. */
  written: number;
  /** Lines left in staging for a later round. */
  staged: number;
  /** Bytes read from the buffers in this round. */
  bytes: number;
}

/**
 * The lines of one round, in parallel arrays (no object per line). Lines of
 * one chunk are contiguous and already in ticket order (one writer per
 * buffer, and staging is written in order), so ordering them is a k-way
 * merge of the chunks' runs.
 */
class Lines {
  n = 0;
  chunks: Buffer[] = [];
  /** Run (chunk) boundaries: lines runFrom[r] .. runFrom[r + 1] - 1. */
  runFrom: number[] = [];
  chunk = new Int32Array(1024);
  rec = new Int32Array(1024); // header start
  start = new Int32Array(1024); // payload start
  end = new Int32Array(1024);
  cpu = new Int32Array(1024);
  key = new Float64Array(1024);

  reset(): void {
    this.n = 0;
    this.chunks.length = 0;
    this.runFrom.length = 0;
  }

  private grow(): void {
    const g = <T extends Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as { new (n: number): T })(a.length * 2);
      b.set(a);
      return b;
    };
    this.chunk = g(this.chunk);
    this.rec = g(this.rec);
    this.start = g(this.start);
    this.end = g(this.end);
    this.cpu = g(this.cpu);
    this.key = g(this.key);
  }

  /** Splits a chunk of whole klog records into lines (payloads). */
  parse(bytes: Uint8Array, state: PinoState): void {
    const c = this.chunks.length;
    this.chunks.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.runFrom.push(this.n);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let at = 0; at + KLOG_HEADER_SIZE <= bytes.length;) {
      if (view.getUint16(at, true) !== KLOG_MAGIC) return; // not ours: stop at what cannot be framed
      const header = view.getUint8(at + H_HEADER_SIZE) || KLOG_HEADER_SIZE;
      const end = at + header + view.getUint32(at + H_LENGTH, true);
      if (end > bytes.length) return;
      if (this.n === this.key.length) this.grow();
      const i = this.n++;
      this.chunk[i] = c;
      this.rec[i] = at;
      this.start[i] = at + header;
      this.end[i] = end;
      this.cpu[i] = view.getUint16(at + H_BUFFER, true);
      this.key[i] = state.unwrap(view.getUint32(at + H_TS_LO, true));
      at = end;
    }
  }

  /** Line indices in ticket order (ties: lower buffer first). */
  merge(order: Int32Array): void {
    const runs = this.runFrom.length;
    const head = this.runFrom.slice();
    const stop = this.runFrom.slice(1);
    stop.push(this.n);
    const key = this.key;
    const cpu = this.cpu;
    for (let o = 0; o < this.n; o++) {
      let best = -1;
      for (let r = 0; r < runs; r++) {
        const h = head[r]!;
        if (h >= stop[r]!) continue;
        if (best < 0) {
          best = r;
          continue;
        }
        const b = head[best]!;
        if (key[h]! < key[b]! || (key[h] === key[b] && cpu[h]! < cpu[b]!)) best = r;
      }
      order[o] = head[best]!++;
    }
  }
}

export class Drainer {
  private out: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  private order = new Int32Array(1024);
  private readonly lines = new Lines();
  private readonly perCpu: number[];

  constructor(
    private readonly chan: RelayChannel,
    private readonly state: PinoState,
  ) {
    this.perCpu = new Array<number>(chan.buffers.length).fill(0);
  }

  /**
   * One round, under the drain lock. Lines with a ticket below `cut` go to
   * the sink (all of them when it is Infinity); `exhaust` reads each buffer
   * until it is empty rather than once.
   */
  round(sink: LineSink, cut: number, exhaust = false, deadline = 0): RoundResult {
    const L = this.lines;
    L.reset();
    const state = this.state;
    const stagedBytes = Atomics.load(state.words, STAGED);
    if (stagedBytes > 0) L.parse(state.staging.slice(0, stagedBytes), state);
    const fromStaging = L.n;
    let bytes = 0;
    const claimed = this.chan.claimed;
    for (let cpu = 0; cpu < claimed; cpu++) {
      const reader = this.chan.buffers[cpu]!.reader;
      for (;;) {
        const chunk = reader.read();
        if (!chunk || chunk.length === 0) {
          // A writer preempted inside a sub-buffer switch (or another thread's flush) makes read() return nothing
          // though the buffer holds lines, and available() does not count them: wait for it, up to the deadline.
          if (reader.drained() || performance.now() >= deadline) break;
          Atomics.wait(NAP, 0, 0, 1);
          continue;
        }
        L.parse(chunk, state);
        bytes += chunk.length;
        if (!exhaust) break;
      }
    }
    const n = L.n;
    const read = n - fromStaging;
    if (n === 0) return { read: 0, written: 0, staged: 0, bytes: 0 };
    if (this.order.length < n) this.order = new Int32Array(Math.max(n, this.order.length * 2));
    const order = this.order;
    L.merge(order);

    const { key, start, end, rec, chunk, cpu } = L;
    let due = 0;
    while (due < n && key[order[due]!]! < cut) due++;
    // What does not fit in staging goes out now, oldest first.
    let keepBytes = 0;
    for (let o = due; o < n; o++) keepBytes += end[order[o]!]! - rec[order[o]!]!;
    while (keepBytes > state.staging.length) {
      const i = order[due++]!;
      keepBytes -= end[i]! - rec[i]!;
    }

    const last = state.lastTs;
    let late = 0;
    let size = 0;
    for (let o = 0; o < due; o++) size += end[order[o]!]! - start[order[o]!]!;
    if (this.out.length < size) this.out = Buffer.allocUnsafeSlow(Math.max(size, this.out.length * 2));
    const out = this.out;
    const perCpu = this.perCpu;
    perCpu.fill(0);
    let at = 0;
    for (let o = 0; o < due; o++) {
      const i = order[o]!;
      if (key[i]! < last) late++;
      at += L.chunks[chunk[i]!]!.copy(out, at, start[i]!, end[i]!);
      const c = cpu[i]!;
      if (c < perCpu.length) perCpu[c]!++;
    }
    if (due > 0) state.lastTs = key[order[due - 1]!]!;

    // Staging first: once the buffers were read, these lines live only there.
    let s = 0;
    const staging = state.staging;
    for (let o = due; o < n; o++) {
      const i = order[o]!;
      staging.set(L.chunks[chunk[i]!]!.subarray(rec[i]!, end[i]!), s);
      s += end[i]! - rec[i]!;
    }
    Atomics.store(state.words, STAGED, s);

    if (due > 0) {
      try {
        sink(out.subarray(0, at));
      } catch {
        state.count(DROPPED_SINK, due);
      }
      if (late) state.count(LATE, late);
      for (let c = 0; c < perCpu.length; c++) if (perCpu[c]) state.addDelivered(c, perCpu[c]!);
    }
    return { read, written: due, staged: n - due, bytes };
  }

  /**
   * Everything: staging and every buffer until empty, in order. Stops after
   * `limitBytes` read, so threads that keep logging cannot hold it forever.
   */
  drainAll(sink: LineSink, limitBytes = Infinity): number {
    let written = 0;
    const deadline = performance.now() + SWITCH_WAIT_MS;
    for (let bytes = 0; ;) {
      const r = this.round(sink, Infinity, true, deadline);
      written += r.written;
      bytes += r.bytes;
      if (r.read === 0 || bytes >= limitBytes) return written;
    }
  }
}

/** A sink that writes to a file descriptor, all of it, synchronously (retrying a non-blocking pipe that is full). */
export function fdSink(fd: number): LineSink {
  const wait = new Int32Array(new SharedArrayBuffer(4));
  return (data) => {
    for (let done = 0; done < data.length;) {
      try {
        done += writeSync(fd, data, done, data.length - done);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(wait, 0, 0, 1);
      }
    }
  };
}
