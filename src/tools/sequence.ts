/**
 * Per-writer sequence checking: every klog record carries its writer's
 * sequence number, counting dropped records too, so a jump is a loss.
 */
import type { KlogRecord } from '../klog/index.js';

export interface WriterSummary {
  buffer: number;
  thread: number;
  records: number;
  firstSeq: number;
  lastSeq: number;
  /** Records missing between records of this writer (sequence gaps). */
  lost: number;
  /** Records before the first one seen (overwritten in a flight recorder, or not recorded). */
  missingStart: number;
  /** Times the numbering started again (the writer registered its klog handler anew). */
  restarts: number;
  /** The host and producer the writer ran in, when merging recordings of several (merge). */
  origin?: string;
}

export type SequenceEvent = (
  | { kind: 'gap'; buffer: number; thread: number; from: number; count: number; timestamp: number }
  | { kind: 'missing-start'; buffer: number; thread: number; count: number; timestamp: number }
  | { kind: 'restart'; buffer: number; thread: number; seq: number; timestamp: number }
) & { origin?: string };

const HALF = 0x80000000;

export class SequenceTracker {
  private readonly writers = new Map<string, WriterSummary>();

  /** Notes a record; returns what its sequence number says about the records before it. */
  see(rec: KlogRecord): SequenceEvent | null {
    const key = `${rec.buffer}/${rec.thread}`;
    const w = this.writers.get(key);
    if (!w) {
      this.writers.set(key, { buffer: rec.buffer, thread: rec.thread, records: 1, firstSeq: rec.seq, lastSeq: rec.seq, lost: 0, missingStart: rec.seq, restarts: 0 });
      return rec.seq > 0 ? { kind: 'missing-start', buffer: rec.buffer, thread: rec.thread, count: rec.seq, timestamp: rec.timestamp } : null;
    }
    w.records++;
    const gap = (rec.seq - w.lastSeq - 1) >>> 0; // numbers wrap at 2^32
    const prev = w.lastSeq;
    w.lastSeq = rec.seq;
    if (gap === 0) return null;
    if (gap >= HALF) {
      w.restarts++;
      return { kind: 'restart', buffer: rec.buffer, thread: rec.thread, seq: rec.seq, timestamp: rec.timestamp };
    }
    w.lost += gap;
    return { kind: 'gap', buffer: rec.buffer, thread: rec.thread, from: (prev + 1) >>> 0, count: gap, timestamp: rec.timestamp };
  }

  summary(): WriterSummary[] {
    return [...this.writers.values()].sort((a, b) => a.buffer - b.buffer || a.thread - b.thread);
  }
}
