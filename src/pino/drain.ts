/**
 * The ordered drain of a pino destination: reads every buffer of the
 * channel, sorts the lines of all threads by their klog timestamp and hands
 * them to a sink. Runs in whichever thread holds the drain lock: the
 * consumer thread while the process runs, flushSync's caller, the main
 * thread at exit. Synchronous: it only touches shared memory and the sink.
 *
 * Order across threads: a round takes `cut` (now - lateness) before it
 * reads, writes out the lines stamped before it, and keeps the newer ones in
 * the shared staging area for the next round, when every buffer has been
 * read again. A line published later than `lateness` after its stamp (its
 * thread was descheduled in between) can still come out after a newer line;
 * such lines are counted as `late`.
 */
import { writeSync } from 'node:fs';
import type { RelayChannel } from '../index.js';
import { KLOG_HEADER_SIZE, KLOG_MAGIC } from '../klog/index.js';
import { DROPPED_SINK, LATE, STAGED, type PinoState } from './state.js';

const H_LENGTH = 4;
const H_TS_LO = 8;
const H_TS_HI = 12;
const H_BUFFER = 24;
const H_HEADER_SIZE = 26;
const TWO_32 = 0x100000000;

/** Where drained lines go, synchronously; a sink that throws loses that batch (counted). */
export type LineSink = (data: Uint8Array) => void;

interface Line {
  chunk: Uint8Array;
  start: number;
  end: number;
  ts: number;
  cpu: number;
  /** Header + payload, for staging. */
  recStart: number;
}

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

export class Drainer {
  private out: Uint8Array = new Uint8Array(64 * 1024);
  private readonly perCpu: number[];

  constructor(
    private readonly chan: RelayChannel,
    private readonly state: PinoState,
  ) {
    this.perCpu = new Array<number>(chan.buffers.length).fill(0);
  }

  /**
   * One round, under the drain lock. Lines stamped before cutNs go to the
   * sink (all of them when cutNs is Infinity); `exhaust` reads each buffer
   * until it is empty rather than once.
   */
  round(sink: LineSink, cutNs: number, exhaust = false): RoundResult {
    const lines: Line[] = [];
    const stagedBytes = Atomics.load(this.state.words, STAGED);
    if (stagedBytes > 0) parse(this.state.staging.slice(0, stagedBytes), lines);
    const fromStaging = lines.length;
    let bytes = 0;
    const claimed = this.chan.claimed;
    for (let cpu = 0; cpu < claimed; cpu++) {
      const reader = this.chan.buffers[cpu]!.reader;
      for (;;) {
        const chunk = reader.read();
        if (!chunk || chunk.length === 0) break;
        parse(chunk, lines);
        bytes += chunk.length;
        if (!exhaust) break;
      }
    }
    const read = lines.length - fromStaging;
    if (lines.length === 0) return { read: 0, written: 0, staged: 0, bytes: 0 };
    lines.sort(byTime);

    let due = 0;
    while (due < lines.length && lines[due]!.ts < cutNs) due++;
    // What does not fit in staging goes out now, oldest first.
    let keepBytes = 0;
    for (let i = due; i < lines.length; i++) keepBytes += lines[i]!.end - lines[i]!.recStart;
    while (keepBytes > this.state.staging.length) {
      const l = lines[due++]!;
      keepBytes -= l.end - l.recStart;
    }

    const last = this.state.lastTs;
    let late = 0;
    let size = 0;
    for (let i = 0; i < due; i++) size += lines[i]!.end - lines[i]!.start;
    if (this.out.length < size) this.out = new Uint8Array(Math.max(size, this.out.length * 2));
    const out = this.out;
    const perCpu = this.perCpu;
    perCpu.fill(0);
    let at = 0;
    for (let i = 0; i < due; i++) {
      const l = lines[i]!;
      if (l.ts < last) late++;
      out.set(l.chunk.subarray(l.start, l.end), at);
      at += l.end - l.start;
      if (l.cpu < perCpu.length) perCpu[l.cpu]!++;
    }
    if (due > 0) this.state.lastTs = lines[due - 1]!.ts;

    // Staging first: once the buffers were read, these lines live only there.
    let s = 0;
    const staging = this.state.staging;
    for (let i = due; i < lines.length; i++) {
      const l = lines[i]!;
      staging.set(l.chunk.subarray(l.recStart, l.end), s);
      s += l.end - l.recStart;
    }
    Atomics.store(this.state.words, STAGED, s);

    if (due > 0) {
      try {
        sink(out.subarray(0, at));
      } catch {
        this.state.count(DROPPED_SINK, due);
      }
      if (late) this.state.count(LATE, late);
      for (let cpu = 0; cpu < perCpu.length; cpu++) if (perCpu[cpu]) this.state.addDelivered(cpu, perCpu[cpu]!);
    }
    return { read, written: due, staged: lines.length - due, bytes };
  }

  /**
   * Everything: staging and every buffer until empty, in order. Stops after
   * `limitBytes` read, so threads that keep logging cannot hold it forever.
   */
  drainAll(sink: LineSink, limitBytes = Infinity): number {
    let written = 0;
    for (let bytes = 0; ; ) {
      const r = this.round(sink, Infinity, true);
      written += r.written;
      bytes += r.bytes;
      if (r.read === 0 || bytes >= limitBytes) return written;
    }
  }
}

function byTime(a: Line, b: Line): number {
  return a.ts - b.ts || a.cpu - b.cpu || a.recStart - b.recStart;
}

/** Splits a chunk of whole klog records into lines (payloads). */
function parse(chunk: Uint8Array, into: Line[]): void {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  for (let at = 0; at + KLOG_HEADER_SIZE <= chunk.length; ) {
    if (view.getUint16(at, true) !== KLOG_MAGIC) return; // not ours: stop at what cannot be framed
    const header = view.getUint8(at + H_HEADER_SIZE) || KLOG_HEADER_SIZE;
    const length = view.getUint32(at + H_LENGTH, true);
    const end = at + header + length;
    if (end > chunk.length) return;
    const ts = view.getUint32(at + H_TS_LO, true) + view.getUint32(at + H_TS_HI, true) * TWO_32;
    into.push({ chunk, start: at + header, end, ts, cpu: view.getUint16(at + H_BUFFER, true), recStart: at });
    at = end;
  }
}

/** A sink that writes to a file descriptor, all of it, synchronously (retrying a non-blocking pipe that is full). */
export function fdSink(fd: number): LineSink {
  const wait = new Int32Array(new SharedArrayBuffer(4));
  return (data) => {
    for (let done = 0; done < data.length; ) {
      try {
        done += writeSync(fd, data, done, data.length - done);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(wait, 0, 0, 1);
      }
    }
  };
}
