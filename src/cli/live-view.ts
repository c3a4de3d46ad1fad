/**
 * The per-buffer live table shared by top, demo and record: fill level,
 * write rate, drop rate, from successive counter snapshots.
 */
import type { BufferStats } from '../buffer/index.js';
import { lostOf, type RecordProgress } from '../tools/index.js';
import { bar, bytes, compact, count, seconds, table } from './format.js';

export interface BufferSnapshot {
  name: string;
  stats: BufferStats | null;
  /** Fraction of the buffer holding unread data, when known. */
  fill: number | null;
  /** Bytes recorded to disk so far (record and demo). */
  recorded?: number;
}

export interface ViewRow {
  name: string;
  fill: number | null;
  messagesPerSec: number | null;
  bytesPerSec: number | null;
  dropsPerSec: number | null;
  written: number | null;
  lost: number | null;
  recorded?: number;
}

interface Previous {
  t: number;
  msgs: number;
  bytes: number;
  lost: number;
}

export class LiveView {
  private readonly prev = new Map<string, Previous>();

  /** Rates since the previous call for the same buffer (null the first time). */
  rows(snapshots: readonly BufferSnapshot[], now = performance.now()): ViewRow[] {
    return snapshots.map((s) => {
      const st = s.stats;
      if (!st) return { name: s.name, fill: s.fill, messagesPerSec: null, bytesPerSec: null, dropsPerSec: null, written: null, lost: null, recorded: s.recorded };
      const cur = { t: now, msgs: st.messagesWritten, bytes: st.bytesWritten, lost: lostOf(st) };
      const p = this.prev.get(s.name);
      this.prev.set(s.name, cur);
      const dt = p ? (now - p.t) / 1000 : 0;
      const per = (a: number, b: number | undefined) => (p && dt > 0 ? (a - b!) / dt : null);
      return {
        name: s.name,
        fill: s.fill,
        messagesPerSec: per(cur.msgs, p?.msgs),
        bytesPerSec: per(cur.bytes, p?.bytes),
        dropsPerSec: per(cur.lost, p?.lost),
        written: cur.msgs,
        lost: cur.lost,
        recorded: s.recorded,
      };
    });
  }

  render(rows: readonly ViewRow[]): string {
    const withRecorded = rows.some((r) => r.recorded !== undefined);
    const header = ['buffer', 'fill', '', 'msgs/s', 'write/s', 'lost/s', 'written', 'lost', ...(withRecorded ? ['recorded'] : [])];
    const body = rows.map((r) => [
      r.name,
      r.fill === null ? '' : bar(r.fill, 16),
      r.fill === null ? '-' : `${Math.round(r.fill * 100)}%`,
      r.messagesPerSec === null ? '-' : compact(r.messagesPerSec),
      r.bytesPerSec === null ? '-' : `${bytes(r.bytesPerSec)}`,
      r.dropsPerSec === null ? '-' : compact(r.dropsPerSec),
      count(r.written),
      count(r.lost),
      ...(withRecorded ? [r.recorded === undefined ? '-' : bytes(r.recorded)] : []),
    ]);
    return table(header, body, new Set([2, 3, 4, 5, 6, 7, 8]));
  }
}

/** Fill level from counters alone: finished sub-buffers not yet read. */
export function fillFromStats(stats: BufferStats | null, nSubbufs: number | null): number | null {
  if (!stats || !nSubbufs) return null;
  return Math.min(1, stats.subbufsReady / nSubbufs);
}

/** One frame of record's live view: a title line with totals, then the buffer table. */
export function recordFrame(title: string, p: RecordProgress, view: LiveView): string {
  const rows = view.rows(p.buffers.map((b) => ({ name: b.name, stats: b.stats, fill: fillFromStats(b.stats, b.nSubbufs), recorded: b.bytes })));
  const rate = p.elapsedMs > 0 ? (p.bytes / p.elapsedMs) * 1000 : 0;
  return `${title}  ${seconds(p.elapsedMs)}  ${bytes(p.bytes)} at ${bytes(rate)}/s  lost ${count(p.lost)}  (Ctrl-C stops)\n${view.render(rows)}`;
}
